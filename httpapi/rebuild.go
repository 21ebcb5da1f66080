package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
)

// rebuilt is a group's state as an event saw it and left it: as the API
// shows it, and as the engine left it (nil if it could not be rebuilt).
type rebuilt struct {
	view   *api.StateChange
	change *engine.Change
}

// Bounds of the rebuild of a group's state for an explanation (docs/api.md,
// Explain): it reads the events stored at most rebuildReach before the
// event, at most rebuildEvents of them, for at most rebuildTime.
const (
	rebuildReach  = 24 * time.Hour
	rebuildEvents = 1_000_000
	rebuildTime   = 5 * time.Second
)

// rebuild rebuilds, for ev's matches of rules whose state is a window of
// events, their groups' states as ev saw them and left them
// (engine.Rebuild), from the events stored before ev, which was stored at
// stored. By rule id.
func (h *handler) rebuild(ctx context.Context, ev *event.Event, stored time.Time, matches []engine.Match, lists map[string][]string) map[string]rebuilt {
	b := engine.NewRebuild(ev, matches, lists)
	reach := b.Reach()
	// Events are stored after they happen: those that can count for ev
	// were stored since its time less the rules' reach.
	start := ev.Time.Add(-min(reach, rebuildReach))
	if stored.Before(start) {
		start = stored
	}
	out := map[string]rebuilt{}
	for _, m := range matches {
		if engine.Rebuilds(m.Rule) {
			out[m.Rule.ID] = rebuilt{view: &api.StateChange{Since: start}}
		}
	}
	if len(out) == 0 {
		return nil
	}
	h.remember(ctx, b, matches, start)
	err := h.replay(ctx, b, ev, stored, start)
	var changes map[string]engine.Change
	if err == nil {
		changes, err = b.Finish(ctx)
	}
	for _, m := range matches {
		rb, ok := out[m.Rule.ID]
		if !ok {
			continue
		}
		v := rb.view
		if err != nil {
			v.Note = "not rebuilt: " + err.Error()
			continue
		}
		c := changes[m.Rule.ID]
		v.Rebuilt, v.Events = true, b.Applied(m.Rule.ID)
		if c.Before != nil {
			v.Before = stateView(m, c.Before)
		}
		if c.After != nil {
			v.After = stateView(m, c.After)
		}
		v.Exact, v.Note = rebuildNote(m, v.Events, reach)
		out[m.Rule.ID] = rebuilt{view: v, change: &c}
	}
	return out
}

// rebuiltDecision says why a matching event fired no alert, as its group's
// state rebuilt tells.
func rebuiltDecision(m engine.Match, ev *event.Event, c engine.Change) string {
	r := m.Rule
	var after engine.GroupState
	if c.After != nil {
		after = *c.After
	}
	switch {
	case c.Fired:
		return "it fires an alert with its group's state rebuilt, but no such alert is stored: the rules changed since, or the alert is older than the ALERTS stream keeps"
	case c.Suppressed:
		w := r.DedupWindow()
		return fmt.Sprintf("suppressed: the group alerted at %s, less than %s from this event (one alert per group per %s)",
			time.Unix(0, after.LastAlert).UTC().Format(time.RFC3339), w, w)
	case r.NewValue == nil:
		return noAlertDecision(m, ev, after, c.After != nil)
	}
	if c.Before != nil {
		if last, ok := c.Before.LastSeen(m.Tuple); ok && ev.Time.Sub(last) < r.NewValue.History {
			return fmt.Sprintf("not new: the group saw its values of %s at %s, within %s before it",
				strings.Join(sources(r.NewValue.Of), ", "), last.Format(time.RFC3339), r.NewValue.History)
		}
	}
	return fmt.Sprintf("new, but the rule was learning: it alerts on new values only %s after its first matching event", r.NewValue.Learning)
}

// rebuildNote says what a rebuild of m's group read, and whether that is
// all its state reaches back to.
func rebuildNote(m engine.Match, events int, reach time.Duration) (exact bool, note string) {
	r := engine.Reach(m.Rule)
	n := fmt.Sprintf("%d events", events)
	if events == 1 {
		n = "1 event"
	}
	read := fmt.Sprintf("rebuilt with the rules running now from the %s of its group stored in the %s before it", n, min(reach, rebuildReach))
	switch {
	case r <= rebuildReach:
		return true, read + fmt.Sprintf(" (the rule's state reaches back %s: its window and dedup window)", r)
	case m.Rule.NewValue != nil:
		return false, read + fmt.Sprintf("; the rule's state reaches back %s: the values the group last saw before then are taken from its state as stored now, and alerts before then are not known", r)
	}
	return false, read + fmt.Sprintf("; the rule's state reaches back %s: events and alerts before then are not counted", r)
}

// remember seeds the rebuild of the new_value rules with what their live
// state holds from before start (engine.Rebuild.Remember). Without it, the
// rebuild is as if the group saw nothing before start.
func (h *handler) remember(ctx context.Context, b *engine.Rebuild, matches []engine.Match, start time.Time) {
	for _, m := range matches {
		if m.Rule.NewValue == nil {
			continue
		}
		st, _, err := h.State.Get(ctx, engine.StateKey(m.Rule.ID, m.Group))
		learning, _, lerr := h.State.Get(ctx, engine.LearningKey(m.Rule.ID))
		if err = errors.Join(err, lerr); err == nil {
			err = b.Remember(ctx, m.Rule.ID, st, learning, start)
		}
		if err != nil {
			h.Log.Warn("explain: reading a group's state", "rule", m.Rule.ID, "err", err)
		}
	}
}

// replay adds to b the events stored from start until target, in the order
// the evaluator applied them, within the rebuild's bounds.
func (h *handler) replay(ctx context.Context, b *engine.Rebuild, target *event.Event, stored, start time.Time) error {
	rctx, cancel := context.WithTimeout(ctx, rebuildTime)
	defer cancel()
	read, reached := 0, false
	var err error
	rerr := h.Events.EventsSince(rctx, start, func(at time.Time, ev *event.Event) bool {
		if ev.ID == target.ID {
			reached = true
			return false
		}
		// Past the time allowed, the rules fail: they would not match.
		if at.After(stored) || read == rebuildEvents || rctx.Err() != nil {
			return false
		}
		read++
		h.Live.Enrich(rctx, ev) // as the evaluator did before the rules saw it
		err = b.Add(rctx, ev)
		return err == nil
	})
	switch {
	case reached:
		return nil
	case rctx.Err() != nil && ctx.Err() == nil:
		return fmt.Errorf("reading the %d events stored since %s took longer than %s", read, start.Format(time.RFC3339), rebuildTime)
	case read == rebuildEvents:
		return fmt.Errorf("more than %d events were stored between %s and the event", rebuildEvents, start.Format(time.RFC3339))
	case err != nil:
		return err
	case rerr != nil:
		return rerr
	}
	return fmt.Errorf("the event is not among those stored since %s", start.Format(time.RFC3339))
}
