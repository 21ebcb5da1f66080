package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/alerter/alerter/rules"
)

// GroupState is what the engine remembers of one group of one rule.
// Times are event times in Unix nanoseconds.
type GroupState struct {
	// Alerted is set once the group has fired; LastAlert is then the time
	// of its last alert.
	Alerted   bool  `json:"a,omitempty"`
	LastAlert int64 `json:"l,omitempty"`
	// Suppressed counts matches suppressed since the last alert.
	Suppressed int64 `json:"s,omitempty"`
	// Window holds the events counted toward a threshold, oldest first.
	Window []Entry `json:"w,omitempty"`
	// Expires is the event time after which the state no longer affects
	// any decision and may be dropped.
	Expires int64 `json:"x,omitempty"`
	// Fired are the ids of the events behind the last alert, the firing one
	// last. If the process dies after saving this state but before the
	// alert is stored, the redelivered firing event must fire again (its
	// alert id is the same, so a stored alert is deduplicated) rather than
	// be suppressed by its own alert.
	Fired []string `json:"f,omitempty"`
	// FiredSuppressed is the suppressed count the last alert carried, so
	// that its re-fire on redelivery carries the same.
	FiredSuppressed int64 `json:"fs,omitempty"`
	// FiredDistinct is the distinct count the last alert carried, for the
	// same reason.
	FiredDistinct int `json:"fd,omitempty"`
	// Seen holds fingerprints of the last events this group counted that
	// Window and Fired no longer name: suppressed ones, ones that left the
	// window unfired, those of earlier alerts. Oldest first, at most
	// seenMax. They make a redelivery of such an event a no-op instead of
	// counting it again; fingerprints rather than ids keep the state small.
	Seen []uint64 `json:"n,omitempty"`
	// Values are, for a new_value rule, the tuples the group remembers,
	// least recently seen first, at most the rule's max_values.
	Values []Value `json:"v,omitempty"`
	// Since is, in a new_value rule's learning key (LearningKey), the
	// time of the rule's first matching event.
	Since int64 `json:"b,omitempty"`
	// Chains are, for a sequence rule, its partial chains: Chains[k-1] is
	// the chain of the first k steps with the latest first event, or
	// empty. Their entries are the chain's events, in step order.
	Chains [][]Entry `json:"c,omitempty"`
	// Due is the group's pending deadline, or 0: an absence's (its steps
	// before the absent one completed) or a quiet group's (its last event
	// plus within). Pending are the events behind it: the absence's chain,
	// or the quiet group's last event. Next are the deadlines that take
	// over, in order, once Due fires: chains completed, or events of a
	// quiet group, after Due in event time but before Due fired (live,
	// deadlines wait for the lateness); each is policy.chunk events, and
	// at most laterMax wait.
	Due     int64   `json:"u,omitempty"`
	Pending []Entry `json:"p,omitempty"`
	Next    []Entry `json:"q,omitempty"`
	// SchedAt is the deadline handed out to be kept durably (Result's
	// Deadlines), or 0, and SchedBy the event that handed it out, which
	// hands it out again if it is redelivered: the process may have died
	// before the deadline was kept. SchedAt may be before Due (a quiet
	// group's deadline moved on): when it fires, the later one is handed
	// out (see Engine.Fire).
	SchedAt int64  `json:"k,omitempty"`
	SchedBy string `json:"kb,omitempty"`
	// FiredDue is the due time of the deadline behind the last alert, if a
	// deadline fired it, so that a deadline handed over again fires the
	// same alert.
	FiredDue int64 `json:"fu,omitempty"`
	// FiredRef is the Ref of the event that alert carries.
	FiredRef uint64 `json:"fr,omitempty"`
	// Escalated has bit k set once escalate: step k+1 was taken since the
	// last alert (each step is taken once per alert). EscalatedBy is the
	// suppressed event that took the latest, EscalatedStep, which takes it
	// again if it is redelivered: the process may have died before the
	// escalation was stored.
	Escalated     uint8  `json:"e,omitempty"`
	EscalatedBy   string `json:"eb,omitempty"`
	EscalatedStep int    `json:"es,omitempty"`
	// ResolveAt is the group's resolve.after deadline (docs/rules.md,
	// Resolving): its last match, once it alerted, plus after.
	ResolveAt Timer `json:"ra,omitzero"`
	// EscalateAt is the deadline of the group's next escalate: after step
	// (docs/rules.md, Escalations): EscalateFrom, when its last alert
	// fired (the wall clock live, its time by the event clock), plus the
	// step's after. Escalated has the steps taken, of both kinds.
	EscalateAt   Timer `json:"ea,omitzero"`
	EscalateFrom int64 `json:"ef,omitempty"`
	// DigestAt is the deadline of the group's digest period (docs/rules.md,
	// Digests): its first suppressed match plus the rule's digest period.
	// DigestCount counts the period's suppressed matches, DigestFirst and
	// DigestLast are their first and last times, and DigestOf the first
	// digestExamples of them.
	DigestAt    Timer   `json:"da,omitzero"`
	DigestCount int64   `json:"dc,omitempty"`
	DigestFirst int64   `json:"df,omitempty"`
	DigestLast  int64   `json:"dl,omitempty"`
	DigestOf    []Entry `json:"do,omitempty"`
	// Sent is what the period whose digest fired last (DigestAt.Fired)
	// counted, kept until the next period's digest fires: a deadline
	// handed over again (its first attempt died before the digest was
	// stored) sends the same digest, even once the next period opened.
	Sent DigestCounts `json:"ds,omitzero"`
}

// DigestCounts are what a digest period counted: its suppressed matches,
// the first and last time, and the first digestExamples of them.
type DigestCounts struct {
	Count int64   `json:"c,omitempty"`
	First int64   `json:"f,omitempty"`
	Last  int64   `json:"l,omitempty"`
	Of    []Entry `json:"o,omitempty"`
}

// Value is a tuple of a new_value rule's values, as tupleKey makes it,
// and the time it was last seen.
type Value struct {
	Tuple string `json:"d"`
	Last  int64  `json:"t"`
}

// Entry is one event in a threshold window.
type Entry struct {
	Time int64  `json:"t"`
	ID   string `json:"i"`
	// Tuple is, for a rule with threshold.distinct, the event's tuple of
	// distinct values as tupleKey makes it: bounded in size.
	Tuple string `json:"d,omitempty"`
	// Ref is, in the chain of an absence or a quiet group's last event,
	// where the event is stored (Plan.Ref), to find it when the deadline
	// fires.
	Ref uint64 `json:"r,omitempty"`
}

// Empty reports whether the state holds nothing worth keeping.
func (s *GroupState) Empty() bool {
	return !s.Alerted && s.Suppressed == 0 && len(s.Window) == 0 && len(s.Values) == 0 && s.Since == 0 && !s.partial() && s.Due == 0 && s.SchedAt == 0 && s.FiredDue == 0 &&
		s.ResolveAt == Timer{} && s.EscalateAt == Timer{} && s.DigestAt == Timer{}
}

// partial reports whether the state holds a partial chain.
func (s *GroupState) partial() bool {
	return slices.ContainsFunc(s.Chains, func(c []Entry) bool { return len(c) > 0 })
}

// Store keeps group states. Implementations: the in-memory MemStore here,
// for replay and tests, and a JetStream KV store shared by replicas.
type Store interface {
	// Update calls fn with the current state of key (zero if none) and
	// saves what fn leaves, atomically with respect to other updates of the
	// same key, also those of other replicas. A state that fn leaves Empty
	// may be deleted. ttl is how long the state matters in wall-clock time,
	// for stores that expire keys. fn may run more than once, also after
	// a write whose outcome the store could not learn (a timeout), so what
	// it records must count once however often it runs; the engine's
	// decisions remember their event ids for that.
	Update(ctx context.Context, key string, ttl time.Duration, fn func(*GroupState) error) error
}

// MemStore is a Store in memory. The zero value is ready to use.
type MemStore struct {
	mu     sync.Mutex
	states map[string]*GroupState
}

// Update implements Store.
func (m *MemStore) Update(_ context.Context, key string, _ time.Duration, fn func(*GroupState) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states == nil {
		m.states = map[string]*GroupState{}
	}
	st, ok := m.states[key]
	if !ok {
		st = &GroupState{}
	}
	// fn works on a copy so that a failing fn leaves the state untouched.
	cp := st.clone()
	if err := fn(&cp); err != nil {
		return err
	}
	if cp.Empty() {
		delete(m.states, key)
		return nil
	}
	cp.Fired = append([]string(nil), cp.Fired...)
	cp.Seen = append([]uint64(nil), cp.Seen...)
	m.states[key] = &cp
	return nil
}

// Get returns a copy of the state of key, and whether there is one.
func (m *MemStore) Get(key string) (GroupState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.states[key]
	if !ok {
		return GroupState{}, false
	}
	return st.clone(), true
}

// Sweep drops the states that expired before the event time t.
func (m *MemStore) Sweep(t int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, st := range m.states {
		if st.Expires < t {
			delete(m.states, k)
		}
	}
}

// Len is the number of groups held.
func (m *MemStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.states)
}

// policy is the stateful part of a rule.
type policy struct {
	dedupWindow int64 // 0: no dedup
	count       int   // 0: no threshold
	within      int64
	// distinct: count is of distinct tuples rather than of events.
	distinct bool
	// history > 0: a new_value rule, with its learning and max_values.
	history   int64
	learning  int64
	maxValues int
	// steps > 0: a sequence rule of that many steps, within its within;
	// absent: its last step is absent.
	steps  int
	absent bool
	// quiet: a quiet rule, whose groups alert after within without events.
	quiet bool
	// escalate are the rule's escalate: steps, each as its after_suppressed
	// count, or 0 for a step of another kind; escalateAfter the same steps
	// as their after, or 0, nil for a rule with no after step.
	escalate      []int64
	escalateAfter []int64
	// resolveAfter is the rule's resolve.after, or 0.
	resolveAfter int64
	// digest is the rule's digest period, or 0.
	digest int64
}

// decision is the outcome of one match.
type decision struct {
	fire       bool
	suppressed bool
	count      int
	ids        []string
	// suppressedBefore is the number of matches suppressed in the group
	// since its previous alert, carried by the alert that fires.
	suppressedBefore int64
	// distinct is, for a distinct threshold, the distinct tuples among ids.
	distinct int
	// unchanged: the match changes nothing worth writing (a quiet group's
	// event within the slack of the one recorded).
	unchanged bool
	// again: the alert or escalation was made already, and is made again,
	// identical (a redelivery).
	again bool
	// digest: the alert is a digest (docs/rules.md, Digests), which
	// counts as no alert of the rule.
	digest bool
	// escalation is, on a suppressed match that takes an escalate: step,
	// the step's 1-based index; suppressedBefore is then the group's
	// suppressed count, ids the last alert's events, and escalates and
	// escalatedAt what that alert's id was made of (see Engine.alert).
	escalation  int
	escalates   string
	escalatedAt int64
}

// seenMax bounds Seen. JetStream redelivers a message whose ack did not
// come within the ack wait, and the in-flight messages of a replica that
// died; meanwhile the other replicas go on with later messages, some of
// them for the same group. Eight covers a redelivery with up to seven
// other events of its group counted in between, for 64 bytes of state.
const seenMax = 8

// decide applies one matching event at time t, whose tuple of distinct
// values is tuple ("" for a rule without threshold.distinct), to a group's
// state. It is a pure function of its inputs, so the window semantics are
// tested without clocks or stores:
//  1. A match less than the dedup window after the group's last alert is
//     suppressed: counted, not alerted, not counted toward a threshold.
//  2. Otherwise, without a threshold an alert fires at once; with one, the
//     event joins the window (t-within, t], and when that holds count
//     events an alert fires and they leave the window.
//
// A distinct threshold (docs/rules.md, Distinct counts) differs in two
// ways: the window completes when its events carry count distinct tuples,
// and the dedup window suppresses completed windows rather than matches,
// so events keep joining the window while it runs.
//
// A redelivered event (the same id again) leaves the state as it is: the
// event that fired the last alert fires it again, identical, since the
// process may have died before the alert was stored; any other event the
// state remembers (see Seen) decides nothing.
func decide(st *GroupState, p policy, t int64, id, tuple string) decision {
	if n := len(st.Fired); n > 0 && st.Fired[n-1] == id {
		return decision{fire: true, again: true, count: n, ids: slices.Clone(st.Fired), suppressedBefore: st.FiredSuppressed, distinct: st.FiredDistinct}
	}
	if st.EscalatedBy != "" && st.EscalatedBy == id {
		return st.escalatedAgain()
	}
	fp := fingerprint(id)
	if st.holds(id, fp) {
		return decision{}
	}
	if !p.distinct && st.deduped(p, t) {
		st.remember(fp)
		return st.suppress(p, id)
	}
	if p.count == 0 {
		return fire(st, p, t, decision{count: 1, ids: []string{id}})
	}
	// Drop what fell out of the window; keep the order by time so that
	// out-of-order events count in their own window.
	lo := t - p.within
	kept := st.Window[:0]
	for _, e := range st.Window {
		if e.Time > lo || e.Time > t {
			kept = append(kept, e)
		} else {
			st.remember(fingerprint(e.ID))
		}
	}
	st.Window = insert(kept, Entry{Time: t, ID: id, Tuple: tuple})
	if p.distinct {
		st.bound()
	}
	var in []Entry
	for _, e := range st.Window {
		if e.Time > lo && e.Time <= t {
			in = append(in, e)
		}
	}
	d := decision{count: len(in)}
	reached := len(in) >= p.count
	if p.distinct {
		d.distinct = distinctTuples(in)
		reached = d.distinct >= p.count
	}
	if !reached {
		st.Expires = max(st.Expires, st.Window[len(st.Window)-1].Time+p.within)
		return decision{}
	}
	for _, e := range in {
		d.ids = append(d.ids, e.ID)
	}
	// The events that fired leave the window; later ones stay.
	rest := st.Window[:0]
	for _, e := range st.Window {
		if e.Time > t {
			rest = append(rest, e)
		}
	}
	st.Window = rest
	if p.distinct && st.deduped(p, t) {
		// The completed window is suppressed as one would-be alert, and
		// its events are cleared as if it had fired.
		for _, id := range d.ids {
			st.remember(fingerprint(id))
		}
		return st.suppress(p, id)
	}
	return fire(st, p, t, d)
}

// decideNew applies one matching event of a new_value rule at time t,
// whose tuple of values is tuple, to a group's state; since is the rule's
// learning start. Like decide it is pure (docs/rules.md, First-seen
// values):
//  1. The tuple is new unless the group saw it in (t-history, t].
//  2. A new tuple alerts, unless t < since+learning, or it comes less
//     than the dedup window after the group's last alert: then it is
//     suppressed, counted in the next alert.
//  3. Either way the tuple's last-seen time becomes t, and the least
//     recently seen tuples beyond maxValues are forgotten.
//
// Redelivery is handled as decide handles it.
func decideNew(st *GroupState, p policy, t int64, id, tuple string, since int64) decision {
	if n := len(st.Fired); n > 0 && st.Fired[n-1] == id {
		return decision{fire: true, again: true, count: n, ids: slices.Clone(st.Fired), suppressedBefore: st.FiredSuppressed}
	}
	if st.EscalatedBy != "" && st.EscalatedBy == id {
		return st.escalatedAgain()
	}
	fp := fingerprint(id)
	if st.holds(id, fp) {
		return decision{}
	}
	st.remember(fp)
	i := slices.IndexFunc(st.Values, func(v Value) bool { return v.Tuple == tuple })
	seen := i >= 0 && st.Values[i].Last > t-p.history
	last := t
	if i >= 0 {
		// An event older than the tuple's last sighting (out of order)
		// leaves that time as it is.
		last = max(last, st.Values[i].Last)
		st.Values = slices.Delete(st.Values, i, i+1)
	}
	st.Values = insertValue(st.Values, Value{Tuple: tuple, Last: last})
	st.forget(p, t)
	if n := len(st.Values); n > 0 {
		st.Expires = max(st.Expires, st.Values[n-1].Last+p.history)
	}
	if seen || t < since+p.learning {
		return decision{}
	}
	if st.deduped(p, t) {
		return st.suppress(p, id)
	}
	return fire(st, p, t, decision{count: 1, ids: []string{id}})
}

// decideSeq applies one event of a sequence rule at time t, which met the
// steps whose bits are set in mask, to a group's state (docs/rules.md,
// Sequences). Like decide it is pure:
//  1. The event is tried against the later steps first: as step k+1 it
//     extends the partial chain of k steps if that chain's last event is
//     not after t and its first is at most within before t. Reading the
//     chains before the earlier steps write them keeps one event from
//     playing two steps of one chain.
//  2. A chain of k steps replaces the one kept for k only if its first
//     event is not earlier: of the possible chains the one with the latest
//     first event is kept, and so reported.
//  3. A completed chain fires with its events and clears the partial
//     chains; less than the dedup window after the group's last alert it
//     is suppressed instead, and clears them all the same.
//
// Redelivery is handled as decide handles it.
func decideSeq(st *GroupState, p policy, t int64, id string, mask uint8, ref uint64) decision {
	if n := len(st.Fired); n > 0 && st.Fired[n-1] == id {
		return decision{fire: true, again: true, count: n, ids: slices.Clone(st.Fired), suppressedBefore: st.FiredSuppressed}
	}
	if st.EscalatedBy != "" && st.EscalatedBy == id {
		return st.escalatedAgain()
	}
	fp := fingerprint(id)
	if st.holds(id, fp) {
		return decision{}
	}
	st.remember(fp)
	st.dropStale(p, t)
	// n is the number of steps a chain has: an absence's absent step is
	// no event of the chain.
	n := p.steps
	if p.absent {
		n--
		if mask&(1<<n) != 0 {
			st.cancel(p, t)
		}
	}
	if len(st.Chains) < n-1 {
		st.Chains = append(st.Chains, make([][]Entry, n-1-len(st.Chains))...)
	}
	e := Entry{Time: t, ID: id}
	if p.absent {
		e.Ref = ref
	}
	var done []Entry
	for k := n - 1; k >= 0; k-- {
		if mask&(1<<k) == 0 {
			continue
		}
		var chain []Entry
		if k == 0 {
			chain = []Entry{e}
		} else {
			prev := st.Chains[k-1]
			if len(prev) == 0 || prev[len(prev)-1].Time > t || t-prev[0].Time > p.within {
				continue
			}
			chain = append(slices.Clone(prev), e)
		}
		if k == n-1 {
			done = chain
			continue
		}
		if cur := st.Chains[k]; len(cur) == 0 || cur[0].Time <= chain[0].Time {
			st.Chains[k] = chain
		}
	}
	for _, c := range st.Chains {
		if len(c) > 0 {
			st.Expires = max(st.Expires, c[0].Time+p.within)
		}
	}
	if done == nil {
		return decision{}
	}
	st.Chains = nil
	if p.absent {
		st.arm(p, t, done)
		return decision{}
	}
	d := decision{count: len(done)}
	for _, e := range done {
		d.ids = append(d.ids, e.ID)
	}
	if st.deduped(p, t) {
		for _, id := range d.ids {
			st.remember(fingerprint(id))
		}
		return st.suppress(p, id)
	}
	return fire(st, p, t, d)
}

// laterMax bounds the deadlines waiting in Next behind the pending one.
// Live, a deadline fires its lateness after its time, and events that
// come meanwhile may end further spans of the group: each such span's
// deadline waits in Next, to fire right after the pending one, as it
// would have in event time. Several wait only when within is shorter than
// the lateness; past laterMax the last one waiting is replaced.
const laterMax = 8

// chunk is the number of events of one deadline waiting in Next: an
// absence's chain (its steps but the absent one), or a quiet group's last
// event.
func (p policy) chunk() int {
	if p.absent {
		return p.steps - 1
	}
	return 1
}

// lastLater is the last deadline's events waiting in Next, or nil.
func (s *GroupState) lastLater(p policy) []Entry {
	if k := p.chunk(); len(s.Next) >= k {
		return s.Next[len(s.Next)-k:]
	}
	return nil
}

// later puts the events of a deadline after all others in Next, or in
// place of the last one if Next is full.
func (s *GroupState) later(p policy, chain []Entry) {
	if k := p.chunk(); len(s.Next) >= laterMax*k {
		s.Next = s.Next[:len(s.Next)-k]
	}
	s.Next = append(s.Next, chain...)
}

// promote makes the first deadline waiting in Next the pending one.
func (s *GroupState) promote(p policy) {
	s.Due, s.Pending = 0, nil
	if k := p.chunk(); len(s.Next) >= k {
		s.Pending = slices.Clone(s.Next[:k])
		s.Next = slices.Clone(s.Next[k:])
		s.Due = s.Pending[0].Time + p.within + p.slack()
	}
	if len(s.Next) == 0 {
		s.Next = nil
	}
}

// arm gives the group the deadline of an absence whose steps before the
// absent one completed chain at t: chain's first event plus within. A
// group has one deadline at a time, and a chain completed while one is
// pending is ignored, unless that one is past at t (it has not fired yet,
// live, waiting for the lateness): the chain's deadline then waits in
// Next and takes over once the pending one fires, as it would have in
// event time.
func (s *GroupState) arm(p policy, t int64, chain []Entry) {
	due := chain[0].Time + p.within
	switch last := s.lastLater(p); {
	case s.Due == 0:
		s.Due, s.Pending = due, chain
	case last != nil:
		if t > last[0].Time+p.within {
			s.later(p, chain)
		}
	case t > s.Due:
		s.later(p, chain)
	}
	s.Expires = max(s.Expires, due)
}

// cancel drops the latest deadline, pending or waiting in Next, whose span
// (first event, deadline] holds t: an event of the absent step came in
// time.
func (s *GroupState) cancel(p policy, t int64) {
	if c := s.lastLater(p); c != nil {
		if t > c[0].Time && t <= c[0].Time+p.within {
			s.Next = s.Next[:len(s.Next)-len(c)]
		}
		return
	}
	if s.Due != 0 && t > s.Pending[0].Time && t <= s.Due {
		s.promote(p)
	}
}

// decideQuiet applies one matching event of a quiet rule at time t to a
// group's state (docs/rules.md, Quiet sources): the group's deadline
// becomes t plus within, unless an event of the group is later already.
// An event after a deadline that has not fired yet waits in Next, as arm
// does for an absence: it moves the last deadline waiting there, or, if
// that one is past at t too, waits behind it. A quiet rule fires only at
// its deadlines (decideDue); redelivery is handled as decide handles it.
func decideQuiet(st *GroupState, p policy, t int64, id string, ref uint64) decision {
	fp := fingerprint(id)
	if st.holds(id, fp) {
		return decision{}
	}
	// A group's deadline is its recorded event's time plus within plus the
	// slack, so an event less than the slack after the recorded one need
	// not be recorded: the state is written at most once per slack.
	g, span := p.slack(), p.within+p.slack()
	e := []Entry{{Time: t, ID: id, Ref: ref}}
	switch last := st.lastLater(p); {
	case st.Due == 0:
		st.Due, st.Pending = t+span, e
	case last != nil:
		switch {
		case t > last[0].Time+span:
			st.later(p, e)
		case t >= last[0].Time+g && t > last[0].Time:
			st.Next[len(st.Next)-1] = e[0]
		default:
			return decision{unchanged: true}
		}
	case t > st.Due:
		st.later(p, e)
	case t >= st.Pending[0].Time+g && t > st.Pending[0].Time:
		st.Due, st.Pending = t+span, e
	default:
		return decision{unchanged: true}
	}
	st.remember(fp)
	st.Expires = max(st.Expires, st.Due)
	if last := st.lastLater(p); last != nil {
		st.Expires = max(st.Expires, last[0].Time+span)
	}
	return decision{}
}

// quietSlackDiv sets a quiet rule's slack: within/quietSlackDiv.
const quietSlackDiv = 32

// slack is how much later than exactly a quiet group's deadline may fire
// (docs/rules.md, Quiet sources): its state is written at most once per
// slack rather than for every event, which on a busy group would be a
// write per event, applied one after another. Absences have none.
func (p policy) slack() int64 {
	if p.quiet {
		return p.within / quietSlackDiv
	}
	return 0
}

// decideDue applies a group's deadline at due, whose time has come, to
// its state (docs/rules.md, Absences and Quiet sources). It is pure, like
// decide:
//  1. A deadline that is no longer the group's (cancelled, or moved on by
//     a later event of a quiet group) decides nothing.
//  2. Otherwise the events behind it fire an alert at due (an absence's
//     chain, a quiet group's last event), or, less than the dedup window
//     after the group's last alert, are suppressed; the first deadline
//     waiting in Next becomes the pending one.
//  3. A deadline that fired already (handed over again: the process died
//     before its alert was stored) fires the same alert again.
func decideDue(st *GroupState, p policy, due int64) decision {
	if st.FiredDue == due && len(st.Fired) > 0 {
		return decision{fire: true, again: true, count: len(st.Fired), ids: slices.Clone(st.Fired), suppressedBefore: st.FiredSuppressed}
	}
	if st.Due == 0 || st.Due != due {
		return decision{}
	}
	chain := st.Pending
	st.promote(p)
	d := decision{count: len(chain)}
	for _, e := range chain {
		d.ids = append(d.ids, e.ID)
	}
	if st.deduped(p, due) {
		// A deadline is no match: it is counted, and takes no escalate:
		// step (the rules of deadlines have none, rules.Escalation).
		return st.suppress(p, "")
	}
	d = fire(st, p, due, d)
	st.FiredDue = due
	return d
}

// handOut brings SchedAt in line with Due after a change by the event id
// ("" for a deadline): it returns the deadline to hand out to be kept
// durably, if any, and whether the one handed out before is to be
// cancelled. A deadline already handed out for an earlier time stays: when
// it fires, the later one is handed out, so that a quiet group's deadline
// moving with every event costs no write per event.
func (s *GroupState) handOut(by string) (due int64, cancel bool) {
	switch {
	case s.Due == 0 && s.SchedAt != 0:
		s.SchedAt, s.SchedBy = 0, ""
		return 0, true
	case s.Due != 0 && (s.SchedAt == 0 || s.SchedAt > s.Due):
		s.SchedAt, s.SchedBy = s.Due, by
		return s.Due, false
	}
	return 0, false
}

// dropStale empties the partial chains whose first event is more than
// within before t: no later event can complete them.
func (s *GroupState) dropStale(p policy, t int64) {
	for k, c := range s.Chains {
		if len(c) > 0 && t-c[0].Time > p.within {
			s.Chains[k] = nil
		}
	}
}

// insertValue adds v to vs, which is ordered by last-seen time.
func insertValue(vs []Value, v Value) []Value {
	i := len(vs)
	for i > 0 && vs[i-1].Last > v.Last {
		i--
	}
	return slices.Insert(vs, i, v)
}

// forget drops the tuples last seen at or before t-history, which no
// longer count as seen, and the least recently seen beyond maxValues.
func (s *GroupState) forget(p policy, t int64) {
	n := 0
	for n < len(s.Values) && s.Values[n].Last <= t-p.history {
		n++
	}
	n = max(n, len(s.Values)-p.maxValues)
	s.Values = slices.Delete(s.Values, 0, n)
}

// learn records t as the rule's learning start, if earlier than the one
// kept, and returns the start.
func (s *GroupState) learn(t int64) int64 {
	if s.Since == 0 || t < s.Since {
		s.Since = t
	}
	// Kept for good: once dropped, learning would start again.
	s.Expires = math.MaxInt64
	return s.Since
}

// deduped reports whether t falls within the dedup window of the group's
// last alert, either side of it.
func (s *GroupState) deduped(p policy, t int64) bool {
	return p.dedupWindow > 0 && s.Alerted && abs(t-s.LastAlert) < p.dedupWindow
}

// distinctTuples counts the distinct tuples of the entries.
func distinctTuples(in []Entry) int {
	tuples := make([]string, len(in))
	for i, e := range in {
		tuples[i] = e.Tuple
	}
	slices.Sort(tuples)
	return len(slices.Compact(tuples))
}

// windowMax bounds a distinct window. Before it completes, it holds fewer
// than count (at most rules.MaxDistinctCount) distinct tuples, so beyond
// that it only grows by repeats of the same tuples: the oldest repeat is
// dropped, which leaves the distinct count as it was, since the newer
// entry of its tuple stays in the window longer.
const windowMax = 2 * rules.MaxDistinctCount

// bound drops entries beyond windowMax: the oldest repeated tuple, or else
// the oldest entry.
func (s *GroupState) bound() {
	for len(s.Window) > windowMax {
		drop := 0
		for i, e := range s.Window {
			if slices.ContainsFunc(s.Window[i+1:], func(l Entry) bool { return l.Tuple == e.Tuple }) {
				drop = i
				break
			}
		}
		s.remember(fingerprint(s.Window[drop].ID))
		s.Window = slices.Delete(s.Window, drop, drop+1)
	}
}

func fire(st *GroupState, p policy, t int64, d decision) decision {
	d.fire = true
	d.suppressedBefore = st.Suppressed
	// The previous alert's events are about to leave Fired; only the
	// newest can fit in Seen.
	for _, id := range st.Fired[max(0, len(st.Fired)-seenMax):] {
		st.remember(fingerprint(id))
	}
	st.Fired = append(st.Fired[:0], d.ids...)
	st.FiredDue, st.FiredRef = 0, 0
	st.FiredSuppressed = st.Suppressed
	st.FiredDistinct = d.distinct
	st.Suppressed = 0
	st.Escalated, st.EscalatedBy, st.EscalatedStep = 0, "", 0
	if !st.Alerted || t > st.LastAlert {
		st.LastAlert = t
	}
	st.Alerted = p.dedupWindow > 0
	st.Expires = max(st.Expires, st.LastAlert+p.dedupWindow)
	if n := len(st.Window); n > 0 {
		st.Expires = max(st.Expires, st.Window[n-1].Time+p.within)
	}
	return d
}

// suppress counts a suppressed match of the group, the event id ("" for a
// deadline), which takes the first escalate: step not taken since the last
// alert whose after_suppressed count the group's suppressed count reached
// (docs/rules.md, Escalations).
func (s *GroupState) suppress(p policy, id string) decision {
	s.Suppressed++
	s.Expires = max(s.Expires, s.LastAlert+p.dedupWindow)
	if id == "" || len(s.Fired) == 0 {
		return decision{suppressed: true}
	}
	for k, n := range p.escalate {
		if n > 0 && s.Escalated&(1<<k) == 0 && s.Suppressed >= n {
			s.Escalated |= 1 << k
			s.EscalatedBy, s.EscalatedStep = id, k+1
			return s.escalation(k + 1)
		}
	}
	return decision{suppressed: true}
}

// escalatedAgain is the decision of the suppressed match that took the
// group's latest escalate: step, redelivered: the same escalation.
func (s *GroupState) escalatedAgain() decision {
	d := s.escalation(s.EscalatedStep)
	d.again = true
	return d
}

// escalation is the decision of the suppressed match that took escalate:
// step k of the group's last alert.
func (s *GroupState) escalation(k int) decision {
	d := decision{suppressed: true, escalation: k, suppressedBefore: s.Suppressed,
		count: len(s.Fired), ids: slices.Clone(s.Fired), escalates: s.Fired[len(s.Fired)-1], escalatedAt: s.LastAlert}
	if s.FiredDue != 0 {
		// A deadline fired it (Engine.Fire).
		d.escalates += "\x00" + strconv.FormatInt(s.FiredDue, 10)
		d.escalatedAt = s.FiredDue
	}
	return d
}

// holds reports whether the state already counts the event id, whose
// fingerprint is fp.
func (s *GroupState) holds(id string, fp uint64) bool {
	for _, e := range s.Window {
		if e.ID == id {
			return true
		}
	}
	has := func(c []Entry) bool { return slices.ContainsFunc(c, func(e Entry) bool { return e.ID == id }) }
	if slices.ContainsFunc(s.Chains, has) || has(s.Pending) || has(s.Next) {
		return true
	}
	return slices.Contains(s.Fired, id) || slices.Contains(s.Seen, fp)
}

// remember adds fp to Seen, forgetting the oldest beyond seenMax.
func (s *GroupState) remember(fp uint64) {
	if len(s.Seen) < seenMax {
		s.Seen = append(s.Seen, fp)
		return
	}
	copy(s.Seen, s.Seen[1:])
	s.Seen[len(s.Seen)-1] = fp
}

// fingerprint stands for an event id in Seen. It must be the same in every
// replica and for every run, and hard to collide on purpose: an event
// whose fingerprint is taken counts as a redelivery and is not counted.
func fingerprint(id string) uint64 {
	h := sha256.Sum256([]byte(id))
	return binary.BigEndian.Uint64(h[:8])
}

func insert(w []Entry, e Entry) []Entry {
	i := len(w)
	for i > 0 && w[i-1].Time > e.Time {
		i--
	}
	w = append(w, Entry{})
	copy(w[i+1:], w[i:])
	w[i] = e
	return w
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
