package verdicts_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/natstest"
	"github.com/alerter/alerter/lifecycle"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/verdicts"
)

var t0 = time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)

// entry is a verdict v ("tp", "fp", "benign") on rule r of an event by
// actor from ip, day days after t0.
func entry(r, v, actor, ip string, day int) verdicts.Entry {
	full := map[string]lifecycle.Verdict{"tp": lifecycle.TruePositive, "fp": lifecycle.FalsePositive, "benign": lifecycle.Benign}[v]
	a := &alerter.Alert{ID: fmt.Sprint("a", day), Rule: r, DedupKey: r + ":0123", Event: &event.Event{Actor: event.Actor{Name: actor}, IP: ip}}
	return verdicts.New(a, lifecycle.Change{By: "ann", At: t0.AddDate(0, 0, day), Verdict: full})
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		entries []verdicts.Entry
		want    string // "tp fp benign precision|- suggestion|-"
	}{
		{"none but benign: no precision", []verdicts.Entry{entry("r", "benign", "ann", "", 1)},
			"0 0 1 - -"},
		{"benign counts for neither", []verdicts.Entry{entry("r", "tp", "ann", "", 1), entry("r", "tp", "bob", "", 2), entry("r", "fp", "cid", "", 3), entry("r", "benign", "dan", "", 4)},
			"2 1 1 0.67 -"},
		{"older than the window: left out", []verdicts.Entry{entry("r", "fp", "svc", "", -31), entry("r", "tp", "ann", "", 1)},
			"1 0 0 1.00 -"},
		{"2 false positives sharing an actor: too few", []verdicts.Entry{entry("r", "fp", "svc", "", 1), entry("r", "fp", "svc", "", 2)},
			"0 2 0 0.00 -"},
		{"3 false positives sharing an actor: excluded", []verdicts.Entry{entry("r", "fp", "svc", "", 1), entry("r", "fp", "svc", "", 2), entry("r", "fp", "svc", "", 3), entry("r", "tp", "ann", "", 4)},
			`1 3 0 0.25 !(event.actor.name in ["svc"]) removes 3 keeps 1`},
		{"the value shared by half of them is enough", []verdicts.Entry{entry("r", "fp", "svc", "", 1), entry("r", "fp", "svc", "", 2), entry("r", "fp", "bob", "", 3), entry("r", "fp", "cid", "", 4)},
			`0 4 0 0.00 !(event.actor.name in ["svc"]) removes 2 keeps 0`},
		{"under half: nothing", []verdicts.Entry{entry("r", "fp", "svc", "", 1), entry("r", "fp", "bob", "", 2), entry("r", "fp", "cid", "", 3)},
			"0 3 0 0.00 -"},
		{"the shared value is also a true positive's: nothing", []verdicts.Entry{entry("r", "fp", "svc", "", 1), entry("r", "fp", "svc", "", 2), entry("r", "fp", "svc", "", 3), entry("r", "tp", "svc", "", 4)},
			"1 3 0 0.25 -"},
		{"a benign verdict does not block it", []verdicts.Entry{entry("r", "fp", "svc", "", 1), entry("r", "fp", "svc", "", 2), entry("r", "fp", "svc", "", 3), entry("r", "benign", "svc", "", 4)},
			`0 3 1 0.00 !(event.actor.name in ["svc"]) removes 3 keeps 0`},
		{"the ip shared more than the actor", []verdicts.Entry{entry("r", "fp", "a", "10.0.0.9", 1), entry("r", "fp", "a", "10.0.0.9", 2), entry("r", "fp", "b", "10.0.0.9", 3), entry("r", "tp", "a", "10.0.0.1", 4)},
			`1 3 0 0.25 !(event.ip in ["10.0.0.9"]) removes 3 keeps 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := verdicts.Summarize(tt.entries, t0)["r"]
			if s == nil {
				t.Fatal("no summary of r")
			}
			got := fmt.Sprint(s.TruePositive, " ", s.FalsePositive, " ", s.Benign)
			if p, ok := s.Precision(); ok {
				got += fmt.Sprintf(" %.2f", p)
			} else {
				got += " -"
			}
			if sg := s.Suggestion; sg != nil {
				got += fmt.Sprintf(" %s removes %d keeps %d", sg.Condition, sg.FalsePositivesRemoved, sg.TruePositivesKept)
			} else {
				got += " -"
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// compile loads one rule's YAML (as rules.Rule.Source has it) with the
// project's loader.
func compile(t *testing.T, source string) *rules.Rule {
	t.Helper()
	lines := strings.Split(strings.TrimRight(source, "\n"), "\n")
	for i := range lines {
		lines[i] = "    " + lines[i]
	}
	file := "rules:\n  - " + strings.TrimPrefix(strings.Join(lines, "\n"), "    ") + "\n"
	set, err := rules.Compile([]rules.File{{Name: "r.yaml", Data: []byte(file)}}, rules.Options{})
	if err != nil {
		t.Fatalf("%s\n%v", file, err)
	}
	return set.Rules[0]
}

func matches(t *testing.T, r *rules.Rule, ev *event.Event) bool {
	t.Helper()
	env := rules.NewEnv(nil)
	env.Event = ev
	out, err := vm.Run(r.When.Program, env)
	if err != nil {
		t.Fatalf("%s: %v", r.When.Source, err)
	}
	return out == true
}

// A hostile value, quoted into the suggested condition, compiles and
// excludes exactly itself: not a near value, not every event.
func TestExcludeHostileValues(t *testing.T) {
	hostile := []string{`svc-backup`, `a"b`, `a\`, `\"]) || true || (["`, "new\nline\r\t", `" + "`, "ünï\u2028cøde", "\x00\x7f", `${x}`, `' or '1'='1`, `{{ event.ip }}`, "# not a comment: x"}
	spaces := []string{"Finance", `"]) || true`}
	// The rule's when: plain, folded and literal.
	sources := []string{
		"id: r\nseverity: low\n# the rule's own comment\nwhen: event.action != \"\" # and a trailing one\ntitle: \"x\"\n",
		"id: r\nseverity: low\n# the rule's own comment\nwhen: >-\n  event.action != \"\"\n  && true\ntitle: \"x\"\n",
		"id: r\nseverity: low\n# the rule's own comment\nwhen: |\n  event.action != \"\"\n  && true\ntitle: \"x\"\n",
	}
	for i, v := range hostile {
		for _, f := range []string{"event.actor.name", "event.ip"} {
			t.Run(f+" "+v, func(t *testing.T) {
				src := sources[i%len(sources)]
				ext, err := verdicts.Extend(src, verdicts.Exclude(f, []string{v}))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(ext, "# the rule's own comment") {
					t.Errorf("comments lost:\n%s", ext)
				}
				r := compile(t, ext)
				set := func(ev *event.Event, s string) {
					if f == "event.ip" {
						ev.IP = s
					} else {
						ev.Actor.Name = s
					}
				}
				ev := &event.Event{Action: "x"}
				set(ev, v)
				if matches(t, r, ev) {
					t.Errorf("%s matches the value it excludes", r.When.Source)
				}
				set(ev, v+"x")
				if !matches(t, r, ev) {
					t.Errorf("%s excludes another value", r.When.Source)
				}
				if matches(t, r, &event.Event{}) {
					t.Errorf("%s lost the rule's own condition", r.When.Source)
				}
			})
		}
	}
	for _, v := range spaces {
		r := compile(t, "id: r\nseverity: low\nwhen: |\n  event.action == \"x\"\n")
		ext, err := verdicts.Extend(r.Source, verdicts.Exclude(`object("Space")?.name`, []string{v}))
		if err != nil {
			t.Fatal(err)
		}
		r = compile(t, ext)
		in := &event.Event{Action: "x", Objects: []event.Object{{Type: "Space", Name: v}}}
		other := &event.Event{Action: "x", Objects: []event.Object{{Type: "Space", Name: "Other"}}}
		none := &event.Event{Action: "x"}
		if matches(t, r, in) || !matches(t, r, other) || !matches(t, r, none) {
			t.Errorf("%s: in %v, another space %v, no space %v", r.When.Source, matches(t, r, in), matches(t, r, other), matches(t, r, none))
		}
	}
}

// A rule without when: (a sequence's steps have their own) is not extended.
func TestExtendWithoutWhen(t *testing.T) {
	if _, err := verdicts.Extend("id: r\nsequence: {}\n", `!(event.ip in ["x"])`); err == nil {
		t.Fatal("extended a rule without when:")
	}
}

// New keeps the values worth suggesting on, each bounded.
func TestNew(t *testing.T) {
	a := &alerter.Alert{ID: "a1", Rule: "r", DedupKey: "r:1", Event: &event.Event{
		Actor: event.Actor{Name: "svc", ID: "u1\xff"}, IP: strings.Repeat("9", 300),
		Objects: []event.Object{{Type: "Page", Name: "p"}, {Type: "Space", Name: "Finance", ID: "98306"}}}}
	e := verdicts.New(a, lifecycle.Change{By: strings.Repeat("b", 1000), At: t0, Verdict: lifecycle.FalsePositive})
	got := fmt.Sprint(e.Values, " ", len(e.By))
	if want := `map[event.actor.name:svc object("Space")?.id:98306 object("Space")?.name:Finance] 256`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// The store keeps one entry per resolved cycle; recording a cycle again
// overwrites it, and a replica sees its own verdicts at once.
func TestStore(t *testing.T) {
	env := natstest.Start(t)
	s, err := verdicts.Open(t.Context(), env.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	if es, err := s.Recent(t.Context()); err != nil || len(es) != 0 {
		t.Fatalf("an empty bucket: %v %v", es, err)
	}
	now := time.Now().UTC()
	e1 := entry("r", "fp", "svc", "", 0)
	e1.ResolvedAt = now
	e2 := e1
	e2.ResolvedAt, e2.Verdict = now.Add(time.Hour), lifecycle.TruePositive
	old := e1
	old.ResolvedAt = now.Add(-verdicts.Window - time.Hour)
	for _, e := range []verdicts.Entry{e1, e2, old} {
		if err := s.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	e1.Verdict = lifecycle.Benign
	if err := s.Record(t.Context(), e1); err != nil {
		t.Fatal(err)
	}
	es, err := s.Recent(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := verdicts.Summarize(es, now.Add(-verdicts.Window))["r"]
	if got == nil || got.Tally != (verdicts.Tally{TruePositive: 1, Benign: 1}) {
		t.Fatalf("after recording: %+v", got)
	}
}
