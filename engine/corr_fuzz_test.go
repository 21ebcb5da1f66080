package engine

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// FuzzCorrelation drives random event streams through one rule of each
// stateful kind (docs/rules.md: Groups, thresholds and dedup; Distinct
// counts; First-seen values; Sequences) on a MemStore, and checks after
// every event what must hold whatever the stream:
//   - the engine neither fails nor panics;
//   - no alert fires before its window is complete (see check);
//   - a group's state stays within its documented bounds;
//   - an event fed twice in a row adds no alert with a new id.
//
// The input is read as one byte choosing the rule set (see fuzzSets), then
// four bytes per event (see fuzzEvent).
func FuzzCorrelation(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add(seed)
	}
	sets := fuzzSets(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzStream(t, sets, data) })
}

// fuzzSeeds are streams where every rule fires, with redeliveries, ties
// and events out of order. Times: 0x0a is a minute on, 0x2a five, 0xfa
// three hours, 0x08 a tie, 0x09 two minutes back.
var fuzzSeeds = [][]byte{
	// Three addresses in a minute each: the distinct threshold.
	{0, 0x00, 1, 0x0a, 0, 0x00, 2, 0x0a, 0, 0x80, 2, 0x08, 0, 0x00, 3, 0x0a, 0},
	// Flagged, then exported twice: the two-step sequence, the threshold.
	{0, 0x08, 0, 0x0a, 0, 0x0c, 0, 0x0a, 0, 0x8c, 0, 0x0a, 0, 0x0d, 0, 0x09, 0},
	// A new address three hours after the first, past learning; one
	// out of order; one after max_values others.
	{1, 0x04, 0, 0x0a, 0, 0x04, 1, 0xfa, 0, 0x84, 2, 0x0a, 0, 0x04, 3, 0x09, 0, 0x04, 0, 0x2a, 0},
	// The three-step sequence with dedup, completed twice in its window.
	{3, 0x08, 0, 0x0a, 0, 0x08, 0, 0x0a, 0, 0x8c, 0, 0x0a, 0, 0x08, 0, 0x2a, 0, 0x08, 0, 0x0a, 0, 0x0c, 0, 0x0a, 0},
	// Three actors interleaved, with ties and late events.
	{2, 0x01, 0, 0x0a, 0, 0x02, 1, 0x08, 0, 0x00, 2, 0x09, 0, 0x09, 1, 0x2a, 0, 0x0d, 2, 0x0a, 0,
		0x8d, 3, 0x08, 0, 0x05, 0, 0xfa, 0, 0x05, 1, 0x0a, 0, 0x01, 3, 0x09, 0, 0x01, 1, 0x0a, 0},
}

// The seeds exercise every check: each rule fires in them.
func TestFuzzCorrelationSeedsFire(t *testing.T) {
	sets := fuzzSets(t)
	fired := map[string]int{}
	for _, seed := range fuzzSeeds {
		for r, n := range fuzzStream(t, sets, seed) {
			fired[r] += n
		}
	}
	for _, r := range []string{"distinct", "newval", "seq", "thresh"} {
		if fired[r] == 0 {
			t.Errorf("rule %s fires in no seed: %v", r, fired)
		}
	}
}

// fuzzStream runs the stream that data describes through the rule set it
// chooses, checking the invariants after every event, and returns how
// many alerts each rule fired.
func fuzzStream(t testing.TB, sets []fuzzSet, data []byte) map[string]int {
	fired := map[string]int{}
	if len(data) == 0 {
		return fired
	}
	m := newFuzzModel(sets[int(data[0])%len(sets)])
	data = data[1:]
	clock := fuzzStart
	for i := 0; len(data) >= 4 && i < 96; i, data = i+1, data[4:] {
		var ev event.Event
		var twice bool
		ev, clock, twice = fuzzEvent(i, data[:4], clock)
		res, err := m.e.Process(context.Background(), &ev)
		if err != nil || len(res.Errors) > 0 {
			t.Fatalf("event %d %+v: %v %v", i, ev, err, res.Errors)
		}
		m.record(&ev)
		for _, a := range res.Alerts {
			if err := m.check(a); err != nil {
				t.Fatalf("event %d (%s, %s, %s, %s): alert of %s: %v\nstream:%s", i, ev.ID, ev.Actor.Name, ev.Action, ev.Time.Format(time.TimeOnly), a.Rule, err, m.stream())
			}
			m.alerted(a)
			fired[a.Rule]++
		}
		if err := m.bounded(); err != nil {
			t.Fatalf("after event %d: %v\nstream:%s", i, err, m.stream())
		}
		if !twice {
			continue
		}
		again := ev
		res2, err := m.e.Process(context.Background(), &again)
		if err != nil || len(res2.Errors) > 0 {
			t.Fatalf("event %d again: %v %v", i, err, res2.Errors)
		}
		for _, a := range res2.Alerts {
			if !slices.ContainsFunc(res.Alerts, func(b *alerter.Alert) bool { return b.ID == a.ID }) {
				t.Fatalf("event %d fed again fired alert %s of %s (events %v), not fired the first time\nstream:%s", i, a.ID, a.Rule, a.EventIDs, m.stream())
			}
		}
		if err := m.bounded(); err != nil {
			t.Fatalf("after event %d again: %v\nstream:%s", i, err, m.stream())
		}
	}
	return fired
}

// The fuzzed rules' settings, which the checks read.
const (
	fuzzDistinctCount  = 3
	fuzzDistinctWithin = time.Hour
	fuzzHistory        = 2 * time.Hour
	fuzzLearning       = 30 * time.Minute
	fuzzMaxValues      = 2
	fuzzSeqWithin      = 30 * time.Minute
	fuzzThreshCount    = 2
	fuzzThreshWithin   = 10 * time.Minute
	fuzzDedup          = 20 * time.Minute
)

// The actions of the fuzzed events: each rule is about one or two.
var fuzzActions = []string{"Space exported", "Global setting changed", "Content flagged", "Findings exported"}

var fuzzStart = time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)

// fuzzSet is a rule set of the fuzz target, with what its checks need.
type fuzzSet struct {
	set   *rules.Set
	steps []uint8 // per action, the mask of the sequence steps it meets
	dedup bool
}

// fuzzSets are the rule sets an input chooses from: a sequence of two or
// three steps, each with and without dedup on every rule. In both
// sequences "Content flagged" meets two steps, so that one event may
// extend a chain and start another.
func fuzzSets(tb testing.TB) []fuzzSet {
	var out []fuzzSet
	for _, steps := range []int{2, 3} {
		for _, dedup := range []bool{false, true} {
			d := ""
			if dedup {
				d = fmt.Sprintf(", dedup: {window: %s}", fuzzDedup)
			}
			seq := `[{name: a, when: 'event.action == "Content flagged"'}, {name: b, when: 'event.action in ["Content flagged", "Findings exported"]'}]`
			masks := []uint8{0, 0, 0b11, 0b10}
			if steps == 3 {
				seq = `[{name: a, when: 'event.action == "Content flagged"'}, {name: b, when: 'event.action in ["Content flagged", "Findings exported"]'}, {name: c, when: 'event.action == "Findings exported"'}]`
				masks = []uint8{0, 0, 0b011, 0b110}
			}
			src := "rules:\n" +
				fmt.Sprintf("  - {id: distinct, severity: high, when: 'event.action == \"Space exported\"', threshold: {count: %d, within: %s, by: [event.actor.name], distinct: [event.ip]}%s}\n",
					fuzzDistinctCount, fuzzDistinctWithin, d) +
				fmt.Sprintf("  - {id: newval, severity: medium, when: 'event.action == \"Global setting changed\"', new_value: {of: [event.ip], by: [event.actor.name], history: %s, learning: %s, max_values: %d}%s}\n",
					fuzzHistory, fuzzLearning, fuzzMaxValues, d) +
				fmt.Sprintf("  - {id: seq, severity: critical, sequence: {by: [event.actor.name], within: %s, steps: %s}%s}\n", fuzzSeqWithin, seq, d) +
				fmt.Sprintf("  - {id: thresh, severity: low, when: 'event.action == \"Findings exported\"', threshold: {count: %d, within: %s, by: [event.actor.name]}%s}\n",
					fuzzThreshCount, fuzzThreshWithin, d)
			out = append(out, fuzzSet{set: compile(tb, src), steps: masks, dedup: dedup})
		}
	}
	return out
}

// fuzzEvent decodes four bytes into the i-th event of a stream whose
// clock is at clock, and returns it with the clock moved on and whether
// the event is to be fed twice in a row:
//   - b[0]: bits 0-1 the actor (of three), bits 2-3 the action, bit 7 feed it twice;
//   - b[1]: its address, of four;
//   - b[2]: its time: bits 0-2 zero is a tie with the clock, one is
//     1-32 minutes before it (out of order, the clock stays), otherwise
//     the clock moves on 0-30 minutes, or 3 hours when bits 3-7 are all set.
//
// b[3] is left for later kinds.
func fuzzEvent(i int, b []byte, clock time.Time) (event.Event, time.Time, bool) {
	actors := []string{"akumar", "mchen", "tom"}
	at := clock
	step := time.Duration(b[2]>>3) * time.Minute
	switch b[2] & 7 {
	case 0:
	case 1:
		at = clock.Add(-step - time.Minute)
	default:
		if b[2]>>3 == 31 {
			step = 3 * time.Hour
		}
		clock = clock.Add(step)
		at = clock
	}
	ev := event.Event{ID: fmt.Sprintf("e%d", i), Time: at, Action: fuzzActions[b[0]>>2&3],
		Category: "Soteri Security for Confluence", IP: fmt.Sprintf("10.0.0.%d", b[1]&3)}
	ev.Actor.Name = actors[int(b[0]&3)%len(actors)]
	return ev, clock, b[0]&0x80 != 0
}

// fuzzModel is the engine under test and what the stream did so far,
// which the checks compare its alerts with.
type fuzzModel struct {
	fs     fuzzSet
	e      *Engine
	store  *MemStore
	events []*event.Event          // in stream order, each once
	byID   map[string]*event.Event // the same
	groups map[[2]string]bool      // rule, actor: the groups a match touched
	// lastAlert is, per group, the latest time of its alerts so far.
	lastAlert map[[2]string]time.Time
	alertIDs  map[string]bool
}

func newFuzzModel(fs fuzzSet) *fuzzModel {
	store := &MemStore{}
	return &fuzzModel{fs: fs, e: New(fs.set, store), store: store, byID: map[string]*event.Event{},
		groups: map[[2]string]bool{}, lastAlert: map[[2]string]time.Time{}, alertIDs: map[string]bool{}}
}

// matches reports whether ev matches rule.
func (m *fuzzModel) matches(rule string, ev *event.Event) bool {
	switch rule {
	case "distinct":
		return ev.Action == fuzzActions[0]
	case "newval":
		return ev.Action == fuzzActions[1]
	case "seq":
		return m.mask(ev) != 0
	case "thresh":
		return ev.Action == fuzzActions[3]
	}
	return false
}

// mask is the sequence steps ev meets.
func (m *fuzzModel) mask(ev *event.Event) uint8 {
	return m.fs.steps[slices.Index(fuzzActions, ev.Action)]
}

// record notes an event the engine processed for the first time.
func (m *fuzzModel) record(ev *event.Event) {
	m.events = append(m.events, ev)
	m.byID[ev.ID] = ev
	for _, r := range []string{"distinct", "newval", "seq", "thresh"} {
		if m.matches(r, ev) {
			m.groups[[2]string{r, ev.Actor.Name}] = true
		}
	}
}

func (m *fuzzModel) alerted(a *alerter.Alert) {
	if m.alertIDs[a.ID] {
		return
	}
	m.alertIDs[a.ID] = true
	g := [2]string{a.Rule, a.Event.Actor.Name}
	if l, ok := m.lastAlert[g]; !ok || a.Time.After(l) {
		m.lastAlert[g] = a.Time
	}
}

// check tells what is wrong with an alert fired by the last event.
func (m *fuzzModel) check(a *alerter.Alert) error {
	if m.alertIDs[a.ID] {
		// Fired again: a redelivery, or a group's firing event again.
		return nil
	}
	last := m.events[len(m.events)-1]
	if a.Event.ID != last.ID || len(a.EventIDs) == 0 || a.EventIDs[len(a.EventIDs)-1] != last.ID {
		return fmt.Errorf("fired by %s with events %v, want the firing event %s last", a.Event.ID, a.EventIDs, last.ID)
	}
	evs := make([]*event.Event, len(a.EventIDs))
	for i, id := range a.EventIDs {
		ev := m.byID[id]
		if ev == nil || slices.Contains(a.EventIDs[:i], id) {
			return fmt.Errorf("events %v: %s unknown or twice", a.EventIDs, id)
		}
		if !m.matches(a.Rule, ev) || ev.Actor.Name != last.Actor.Name {
			return fmt.Errorf("events %v: %s (%s, %s) does not match the rule's group", a.EventIDs, id, ev.Actor.Name, ev.Action)
		}
		evs[i] = ev
	}
	if a.Count != len(evs) {
		return fmt.Errorf("count %d of %d events", a.Count, len(evs))
	}
	l, ok := m.lastAlert[[2]string{a.Rule, last.Actor.Name}]
	if w := m.dedupWindow(a.Rule); ok && w > 0 {
		if d := last.Time.Sub(l); d < w && d > -w {
			return fmt.Errorf("at %s, within the dedup window %s of the group's last alert at %s", last.Time.Format(time.TimeOnly), w, l.Format(time.TimeOnly))
		}
	}
	switch a.Rule {
	case "distinct":
		return windowed(evs, last, fuzzDistinctWithin, fuzzDistinctCount, true, a.Distinct)
	case "thresh":
		return windowed(evs, last, fuzzThreshWithin, fuzzThreshCount, false, 0)
	case "seq":
		return m.chained(evs)
	case "newval":
		return m.firstSeen(evs, last)
	}
	return fmt.Errorf("unknown rule")
}

// dedupWindow is how long after a group's alert the rule's next is
// suppressed: dedup.window, or a threshold's within (docs/rules.md,
// Groups, thresholds and dedup).
func (m *fuzzModel) dedupWindow(rule string) time.Duration {
	switch {
	case m.fs.dedup:
		return fuzzDedup
	case rule == "distinct":
		return fuzzDistinctWithin
	case rule == "thresh":
		return fuzzThreshWithin
	}
	return 0
}

// windowed checks a threshold alert: its events lie in (t-within, t] of
// the firing event and are at least count, or with distinct carry at
// least count distinct addresses, as many as the alert says.
func windowed(evs []*event.Event, last *event.Event, within time.Duration, count int, distinct bool, said int) error {
	ips := map[string]bool{}
	for _, ev := range evs {
		if !ev.Time.After(last.Time.Add(-within)) || ev.Time.After(last.Time) {
			return fmt.Errorf("event %s at %s is outside (t-%s, t] of the firing event at %s", ev.ID, ev.Time.Format(time.TimeOnly), within, last.Time.Format(time.TimeOnly))
		}
		ips[ev.IP] = true
	}
	switch {
	case !distinct && len(evs) < count:
		return fmt.Errorf("%d events, want at least %d", len(evs), count)
	case distinct && (len(ips) < count || said != len(ips)):
		return fmt.Errorf("%d distinct addresses (the alert says %d), want at least %d", len(ips), said, count)
	}
	return nil
}

// chained checks a sequence alert: its events met the steps in order,
// their times do not decrease, and they span at most within.
func (m *fuzzModel) chained(evs []*event.Event) error {
	n := 2
	if m.fs.steps[3] == 0b110 {
		n = 3
	}
	if len(evs) != n {
		return fmt.Errorf("%d events, want %d steps", len(evs), n)
	}
	for k, ev := range evs {
		if m.mask(ev)&(1<<k) == 0 {
			return fmt.Errorf("event %s (%s) does not meet step %d", ev.ID, ev.Action, k+1)
		}
		if k > 0 && ev.Time.Before(evs[k-1].Time) {
			return fmt.Errorf("event %s at %s is before step %d's at %s", ev.ID, ev.Time.Format(time.TimeOnly), k, evs[k-1].Time.Format(time.TimeOnly))
		}
	}
	if span := evs[n-1].Time.Sub(evs[0].Time); span > fuzzSeqWithin {
		return fmt.Errorf("the chain spans %s, more than %s", span, fuzzSeqWithin)
	}
	return nil
}

// firstSeen checks a new_value alert against the stream: the rule is
// past its learning window, and the group did not see the address within
// history before, unless the engine may have forgotten it since:
// because a later event of the group came history or more after it, or
// because max_values other addresses were seen at or after it.
func (m *fuzzModel) firstSeen(evs []*event.Event, last *event.Event) error {
	if len(evs) != 1 {
		return fmt.Errorf("%d events, want 1", len(evs))
	}
	first := last.Time
	for _, ev := range m.events {
		if ev.Action == fuzzActions[1] && ev.Time.Before(first) {
			first = ev.Time
		}
	}
	if last.Time.Before(first.Add(fuzzLearning)) {
		return fmt.Errorf("at %s, learning until %s", last.Time.Format(time.TimeOnly), first.Add(fuzzLearning).Format(time.TimeOnly))
	}
	var group []*event.Event // the group's earlier events, in stream order
	for _, ev := range m.events[:len(m.events)-1] {
		if ev.Action == fuzzActions[1] && ev.Actor.Name == last.Actor.Name {
			group = append(group, ev)
		}
	}
	for i, q := range group {
		if q.IP != last.IP || !q.Time.After(last.Time.Add(-fuzzHistory)) {
			continue
		}
		expired := slices.ContainsFunc(group[i+1:], func(x *event.Event) bool { return !x.Time.Before(q.Time.Add(fuzzHistory)) })
		others := map[string]bool{}
		for _, x := range group {
			if x.IP != q.IP && !x.Time.Before(q.Time) {
				others[x.IP] = true
			}
		}
		if !expired && len(others) < fuzzMaxValues {
			return fmt.Errorf("%s was seen by the group at %s (event %s), within %s before %s", last.IP, q.Time.Format(time.TimeOnly), q.ID, fuzzHistory, last.Time.Format(time.TimeOnly))
		}
	}
	return nil
}

// bounded tells what is wrong with the size of the state kept.
func (m *fuzzModel) bounded() error {
	keys := len(m.groups)
	if m.groups[[2]string{"newval", "akumar"}] || m.groups[[2]string{"newval", "mchen"}] || m.groups[[2]string{"newval", "tom"}] {
		keys++ // the rule's learning key
	}
	if n := m.store.Len(); n > keys {
		return fmt.Errorf("the store holds %d keys, more than the %d groups touched and learning keys", n, keys)
	}
	steps := 2
	if m.fs.steps[3] == 0b110 {
		steps = 3
	}
	for g := range m.groups {
		st, ok := m.store.Get(StateKey(g[0], []string{g[1]}))
		if !ok {
			continue
		}
		switch {
		case len(st.Window) > 2*rules.MaxDistinctCount:
			return fmt.Errorf("group %v: %d window entries", g, len(st.Window))
		case len(st.Values) > fuzzMaxValues:
			return fmt.Errorf("group %v: %d values, more than max_values", g, len(st.Values))
		case len(st.Chains) > steps-1:
			return fmt.Errorf("group %v: %d partial chains", g, len(st.Chains))
		case len(st.Seen) > 8:
			return fmt.Errorf("group %v: %d fingerprints", g, len(st.Seen))
		}
		for _, c := range st.Chains {
			if len(c) > steps-1 {
				return fmt.Errorf("group %v: a partial chain of %d events", g, len(c))
			}
		}
	}
	return nil
}

// stream describes the events so far, for a failure's message.
func (m *fuzzModel) stream() string {
	var s string
	for _, ev := range m.events {
		s += fmt.Sprintf("\n  %s %s %s %s %s", ev.ID, ev.Time.Format(time.TimeOnly), ev.Actor.Name, ev.Action, ev.IP)
	}
	return s
}
