package engine

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// Deadline is a group's deadline: an absence's (the steps before the
// absent one completed a chain) or a quiet group's (its last event plus
// within), or, by its Kind, one of its alert's lifecycle (resolve.after,
// an escalate: after step, the end of a digest period). The engine hands deadlines out in
// Result.Deadlines; the caller keeps them, durably when live, and hands
// each to Fire once its time has come (docs/rules.md, Absences).
type Deadline struct {
	Rule  string    `json:"rule"`
	Group []string  `json:"group,omitempty"`
	Kind  string    `json:"kind,omitempty"`
	Due   time.Time `json:"-"`
}

// Key names the deadline's group and kind: a group has one deadline of a
// kind at a time, so keeping a deadline replaces the one kept before under
// its key.
func (d Deadline) Key() string {
	if d.Kind == KindRule {
		return StateKey(d.Rule, d.Group)
	}
	return StateKey(d.Rule, d.Group) + "." + d.Kind
}

// stateKey is the key of the deadline's group's state.
func (d Deadline) stateKey() string { return StateKey(d.Rule, d.Group) }

// deadlineGrace is how long past its span the state of an absence or a
// quiet group is kept in wall-clock time: its deadline fires after the
// lateness, and after an outage, so its state must still be there then.
const deadlineGrace = 24 * time.Hour

// stateTTL is how long a group's state matters in wall-clock time, for
// stores that expire keys.
func stateTTL(r *rules.Rule, p policy) time.Duration {
	ttl := time.Duration(max(p.dedupWindow, p.within, p.history, p.resolveAfter, p.digest))
	for _, after := range p.escalateAfter {
		ttl = max(ttl, time.Duration(after))
	}
	if r.Deadlined() || r.Timed() {
		ttl += deadlineGrace
	}
	return ttl
}

// Lookup finds the event that a group remembered as e (its id, time and
// Plan.Ref), for the alert a deadline fires. It returns nil, nil for an
// event that is no longer stored: the alert then carries the event's id
// and time only.
type Lookup func(ctx context.Context, e Entry) (*event.Event, error)

// Fire applies a deadline whose time has come to its group (docs/rules.md,
// Absences): it returns the alert it fires, if any, and the group's next
// deadline, if one is to be kept. A deadline that is no longer its group's
// (cancelled, moved on by a later event, or handed over twice) fires
// nothing; one whose alert fired already fires the same alert again, with
// the same id. A deadline of a rule that was removed, or no longer has
// deadlines of its kind, is dropped.
//
// A lifecycle deadline returns what it makes instead: the group's
// Resolve (resolve.after), an escalation, or a digest (docs/rules.md,
// Resolving, Escalations and Digests).
func (e *Engine) Fire(ctx context.Context, dl Deadline, lookup Lookup) (Result, error) {
	var res Result
	s := e.snap.Load()
	i, ok := s.byID[dl.Rule]
	if !ok || !hasKind(s.rules[i], dl.Kind) {
		e.log.Info("deadline of a rule that no longer has deadlines dropped", "rule", dl.Rule, "kind", dl.Kind)
		return res, nil
	}
	if dl.Kind != KindRule {
		return e.fireTimer(ctx, s, i, dl, lookup)
	}
	r, p := s.rules[i], s.pol[i]
	due := dl.Due.UnixNano()
	var d decision
	var hand int64
	var last Entry
	var hands []timerHand
	err := e.store.Update(ctx, dl.stateKey(), stateTTL(r, p), func(g *GroupState) error {
		d, hand, last, hands = decision{}, 0, Entry{}, nil
		if g.SchedAt == due || g.FiredDue == due {
			if g.SchedAt == due {
				g.SchedAt, g.SchedBy = 0, ""
			}
			var chain []Entry
			if g.Due == due {
				chain = g.Pending
			}
			d = decideDue(g, p, due)
			switch {
			case len(chain) > 0:
				last = chain[len(chain)-1]
				g.FiredRef = last.Ref
			case d.fire:
				last = Entry{ID: d.ids[len(d.ids)-1], Ref: g.FiredRef}
			}
		} else {
			// Not the deadline handed out: re-hand the current one, whose
			// keeping may have failed after the state was saved.
			hand = g.SchedAt
		}
		if h, _ := g.handOut(""); h != 0 {
			hand = h
		}
		hands = g.timers(p, d, Entry{Time: due, Ref: last.Ref}, e.timerNow(due))
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("rule %s: update group state: %w", r.ID, err)
	}
	if hand != 0 {
		res.Deadlines = append(res.Deadlines, Deadline{Rule: r.ID, Group: dl.Group, Due: time.Unix(0, hand).UTC()})
	}
	res.handTimers(r, dl.Group, hands)
	if d.suppressed {
		s.stats[i].Suppressed.Add(1)
		res.Suppressed = append(res.Suppressed, r.ID)
		return res, nil
	}
	if !d.fire {
		return res, nil
	}
	ev, err := lookup(ctx, last)
	if err != nil {
		return res, fmt.Errorf("rule %s: find event %s: %w", r.ID, last.ID, err)
	}
	if ev == nil {
		ev = &event.Event{ID: last.ID, Time: time.Unix(0, last.Time).UTC()}
	}
	a, _, err := e.alert(ctx, s, i, dl.Group, ev, last.ID+"\x00"+strconv.FormatInt(due, 10), dl.Due, d, nil)
	var rerr RuleError
	if errors.As(err, &rerr) {
		res.Errors = append(res.Errors, rerr)
	}
	res.Alerts = append(res.Alerts, a)
	return res, nil
}

// WithEventClock makes the engine keep the deadlines it hands out itself,
// in memory, and fire them by the events' own clock, as replay and rule
// tests do (docs/rules.md, Absences): a deadline fires once an event later
// than it is processed (Process), or once Until moves time past it. The
// alerts it fires lead the Result of the event that moved time on.
func WithEventClock() Option { return func(e *Engine) { e.clock = newEventClock() } }

// Until fires the deadlines kept WithEventClock that are due at or before
// t, in time order; it does nothing without it. It is how a rule test's
// until: moves time on.
func (e *Engine) Until(ctx context.Context, t time.Time) (Result, error) {
	return e.advance(ctx, t.UnixNano(), true)
}

// Advance fires the deadlines kept WithEventClock that are due before t:
// what Process does first, for a caller that plans and applies an event
// itself.
func (e *Engine) Advance(ctx context.Context, t time.Time) (Result, error) {
	return e.advance(ctx, t.UnixNano(), false)
}

// advance fires the deadlines kept WithEventClock before t, or at t too
// if inclusive.
func (e *Engine) advance(ctx context.Context, t int64, inclusive bool) (Result, error) {
	var res Result
	if e.clock == nil {
		return res, nil
	}
	for {
		dl, ok := e.clock.next(t, inclusive)
		if !ok {
			return res, nil
		}
		r, err := e.Fire(ctx, dl, e.clock.lookup)
		if err != nil {
			return res, err
		}
		e.clock.keep(nil, r)
		res.add(r)
	}
}

// add adds what a deadline fired to the result: all but its matches and
// the deadlines it handed out or cancelled, which the event clock keeps.
func (res *Result) add(r Result) {
	r.Matches, r.Deadlines, r.Cancelled = nil, nil, nil
	res.Merge(r)
}

// hasKind reports whether rule r has deadlines of kind.
func hasKind(r *rules.Rule, kind string) bool {
	switch kind {
	case KindRule:
		return r.Deadlined()
	case KindResolve:
		return r.ResolveAfter() > 0
	case KindEscalate:
		return slices.ContainsFunc(r.Escalate, func(s rules.Escalation) bool { return s.After > 0 })
	case KindDigest:
		return r.Digest > 0
	}
	return false
}

// timerNow is when an alert fired at event time t counts from for
// escalate: after steps: the wall clock live, t by the event clock.
func (e *Engine) timerNow(t int64) int64 {
	if e.clock != nil {
		return t
	}
	return e.now().UnixNano()
}

// eventClock keeps deadlines in memory, one per key as the durable store
// does, and the events they may need.
type eventClock struct {
	mu     sync.Mutex
	byKey  map[string]int64 // the due time kept for each key
	dls    map[string]Deadline
	queue  dueQueue
	events map[string]*event.Event
}

func newEventClock() *eventClock {
	return &eventClock{byKey: map[string]int64{}, dls: map[string]Deadline{}, events: map[string]*event.Event{}}
}

// keep records what a result handed out or cancelled, and, for a plan
// with a match of a deadline rule, its event.
func (c *eventClock) keep(p *Plan, res Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p != nil {
		for _, m := range p.Matches {
			if m.Rule.Deadlined() || m.Rule.Timed() {
				c.events[p.ev.ID] = p.ev
				break
			}
		}
	}
	for _, d := range res.Cancelled {
		delete(c.byKey, d.Key())
		delete(c.dls, d.Key())
	}
	for _, d := range res.Deadlines {
		k, due := d.Key(), d.Due.UnixNano()
		c.byKey[k], c.dls[k] = due, d
		heap.Push(&c.queue, queued{due: due, key: k})
	}
}

// next takes the earliest deadline before t (or at t, if inclusive).
func (c *eventClock) next(t int64, inclusive bool) (Deadline, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.queue.Len() > 0 {
		q := c.queue[0]
		if q.due > t || (q.due == t && !inclusive) {
			return Deadline{}, false
		}
		heap.Pop(&c.queue)
		if due, ok := c.byKey[q.key]; !ok || due != q.due {
			continue // replaced or cancelled since
		}
		d := c.dls[q.key]
		delete(c.byKey, q.key)
		delete(c.dls, q.key)
		return d, true
	}
	return Deadline{}, false
}

func (c *eventClock) lookup(_ context.Context, e Entry) (*event.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events[e.ID], nil
}

type queued struct {
	due int64
	key string
}

// dueQueue is a min-heap of deadlines by due time, then key, so that
// deadlines due at once fire in the same order every run.
type dueQueue []queued

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if q[i].due != q[j].due {
		return q[i].due < q[j].due
	}
	return q[i].key < q[j].key
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *dueQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// Pending are the deadlines kept WithEventClock that have yet to act, in
// time order, each with the time it acts at: one that a later match moved
// on (a quiet group's, resolve.after's) acts later than it was kept, and
// one that will act no more (its timer stopped) is left out. It is nil
// without WithEventClock. The playground tells with it what a try leaves
// pending once its last event is processed.
func (e *Engine) Pending(ctx context.Context) ([]Deadline, error) {
	if e.clock == nil {
		return nil, nil
	}
	e.clock.mu.Lock()
	kept := slices.Collect(maps.Values(e.clock.dls))
	e.clock.mu.Unlock()
	var out []Deadline
	for _, d := range kept {
		var due int64
		err := e.store.Update(ctx, d.stateKey(), 0, func(g *GroupState) error {
			due = g.Due
			if d.Kind != KindRule {
				due = g.timer(d.Kind).Due
			}
			return errUnchanged
		})
		if err != nil && !errors.Is(err, errUnchanged) {
			return nil, fmt.Errorf("rule %s: read group state: %w", d.Rule, err)
		}
		if due != 0 {
			d.Due = time.Unix(0, due).UTC()
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Deadline) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return strings.Compare(a.Key(), b.Key())
	})
	return out, nil
}
