package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/alerter/alerter/event"
)

const deadlineRules = `
rules:
  - id: left-disabled
    severity: high
    sequence:
      by: [event.actor.name]
      within: 15m
      steps:
        - {name: disabled, when: event.action == "Scanning rule disabled"}
        - {name: enabled, when: event.action == "Scanning rule enabled", absent: true}
    title: '{{ event.actor.name }} left a scanning rule disabled'
  - id: source-quiet
    severity: medium
    when: event.source != ""
    quiet: {within: 32m, by: [event.source]}  # a slack of 1m
    title: 'No events from {{ event.source }}'
`

func srcEv(id, action, actor, source string, at time.Duration) *event.Event {
	e := ev(id, action, actor, at)
	e.Source = source
	return e
}

// With the event clock, a deadline fires once an event later than it is
// processed, with the chain's last event and its own time; an in-time
// absent step cancels it; a quiet group fires once.
func TestProcessDeadlinesByEventClock(t *testing.T) {
	set := compile(t, deadlineRules)
	e := New(set, &MemStore{}, WithEventClock())
	var got []string
	for _, v := range []*event.Event{
		srcEv("a", "Scanning rule disabled", "mchen", "poller", 0),
		srcEv("b", "Scanning rule disabled", "akumar", "poller", time.Minute),
		srcEv("c", "Scanning rule enabled", "akumar", "poller", 10*time.Minute),
		srcEv("d", "Page viewed", "x", "poller", 20*time.Minute), // a's deadline (15m) fires first
		srcEv("e", "Page viewed", "x", "file", 90*time.Minute),   // poller quiet since d (20m): fires at 53m (32m + 1m slack)
	} {
		res, err := e.Process(t.Context(), v)
		if err != nil || len(res.Errors) > 0 {
			t.Fatal(err, res.Errors)
		}
		for _, a := range res.Alerts {
			got = append(got, fmt.Sprintf("%s@%s:%s/%s %q", a.Rule, a.Time.Sub(t0), strings.Join(a.EventIDs, ","), a.Event.ID, a.Title))
		}
	}
	want := []string{
		`left-disabled@15m0s:a/a "mchen left a scanning rule disabled"`,
		`source-quiet@53m0s:d/d "No events from poller"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Until moves time on: the file source's deadline (e at 90m) is due
	// at 123m, inclusive.
	res, err := e.Until(t.Context(), t0.Add(122*time.Minute))
	if err != nil || len(res.Alerts) != 0 {
		t.Fatalf("until 122m: %v %v", res.Alerts, err)
	}
	res, err = e.Until(t.Context(), t0.Add(123*time.Minute))
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Group["event.source"] != "file" {
		t.Fatalf("until 123m: %+v %v", res.Alerts, err)
	}
}

// Live, the caller keeps the deadlines handed out and calls Fire: the
// alert is the same as by the event clock; a deadline handed over again
// fires the same alert (same id); a stale one hands out the current one;
// one of a removed rule is dropped.
func TestFire(t *testing.T) {
	set := compile(t, deadlineRules)
	store := &MemStore{}
	e := New(set, store)
	events := map[string]*event.Event{}
	lookup := func(_ context.Context, en Entry) (*event.Event, error) {
		if en.Ref != 7 {
			return nil, fmt.Errorf("ref %d, want the plan's 7", en.Ref)
		}
		return events[en.ID], nil
	}
	process := func(v *event.Event) Result {
		t.Helper()
		events[v.ID] = v
		p := e.Plan(t.Context(), v, nil)
		p.Ref = 7
		res, err := e.Apply(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := process(srcEv("a", "Scanning rule disabled", "mchen", "", 0))
	if len(res.Deadlines) != 1 || !res.Deadlines[0].Due.Equal(t0.Add(15*time.Minute)) {
		t.Fatalf("deadlines handed out: %+v", res.Deadlines)
	}
	dl := res.Deadlines[0]
	if again := process(srcEv("a", "Scanning rule disabled", "mchen", "", 0)); len(again.Deadlines) != 1 || !again.Deadlines[0].Due.Equal(dl.Due) {
		t.Fatalf("a redelivery of the event that set the deadline must hand it out again: %+v", again.Deadlines)
	}
	first, err := e.Fire(t.Context(), dl, lookup)
	if err != nil || len(first.Alerts) != 1 || first.Alerts[0].Event.ID != "a" || !first.Alerts[0].Time.Equal(dl.Due) {
		t.Fatalf("fire: %+v %v", first.Alerts, err)
	}
	second, err := e.Fire(t.Context(), dl, lookup)
	if err != nil || len(second.Alerts) != 1 || second.Alerts[0].ID != first.Alerts[0].ID {
		t.Fatalf("fired again: %+v %v, want the same alert %s", second.Alerts, err, first.Alerts[0].ID)
	}

	// A quiet group: its deadline moves on without being handed out again,
	// until the one handed out fires.
	res = process(srcEv("q1", "Page viewed", "x", "poller", 0))
	if len(res.Deadlines) != 1 {
		t.Fatalf("quiet: first event hands out %+v", res.Deadlines)
	}
	early := res.Deadlines[0]
	if res = process(srcEv("q2", "Page viewed", "x", "poller", 10*time.Minute)); len(res.Deadlines) != 0 {
		t.Fatalf("quiet: a later event handed out %+v", res.Deadlines)
	}
	res, err = e.Fire(t.Context(), early, lookup)
	if err != nil || len(res.Alerts) != 0 || len(res.Deadlines) != 1 || !res.Deadlines[0].Due.Equal(t0.Add(43*time.Minute)) {
		t.Fatalf("quiet: the early deadline must fire nothing and hand out the later one: %+v %v", res, err)
	}
	// Handed over again (a replica died before acknowledging it): the
	// current deadline is handed out again.
	res, err = e.Fire(t.Context(), early, lookup)
	if err != nil || len(res.Alerts) != 0 || len(res.Deadlines) != 1 || !res.Deadlines[0].Due.Equal(t0.Add(43*time.Minute)) {
		t.Fatalf("quiet: a stale deadline must hand out the current one: %+v %v", res, err)
	}
	res, err = e.Fire(t.Context(), res.Deadlines[0], lookup)
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Event.ID != "q2" || len(res.Deadlines) != 0 {
		t.Fatalf("quiet: %+v %v", res, err)
	}

	e.Swap(compile(t, `rules: [{id: other, severity: low, when: "true"}]`))
	res, err = e.Fire(t.Context(), dl, lookup)
	if err != nil || len(res.Alerts) != 0 || len(res.Deadlines) != 0 {
		t.Fatalf("a removed rule's deadline: %+v %v", res, err)
	}
}

// An event that is no longer stored leaves the alert its id and time.
func TestFireWithoutTheEvent(t *testing.T) {
	e := New(compile(t, deadlineRules), &MemStore{})
	p := e.Plan(t.Context(), srcEv("a", "Scanning rule disabled", "mchen", "", 0), nil)
	res, err := e.Apply(t.Context(), p)
	if err != nil || len(res.Deadlines) != 1 {
		t.Fatal(err, res.Deadlines)
	}
	res, err = e.Fire(t.Context(), res.Deadlines[0], func(context.Context, Entry) (*event.Event, error) { return nil, nil })
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Event.ID != "a" || !res.Alerts[0].Event.Time.Equal(t0) {
		t.Fatalf("%+v %v", res.Alerts, err)
	}
}

// A group value an event field fills is bounded, however long the field:
// it travels into every alert and pending deadline. Two long values that
// differ only at their end still name two groups.
func TestLongGroupValuesAreBounded(t *testing.T) {
	set := compile(t, `
rules:
  - id: left-off
    severity: high
    sequence:
      by: [event.actor.name]
      within: 1m
      steps:
        - {name: "off", when: event.action == "off"}
        - {name: "on", when: event.action == "on", absent: true}
`)
	eng := New(set, &MemStore{})
	long := strings.Repeat("x", 200_000)
	var groups []string
	for i, name := range []string{long + "a", long + "b"} {
		res, err := eng.Process(t.Context(), ev(fmt.Sprint("e", i), "off", name, 0))
		if err != nil || len(res.Deadlines) != 1 {
			t.Fatalf("event %d: %+v %v", i, res, err)
		}
		g := res.Deadlines[0].Group[0]
		if len(g) > groupValueMax || !strings.HasPrefix(g, "xxx") || !utf8.ValidString(g) {
			t.Fatalf("group value of %d bytes: %.40q...", len(g), g)
		}
		groups = append(groups, g)
	}
	if groups[0] == groups[1] {
		t.Fatal("two long values that differ name one group")
	}
}
