package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/alerter/alerter"
)

func TestDecideEscalate(t *testing.T) {
	min := int64(time.Minute)
	dedup := policy{dedupWindow: 30 * min}
	steps := func(n ...int64) policy { p := dedup; p.escalate = n; return p }
	tests := []struct {
		name  string
		p     policy
		steps []step
	}{
		{"the Nth suppressed match escalates, once", steps(2),
			[]step{{"0s", "fire 1 (suppressed 0)"}, {"1m", "suppress"}, {"2m", "escalate 1 (suppressed 2)"},
				{"3m", "suppress"}, {"4m", "suppress"}}},
		{"steps are taken in turn; an after: step (0) is not taken by matches", steps(1, 0, 3),
			[]step{{"0s", "fire 1 (suppressed 0)"}, {"1m", "escalate 1 (suppressed 1)"}, {"2m", "suppress"},
				{"3m", "escalate 3 (suppressed 3)"}, {"4m", "suppress"}}},
		{"a new alert starts the steps over", steps(1),
			[]step{{"0s", "fire 1 (suppressed 0)"}, {"1m", "escalate 1 (suppressed 1)"}, {"2m", "suppress"},
				{"30m", "fire 1 (suppressed 2)"}, {"31m", "escalate 1 (suppressed 1)"}}},
		{"without steps nothing escalates", dedup,
			[]step{{"0s", "fire 1 (suppressed 0)"}, {"1m", "suppress"}, {"2m", "suppress"}}},
		{"a threshold's suppressed matches escalate too", policy{count: 2, within: 10 * min, dedupWindow: 30 * min, escalate: []int64{2}},
			[]step{{"0s", "wait"}, {"1m", "fire 2 (suppressed 0)"}, {"2m", "suppress"}, {"3m", "escalate 1 (suppressed 2)"}}},
	}
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st GroupState
			var fired []string
			for i, s := range tt.steps {
				off, err := time.ParseDuration(s.at)
				if err != nil {
					t.Fatal(err)
				}
				id := fmt.Sprint("e", i)
				d := decide(&st, tt.p, base.Add(off).UnixNano(), id, "")
				var got string
				switch {
				case d.fire:
					got = fmt.Sprintf("fire %d (suppressed %d)", d.count, d.suppressedBefore)
					fired = d.ids
				case d.escalation > 0:
					got = fmt.Sprintf("escalate %d (suppressed %d)", d.escalation, d.suppressedBefore)
					if !d.suppressed || d.escalates != fired[len(fired)-1] || d.escalatedAt == 0 || !slices.Equal(d.ids, fired) {
						t.Errorf("step %d: escalation %+v does not re-make the last alert %v", i, d, fired)
					}
				case d.suppressed:
					got = "suppress"
				default:
					got = "wait"
				}
				if got != s.want {
					t.Errorf("step %d at +%s: got %q, want %q", i, s.at, got, s.want)
				}
			}
		})
	}
}

// A redelivered event that took a step takes it again (the escalation may
// not have been stored); any other redelivered event decides nothing.
func TestDecideEscalateRedelivered(t *testing.T) {
	p := policy{dedupWindow: int64(time.Hour), escalate: []int64{1, 2}}
	var st GroupState
	decide(&st, p, 0, "a", "")
	first := decide(&st, p, 1, "b", "")
	again := decide(&st, p, 1, "b", "")
	if first.escalation != 1 || again.escalation != 1 || again.escalates != "a" {
		t.Fatalf("got %+v then %+v, want step 1 twice", first, again)
	}
	if d := decide(&st, p, 2, "c", ""); d.escalation != 2 {
		t.Fatalf("got %+v, want step 2", d)
	}
	if d := decide(&st, p, 1, "b", ""); d.escalation != 0 || st.Suppressed != 2 {
		t.Fatalf("an event whose step is no longer the latest: got %+v, suppressed %d", d, st.Suppressed)
	}
}

func TestProcessEscalates(t *testing.T) {
	set := compile(t, `
rules:
  - id: exports
    severity: medium
    when: event.action == "Findings exported"
    dedup: {by: [event.actor.name], window: 1h}
    title: "{{ event.actor.display_name }} exported findings"
    escalate:
      - {after_suppressed: 2, severity: critical}
`)
	e := New(set, &MemStore{})
	var alerts, escs []*alerter.Alert
	for i := range 4 {
		res, err := e.Process(t.Context(), ev(fmt.Sprint("e", i), "Findings exported", "akumar", time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, res.Alerts...)
		escs = append(escs, res.Escalations...)
	}
	if len(alerts) != 1 || len(escs) != 1 {
		t.Fatalf("got %d alerts and %d escalations, want 1 and 1", len(alerts), len(escs))
	}
	a, x := alerts[0], escs[0]
	if x.Escalation != 1 || x.Severity != alerter.Critical || x.DedupKey != a.DedupKey || x.Suppressed != 2 ||
		x.Event.ID != "e2" || x.Time != t0.Add(2*time.Minute) || x.Title != "AKUMAR exported findings" ||
		x.Group["event.actor.name"] != "akumar" || !slices.Equal(x.EventIDs, a.EventIDs) || x.ID == a.ID || x.Escalates != a.ID {
		t.Fatalf("escalation %+v of alert %+v", x, a)
	}
	// The same event again (redelivered) makes the same escalation.
	res, err := e.Process(t.Context(), ev("e2", "Findings exported", "akumar", 2*time.Minute))
	if err != nil || len(res.Escalations) != 1 || res.Escalations[0].ID != x.ID {
		t.Fatalf("redelivered: %+v, %v; want escalation %s again", res.Escalations, err, x.ID)
	}
	if st := e.Stats("exports"); st.Alerts.Load() != 1 || st.Suppressed.Load() != 4 {
		t.Fatalf("stats: alerts %d suppressed %d", st.Alerts.Load(), st.Suppressed.Load())
	}
}

// A new_value rule's suppressed new tuples and a sequence's suppressed
// chains count toward after_suppressed like any suppressed match.
func TestDecideEscalateNewValueAndSequence(t *testing.T) {
	p := policy{dedupWindow: int64(time.Hour), history: int64(24 * time.Hour), maxValues: 10, escalate: []int64{2}}
	var st GroupState
	var got []int
	for i, tuple := range []string{"a", "b", "b", "c", "d"} {
		got = append(got, decideNew(&st, p, int64(i+1), fmt.Sprint("n", i), tuple, 0).escalation)
	}
	// a fires; b is suppressed (1); b again is not new; c is suppressed (2) and escalates.
	if !slices.Equal(got, []int{0, 0, 0, 1, 0}) {
		t.Errorf("new_value: escalations %v", got)
	}

	p = policy{dedupWindow: int64(time.Hour), steps: 2, within: int64(time.Hour), escalate: []int64{1}}
	st = GroupState{}
	got = nil
	for i, mask := range []uint8{1, 2, 1, 2} {
		got = append(got, decideSeq(&st, p, int64(i+1), fmt.Sprint("s", i), mask, 0).escalation)
	}
	// The first chain fires; the second is suppressed and escalates.
	if !slices.Equal(got, []int{0, 0, 0, 1}) {
		t.Errorf("sequence: escalations %v", got)
	}
}
