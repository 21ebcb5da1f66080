package engine

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// Explain on states made by decide itself (history) or written out (st):
// what a group's state says of one event, never changing the state.
func TestExplain(t *testing.T) {
	set, err := rules.Compile([]rules.File{{Name: "t.yaml", Data: []byte(`rules:
  - {id: th, severity: low, when: "true", threshold: {count: 3, within: 10m}, dedup: {window: 1h}}
  - {id: count, severity: low, when: "true", threshold: {count: 2, within: 10m}}
  - {id: dedup, severity: low, when: "true", dedup: {window: 1h}}
  - {id: each, severity: low, when: "true"}
`)}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	at := func(s string) time.Time { d, _ := time.ParseDuration(s); return base.Add(d) }
	for _, tt := range []struct {
		name    string
		rule    string
		history []string    // "id@offset" fed to decide, oldest first
		st      *GroupState // else the state as written
		explain string      // "id@offset"
		want    string      // outcome, in window, last alert offset
	}{
		{name: "in the threshold window, with its fill", rule: "th", history: []string{"e1@1m", "e2@5m"}, explain: "e2@5m",
			want: "counted, 2 in window"},
		{name: "in the window as written", rule: "th", st: &GroupState{Window: []Entry{{ID: "e1"}, {ID: "e2"}}}, explain: "e2@5m",
			want: "counted, 2 in window"},
		{name: "suppressed by the group's last alert", rule: "dedup", history: []string{"e1@0s", "e2@5m"}, explain: "e2@5m",
			want: "suppressed, last alert at 0s"},
		{name: "late, suppressed by an alert after it", rule: "dedup", history: []string{"e1@6m", "e2@5m"}, explain: "e2@5m",
			want: "suppressed, last alert at 6m0s"},
		{name: "after the group's alert, not evaluated yet", rule: "th",
			st: &GroupState{Alerted: true, LastAlert: at("0s").UnixNano()}, explain: "e2@5m",
			want: "suppressed, last alert at 0s"},
		{name: "long after the group's alert", rule: "th",
			st: &GroupState{Alerted: true, LastAlert: at("-2h").UnixNano()}, explain: "e2@5m",
			want: "forgotten, last alert at -2h0m0s"},
		{name: "the firing event, as live", rule: "th", history: []string{"e0@1m", "e1@3m", "e2@5m"}, explain: "e2@5m",
			want: "fired, last alert at 5m0s"},
		{name: "the firing event redelivered (replayed)", rule: "th", history: []string{"e0@1m", "e1@3m", "e2@5m", "e2@5m"}, explain: "e2@5m",
			want: "fired, last alert at 5m0s"},
		{name: "an earlier event of the alert", rule: "th", history: []string{"e0@1m", "e1@3m", "e2@5m"}, explain: "e0@1m",
			want: "fired, last alert at 5m0s"},
		{name: "a threshold without dedup fired", rule: "count", history: []string{"e1@1m", "e2@2m"}, explain: "e2@2m",
			want: "fired, last alert at 2m0s"},
		{name: "the window moved on without it", rule: "count", history: []string{"e1@0s", "e2@20m"}, explain: "e1@0s",
			want: "forgotten"},
		{name: "suppressed, then the window of a later alert", rule: "th",
			history: []string{"a@0s", "b@1m", "c@2m", "e2@5m", "d@2h", "e@2h1m", "f@2h2m"}, explain: "e2@5m",
			want: "forgotten, last alert at 2h2m0s"},
		{name: "no state (expired): counted toward a threshold", rule: "th", explain: "e2@5m", want: "forgotten"},
		{name: "no state: a dedup rule", rule: "dedup", explain: "e2@5m", want: "forgotten"},
		{name: "a rule without windows", rule: "each", explain: "e2@5m", want: "forgotten"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := set.Rule(tt.rule)
			parse := func(s string) (string, time.Time) { id, off, _ := strings.Cut(s, "@"); return id, at(off) }
			st := tt.st
			if tt.history != nil {
				st = &GroupState{}
				for _, h := range tt.history {
					id, tm := parse(h)
					decide(st, policyOf(r), tm.UnixNano(), id, "")
				}
			}
			var before GroupState
			if st != nil {
				before = st.clone()
			}
			id, tm := parse(tt.explain)
			v := Explain(Match{Rule: r}, &event.Event{ID: id, Time: tm}, st)
			got := string(v.Outcome)
			if v.InWindow > 0 {
				got += fmt.Sprintf(", %d in window", v.InWindow)
			}
			if !v.LastAlert.IsZero() {
				got += fmt.Sprintf(", last alert at %s", v.LastAlert.Sub(base))
			}
			if got != tt.want {
				t.Errorf("%s: %s, want %s", tt.explain, got, tt.want)
			}
			if st != nil && !reflect.DeepEqual(*st, before) {
				t.Errorf("explaining changed the state:\n%+v\nwas\n%+v", *st, before)
			}
		})
	}
}
