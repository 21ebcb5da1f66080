package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// Resolve is an event that met a rule's resolve.when (docs/rules.md,
// Resolving): it ends the condition of the rule's group it belongs to, so
// the group's open alert is to be resolved, by "rule". The engine does not
// know the alerts' lifecycle states: a group that never alerted, or whose
// alert was resolved already, gets a Resolve all the same (rule tests
// count them), with Open false where its state shows no alert to resolve.
type Resolve struct {
	Rule string `json:"rule"`
	// Group maps each of the rule's by expressions, as written, to its
	// value on the event, as an alert's group does.
	Group    map[string]string `json:"group"`
	DedupKey string            `json:"dedup_key"`
	// EventID and Time are the resolving event's; for a group resolved
	// by resolve.after, EventID is empty and Time the deadline's.
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
	// After is, for a group resolved because it had no match this long
	// (resolve.after), that time; 0 for one resolved by resolve.when.
	After time.Duration `json:"after,omitempty"`
	// Open is set when the group had an alert this resolve ended (its
	// dedup window or timers; again when the event is evaluated again),
	// or when the rule keeps no window to tell: only then is there an
	// alert to find and resolve.
	Open bool `json:"-"`
	// Applied is when the engine applied the resolve to the group (its
	// clock, as alerts' FiredAt): the alerts fired up to then are the
	// ones it resolves, not one the group's next event fired meanwhile.
	Applied time.Time `json:"-"`
	// values are the group's values, in the order of the rule's by.
	values []string
}

// Values are the group's values, in the order of the rule's by: with the
// rule, the group's state key (StateKey).
func (r Resolve) Values() []string { return r.values }

// resolveWhen is the program of r's resolve.when, or nil.
func resolveWhen(r *rules.Rule) *vm.Program {
	if r.Resolve == nil {
		return nil
	}
	return r.Resolve.When.Program
}

// resolveNode is the condition of r's resolve.when for the index, or nil.
func resolveNode(r *rules.Rule) ast.Node {
	if p := resolveWhen(r); p != nil {
		return p.Node()
	}
	return nil
}

// resolve runs the resolve.when of rule i, a candidate for ev (which is
// in w.env), and returns the Resolve it makes, or nil.
func (w *worker) resolve(s *snapshot, ev *event.Event, i int32) (*Resolve, error) {
	r := s.rules[i]
	if resolveWhen(r) == nil {
		return nil, nil
	}
	var ok bool
	if d := s.resolveDirect[i]; d != nil {
		ok = d(ev, w.env.Lists)
	} else {
		out, err := w.runFor(s, ev, s.resolveWhen[i])
		if err != nil {
			return nil, fmt.Errorf("resolve.when: %w", err)
		}
		ok, _ = out.(bool)
	}
	if !ok {
		return nil, nil
	}
	group, err := w.values(s, ev, r.GroupBy, s.groupBy[i], "group by")
	if err != nil {
		return nil, err
	}
	boundGroup(group)
	return &Resolve{Rule: r.ID, Group: GroupMap(r, group), DedupKey: DedupKey(r.ID, group), EventID: ev.ID, Time: ev.Time, values: group}, nil
}

// endDedup applies the resolves of a plan to their groups' state: a
// resolved group's lifecycle timers stop (a resolved alert escalates no
// more, resolve.after has nothing left to resolve), and its dedup window
// ends, so that its next match opens a new alert (docs/rules.md,
// Resolving) rather than being suppressed as part of the resolved one. A
// resolve not later than the group's last alert (a redelivery after the
// group alerted again, or the event that fired it), or of a group whose
// window and timers ended already, writes nothing.
// It marks each of resolves (the result's copy of the plan's) Open as
// the group's state says.
func (e *Engine) endDedup(ctx context.Context, pl *Plan, resolves []Resolve) error {
	now := e.now().UTC()
	for k, rv := range resolves {
		resolves[k].Applied = now
		i, ok := pl.s.byID[rv.Rule]
		if !ok {
			continue
		}
		r, p := pl.s.rules[i], &pl.s.pol[i]
		if !r.Stateful() || p.dedupWindow == 0 {
			resolves[k].Open = true
		}
		if !r.Stateful() || (p.dedupWindow == 0 && !r.Timed()) {
			continue
		}
		t := rv.Time.UnixNano()
		err := e.store.Update(ctx, StateKey(r.ID, rv.values), stateTTL(r, *p), func(g *GroupState) error {
			// The timers first: ending the window moves the last alert.
			stopped := r.Timed() && g.stopTimers(t)
			ended := p.dedupWindow > 0 && endDedup(g, *p, t)
			// A window that ends at t was ended by this event: evaluated
			// again, it finds the alert open as the first time did.
			resolves[k].Open = resolves[k].Open || stopped || ended || (g.Alerted && g.LastAlert+p.dedupWindow == t)
			if !stopped && !ended {
				return errUnchanged
			}
			return nil
		})
		if err != nil && !errors.Is(err, errUnchanged) {
			return fmt.Errorf("rule %s: resolve group state: %w", r.ID, err)
		}
	}
	return nil
}

// endDedup ends the dedup window of a group resolved at t, unless its
// last alert is not older (an event fired it, or it fired after) or its
// window ended already. The window is made to end at t, rather than the
// group forgotten: a later match opens a new alert, while an older one —
// late, or an event evaluated again after a crash, since a consumer's
// acknowledgements are not all durable — still belongs to the resolved
// alert and is suppressed; and the state keeps the events it has seen, so
// that such an event is known. LastAlert is then the window's start, not
// the alert's time.
//
// It reports whether it changed the state. The resolved alert's escalate:
// steps count as taken until the group's next alert, so that a late match
// suppressed as part of it escalates nothing.
func endDedup(g *GroupState, p policy, t int64) bool {
	if !g.Alerted || t <= g.LastAlert || t >= g.LastAlert+p.dedupWindow {
		return false
	}
	g.LastAlert = t - p.dedupWindow
	g.Suppressed = 0
	g.Escalated, g.EscalatedBy, g.EscalatedStep = ^uint8(0), "", 0
	return true
}
