package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/event"
)

// A rebuild shows a group's state as the target saw it and left it, from
// the group's earlier events: those of other groups and rules change
// nothing, and the state as stored after later events does not show.
func TestRebuild(t *testing.T) {
	set := compile(t, `
rules:
  - id: seq
    severity: high
    sequence:
      by: [event.actor.name]
      within: 30m
      steps:
        - {name: edit, when: event.action == "A"}
        - {name: share, when: event.action == "B"}
        - {name: export, when: event.action == "C"}
  - {id: nv, severity: low, when: event.action == "login", new_value: {of: [event.ip], by: [event.actor.name], history: 30d}}
  - {id: ds, severity: low, when: event.action == "X", threshold: {count: 3, within: 1h, by: [event.actor.name], distinct: [event.ip]}}
  - id: off
    severity: high
    sequence:
      by: [event.actor.name]
      within: 15m
      steps:
        - {name: "off", when: event.action == "off"}
        - {name: "on", when: event.action == "on", absent: true}
    dedup: {window: 1h}
  - {id: quiet, severity: high, when: event.action == "beat", quiet: {within: 10m, by: [event.actor.name]}}
  - {id: dd, severity: low, when: event.action == "chg", threshold: {count: 2, within: 1h, by: [event.actor.name]}, dedup: {window: 1h}, resolve: {when: 'event.action == "fix"'}}
`)
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	// "id action actor ip minute", in stream order.
	mk := func(s string) *event.Event {
		f := strings.Fields(s)
		var min int
		fmt.Sscan(f[4], &min)
		return &event.Event{ID: f[0], Action: f[1], Actor: event.Actor{Name: f[2]}, IP: f[3], Time: base.Add(time.Duration(min) * time.Minute)}
	}
	show := func(rule string, st *GroupState, target *event.Event, m Match) string {
		if st == nil {
			return "none"
		}
		switch rule {
		case "dd":
			return "alerted at " + time.Unix(0, st.LastAlert).Sub(base).String()
		case "off", "quiet":
			if st.Due == 0 {
				if st.LastAlert != 0 {
					return "no deadline, alerted at " + time.Unix(0, st.LastAlert).Sub(base).String()
				}
				return "no deadline"
			}
			var ids []string
			for _, e := range st.Pending {
				ids = append(ids, e.ID)
			}
			return fmt.Sprintf("due %s after %s", time.Unix(0, st.Due).Sub(base), strings.Join(ids, " "))
		case "seq":
			var steps []string
			for _, c := range st.PartialChain(set.Rule("seq").Sequence) {
				steps = append(steps, c.Step+":"+c.EventID)
			}
			return "chain " + strings.Join(steps, " ")
		case "nv":
			last, ok := st.LastSeen(m.Tuple)
			if !ok {
				return "not seen"
			}
			return "seen at " + last.Sub(base).String()
		}
		var vs []string
		for _, v := range st.DistinctValues() {
			vs = append(vs, v...)
		}
		return "distinct " + strings.Join(vs, " ")
	}
	for _, tt := range []struct {
		name    string
		rule    string
		earlier []string
		target  string
		later   []string // evaluated live after the target: not shown
		before  string
		after   string // and ", fired" if the target fired
		events  int
	}{
		{name: "the middle step of three", rule: "seq",
			earlier: []string{"e1 A mchen - 0", "o1 A zoe - 1", "o2 B zoe - 2"}, target: "e2 B mchen - 3", later: []string{"e3 C mchen - 4"},
			before: "chain edit:e1", after: "chain edit:e1 share:e2", events: 1},
		{name: "the last step", rule: "seq",
			earlier: []string{"e1 A mchen - 0", "e2 B mchen - 3"}, target: "e3 C mchen - 4",
			before: "chain edit:e1 share:e2", after: "none, fired", events: 2},
		{name: "the first step", rule: "seq", target: "e1 A mchen - 0", later: []string{"e2 B mchen - 3"},
			before: "none", after: "chain edit:e1"},
		{name: "a chain that ran past within is gone", rule: "seq",
			earlier: []string{"e1 A mchen - 0"}, target: "e2 B mchen - 45",
			before: "none", after: "none", events: 1},
		{name: "a value not seen before", rule: "nv",
			earlier: []string{"e1 login mchen 10.0.0.1 0", "o1 login zoe 10.0.0.2 1"}, target: "e2 login mchen 10.0.0.2 5", later: []string{"e3 login mchen 10.0.0.2 9"},
			before: "not seen", after: "seen at 5m0s, fired", events: 1},
		{name: "a value seen before", rule: "nv",
			earlier: []string{"e1 login mchen 10.0.0.1 0"}, target: "e2 login mchen 10.0.0.1 5",
			before: "seen at 0s", after: "seen at 5m0s", events: 1},
		{name: "a distinct window", rule: "ds",
			earlier: []string{"e1 X mchen 10.0.0.1 0", "e2 X mchen 10.0.0.1 1", "o1 X zoe 10.0.0.3 1"}, target: "e3 X mchen 10.0.0.2 2", later: []string{"e4 X mchen 10.0.0.3 3"},
			before: "distinct 10.0.0.1", after: "distinct 10.0.0.1 10.0.0.2", events: 2},
		{name: "the distinct window it completed", rule: "ds",
			earlier: []string{"e1 X mchen 10.0.0.1 0", "e2 X mchen 10.0.0.2 1"}, target: "e3 X mchen 10.0.0.3 2",
			before: "distinct 10.0.0.1 10.0.0.2", after: "distinct , fired", events: 2},
		{name: "an absence's cancel sees the pending deadline", rule: "off",
			earlier: []string{"e1 off mchen - 0"}, target: "e2 on mchen - 10",
			before: "due 15m0s after e1", after: "none", events: 1},
		{name: "a late cancel sees the deadline fired, by the events' clock", rule: "off",
			earlier: []string{"e1 off mchen - 0", "o1 off zoe - 16"}, target: "e2 on mchen - 20",
			before: "no deadline, alerted at 15m0s", after: "no deadline, alerted at 15m0s", events: 1},
		{name: "a resolve before the event ended the group's window", rule: "dd",
			earlier: []string{"e1 chg mchen - 0", "e2 chg mchen - 1", "e3 fix mchen - 10"}, target: "e4 chg mchen - 12",
			before: "alerted at -50m0s", after: "alerted at -50m0s", events: 2},
		{name: "a quiet group's event moves its deadline", rule: "quiet",
			earlier: []string{"e1 beat mchen - 0"}, target: "e2 beat mchen - 5",
			before: "due 10m18.75s after e1", after: "due 15m18.75s after e2", events: 1}, // within 10m, slack 18.75s
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The live engine, as far as the target's later events.
			live := New(set, &MemStore{})
			for _, s := range append(append(append([]string{}, tt.earlier...), tt.target), tt.later...) {
				if _, err := live.Process(t.Context(), mk(s)); err != nil {
					t.Fatal(err)
				}
			}
			target := mk(tt.target)
			plan := live.Plan(t.Context(), target, nil)
			b := NewRebuild(target, plan.Matches, set.Lists)
			for _, s := range tt.earlier {
				if err := b.Add(t.Context(), mk(s)); err != nil {
					t.Fatal(err)
				}
			}
			changes, err := b.Finish(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var m Match
			for _, pm := range plan.Matches {
				if pm.Rule.ID == tt.rule {
					m = pm
				}
			}
			c, ok := changes[tt.rule]
			if !ok || len(changes) != 1 {
				t.Fatalf("changes of %v, want of %s alone", changes, tt.rule)
			}
			if got := show(tt.rule, c.Before, target, m); got != tt.before {
				t.Errorf("before: %s, want %s", got, tt.before)
			}
			got := show(tt.rule, c.After, target, m)
			if c.Fired {
				got += ", fired"
			}
			if got != tt.after {
				t.Errorf("after: %s, want %s", got, tt.after)
			}
			if b.Applied(tt.rule) != tt.events {
				t.Errorf("%d earlier events of the group applied, want %d", b.Applied(tt.rule), tt.events)
			}
		})
	}
}

// Remember seeds a new_value rule's rebuild with the values the group last
// saw before the events replayed begin, and with its learning start.
func TestRebuildRemember(t *testing.T) {
	set := compile(t, `
rules:
  - {id: nv, severity: low, when: event.action == "login", new_value: {of: [event.ip], by: [event.actor.name], history: 30d, learning: 1h}}
`)
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	start := base.Add(47 * time.Hour)
	stored := GroupState{Values: []Value{
		{Tuple: "10.0.0.1", Last: base.UnixNano()},                   // before start: seeded
		{Tuple: "10.0.0.2", Last: start.Add(time.Minute).UnixNano()}, // after start: only replay tells whether before the target
	}}
	for _, tt := range []struct {
		name    string
		ip      string
		learned bool // the live learning start (base) is seeded
		want    string
	}{
		{"a value seen before start", "10.0.0.1", true, "seen at 0s, no alert"},
		{"a value seen after start", "10.0.0.2", true, "not seen, fired"},
		{"a new value after learning", "10.0.0.3", true, "not seen, fired"},
		{"without the learning start, the target starts learning", "10.0.0.3", false, "not seen, no alert"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := &event.Event{ID: "e9", Action: "login", Actor: event.Actor{Name: "mchen"}, IP: tt.ip, Time: base.Add(48 * time.Hour)}
			plan := New(set, &MemStore{}).Plan(t.Context(), target, nil)
			b := NewRebuild(target, plan.Matches, nil)
			var learning GroupState
			if tt.learned {
				learning.Since = base.UnixNano()
			}
			if err := b.Remember(t.Context(), "nv", stored, learning, start); err != nil {
				t.Fatal(err)
			}
			changes, err := b.Finish(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			c := changes["nv"]
			got := "not seen"
			if c.Before != nil {
				if last, ok := c.Before.LastSeen(plan.Matches[0].Tuple); ok {
					got = "seen at " + last.Sub(base).String()
				}
			}
			if c.Fired {
				got += ", fired"
			} else {
				got += ", no alert"
			}
			if got != tt.want {
				t.Errorf("%s, want %s", got, tt.want)
			}
		})
	}
}
