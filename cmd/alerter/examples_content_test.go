package main

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/expr-lang/expr/vm"

	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// artefacts are what a title or text must never show the on-call engineer:
// the marks a template leaves where a field it reads was missing
// (docs/example-rules.md, "What the on-call engineer reads").
var artefacts = []struct {
	re   *regexp.Regexp
	what string
}{
	// A field missing at the start ("  was notified 3 times ...") leaves
	// the rendering starting with a space: it has lost its subject.
	{regexp.MustCompile(`^\s`), "no subject"},
	{regexp.MustCompile(`(^|\s)\(?\?\)?([\s.,;:]|$)`), "a lone ?"},
	{regexp.MustCompile(`""|''`), "empty quotes"},
	{regexp.MustCompile(`\(\s*\)|\[\s*\]`), "empty brackets"},
	{regexp.MustCompile(`:\s*([.,;:)\]]|$)`), "a colon before nothing"},
	// "in :", "of" at the end: a preposition whose value was empty. Written
	// right before punctuation it is English ("what should be on."), so
	// only a space before the punctuation counts.
	{regexp.MustCompile(`\b(of|in|by|from|for|to|on|at|with|the)(\s+[.,;:()\]]|\s*$)`), "a dangling word"},
	{regexp.MustCompile(`  `), "a double space"},
	{regexp.MustCompile(`<nil>|%!|<error`), "a formatting error"},
}

// artefact says what is wrong with a rendered title or text, or "".
func artefact(part, s string) string {
	if s == "" {
		if part == "title" {
			return "empty"
		}
		return ""
	}
	for _, a := range artefacts {
		if a.re.MatchString(s) {
			return a.what
		}
	}
	return ""
}

// rendering is one title or text an example rule produced.
type rendering struct {
	part  string // "title" or "text"
	event string // which test event: "event 3", "event 3 (minimal)"
	s     string
}

// TestExampleContent renders the title and text of every example rule for
// the events of its own tests that fire it, and for those events cut down
// to what every event has (category, action, actor; and without the actor),
// and rejects the marks of missing fields.
func TestExampleContent(t *testing.T) {
	set, err := rules.Load([]string{"../../examples/rules"}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fails []string
	for _, r := range set.Rules {
		var got []rendering
		n, alerts := 0, 0
		for _, tc := range r.Tests {
			lists := maps.Clone(set.Lists)
			maps.Copy(lists, tc.Lists)
			evs := parseTestEvents(t, r, tc)
			f := fired(t, set, r, lists, evs, tc.Until, n)
			got, alerts = append(got, f...), alerts+len(f)
			for i, ev := range evs {
				label := fmt.Sprintf("event %d", n+i+1)
				m := minimal(ev)
				got = append(got, render(t, r, lists, &m, label+" (minimal)")...)
				m.Actor = event.Actor{}
				got = append(got, render(t, r, lists, &m, label+" (minimal, no actor)")...)
			}
			n += len(evs)
		}
		if alerts == 0 {
			fails = append(fails, r.ID+": none of its tests fires, so no alert of it was read")
		}
		for _, g := range got {
			if bad := artefact(g.part, g.s); bad != "" {
				fails = append(fails, fmt.Sprintf("%s, %s, %s: %q (%s)", r.ID, g.part, g.event, g.s, bad))
			}
		}
	}
	if len(fails) > 0 {
		t.Errorf("%d renderings show missing fields:\n%s", len(fails), strings.Join(fails, "\n"))
	}
}

// parseTestEvents normalizes a test's payloads as the rule tests do.
func parseTestEvents(t *testing.T, r *rules.Rule, tc rules.Test) []event.Event {
	t.Helper()
	var out []event.Event
	for i, data := range tc.Events {
		evs, err := event.Parse(data, event.Options{Format: event.FormatAuto, Source: "test"})
		if err != nil {
			t.Fatalf("%s/%s: event %d: %v", r.ID, tc.Name, i+1, err)
		}
		out = append(out, evs...)
	}
	return out
}

// fired runs the events through the real engine with the rule alone, as
// its tests run (deadlines by the events' clock, and up to until if it is
// set), and returns the alerts' titles and texts. first is how many of the
// rule's test events came before these.
func fired(t *testing.T, set *rules.Set, r *rules.Rule, lists map[string][]string, evs []event.Event, until time.Time, first int) []rendering {
	t.Helper()
	one := *r
	one.Enabled = true
	var clock time.Time
	eng := engine.New(&rules.Set{Rules: []*rules.Rule{&one}, Lists: lists, Version: set.Version},
		&engine.MemStore{}, engine.WithClock(func() time.Time { return clock }), engine.WithEventClock())
	var out []rendering
	keep := func(label string, res engine.Result) {
		for _, a := range res.Alerts {
			out = append(out, rendering{"title", label, a.Title}, rendering{"text", label, a.Text})
		}
	}
	for i := range evs {
		clock = evs[i].Time
		res, err := eng.Process(context.Background(), &evs[i])
		if err != nil {
			t.Fatalf("%s: %v", r.ID, err)
		}
		keep(fmt.Sprintf("event %d", first+i+1), res)
	}
	if !until.IsZero() {
		clock = until
		res, err := eng.Until(context.Background(), until)
		if err != nil {
			t.Fatalf("%s: %v", r.ID, err)
		}
		keep("until", res)
	}
	return out
}

// minimal keeps of ev what every audit event carries: when, its category
// and action (with their keys) and who.
func minimal(ev event.Event) event.Event {
	return event.Event{
		ID: ev.ID, Time: ev.Time, Source: ev.Source, Format: ev.Format,
		Category: ev.Category, CategoryKey: ev.CategoryKey,
		Action: ev.Action, ActionKey: ev.ActionKey,
		Actor: ev.Actor,
	}
}

// render fills in the rule's templates over ev directly, whether or not
// the rule would fire: a template must read well over whatever it is given.
func render(t *testing.T, r *rules.Rule, lists map[string][]string, ev *event.Event, label string) []rendering {
	t.Helper()
	env := rules.NewEnv(lists)
	env.Event = ev
	var out []rendering
	for _, p := range []struct {
		part string
		tpl  rules.Template
	}{{"title", r.Title}, {"text", r.Text}} {
		s, err := p.tpl.Render(&vm.VM{}, env)
		if err != nil {
			s += " " + err.Error() // shown, and rejected as a formatting error
		}
		// Trimmed at the end only, as the engine trims both ends: a space
		// at the start is where the subject was.
		out = append(out, rendering{p.part, label, strings.TrimRightFunc(s, unicode.IsSpace)})
	}
	return out
}

func TestArtefact(t *testing.T) {
	for _, tc := range []struct {
		part, s, want string
	}{
		// The examples (docs/example-rules.md).
		{"text", "Page Page 21 in :", "a colon before nothing"},
		{"title", "Ming Chen (mchen) canceled  scheduled Soteri scans", "a double space"},
		{"title", " was notified 3 times in 24h about sensitive content", "no subject"},
		{"text", "Page: ? () in space Engineering. Findings: ; rules matched: .", "a lone ?"},
		{"title", "Bob Wilson (bwilson) exported the false positives of", "a dangling word"},
		{"title", `Asha Kumar uploaded "" with potentially sensitive content`, "empty quotes"},
		{"text", "Attachment  () on page", "empty brackets"},
		{"text", "Exported at 12:00 from .", "a dangling word"},
		{"text", "Rules matched: <nil>.", "a formatting error"},
		{"title", "", "empty"},
		// What reads well.
		{"text", "", ""},
		{"title", `Asha Kumar (akumar) disabled the Soteri scanning rule "Private Key (PEM)"`, ""},
		{"text", "Exported at Tue 2024-05-14 12:26 CEST from 198.51.100.33 via Rest API.\nTreat it as exposed until the export is accounted for.", ""},
		{"text", "Check Soteri's scanning rules page and re-enable what should be on.", ""},
		{"text", "Query: From : 2024-05-01T00:00:00Z;To : 2024-05-14T09:50:00Z; (37 results).", ""},
	} {
		if got := artefact(tc.part, tc.s); got != tc.want {
			t.Errorf("artefact(%s, %q) = %q, want %q", tc.part, tc.s, got, tc.want)
		}
	}
}
