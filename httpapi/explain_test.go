package httpapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// compileRules compiles a rule file's YAML.
func compileRules(t *testing.T, yaml string) *rules.Set {
	t.Helper()
	set, err := rules.Compile([]rules.File{{Name: "t.yaml", Data: []byte(yaml)}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestNoAlertDecision(t *testing.T) {
	set := compileRules(t, `rules:
  - {id: th, severity: low, when: "true", threshold: {count: 3, within: 10m}, dedup: {window: 1h}}
`)
	r := set.Rules[0]
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	ev := &event.Event{ID: "e2", Time: at("2024-05-14T10:05:00Z")}
	for _, tt := range []struct {
		name string
		st   engine.GroupState
		live bool
		want string
	}{
		{"in the window", engine.GroupState{Window: []engine.Entry{{ID: "e1"}, {ID: "e2"}}}, true,
			"counted toward the threshold: 2 of the 3 events within 10m0s it needs are in the group's window"},
		{"after the group's alert", engine.GroupState{Alerted: true, LastAlert: at("2024-05-14T10:00:00Z").UnixNano()}, true,
			"suppressed: the group alerted at 2024-05-14T10:00:00Z, less than 1h0m0s from this event (one alert per group per 1h0m0s)"},
		{"late, before the group's alert", engine.GroupState{Alerted: true, LastAlert: at("2024-05-14T10:06:00Z").UnixNano()}, true,
			"suppressed: the group alerted at 2024-05-14T10:06:00Z, less than 1h0m0s from this event (one alert per group per 1h0m0s)"},
		{"long after the group's alert", engine.GroupState{Alerted: true, LastAlert: at("2024-05-14T08:00:00Z").UnixNano()}, true,
			"counted toward the threshold (3 within 10m0s), or suppressed; it did not fire an alert itself, and the window it was in has moved on"},
		{"the firing event, its alert not stored yet", engine.GroupState{Alerted: true, LastAlert: at("2024-05-14T10:05:00Z").UnixNano(), Fired: []string{"e0", "e1", "e2"}}, true,
			"it made the group's last alert fire, at 2024-05-14T10:05:00Z; that alert is not stored (yet, or any more)"},
		{"no state", engine.GroupState{}, false,
			"counted toward the threshold (3 within 10m0s), or suppressed; it did not fire an alert itself, and the window it was in has moved on"},
	} {
		if got := noAlertDecision(engine.Match{Rule: r}, ev, tt.st, tt.live); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// For a distinct threshold, the decision names the distinct values the
// group's window holds.
func TestNoAlertDecisionDistinct(t *testing.T) {
	set := compileRules(t, `rules:
  - {id: d, severity: low, when: "true", threshold: {count: 3, within: 1h, distinct: [event.ip]}}
`)
	ev := &event.Event{ID: "e2", Time: time.Date(2024, 5, 14, 10, 5, 0, 0, time.UTC)}
	st := engine.GroupState{Window: []engine.Entry{{ID: "e1", Tuple: "10.0.0.1"}, {ID: "e2", Tuple: "10.0.0.1"}, {ID: "e3", Tuple: "10.0.0.2"}}}
	want := "counted toward the threshold: the group's window holds 3 events with 2 distinct values of event.ip, of the 3 distinct within 1h0m0s it needs"
	if got := noAlertDecision(engine.Match{Rule: set.Rules[0], Tuple: "10.0.0.1"}, ev, st, true); got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got := st.DistinctValues(); len(got) != 2 || got[0][0] != "10.0.0.1" || got[1][0] != "10.0.0.2" {
		t.Errorf("distinct values %q", got)
	}
}

// For a new_value rule, the decision gives the tuple's last-seen time.
func TestNoAlertDecisionNewValue(t *testing.T) {
	set := compileRules(t, `rules:
  - {id: n, severity: low, when: "true", new_value: {of: [event.ip], by: [event.actor.name], history: 30d, learning: 7d}}
`)
	at := time.Date(2024, 5, 14, 10, 5, 0, 0, time.UTC)
	ev := &event.Event{ID: "e2", Time: at}
	st := engine.GroupState{Values: []engine.Value{{Tuple: "10.0.0.2", Last: at.Add(-time.Hour).UnixNano()}, {Tuple: "10.0.0.1", Last: at.UnixNano()}}}
	m := engine.Match{Rule: set.Rules[0], Tuple: "10.0.0.1"}
	want := "remembered: the group last saw its values of event.ip at 2024-05-14T10:05:00Z; it was seen before within 720h0m0s, came while the rule was learning (168h0m0s from its first matching event), or was suppressed"
	if got := noAlertDecision(m, ev, st, true); got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got := noAlertDecision(engine.Match{Rule: set.Rules[0], Tuple: "10.0.0.9"}, ev, st, true); !strings.HasPrefix(got, "matched, but no alert") {
		t.Errorf("a tuple the group does not remember: %q", got)
	}
	if got, ok := st.LastSeen("10.0.0.2"); !ok || !got.Equal(at.Add(-time.Hour)) {
		t.Errorf("LastSeen = %v, %v", got, ok)
	}
}

// For a sequence rule, an event in a partial chain is waiting for the
// later steps; the explain state names the chain's steps.
func TestNoAlertDecisionSequence(t *testing.T) {
	set := compileRules(t, `rules:
  - id: s
    severity: low
    sequence:
      by: [event.actor.name]
      within: 30m
      steps: [{name: edit, when: event.action == "A"}, {name: export, when: event.action == "B"}]
`)
	r := set.Rules[0]
	at := time.Date(2024, 5, 14, 10, 5, 0, 0, time.UTC)
	st := engine.GroupState{Chains: [][]engine.Entry{{{Time: at.UnixNano(), ID: "e1"}}}}
	want := "waiting in a partial chain of the group for the sequence's later steps (edit → export within 30m0s)"
	if got := noAlertDecision(engine.Match{Rule: r}, &event.Event{ID: "e1", Time: at}, st, true); got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got := noAlertDecision(engine.Match{Rule: r}, &event.Event{ID: "e9", Time: at}, st, true); !strings.HasPrefix(got, "no chain of the group holds it") {
		t.Errorf("an event no chain holds: %q", got)
	}
	chain := st.PartialChain(r.Sequence)
	if len(chain) != 1 || chain[0].Step != "edit" || chain[0].EventID != "e1" || !chain[0].Time.Equal(at) {
		t.Errorf("PartialChain = %+v", chain)
	}
}

// With the group's state rebuilt, the decision says what the event met
// rather than what the state as stored now leaves of it.
func TestRebuiltDecision(t *testing.T) {
	set := compileRules(t, `rules:
  - id: s
    severity: low
    sequence:
      by: [event.actor.name]
      within: 30m
      steps: [{name: edit, when: event.action == "A"}, {name: export, when: event.action == "B"}]
    dedup: {window: 1h}
  - {id: n, severity: low, when: "true", new_value: {of: [event.ip], history: 30d, learning: 7d}}
`)
	at := time.Date(2024, 5, 14, 10, 5, 0, 0, time.UTC)
	ev := &event.Event{ID: "e2", Time: at}
	seq := engine.Match{Rule: set.Rule("s")}
	nv := engine.Match{Rule: set.Rule("n"), Tuple: "10.0.0.1"}
	chained := &engine.GroupState{Chains: [][]engine.Entry{{{Time: at.UnixNano(), ID: "e2"}}}}
	seen := func(d time.Duration) *engine.GroupState {
		return &engine.GroupState{Values: []engine.Value{{Tuple: "10.0.0.1", Last: at.Add(-d).UnixNano()}}}
	}
	for _, tt := range []struct {
		name string
		m    engine.Match
		c    engine.Change
		want string
	}{
		{"a chain's first step", seq, engine.Change{After: chained},
			"waiting in a partial chain of the group for the sequence's later steps (edit → export within 30m0s)"},
		{"a completion suppressed", seq, engine.Change{After: &engine.GroupState{Alerted: true, LastAlert: at.Add(-time.Minute).UnixNano()}, Suppressed: true},
			"suppressed: the group alerted at 2024-05-14T10:04:00Z, less than 1h0m0s from this event (one alert per group per 1h0m0s)"},
		{"fired, but not stored", seq, engine.Change{Fired: true},
			"it fires an alert with its group's state rebuilt, but no such alert is stored: the rules changed since, or the alert is older than the ALERTS stream keeps"},
		{"a value seen within history", nv, engine.Change{Before: seen(time.Hour), After: seen(0)},
			"not new: the group saw its values of event.ip at 2024-05-14T09:05:00Z, within 720h0m0s before it"},
		{"a value seen longer ago", nv, engine.Change{Before: seen(800 * time.Hour), After: seen(0)},
			"new, but the rule was learning: it alerts on new values only 168h0m0s after its first matching event"},
		{"a value not seen", nv, engine.Change{After: seen(0)},
			"new, but the rule was learning: it alerts on new values only 168h0m0s after its first matching event"},
	} {
		if got := rebuiltDecision(tt.m, ev, tt.c); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A pending deadline shows its time and the events behind it, named by
// the sequence's steps, or as a quiet group's last event.
func TestDeadlineView(t *testing.T) {
	set := compileRules(t, `rules:
  - id: s
    severity: low
    sequence:
      by: [event.actor.name]
      within: 30m
      steps: [{name: edit, when: event.action == "A"}, {name: share, when: event.action == "B"}, {name: export, when: event.action == "C"}]
  - {id: q, severity: low, when: "true", dedup: {window: 1h}}
`)
	at := time.Date(2024, 5, 14, 10, 5, 0, 0, time.UTC)
	entry := func(id string, min int) engine.Entry {
		return engine.Entry{ID: id, Time: at.Add(time.Duration(min) * time.Minute).UnixNano()}
	}
	for _, tt := range []struct {
		name    string
		rule    string
		due     int64
		pending []engine.Entry
		want    string
	}{
		{"none", "s", 0, nil, "deadline none, pending []"},
		{"an absence's chain", "s", at.Add(32 * time.Minute).UnixNano(), []engine.Entry{entry("e1", 0), entry("e2", 2)},
			"deadline 2024-05-14T10:37:00Z, pending [edit e1 10:05 share e2 10:07]"},
		{"a quiet group's last event", "q", at.Add(time.Hour).UnixNano(), []engine.Entry{entry("e9", 0)},
			"deadline 2024-05-14T11:05:00Z, pending [last event e9 10:05]"},
	} {
		var v api.StateView
		deadlineView(&v, set.Rule(tt.rule), tt.due, tt.pending)
		got := "deadline none"
		if v.Deadline != nil {
			got = "deadline " + v.Deadline.Format(time.RFC3339)
		}
		var steps []string
		for _, c := range v.Pending {
			steps = append(steps, c.Step+" "+c.EventID+" "+c.Time.Format("15:04"))
		}
		if got += fmt.Sprintf(", pending %v", steps); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// The state view shows a group's lifecycle timers that are set, and only
// those: resolve.after's deadline, the next escalate: after step (its index
// in escalate:, after_suppressed steps counted) and the open digest period.
func TestTimersView(t *testing.T) {
	set := compileRules(t, `rules:
  - id: l
    severity: low
    when: "true"
    dedup: {by: [event.actor.name], window: 1h}
    resolve: {after: 30m}
    digest: 15m
    escalate: [{after_suppressed: 3}, {after: 10m}, {after: 20m}]
`)
	at := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	ns := func(min int) int64 { return at.Add(time.Duration(min) * time.Minute).UnixNano() }
	for _, tt := range []struct {
		name string
		st   engine.GroupState
		want string
	}{
		{"none", engine.GroupState{Alerted: true}, "resolve none, escalation none, digest none"},
		{"all", engine.GroupState{ResolveAt: engine.Timer{Due: ns(35)}, EscalateAt: engine.Timer{Due: ns(10)}, EscalateFrom: ns(0),
			DigestAt: engine.Timer{Due: ns(17)}, DigestCount: 4, DigestFirst: ns(2), DigestLast: ns(9)},
			"resolve 10:35, escalation 2 10:10, digest 10:17 4 10:02-10:09"},
		{"the first after: step taken", engine.GroupState{EscalateAt: engine.Timer{Due: ns(20)}, EscalateFrom: ns(0), Escalated: 0b10},
			"resolve none, escalation 3 10:20, digest none"},
	} {
		v := stateView(engine.Match{Rule: set.Rules[0]}, &tt.st)
		got := []string{"resolve none", "escalation none", "digest none"}
		if v.ResolveDue != nil {
			got[0] = "resolve " + v.ResolveDue.Format("15:04")
		}
		if x := v.NextEscalation; x != nil {
			got[1] = fmt.Sprintf("escalation %d %s", x.Step, x.Due.Format("15:04"))
		}
		if d := v.Digest; d != nil {
			got[2] = fmt.Sprintf("digest %s %d %s-%s", d.Due.Format("15:04"), d.Count, d.First.Format("15:04"), d.Last.Format("15:04"))
		}
		if s := strings.Join(got, ", "); s != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, s, tt.want)
		}
	}
}
