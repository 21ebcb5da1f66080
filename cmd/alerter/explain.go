package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/event"
)

const explainUsage = `Usage: alerter explain [--url URL] [--within 24h] [--json] EVENT_ID
       alerter explain [--url URL] --find WORDS

Answers "why was I (not) paged?" for an event a running alerter stored:
which rules the index offered it to, which matched, for those that did not
which part of the condition was false, and for matches the group, the
dedup or threshold decision with the window state, the alert and what
became of it at each target (sent, silenced, dead, pending).

--find lists the stored events, newest first, in which every word appears
(in any case) in the action, category, summary, actor, IP or objects, with
their ids: Confluence's audit APIs give an event no id, and alerter's is a
hash. For example:

  alerter explain --find "mchen global setting"

--url defaults to $ALERTER_URL, else http://127.0.0.1:8080; the API token
is read from $ALERTER_API_TOKEN.
`

func explainCmd(ctx context.Context, args []string, s stdio) int {
	c, fs := apiFlags("explain", s)
	fs.Usage = func() { fmt.Fprint(s.err, explainUsage); fs.PrintDefaults() }
	within := fs.Duration("within", 24*time.Hour, "how far back the event was stored")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	find := fs.String("find", "", "list the stored events with these `WORDS`, to find the id to explain")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	if *find != "" {
		if fs.NArg() > 0 {
			fmt.Fprintln(s.err, "alerter explain: give --find or an event id, not both")
			return 2
		}
		return findEvents(ctx, c, *find, s)
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(s.err, "alerter explain: name one event id")
		return 2
	}
	var x api.Explanation
	path := "/api/v1/events/" + url.PathEscape(fs.Arg(0)) + "/explain?within=" + within.String()
	if err := c.Get(ctx, path, &x); err != nil {
		fmt.Fprintf(s.err, "alerter explain: %s\n", safeErr(err))
		return 1
	}
	if *asJSON {
		return printJSON(s, x)
	}
	ev := x.Event
	fmt.Fprintf(s.out, "event %s: %s (%s) by %s at %s, stored %s\n", safe(ev.ID), safe(ev.Action), safe(ev.Category),
		safe(firstNonEmpty(ev.Actor.Name, ev.Actor.DisplayName, "?")), ev.Time.Format(time.RFC3339), x.Stored.Format(time.RFC3339))
	fmt.Fprintf(s.out, "%d rules looked at it; %d others skipped by the index (they compare a field with a value this event does not have)\n", len(x.Rules), x.Skipped)
	for _, r := range x.Rules {
		printRule(s.out, r)
	}
	return 0
}

// printRule prints what one rule made of the event.
func printRule(w io.Writer, r api.RuleExplanation) {
	verdict := "no match"
	if r.Matched {
		verdict = "MATCH"
	}
	fmt.Fprintf(w, "\n%s: %s\n", safe(r.Rule), verdict)
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", safe(r.Error))
	}
	for _, c := range r.Clauses {
		v := "error: " + c.Error
		if c.Value != nil {
			v = fmt.Sprint(*c.Value)
		}
		fmt.Fprintf(w, "  %-5s  %s\n", safe(v), safe(c.Source))
	}
	if len(r.Group) > 0 {
		var g []string
		for k, v := range r.Group {
			g = append(g, safe(k)+"="+safe(v))
		}
		fmt.Fprintf(w, "  group: %s\n", strings.Join(g, " "))
	}
	if r.Decision != "" {
		fmt.Fprintf(w, "  decision: %s\n", safe(r.Decision))
	}
	if st := r.State; st != nil {
		printState(w, "state", st)
	}
	if c := r.Change; c != nil {
		printChange(w, c)
	}
	if a := r.Alert; a != nil {
		for t, o := range a.Deliveries {
			line := fmt.Sprintf("  → %s: %s", safe(t), safe(string(o.Status)))
			if o.Attempts > 0 {
				line += fmt.Sprintf(" after %d attempt(s)", o.Attempts)
			}
			if o.Error != "" {
				line += ": " + safe(o.Error)
			}
			if len(o.Silences) > 0 {
				line += " by silence " + safe(strings.Join(o.Silences, ", "))
			}
			fmt.Fprintln(w, line)
		}
	}
}

// printState prints a group's state, under label.
func printState(w io.Writer, label string, st *api.StateView) {
	fmt.Fprintf(w, "  %s: alerted=%v suppressed since=%d in window=%d\n", label, st.Alerted, st.Suppressed, st.InWindow)
	if len(st.Distinct) > 0 {
		fmt.Fprintf(w, "    distinct in window: %s\n", safe(tuples(st.Distinct)))
	}
	switch {
	case st.ValueLastSeen != nil:
		fmt.Fprintf(w, "    value last seen: %s (%d values remembered)\n", st.ValueLastSeen.Format(time.RFC3339), st.Remembered)
	case st.ValueSeen != nil:
		fmt.Fprintf(w, "    value not seen before (%d values remembered)\n", st.Remembered)
	}
	if len(st.Chain) > 0 {
		fmt.Fprintf(w, "    partial chain: %s\n", chainText(st.Chain))
	}
	if st.Deadline != nil {
		fmt.Fprintf(w, "    deadline: %s, waiting on %s\n", st.Deadline.Format(time.RFC3339), chainText(st.Pending))
	}
	if st.ResolveDue != nil {
		fmt.Fprintf(w, "    resolve.after resolves it at %s unless a match comes first\n", st.ResolveDue.Format(time.RFC3339))
	}
	if x := st.NextEscalation; x != nil {
		fmt.Fprintf(w, "    escalation %d at %s unless acknowledged or resolved first\n", x.Step, x.Due.Format(time.RFC3339))
	}
	if d := st.Digest; d != nil {
		fmt.Fprintf(w, "    digest at %s of %d suppressed (%s to %s)\n", d.Due.Format(time.RFC3339), d.Count, d.First.Format(time.RFC3339), d.Last.Format(time.RFC3339))
	}
}

// chainText shows a chain's steps, each with its event's time and id.
func chainText(chain []api.ChainStep) string {
	var steps []string
	for _, c := range chain {
		steps = append(steps, fmt.Sprintf("%s at %s (%s)", safe(c.Step), c.Time.Format(time.RFC3339), safe(c.EventID)))
	}
	return strings.Join(steps, ", ")
}

// printChange prints a group's state as the event saw it and left it.
func printChange(w io.Writer, c *api.StateChange) {
	if !c.Rebuilt {
		fmt.Fprintf(w, "  as the event saw it: %s\n", safe(c.Note))
		return
	}
	for _, s := range []struct {
		label string
		st    *api.StateView
	}{{"before (as the event saw it)", c.Before}, {"after (as the event left it)", c.After}} {
		if s.st == nil {
			fmt.Fprintf(w, "  %s: no state that could affect it\n", s.label)
			continue
		}
		printState(w, s.label, s.st)
	}
	exact := "exact"
	if !c.Exact {
		exact = "approximate"
	}
	fmt.Fprintf(w, "    (%s: %s)\n", exact, safe(c.Note))
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func printJSON(s stdio, v any) int {
	enc := jsonEncoder(s.out)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(s.err, "alerter: %v\n", err)
		return 1
	}
	return 0
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc
}

// findPages is how many pages (of up to 20,000 stored events read each) a
// search that finds nothing goes through.
const findPages = 10

// findEvents prints the stored events with words, newest first.
func findEvents(ctx context.Context, c *api.Client, words string, s stdio) int {
	// A page that found nothing may have stopped at the server's bound on
	// events read; the search goes on from there, for a while.
	var found []*event.Event
	q := url.Values{"limit": {"50"}, "q": {words}}
	older, err := c.Events(ctx, q, findPages, func(e api.StoredEvent) bool {
		found = append(found, e.Event)
		return len(found) < 50
	})
	if err != nil {
		fmt.Fprintf(s.err, "alerter explain --find: %s\n", safeErr(err))
		return 1
	}
	switch {
	case len(found) == 0 && older:
		fmt.Fprintf(s.out, "no stored event among the newest searched has all of %q; older ones were not searched\n", words)
		return 0
	case len(found) == 0:
		fmt.Fprintf(s.out, "no stored event has all of %q\n", words)
		return 0
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tACTION\tACTOR\tIP")
	for _, ev := range found {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safe(ev.ID), ev.Time.Format(time.RFC3339), safe(ev.Action),
			safe(firstNonEmpty(ev.Actor.Name, ev.Actor.DisplayName, ev.Actor.ID, "?")), safe(ev.IP))
	}
	_ = tw.Flush()
	if older {
		fmt.Fprintln(s.out, "(more are older: add words to narrow the search)")
	}
	return 0
}

// tuples shows a window's distinct tuples: values, or (a, b) for tuples of
// several values.
func tuples(ts [][]string) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = strings.Join(t, ", ")
		if len(t) > 1 {
			out[i] = "(" + out[i] + ")"
		}
	}
	return strings.Join(out, ", ")
}
