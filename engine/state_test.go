package engine

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// step is one matching event fed to decide, and what must come of it.
type step struct {
	at   string // offset from the start, a Go duration
	want string // "fire N (suppressed S)", "suppress", or "wait"
}

func TestDecide(t *testing.T) {
	min := int64(time.Minute)
	tests := []struct {
		name  string
		p     policy
		steps []step
	}{
		{"no threshold, no dedup: every match alerts", policy{},
			[]step{{"0s", "fire 1 (suppressed 0)"}, {"1s", "fire 1 (suppressed 0)"}}},
		{"dedup: one alert per window, later matches counted", policy{dedupWindow: 30 * min},
			[]step{{"0s", "fire 1 (suppressed 0)"}, {"1m", "suppress"}, {"29m59s", "suppress"},
				{"30m", "fire 1 (suppressed 2)"}, {"31m", "suppress"}, {"2h", "fire 1 (suppressed 1)"}}},
		{"threshold: fires when the window holds count, then empties", policy{count: 3, within: 10 * min},
			[]step{{"0s", "wait"}, {"1m", "wait"}, {"2m", "fire 3 (suppressed 0)"},
				{"3m", "wait"}, {"4m", "wait"}, {"5m", "fire 3 (suppressed 0)"}}},
		{"threshold window is (t-within, t]: an event exactly within old drops out", policy{count: 2, within: 10 * min},
			[]step{{"0s", "wait"}, {"10m", "wait"}, {"19m59s", "fire 2 (suppressed 0)"}}},
		{"threshold with dedup: suppressed events do not count", policy{count: 2, within: 10 * min, dedupWindow: 30 * min},
			[]step{{"0s", "wait"}, {"1m", "fire 2 (suppressed 0)"}, {"2m", "suppress"}, {"20m", "suppress"},
				{"31m", "wait"}, {"32m", "fire 2 (suppressed 2)"}}},
		{"out-of-order event inside the dedup window is suppressed", policy{dedupWindow: 10 * min},
			[]step{{"5m", "fire 1 (suppressed 0)"}, {"1m", "suppress"}, {"16m", "fire 1 (suppressed 1)"}}},
	}
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st GroupState
			for i, s := range tt.steps {
				off, err := time.ParseDuration(s.at)
				if err != nil {
					t.Fatal(err)
				}
				d := decide(&st, tt.p, base.Add(off).UnixNano(), fmt.Sprint("e", i), "")
				var got string
				switch {
				case d.fire:
					got = fmt.Sprintf("fire %d (suppressed %d)", d.count, d.suppressedBefore)
					if len(d.ids) != d.count {
						t.Errorf("step %d: %d ids for count %d", i, len(d.ids), d.count)
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

func TestDecideThresholdIDsAreTheWindow(t *testing.T) {
	var st GroupState
	p := policy{count: 2, within: int64(time.Minute)}
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC).UnixNano()
	decide(&st, p, base, "old", "")
	decide(&st, p, base+int64(2*time.Minute), "a", "")
	d := decide(&st, p, base+int64(2*time.Minute+time.Second), "b", "")
	if !d.fire || strings.Join(d.ids, ",") != "a,b" {
		t.Fatalf("got fire=%v ids=%v, want the two events inside the window", d.fire, d.ids)
	}
	if len(st.Window) != 0 {
		t.Fatalf("window not emptied after firing: %v", st.Window)
	}
}

func TestMemStoreDropsEmptyAndExpired(t *testing.T) {
	var m MemStore
	ctx := t.Context()
	if err := m.Update(ctx, "a", 0, func(s *GroupState) error { s.Alerted, s.Expires = true, 100; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(ctx, "b", 0, func(s *GroupState) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1 {
		t.Fatalf("empty state kept: %d keys", m.Len())
	}
	failing := fmt.Errorf("boom")
	if err := m.Update(ctx, "a", 0, func(s *GroupState) error { s.Alerted = false; return failing }); err != failing {
		t.Fatalf("error not returned: %v", err)
	}
	if m.Len() != 1 {
		t.Fatal("a failed update changed the state")
	}
	m.Sweep(101)
	if m.Len() != 0 {
		t.Fatal("expired state not swept")
	}
}

// A crash after the state was saved but before the alert was stored
// redelivers the event: it must fire again, with the same events, and a
// redelivered window event must not count twice.
func TestDecideIsIdempotentForRedeliveries(t *testing.T) {
	p := policy{count: 2, within: int64(10 * time.Minute), dedupWindow: int64(30 * time.Minute)}
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC).UnixNano()
	var st GroupState
	if d := decide(&st, p, base, "a", ""); d.fire {
		t.Fatal("fired on one event")
	}
	if d := decide(&st, p, base, "a", ""); d.fire || len(st.Window) != 1 {
		t.Fatalf("a redelivered window event counted twice: %+v", st.Window)
	}
	first := decide(&st, p, base+int64(time.Minute), "b", "")
	again := decide(&st, p, base+int64(time.Minute), "b", "")
	if !first.fire || !again.fire || strings.Join(again.ids, ",") != "a,b" || again.count != 2 {
		t.Fatalf("redelivered firing event: first %+v, again %+v", first, again)
	}
	if d := decide(&st, p, base+int64(2*time.Minute), "c", ""); !d.suppressed {
		t.Fatalf("a new event inside the dedup window was not suppressed: %+v", d)
	}
}

// delivery is one event fed to decide; an id seen before is a redelivery.
type delivery struct {
	id   string
	at   string // offset from the start, a Go duration
	want string // as in step, "wait" also for "nothing happens"
}

// Processing an event id again, in whatever branch decide took for it the
// first time, must neither change the state nor count anything again, and
// the event that fired the last alert must fire it again, identical.
func TestDecideRedeliveries(t *testing.T) {
	min := int64(time.Minute)
	dedup := policy{dedupWindow: 30 * min}
	burst := policy{count: 3, within: 10 * min, dedupWindow: 30 * min}
	tests := []struct {
		name string
		p    policy
		ds   []delivery
	}{
		{"a suppressed event redelivered at once is counted once", dedup, []delivery{
			{"a", "0s", "fire 1 (suppressed 0)"}, {"b", "1m", "suppress"}, {"b", "1m", "wait"},
			{"c", "2m", "suppress"}, {"d", "30m", "fire 1 (suppressed 2)"}}},
		{"a suppressed event redelivered after others of its group is counted once", dedup, []delivery{
			{"a", "0s", "fire 1 (suppressed 0)"}, {"b", "1m", "suppress"}, {"c", "2m", "suppress"},
			{"d", "3m", "suppress"}, {"c", "2m", "wait"}, {"b", "1m", "wait"}, {"e", "31m", "fire 1 (suppressed 3)"}}},
		{"a suppressed event redelivered after the next alert is not counted into the one after", dedup, []delivery{
			{"a", "0s", "fire 1 (suppressed 0)"}, {"b", "1m", "suppress"}, {"c", "30m", "fire 1 (suppressed 1)"},
			{"b", "1m", "wait"}, {"d", "31m", "suppress"}, {"e", "1h", "fire 1 (suppressed 1)"}}},
		{"the firing event fires again with the suppressed count it had", dedup, []delivery{
			{"a", "0s", "fire 1 (suppressed 0)"}, {"b", "1m", "suppress"}, {"c", "30m", "fire 1 (suppressed 1)"},
			{"d", "31m", "suppress"}, {"c", "30m", "fire 1 (suppressed 1)"}, {"e", "1h", "fire 1 (suppressed 1)"}}},
		{"an earlier alert's firing event does not fire or count again", dedup, []delivery{
			{"a", "0s", "fire 1 (suppressed 0)"}, {"b", "1m", "suppress"}, {"c", "30m", "fire 1 (suppressed 1)"},
			{"a", "0s", "wait"}, {"d", "31m", "suppress"}, {"e", "1h", "fire 1 (suppressed 1)"}}},
		{"a window event is counted once", burst, []delivery{
			{"a", "0s", "wait"}, {"a", "0s", "wait"}, {"b", "1m", "wait"}, {"a", "0s", "wait"},
			{"c", "2m", "fire 3 (suppressed 0)"}}},
		{"the events that fired with the firing one do not start a new window", policy{count: 2, within: 10 * min, dedupWindow: 1 * min}, []delivery{
			{"a", "0s", "wait"}, {"b", "1m", "fire 2 (suppressed 0)"}, {"a", "0s", "wait"}, {"c", "3m", "wait"},
			{"b", "1m", "fire 2 (suppressed 0)"}, {"d", "4m", "fire 2 (suppressed 0)"}}},
		{"a threshold's firing event fires again with the same events", burst, []delivery{
			{"a", "0s", "wait"}, {"b", "1m", "wait"}, {"c", "2m", "fire 3 (suppressed 0)"}, {"d", "3m", "suppress"},
			{"c", "2m", "fire 3 (suppressed 0)"}, {"d", "3m", "wait"}, {"b", "1m", "wait"}}},
		{"an event that left the window unfired does not come back into it", policy{count: 2, within: 10 * min}, []delivery{
			{"a", "0s", "wait"}, {"b", "20m", "wait"}, {"a", "0s", "wait"},
			// Out of order, within 10m of a: had a come back, this would fire.
			{"x", "5m", "wait"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { feed(t, tt.p, tt.ds) })
	}
}

// feed gives decide the deliveries in order, on one group's state, and
// checks each outcome. An id "a/ENG" is event a with the tuple ENG (for a
// distinct threshold or new_value; a new_value rule's learning starts at
// the time "0s"); for a sequence, "a/13" is event a meeting steps 1 and 3,
// and a firing outcome is followed by the chain's event ids. A redelivery must neither change the state nor
// count anything again, and the firing event must fire the same again.
func feed(t *testing.T, p policy, ds []delivery) {
	t.Helper()
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	var st GroupState
	first := map[string]decision{}
	for i, dl := range ds {
		off, err := time.ParseDuration(dl.at)
		if err != nil {
			t.Fatal(err)
		}
		id, tuple, _ := strings.Cut(dl.id, "/")
		before := cloneState(st)
		var d decision
		switch {
		case p.steps > 0:
			d = decideSeq(&st, p, base.Add(off).UnixNano(), id, stepMask(t, tuple), 0)
		case p.history > 0:
			d = decideNew(&st, p, base.Add(off).UnixNano(), id, tuple, base.UnixNano())
		default:
			d = decide(&st, p, base.Add(off).UnixNano(), id, tuple)
		}
		got := outcome(d)
		if p.steps > 0 && d.fire {
			got += " " + strings.Join(d.ids, ",")
		}
		if got != dl.want {
			t.Errorf("delivery %d of %s at +%s: got %q, want %q", i, dl.id, dl.at, got, dl.want)
		}
		f, again := first[id]
		if !again {
			first[id] = d
			continue
		}
		if !reflect.DeepEqual(st, before) {
			t.Errorf("redelivery %d of %s changed the state:\nbefore %+v\nafter  %+v", i, dl.id, before, st)
		}
		if d.fire && (!d.again || f.again) {
			t.Errorf("redelivery %d of %s fired %+v: not marked as again, or the first time was", i, dl.id, d)
		}
		if d.again = false; d.fire && !reflect.DeepEqual(d, f) {
			t.Errorf("redelivery %d of %s fired %+v, first time %+v", i, dl.id, d, f)
		}
	}
}

// Seen is bounded: a redelivery is recognised while fewer than seenMax
// other events of its group were counted after it.
func TestDecideRemembersTheLastSeenMaxEvents(t *testing.T) {
	p := policy{dedupWindow: int64(time.Hour)}
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC).UnixNano()
	var st GroupState
	decide(&st, p, base, "alert", "")
	for i := range seenMax + 1 {
		if d := decide(&st, p, base+int64(i+1), fmt.Sprint("s", i), ""); !d.suppressed {
			t.Fatalf("s%d: %+v", i, d)
		}
	}
	if len(st.Seen) != seenMax {
		t.Fatalf("Seen holds %d fingerprints, want %d", len(st.Seen), seenMax)
	}
	if d := decide(&st, p, base+2, "s1", ""); d.suppressed || st.Suppressed != seenMax+1 {
		t.Fatalf("s1, %d events back, counted again: %+v, suppressed %d", seenMax, d, st.Suppressed)
	}
	if d := decide(&st, p, base+1, "s0", ""); !d.suppressed {
		t.Fatalf("s0, %d events back, is past the bound but was not counted: %+v", seenMax+1, d)
	}
}

// stepMask makes a sequence match's step mask from step numbers, "13"
// for steps 1 and 3.
func stepMask(t *testing.T, steps string) uint8 {
	var mask uint8
	for _, c := range steps {
		if c < '1' || c > '8' {
			t.Fatalf("step %q: want 1 to 8", c)
		}
		mask |= 1 << (c - '1')
	}
	return mask
}

func outcome(d decision) string {
	switch {
	case d.fire && d.distinct > 0:
		return fmt.Sprintf("fire %d distinct %d (suppressed %d)", d.count, d.distinct, d.suppressedBefore)
	case d.fire:
		return fmt.Sprintf("fire %d (suppressed %d)", d.count, d.suppressedBefore)
	case d.suppressed:
		return "suppress"
	}
	return "wait"
}

func cloneState(s GroupState) GroupState {
	s.Window = slices.Clone(s.Window)
	s.Fired = slices.Clone(s.Fired)
	s.Seen = slices.Clone(s.Seen)
	s.Values = slices.Clone(s.Values)
	if s.Chains != nil {
		s.Chains = slices.Clone(s.Chains)
		for k, c := range s.Chains {
			s.Chains[k] = slices.Clone(c)
		}
	}
	return s
}

// A distinct threshold (docs/rules.md, Distinct counts) fires when the
// window's events carry count distinct tuples. Ids are "event/tuple"; an
// event seen before is a redelivery.
func TestDecideDistinct(t *testing.T) {
	min := int64(time.Minute)
	three := policy{count: 3, within: 60 * min, distinct: true}
	deduped := policy{count: 3, within: 60 * min, distinct: true, dedupWindow: 60 * min}
	tests := []struct {
		name string
		p    policy
		ds   []delivery
	}{
		{"repeats of one tuple do not count, but are the window's events", three, []delivery{
			{"a/ENG", "0s", "wait"}, {"b/ENG", "1m", "wait"}, {"c/HR", "2m", "wait"}, {"d/HR", "3m", "wait"},
			{"e/OPS", "4m", "fire 5 distinct 3 (suppressed 0)"}}},
		{"the window slides: (t - within, t] leaves out an event exactly within old", three, []delivery{
			{"a/ENG", "0s", "wait"}, {"b/HR", "30m", "wait"}, {"c/OPS", "60m", "wait"},
			{"d/LEGAL", "61m", "fire 3 distinct 3 (suppressed 0)"}}},
		{"the window empties after firing", three, []delivery{
			{"a/ENG", "0s", "wait"}, {"b/HR", "1m", "wait"}, {"c/OPS", "2m", "fire 3 distinct 3 (suppressed 0)"},
			{"d/ENG", "3m", "wait"}, {"e/HR", "4m", "wait"}, {"f/OPS", "5m", "fire 3 distinct 3 (suppressed 0)"}}},
		{"with dedup, a completed window is suppressed and cleared as if it fired", deduped, []delivery{
			{"a/ENG", "0s", "wait"}, {"b/HR", "1m", "wait"}, {"c/OPS", "2m", "fire 3 distinct 3 (suppressed 0)"},
			{"d/ENG", "10m", "wait"}, {"e/HR", "11m", "wait"}, {"f/OPS", "12m", "suppress"}, {"g/ENG", "20m", "wait"},
			{"h/HR", "21m", "wait"}, {"i/OPS", "22m", "suppress"}, {"j/ENG", "70m", "wait"}, {"k/HR", "71m", "wait"},
			{"l/OPS", "72m", "fire 3 distinct 3 (suppressed 2)"}}},
		{"a redelivered event is not counted twice", three, []delivery{
			{"a/ENG", "0s", "wait"}, {"b/HR", "1m", "wait"}, {"b/HR", "1m", "wait"}, {"a/ENG", "0s", "wait"},
			{"c/HR", "2m", "wait"}, {"d/OPS", "3m", "fire 4 distinct 3 (suppressed 0)"}}},
		{"the firing event redelivered fires the same alert; the others change nothing", deduped, []delivery{
			{"a/ENG", "0s", "wait"}, {"b/HR", "1m", "wait"}, {"c/OPS", "2m", "fire 3 distinct 3 (suppressed 0)"},
			{"c/OPS", "2m", "fire 3 distinct 3 (suppressed 0)"}, {"b/HR", "1m", "wait"}, {"d/LEGAL", "3m", "wait"},
			{"c/OPS", "2m", "fire 3 distinct 3 (suppressed 0)"}}},
		{"events of a suppressed window redelivered do not come back into the next", deduped, []delivery{
			{"a/ENG", "0s", "wait"}, {"b/HR", "1m", "wait"}, {"c/OPS", "2m", "fire 3 distinct 3 (suppressed 0)"},
			{"d/ENG", "10m", "wait"}, {"e/HR", "11m", "wait"}, {"f/OPS", "12m", "suppress"}, {"d/ENG", "10m", "wait"},
			{"e/HR", "11m", "wait"}, {"f/OPS", "12m", "wait"}, {"g/ENG", "13m", "wait"}}},
		{"an empty value is a tuple too", policy{count: 2, within: 60 * min, distinct: true}, []delivery{
			{"a/", "0s", "wait"}, {"b/ENG", "1m", "fire 2 distinct 2 (suppressed 0)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { feed(t, tt.p, tt.ds) })
	}
}

// A distinct window is bounded: repeats of a tuple beyond windowMax drop
// the oldest repeat, which leaves the distinct count exact.
func TestDecideDistinctWindowIsBounded(t *testing.T) {
	p := policy{count: 3, within: int64(time.Hour), distinct: true}
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC).UnixNano()
	var st GroupState
	decide(&st, p, base, "first", "HR")
	for i := range 3 * windowMax {
		if d := decide(&st, p, base+int64(i+1), fmt.Sprint("e", i), "ENG"); d.fire {
			t.Fatalf("fired on two tuples at e%d: %+v", i, d)
		}
		if len(st.Window) > windowMax {
			t.Fatalf("window holds %d entries, bound %d", len(st.Window), windowMax)
		}
	}
	d := decide(&st, p, base+int64(time.Minute), "last", "OPS")
	if !d.fire || d.distinct != 3 || d.count != windowMax || !slices.Contains(d.ids, "first") {
		t.Fatalf("got fire=%v distinct=%d count=%d (first kept: %v), want 3 distinct over %d events with the only HR one",
			d.fire, d.distinct, d.count, slices.Contains(d.ids, "first"), windowMax)
	}
}

// A new_value rule (docs/rules.md, First-seen values) alerts on a tuple
// its group did not see in (t - history, t]. Ids are "event/tuple"; an
// event seen before is a redelivery; learning starts at "0s".
func TestDecideNewValue(t *testing.T) {
	day := int64(24 * time.Hour)
	nv := policy{history: 30 * day, maxValues: 10_000}
	learning := nv
	learning.learning = 7 * day
	two := nv
	two.maxValues = 2
	deduped := nv
	deduped.dedupWindow = int64(time.Hour)
	tests := []struct {
		name string
		p    policy
		ds   []delivery
	}{
		{"a new tuple alerts, a seen one does not", nv, []delivery{
			{"a/10.0.0.1", "0s", "fire 1 (suppressed 0)"}, {"b/10.0.0.1", "1h", "wait"},
			{"c/10.0.0.2", "2h", "fire 1 (suppressed 0)"}, {"d/10.0.0.1", "3h", "wait"}}},
		{"history: a tuple last seen exactly history ago is new again", nv, []delivery{
			{"a/X", "0s", "fire 1 (suppressed 0)"}, {"b/X", "720h", "fire 1 (suppressed 0)"}}},
		{"each sighting moves the last-seen time", nv, []delivery{
			{"a/X", "0s", "fire 1 (suppressed 0)"}, {"b/X", "719h", "wait"}, {"c/X", "1438h", "wait"},
			{"d/X", "2158h", "fire 1 (suppressed 0)"}}},
		{"no alert before the learning window ends; from its end on, new tuples alert", learning, []delivery{
			{"a/X", "0s", "wait"}, {"b/Y", "167h59m", "wait"}, {"c/Y", "168h", "wait"},
			{"d/Z", "168h", "fire 1 (suppressed 0)"}, {"e/X", "200h", "wait"}}},
		{"max_values forgets the least recently seen tuple", two, []delivery{
			{"a/X", "0s", "fire 1 (suppressed 0)"}, {"b/Y", "1m", "fire 1 (suppressed 0)"}, {"c/X", "2m", "wait"},
			{"d/Z", "3m", "fire 1 (suppressed 0)"}, {"e/X", "4m", "wait"}, {"f/Y", "5m", "fire 1 (suppressed 0)"}}},
		{"with dedup, a new tuple soon after an alert is suppressed and counted in the next", deduped, []delivery{
			{"a/X", "0s", "fire 1 (suppressed 0)"}, {"b/Y", "10m", "suppress"}, {"c/Y", "20m", "wait"},
			{"d/Z", "30m", "suppress"}, {"e/W", "70m", "fire 1 (suppressed 2)"}}},
		{"a redelivered alerting event alerts the same; others change nothing", nv, []delivery{
			{"a/X", "0s", "fire 1 (suppressed 0)"}, {"a/X", "0s", "fire 1 (suppressed 0)"}, {"b/X", "1m", "wait"},
			{"b/X", "1m", "wait"}, {"c/Y", "2m", "fire 1 (suppressed 0)"}, {"a/X", "0s", "wait"}, {"c/Y", "2m", "fire 1 (suppressed 0)"}}},
		{"a suppressed event redelivered is counted once", deduped, []delivery{
			{"a/X", "0s", "fire 1 (suppressed 0)"}, {"b/Y", "1m", "suppress"}, {"b/Y", "1m", "wait"},
			{"c/Z", "61m", "fire 1 (suppressed 1)"}}},
		{"an empty value is a tuple too", nv, []delivery{
			{"a/", "0s", "fire 1 (suppressed 0)"}, {"b/", "1m", "wait"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { feed(t, tt.p, tt.ds) })
	}
}

// A group remembers at most max_values tuples, and forgets those past
// history, so its state stays bounded.
func TestDecideNewValueIsBounded(t *testing.T) {
	p := policy{history: int64(time.Hour), maxValues: 100}
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC).UnixNano()
	var st GroupState
	for i := range 1000 {
		decideNew(&st, p, base+int64(i)*int64(time.Second), fmt.Sprint("e", i), fmt.Sprint("v", i), base)
		if len(st.Values) > p.maxValues {
			t.Fatalf("e%d: %d values, bound %d", i, len(st.Values), p.maxValues)
		}
	}
	if st.Values[0].Tuple != "v900" {
		t.Errorf("oldest kept %q, want v900", st.Values[0].Tuple)
	}
	decideNew(&st, p, base+int64(3*time.Hour), "late", "v999", base)
	if len(st.Values) != 1 {
		t.Errorf("after history passed: %d values, want only the latest", len(st.Values))
	}
}

// The learning start is the earliest matching event's time, whatever
// order events come in.
func TestLearnKeepsTheEarliest(t *testing.T) {
	var st GroupState
	for _, tc := range []struct{ t, want int64 }{{50, 50}, {70, 50}, {20, 20}, {30, 20}} {
		if got := st.learn(tc.t); got != tc.want {
			t.Errorf("learn(%d) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestTupleKey(t *testing.T) {
	long := strings.Repeat("é", 40)
	tests := []struct {
		values []string
		show   []string
	}{
		{[]string{"ENG"}, []string{"ENG"}},
		{[]string{""}, []string{""}},
		{[]string{"ENG", "jdoe"}, []string{"ENG", "jdoe"}},
		{[]string{long}, []string{strings.Repeat("é", 22) + "…" + groupHash([]string{long})}},
		{[]string{"a\x1fb"}, []string{"a b…" + groupHash([]string{"a\x1fb"})}},
	}
	keys := map[string]bool{}
	for _, tt := range tests {
		k := tupleKey(tt.values)
		if len(k) > tupleMax {
			t.Errorf("%q: key of %d bytes, bound %d", tt.values, len(k), tupleMax)
		}
		if got := TupleValues(k); !slices.Equal(got, tt.show) {
			t.Errorf("%q: shows as %q, want %q", tt.values, got, tt.show)
		}
		keys[k] = true
	}
	// Tuples that differ only past the kept prefix, or in how their
	// values split, have different keys.
	for _, pair := range [][2][]string{
		{{long + "x"}, {long + "y"}},
		{{"a\x1fb", "c"}, {"a", "b\x1fc"}},
		{{"ab", "c"}, {"a", "bc"}},
	} {
		if tupleKey(pair[0]) == tupleKey(pair[1]) {
			t.Errorf("%q and %q have one key", pair[0], pair[1])
		}
	}
}

// A sequence (docs/rules.md, Sequences) fires when a group's events meet
// its steps in order within the span. Ids are "event/steps", steps being
// the step numbers the event met; an event seen before is a redelivery.
func TestDecideSequence(t *testing.T) {
	min := int64(time.Minute)
	two := policy{steps: 2, within: 30 * min}
	three := policy{steps: 3, within: 30 * min}
	deduped := policy{steps: 2, within: 30 * min, dedupWindow: 60 * min}
	tests := []struct {
		name string
		p    policy
		ds   []delivery
	}{
		{"steps in order fire with the chain, the last event last", three, []delivery{
			{"a/1", "0s", "wait"}, {"b/2", "1m", "wait"}, {"c/3", "2m", "fire 3 (suppressed 0) a,b,c"}}},
		{"steps out of order do not", two, []delivery{
			{"b/2", "0s", "wait"}, {"a/1", "1m", "wait"}, {"c/1", "2m", "wait"}}},
		{"within is inclusive from the first step to the last", two, []delivery{
			{"a/1", "0s", "wait"}, {"b/2", "30m", "fire 2 (suppressed 0) a,b"}}},
		{"a last step after within does not complete the chain", two, []delivery{
			{"a/1", "0s", "wait"}, {"b/2", "30m1s", "wait"}}},
		{"times may tie but not go back", two, []delivery{
			{"a/1", "5m", "wait"}, {"b/2", "4m", "wait"}, {"c/2", "5m", "fire 2 (suppressed 0) a,c"}}},
		{"one event does not play two steps of one chain", two, []delivery{
			{"a/12", "0s", "wait"}, {"b/12", "1m", "fire 2 (suppressed 0) a,b"}}},
		{"an event meeting several steps extends one chain and starts another", three, []delivery{
			{"a/1", "0s", "wait"}, {"b/12", "1m", "wait"}, {"c/23", "2m", "fire 3 (suppressed 0) a,b,c"}}},
		{"of several chains the one with the latest first event is reported", three, []delivery{
			{"a/1", "0s", "wait"}, {"b/2", "1m", "wait"}, {"c/1", "2m", "wait"}, {"d/2", "3m", "wait"},
			{"e/3", "4m", "fire 3 (suppressed 0) c,d,e"}}},
		{"an older chain still completes when the newer one has not got as far", three, []delivery{
			{"a/1", "0s", "wait"}, {"b/2", "1m", "wait"}, {"c/1", "2m", "wait"},
			{"d/3", "3m", "fire 3 (suppressed 0) a,b,d"}}},
		{"firing clears the partial chains", three, []delivery{
			{"a/1", "0s", "wait"}, {"b/12", "1m", "wait"}, {"c/3", "2m", "fire 3 (suppressed 0) a,b,c"},
			{"d/2", "3m", "wait"}, {"e/3", "4m", "wait"}}},
		{"a stale first step gives way to a new one", two, []delivery{
			{"a/1", "0s", "wait"}, {"b/1", "40m", "wait"}, {"c/2", "50m", "fire 2 (suppressed 0) b,c"}}},
		{"with dedup, a completed chain is suppressed and clears as if it fired", deduped, []delivery{
			{"a/1", "0s", "wait"}, {"b/2", "1m", "fire 2 (suppressed 0) a,b"},
			{"c/1", "10m", "wait"}, {"d/2", "11m", "suppress"}, {"e/2", "12m", "wait"},
			{"f/1", "70m", "wait"}, {"g/2", "71m", "fire 2 (suppressed 1) f,g"}}},
		{"a redelivered step is not counted twice", three, []delivery{
			{"a/1", "0s", "wait"}, {"b/2", "1m", "wait"}, {"a/1", "0s", "wait"}, {"b/2", "1m", "wait"},
			{"c/3", "2m", "fire 3 (suppressed 0) a,b,c"}}},
		{"the completing event redelivered fires the same alert", deduped, []delivery{
			{"a/1", "0s", "wait"}, {"b/2", "1m", "fire 2 (suppressed 0) a,b"}, {"a/1", "0s", "wait"},
			{"b/2", "1m", "fire 2 (suppressed 0) a,b"}}},
		{"a step without its earlier steps starts nothing", two, []delivery{
			{"a/2", "0s", "wait"}, {"b/2", "1m", "wait"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { feed(t, tt.p, tt.ds) })
	}
}

// A group keeps at most one partial chain per step count, so its state
// is bounded however many events meet the first step.
func TestDecideSequenceIsBounded(t *testing.T) {
	p := policy{steps: 3, within: int64(time.Hour)}
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC).UnixNano()
	var st GroupState
	for i := range 100 {
		decideSeq(&st, p, base+int64(i), fmt.Sprint("e", i), 0b011, 0)
	}
	n := 0
	for _, c := range st.Chains {
		n += len(c)
	}
	if len(st.Chains) != 2 || n != 3 {
		t.Fatalf("state holds %d chains of %d events in all, want 2 of 3: %+v", len(st.Chains), n, st.Chains)
	}
}

// TestDecideDeadlines covers absences and quiet groups (docs/rules.md,
// Absences and Quiet sources). A delivery "!" at a time is the group's
// deadline firing at that time (decideDue); after any delivery the
// outcome is followed by the pending deadline, if any ("due 15m").
func TestDecideDeadlines(t *testing.T) {
	min := int64(time.Minute)
	absent := policy{steps: 2, absent: true, within: 15 * min}
	absent3 := policy{steps: 3, absent: true, within: 15 * min}
	deduped := policy{steps: 2, absent: true, within: 15 * min, dedupWindow: 60 * min}
	quiet := policy{quiet: true, within: 32 * min}
	tests := []struct {
		name string
		p    policy
		ds   []delivery
	}{
		{"an absence fires at the first step's time plus within, with the chain", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"!", "15m", "fire 1 (suppressed 0) a"}}},
		{"the absent step cancels it", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"b/2", "10m", "wait"}, {"!", "15m", "wait"}}},
		{"at the deadline itself it still cancels: (t1, deadline] is inclusive", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"b/2", "15m", "wait"}, {"!", "15m", "wait"}}},
		{"after the deadline it does not", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"b/2", "15m1s", "wait due 15m"}, {"!", "15m", "fire 1 (suppressed 0) a"}}},
		{"nor at the first step's own time: the span excludes it", absent, []delivery{
			{"a/1", "5m", "wait due 20m"}, {"b/2", "5m", "wait due 20m"}, {"!", "20m", "fire 1 (suppressed 0) a"}}},
		{"an absent step before the chain cancels nothing", absent, []delivery{
			{"b/2", "0s", "wait"}, {"a/1", "1m", "wait due 16m"}, {"!", "16m", "fire 1 (suppressed 0) a"}}},
		{"a completion while a deadline is pending is ignored", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"b/1", "5m", "wait due 15m"}, {"!", "15m", "fire 1 (suppressed 0) a"},
			{"!", "20m", "wait"}}},
		{"a completion after the pending deadline, before it fired, takes over when it does", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"b/1", "20m", "wait due 15m"}, {"!", "15m", "fire 1 (suppressed 0) a due 35m"},
			{"!", "35m", "fire 1 (suppressed 0) b"}}},
		{"the absent step can cancel the chain waiting to take over", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"b/1", "20m", "wait due 15m"}, {"c/2", "25m", "wait due 15m"},
			{"!", "15m", "fire 1 (suppressed 0) a"}}},
		{"an event of the first and the absent step cancels one chain and starts the next", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"b/12", "5m", "wait due 20m"}, {"!", "15m", "wait due 20m"},
			{"!", "20m", "fire 1 (suppressed 0) b"}}},
		{"three steps: the chain of the first two, timed from the first", absent3, []delivery{
			{"a/1", "0s", "wait"}, {"b/2", "5m", "wait due 15m"}, {"c/3", "16m", "wait due 15m"},
			{"!", "15m", "fire 2 (suppressed 0) a,b"}}},
		{"three steps: the steps before the absent one must come within too", absent3, []delivery{
			{"a/1", "0s", "wait"}, {"b/2", "15m1s", "wait"}}},
		{"a deadline handed over again fires the same alert", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"!", "15m", "fire 1 (suppressed 0) a"}, {"!", "15m", "fire 1 (suppressed 0) a"}}},
		{"the event that set the deadline, redelivered, changes nothing", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"a/1", "0s", "wait due 15m"}}},
		{"dedup suppresses an absence within the window of the last alert", deduped, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"!", "15m", "fire 1 (suppressed 0) a"},
			{"b/1", "20m", "wait due 35m"}, {"!", "35m", "suppress"},
			{"c/1", "80m", "wait due 95m"}, {"!", "95m", "fire 1 (suppressed 1) c"}}},
		// quiet: within 32m, so a slack of 1m: a deadline is the recorded
		// event's time plus 33m.
		{"quiet: each event moves the deadline; an old one fires nothing", quiet, []delivery{
			{"a", "0s", "wait due 33m"}, {"b", "10m", "wait due 43m"}, {"!", "33m", "wait due 43m"},
			{"!", "43m", "fire 1 (suppressed 0) b"}}},
		{"quiet: an event less than the slack after the recorded one is not recorded", quiet, []delivery{
			{"a", "0s", "wait due 33m"}, {"b", "30s", "wait due 33m"}, {"c", "1m", "wait due 34m"},
			{"!", "34m", "fire 1 (suppressed 0) c"}}},
		{"quiet: it alerts once, and events coming back arm it again", quiet, []delivery{
			{"a", "0s", "wait due 33m"}, {"!", "33m", "fire 1 (suppressed 0) a"}, {"!", "60m", "wait"},
			{"b", "90m", "wait due 123m"}}},
		{"quiet: an older event does not move the deadline back", quiet, []delivery{
			{"a", "10m", "wait due 43m"}, {"b", "5m", "wait due 43m"}}},
		{"quiet: an event after the deadline, before it fired, arms the next", quiet, []delivery{
			{"a", "0s", "wait due 33m"}, {"b", "34m", "wait due 33m"}, {"c", "35m", "wait due 33m"},
			{"!", "33m", "fire 1 (suppressed 0) a due 68m"}}},
		{"quiet: at the deadline itself an event is in time", quiet, []delivery{
			{"a", "0s", "wait due 33m"}, {"b", "33m", "wait due 66m"}, {"!", "33m", "wait due 66m"}}},
		{"quiet: two silences while the first deadline waits to fire each fire, in order", quiet, []delivery{
			{"a", "0s", "wait due 33m"}, {"b", "34m", "wait due 33m"}, {"c", "70m", "wait due 33m"}, {"d", "75m", "wait due 33m"},
			{"!", "33m", "fire 1 (suppressed 0) a due 67m"}, {"!", "67m", "fire 1 (suppressed 0) b due 108m"},
			{"!", "108m", "fire 1 (suppressed 0) d"}}},
		{"two chains completed while the first deadline waits to fire, each after the one before, each fire", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"b/1", "20m", "wait due 15m"}, {"c/1", "30m", "wait due 15m"}, {"d/1", "40m", "wait due 15m"},
			{"!", "15m", "fire 1 (suppressed 0) a due 35m"}, {"!", "35m", "fire 1 (suppressed 0) b due 55m"},
			{"!", "55m", "fire 1 (suppressed 0) d"}}},
		{"the absent step cancels the latest chain waiting, not those before it", absent, []delivery{
			{"a/1", "0s", "wait due 15m"}, {"b/1", "20m", "wait due 15m"}, {"c/1", "40m", "wait due 15m"}, {"e/2", "45m", "wait due 15m"},
			{"!", "15m", "fire 1 (suppressed 0) a due 35m"}, {"!", "35m", "fire 1 (suppressed 0) b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
			var st GroupState
			for i, dl := range tt.ds {
				off, err := time.ParseDuration(dl.at)
				if err != nil {
					t.Fatal(err)
				}
				at := base.Add(off).UnixNano()
				id, steps, _ := strings.Cut(dl.id, "/")
				before := cloneState(st)
				var d decision
				switch {
				case id == "!":
					d = decideDue(&st, tt.p, at)
				case tt.p.quiet:
					d = decideQuiet(&st, tt.p, at, id, 0)
				default:
					d = decideSeq(&st, tt.p, at, id, stepMask(t, steps), 0)
				}
				got := outcome(d)
				if d.fire {
					got += " " + strings.Join(d.ids, ",")
				}
				if st.Due != 0 {
					got += fmt.Sprintf(" due %gm", time.Duration(st.Due-base.UnixNano()).Minutes())
				}
				if got != dl.want {
					t.Errorf("delivery %d of %s at +%s: got %q, want %q", i, dl.id, dl.at, got, dl.want)
				}
				if id != "!" && i > 0 && tt.ds[i-1].id == dl.id && !reflect.DeepEqual(st, before) {
					t.Errorf("redelivery %d of %s changed the state", i, dl.id)
				}
			}
		})
	}
}

// What waits behind a pending deadline is bounded: past laterMax the last
// one waiting is replaced, so a group's state stays small however many
// spans end while its deadline waits for the lateness.
func TestLaterBounded(t *testing.T) {
	q := policy{quiet: true, within: 30}
	var st GroupState
	for i := range 20 {
		decideQuiet(&st, q, int64(i)*31, fmt.Sprint(i), 0)
	}
	if len(st.Next) != laterMax || st.Next[laterMax-1].ID != "19" || st.Due != 30 {
		t.Fatalf("next %v due %d: want %d waiting, the last event last", st.Next, st.Due, laterMax)
	}
	a := policy{steps: 3, absent: true, within: 15}
	st = GroupState{}
	for i := range 20 {
		at := int64(i) * 20
		decideSeq(&st, a, at, fmt.Sprint(i, "a"), 0b001, 0)
		decideSeq(&st, a, at+1, fmt.Sprint(i, "b"), 0b010, 0)
	}
	if len(st.Next) != laterMax*2 || st.Next[len(st.Next)-1].ID != "19b" || len(st.Pending) != 2 {
		t.Fatalf("next %v pending %v: want %d chains of 2 waiting, the last chain last", st.Next, st.Pending, laterMax)
	}
}

// The deadline handed out follows the pending one without a write per
// event: a quiet group's deadline moving on is handed out again only when
// the one handed out fires.
func TestHandOut(t *testing.T) {
	q := policy{quiet: true, within: 30}
	var st GroupState
	decideQuiet(&st, q, 0, "a", 0)
	if due, cancel := st.handOut("a"); due != 30 || cancel || st.SchedBy != "a" {
		t.Fatalf("first event: hand out %d cancel %v by %q, want 30", due, cancel, st.SchedBy)
	}
	decideQuiet(&st, q, 10, "b", 0)
	if due, cancel := st.handOut("b"); due != 0 || cancel {
		t.Fatalf("a later event handed out %d (cancel %v); the earlier deadline stands until it fires", due, cancel)
	}
	st.SchedAt = 0 // it fired
	if due, _ := st.handOut(""); due != 40 {
		t.Fatalf("after the early one fired: hand out %d, want 40", due)
	}
	a := policy{steps: 2, absent: true, within: 15}
	st = GroupState{}
	decideSeq(&st, a, 0, "a", 0b01, 0)
	st.handOut("a")
	decideSeq(&st, a, 5, "b", 0b10, 0)
	if due, cancel := st.handOut("b"); due != 0 || !cancel || st.SchedAt != 0 {
		t.Fatalf("after a cancel: hand out %d cancel %v, want a cancel", due, cancel)
	}
}
