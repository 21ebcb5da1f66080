package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/exprlimit"
	"github.com/alerter/alerter/rules"
)

// explainWithin is how far back in EVENTS an event is looked for.
const explainWithin = 24 * time.Hour

func (h *handler) explainHandler(w http.ResponseWriter, r *http.Request) {
	within, ok := withinParam(w, r)
	if !ok {
		return
	}
	x, err := h.explain(r.Context(), r.PathValue("id"), within)
	if err != nil {
		lookupError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, x)
}

// withinParam reads ?within= (default 24h): how far back EVENTS is searched.
func withinParam(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	v := r.URL.Query().Get("within")
	if v == "" {
		return explainWithin, true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("within: a duration such as 24h"))
		return 0, false
	}
	return d, true
}

// lookupError answers a failed lookup of a stored event.
func lookupError(w http.ResponseWriter, err error) {
	if errors.Is(err, errEventNotFound) {
		writeJSON(w, http.StatusNotFound, errorBody(err.Error()))
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, errorBody(err.Error()))
}

var errEventNotFound = errors.New("event not found")

// getEvent answers one stored event (within the last ?within=, default
// 24h), as the EVENTS stream holds it, raw payload included.
func (h *handler) getEvent(w http.ResponseWriter, r *http.Request) {
	within, ok := withinParam(w, r)
	if !ok {
		return
	}
	data, _, err := h.findEvent(r.Context(), r.PathValue("id"), within)
	if err != nil {
		lookupError(w, err)
		return
	}
	ev, err := event.Decode(data)
	if err == nil {
		err = ev.LoadRaw()
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody("stored event unreadable: "+err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, &ev)
}

// explain finds the event stored within the last `within` and explains what
// each rule made of it, with today's rules and state.
func (h *handler) explain(ctx context.Context, id string, within time.Duration) (*api.Explanation, error) {
	data, stored, err := h.findEvent(ctx, id, within)
	if err != nil {
		return nil, err
	}
	ev, err := event.Decode(data)
	if err != nil {
		return nil, err
	}
	h.Live.Enrich(ctx, &ev) // as the evaluator did before the rules saw it
	set := h.Live.Rules()
	lists := h.Live.Lists()
	if lists == nil {
		lists = set.Lists
	}
	// A private engine, so that explaining does not count as evaluating.
	private := engine.New(set, &engine.MemStore{})
	plan := private.Plan(ctx, &ev, lists) // with the Confluence group lists, as live
	matches, errs := plan.Matches, plan.Errors
	offered := map[string]bool{}
	for _, r := range private.Candidates(&ev) {
		offered[r.ID] = true
	}
	matched := map[string]engine.Match{}
	for _, m := range matches {
		matched[m.Rule.ID] = m
	}
	failed := map[string]string{}
	for _, e := range errs {
		failed[e.Rule] = e.Err.Error()
	}
	changes := h.rebuild(ctx, &ev, stored, matches, lists)
	x := &api.Explanation{Event: &ev, Stored: stored, Rules: []api.RuleExplanation{},
		Note: "evaluated with the rules and lists running now; the state is as stored now, and as the event saw it and left it rebuilt from the group's earlier events"}
	env := rules.NewEnv(lists)
	env.Event = &ev
	machine := vm.VM{MemoryBudget: engine.MemoryBudget}
	for _, r := range set.Rules {
		m, isMatch := matched[r.ID]
		if !r.Enabled || (!isMatch && !offered[r.ID]) {
			x.Skipped++
			continue
		}
		rx := api.RuleExplanation{Rule: r.ID, Matched: isMatch, Error: failed[r.ID], Clauses: []api.ClauseValue{}}
		if clauses, err := set.Clauses(r, h.cfg.DynamicLists()...); err != nil {
			rx.Error = err.Error()
		} else {
			for _, c := range clauses {
				cv := api.ClauseValue{Source: c.Source}
				// Bounded as the engine bounds a rule: a clause may loop.
				exprlimit.Begin(env.Budget, ctx, engine.EvalTimeout)
				out, err := machine.Run(c.Program, env)
				if err != nil {
					cv.Error = err.Error()
				} else if b, ok := out.(bool); ok {
					cv.Value = &b
				}
				rx.Clauses = append(rx.Clauses, cv)
			}
		}
		if isMatch {
			h.explainMatch(ctx, r, m, &ev, &rx, changes[r.ID])
		}
		x.Rules = append(x.Rules, rx)
	}
	return x, nil
}

// explainMatch adds the group's state, now and as rb rebuilt it, and the
// alert, if the event fired one.
func (h *handler) explainMatch(ctx context.Context, r *rules.Rule, m engine.Match, ev *event.Event, rx *api.RuleExplanation, rb rebuilt) {
	rx.Change = rb.view
	rx.Group = engine.GroupMap(r, m.Group)
	st, live, err := h.State.Get(ctx, engine.StateKey(r.ID, m.Group))
	live = err == nil && live
	if live {
		rx.State = stateView(m, &st)
	}
	id := engine.AlertID(r.ID, m.Group, ev.ID, ev.Time)
	data, _, err := h.Alerts.Alert(ctx, id)
	switch {
	case err != nil && rb.change != nil:
		rx.Decision = rebuiltDecision(m, ev, *rb.change)
		return
	case err != nil:
		rx.Decision = noAlertDecision(m, ev, st, live)
		return
	}
	var a alerter.Alert
	if json.Unmarshal(data, &a) != nil {
		return
	}
	rx.Decision = "fired alert " + a.ID
	d, _ := h.outcomes(ctx, &a) // without them, the alert is still told
	rx.Alert = &api.AlertDetail{Alert: &a, Deliveries: d}
}

// stateView shows st, the state of m's group.
func stateView(m engine.Match, st *engine.GroupState) *api.StateView {
	r := m.Rule
	v := &api.StateView{Alerted: st.Alerted, Suppressed: st.Suppressed, InWindow: len(st.Window)}
	if r.Threshold != nil && len(r.Threshold.Distinct) > 0 {
		v.Distinct = st.DistinctValues()
	}
	if r.NewValue != nil {
		t, ok := st.LastSeen(m.Tuple)
		if ok {
			v.ValueLastSeen = &t
		}
		v.ValueSeen, v.Remembered = &ok, len(st.Values)
	}
	if r.Sequence != nil {
		for _, c := range st.PartialChain(r.Sequence) {
			v.Chain = append(v.Chain, api.ChainStep(c))
		}
	}
	deadlineView(v, r, st.Due, st.Pending)
	timersView(v, st.Timers(r))
	v.LastAlert = timeOf(st.LastAlert, st.Alerted)
	v.Expires = timeOf(st.Expires, st.Expires > 0)
	return v
}

// deadlineView shows a group's pending deadline in v: due, in Unix
// nanoseconds (0: none), and the events behind it, pending (GroupState.Due
// and Pending; docs/rules.md, Absences and Quiet sources). An absence's
// chain is named by its steps, a quiet group's event as its last.
func deadlineView(v *api.StateView, r *rules.Rule, due int64, pending []engine.Entry) {
	if due == 0 {
		return
	}
	v.Deadline = timeOf(due, true)
	for i, e := range pending {
		step := "last event"
		if r.Sequence != nil && i < len(r.Sequence.Steps) {
			step = r.Sequence.Steps[i].Name
		}
		v.Pending = append(v.Pending, api.ChainStep{Step: step, EventID: e.ID, Time: time.Unix(0, e.Time).UTC()})
	}
}

// timersView shows a group's lifecycle timers that are set in v
// (docs/rules.md, Resolving, Escalations and Digests).
func timersView(v *api.StateView, t engine.Timers) {
	if !t.Resolve.IsZero() {
		v.ResolveDue = &t.Resolve
	}
	if !t.Escalate.IsZero() {
		v.NextEscalation = &api.EscalationStep{Step: t.EscalateStep, Due: t.Escalate}
	}
	if !t.Digest.IsZero() {
		v.Digest = &api.DigestPeriod{Due: t.Digest, Count: t.DigestCount, First: t.DigestFirst, Last: t.DigestLast}
	}
}

// timeOf is the time of Unix nanoseconds ns if ok, else nil.
func timeOf(ns int64, ok bool) *time.Time {
	if !ok {
		return nil
	}
	t := time.Unix(0, ns).UTC()
	return &t
}

// noAlertDecision says why a matching event fired no alert, as far as the
// group's state as stored now (if live) tells.
func noAlertDecision(m engine.Match, ev *event.Event, st engine.GroupState, live bool) string {
	r := m.Rule
	var state *engine.GroupState
	if live {
		state = &st
	}
	v := engine.Explain(m, ev, state)
	at := v.LastAlert.Format(time.RFC3339)
	switch {
	case v.Outcome == engine.Fired:
		return fmt.Sprintf("it made the group's last alert fire, at %s; that alert is not stored (yet, or any more)", at)
	case v.Outcome == engine.Counted && r.Threshold != nil && len(r.Threshold.Distinct) > 0:
		return fmt.Sprintf("counted toward the threshold: the group's window holds %d events with %d distinct values of %s, of the %d distinct within %s it needs",
			v.InWindow, len(st.DistinctValues()), strings.Join(sources(r.Threshold.Distinct), ", "), r.Threshold.Count, r.Threshold.Within)
	case v.Outcome == engine.Counted && r.Threshold != nil:
		return fmt.Sprintf("counted toward the threshold: %d of the %d events within %s it needs are in the group's window", v.InWindow, r.Threshold.Count, r.Threshold.Within)
	case v.Outcome == engine.Suppressed:
		// One alert per group per window, either side of it (an event may
		// arrive late).
		w := r.DedupWindow()
		return fmt.Sprintf("suppressed: the group alerted at %s, less than %s from this event (one alert per group per %s)", at, w, w)
	case v.Outcome == engine.Remembered:
		return fmt.Sprintf("remembered: the group last saw its values of %s at %s; it was seen before within %s, came while the rule was learning (%s from its first matching event), or was suppressed",
			strings.Join(sources(r.NewValue.Of), ", "), v.LastSeen.Format(time.RFC3339), r.NewValue.History, r.NewValue.Learning)
	case v.Outcome == engine.Chained:
		return fmt.Sprintf("waiting in a partial chain of the group for the sequence's later steps (%s within %s)",
			strings.Join(stepNames(r.Sequence), " → "), r.Sequence.Within)
	case r.Sequence != nil:
		return fmt.Sprintf("no chain of the group holds it: it started or extended none, its chain was overtaken by one that started later or ran past %s, or it completed a chain that was suppressed", r.Sequence.Within)
	case r.Threshold != nil:
		return fmt.Sprintf("counted toward the threshold (%d within %s), or suppressed; it did not fire an alert itself, and the window it was in has moved on", r.Threshold.Count, r.Threshold.Within)
	case r.Dedup != nil:
		return fmt.Sprintf("suppressed: the group alerted less than %s from it", r.Dedup.Window)
	}
	return "matched, but no alert is stored for it (still being evaluated, or older than the ALERTS stream keeps)"
}

// stepNames are the names of a sequence's steps, in order.
func stepNames(sq *rules.Sequence) []string {
	out := make([]string, len(sq.Steps))
	for i, st := range sq.Steps {
		out[i] = st.Name
	}
	return out
}

// sources are the expressions' sources.
func sources(exprs []rules.Expr) []string {
	out := make([]string, len(exprs))
	for i, e := range exprs {
		out[i] = e.Source
	}
	return out
}

// findEvent reads EVENTS from `within` ago for the event whose id is id.
func (h *handler) findEvent(ctx context.Context, id string, within time.Duration) ([]byte, time.Time, error) {
	found, err := h.Events.FindEvents(ctx, []string{id}, time.Now().Add(-within), time.Time{})
	if err != nil {
		return nil, time.Time{}, err
	}
	m, ok := found[id]
	if !ok {
		return nil, time.Time{}, fmt.Errorf("%w: no event %q stored in the last %s", errEventNotFound, id, within)
	}
	return m.Data, m.Stored, nil
}
