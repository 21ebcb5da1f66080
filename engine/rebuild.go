package engine

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// Rebuild rebuilds the states of the groups an event matched as that event
// saw them and left them (docs/ui.md, Explain): the group's state as stored
// now has moved on since. It applies the group's earlier events, in the
// order the evaluator applied them (the EVENTS stream's), to a private
// engine of those rules on a MemStore, then the event itself, so the
// states come from the functions evaluation runs and cannot disagree with
// them. It writes nothing outside itself.
type Rebuild struct {
	eng    *Engine
	store  MemStore
	lists  map[string][]string
	target *event.Event
	keys   map[string]string // rule id → the target's group's state key
	events map[string]int    // rule id → earlier events applied to its group
}

// Rebuilds tells whether Rebuild rebuilds r's state: a rule whose state is
// a window of events (threshold, threshold.distinct, new_value, sequence
// and absence, quiet).
func Rebuilds(r *rules.Rule) bool {
	return r.Threshold != nil || r.NewValue != nil || r.Sequence != nil || r.Quiet != nil
}

// Reach is how far back before an event r's state can hold something that
// decides the event: its window (or new_value history), and the dedup
// window of an alert the window's events fired.
func Reach(r *rules.Rule) time.Duration {
	p := policyOf(r)
	return time.Duration(max(p.within, p.history) + p.dedupWindow)
}

// NewRebuild prepares the rebuild of the groups of target's matches (from
// Plan) whose rules Rebuilds; lists are as Plan takes them.
func NewRebuild(target *event.Event, matches []Match, lists map[string][]string) *Rebuild {
	set := &rules.Set{}
	b := &Rebuild{lists: lists, target: target, keys: map[string]string{}, events: map[string]int{}}
	for _, m := range matches {
		if Rebuilds(m.Rule) {
			set.Rules = append(set.Rules, m.Rule)
			b.keys[m.Rule.ID] = StateKey(m.Rule.ID, m.Group)
		}
	}
	// Deadlines (absences, quiet groups) fire by the events' clock, as in
	// replay: one due before an event fired before that event came.
	b.eng = New(set, &b.store, WithEventClock())
	return b
}

// Reach is the longest Reach of the rules rebuilt.
func (b *Rebuild) Reach() time.Duration {
	var d time.Duration
	for _, r := range b.eng.Rules().Rules {
		d = max(d, Reach(r))
	}
	return d
}

// Remember seeds the rebuild of a new_value rule with what the live state
// still holds from before start, where the earlier events applied begin:
// the rule's learning start (learning, the state of its LearningKey), and
// the values its group (st, as stored now) last saw before start. A value
// last seen before start was not seen since, so it was last seen then
// when the target came, which is after start.
func (b *Rebuild) Remember(ctx context.Context, rule string, st, learning GroupState, start time.Time) error {
	if _, ok := b.keys[rule]; !ok {
		return nil
	}
	if learning.Since != 0 {
		err := b.store.Update(ctx, LearningKey(rule), 0, func(g *GroupState) error {
			g.Since, g.Expires = learning.Since, math.MaxInt64
			return nil
		})
		if err != nil {
			return err
		}
	}
	var old []Value
	for _, v := range st.Values {
		if v.Last < start.UnixNano() {
			old = append(old, v)
		}
	}
	if len(old) == 0 {
		return nil
	}
	return b.store.Update(ctx, b.keys[rule], 0, func(g *GroupState) error {
		g.Values = old
		g.Expires = max(g.Expires, old[len(old)-1].Last+policyOf(b.eng.Rules().Rule(rule)).history)
		return nil
	})
}

// Add applies ev, an event the evaluator applied before the target, to the
// target's groups; to other groups it does nothing.
func (b *Rebuild) Add(ctx context.Context, ev *event.Event) error {
	p := b.mine(ctx, ev)
	if len(p.Matches) == 0 && len(p.Resolves) == 0 {
		return nil
	}
	for _, m := range p.Matches {
		b.events[m.Rule.ID]++
	}
	if _, err := b.eng.Advance(ctx, ev.Time); err != nil {
		return err
	}
	_, err := b.eng.Apply(ctx, p)
	return err
}

// Applied is how many earlier events were applied to rule's group.
func (b *Rebuild) Applied(rule string) int { return b.events[rule] }

// mine plans ev, keeping only its matches and resolves in the target's
// groups: an event that resolves a group ends its window as live.
func (b *Rebuild) mine(ctx context.Context, ev *event.Event) *Plan {
	p := b.eng.Plan(ctx, ev, b.lists)
	p.Matches = slices.DeleteFunc(p.Matches, func(m Match) bool {
		return b.keys[m.Rule.ID] != StateKey(m.Rule.ID, m.Group)
	})
	p.Resolves = slices.DeleteFunc(p.Resolves, func(r Resolve) bool {
		return b.keys[r.Rule] != StateKey(r.Rule, r.values)
	})
	return p
}

// Change is a group's state as an event saw it (Before) and left it
// (After); nil where the group had none, or none that affected the event.
// Fired and Suppressed are what the event made of the group's rule.
type Change struct {
	Before, After     *GroupState
	Fired, Suppressed bool
}

// Finish applies the target after the earlier events added, and returns
// the states of its groups before and after it, by rule id.
func (b *Rebuild) Finish(ctx context.Context) (map[string]Change, error) {
	out := map[string]Change{}
	if _, err := b.eng.Advance(ctx, b.target.Time); err != nil {
		return nil, err
	}
	t := b.target.Time.UnixNano()
	for rule, key := range b.keys {
		var c Change
		// A state that expired before the target affected nothing of it.
		if st, ok := b.store.Get(key); ok && st.Expires >= t {
			c.Before = &st
		}
		out[rule] = c
	}
	res, err := b.eng.Apply(ctx, b.mine(ctx, b.target))
	if err != nil {
		return nil, err
	}
	for rule, key := range b.keys {
		c := out[rule]
		if st, ok := b.store.Get(key); ok {
			c.After = &st
		}
		c.Fired = slices.ContainsFunc(res.Alerts, func(a *alerter.Alert) bool { return a.Rule == rule })
		c.Suppressed = slices.Contains(res.Suppressed, rule)
		out[rule] = c
	}
	return out, nil
}
