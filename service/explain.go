package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"
	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/exprlimit"
	"github.com/alerter/alerter/rules"
)

// Explanation answers "why was I (not) paged?" for one stored event.
type Explanation struct {
	Event *event.Event `json:"event"`
	// Stored is when the EVENTS stream stored it.
	Stored time.Time `json:"stored"`
	// Rules are the enabled rules that the index offered the event to
	// (candidates), and any that matched; Skipped counts the others, which
	// compare a field for equality with a value the event does not have.
	Rules   []RuleExplanation `json:"rules"`
	Skipped int               `json:"skipped"`
	Note    string            `json:"note"`
}

// RuleExplanation is what one rule made of the event.
type RuleExplanation struct {
	Rule    string `json:"rule"`
	Matched bool   `json:"matched"`
	Error   string `json:"error,omitempty"`
	// Clauses are the parts of when that must all hold, each with its
	// value for this event; the first false one is why it did not match.
	Clauses []ClauseValue `json:"clauses"`
	// For matches: the group, its window state now, and the alert.
	Group    map[string]string `json:"group,omitempty"`
	Decision string            `json:"decision,omitempty"`
	State    *StateView        `json:"state,omitempty"`
	Alert    *alertDetail      `json:"alert,omitempty"`
}

// ClauseValue is one part of a condition and what it gave.
type ClauseValue struct {
	Source string `json:"source"`
	Value  *bool  `json:"value,omitempty"`
	Error  string `json:"error,omitempty"`
}

// StateView is a group's dedup and threshold state as stored now.
type StateView struct {
	Alerted    bool       `json:"alerted"`
	LastAlert  *time.Time `json:"last_alert,omitempty"`
	Suppressed int64      `json:"suppressed_since_last_alert"`
	InWindow   int        `json:"events_in_threshold_window"`
	// Expires is in event time: later events of the group ignore this state.
	Expires *time.Time `json:"expires,omitempty"`
}

// explainWithin is how far back in EVENTS an event is looked for.
const explainWithin = 24 * time.Hour

func (s *Service) explainHandler(w http.ResponseWriter, r *http.Request) {
	within, ok := withinParam(w, r)
	if !ok {
		return
	}
	x, err := s.Explain(r.Context(), r.PathValue("id"), within)
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
func (s *Service) getEvent(w http.ResponseWriter, r *http.Request) {
	within, ok := withinParam(w, r)
	if !ok {
		return
	}
	data, _, err := s.findEvent(r.Context(), r.PathValue("id"), within)
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

// Explain finds the event stored within the last `within` and explains what
// each rule made of it, with today's rules and state.
func (s *Service) Explain(ctx context.Context, id string, within time.Duration) (*Explanation, error) {
	data, stored, err := s.findEvent(ctx, id, within)
	if err != nil {
		return nil, err
	}
	ev, err := event.Decode(data)
	if err != nil {
		return nil, err
	}
	s.enrichLive(ctx, &ev) // as the evaluator did before the rules saw it
	set := s.eng.Rules()
	var lists map[string][]string
	if s.eval.lists != nil {
		lists = s.eval.lists()
	} else {
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
	x := &Explanation{Event: &ev, Stored: stored, Rules: []RuleExplanation{},
		Note: "evaluated with the rules and lists running now; the state is as stored now"}
	env := rules.NewEnv(lists)
	env.Event = &ev
	machine := vm.VM{MemoryBudget: engine.MemoryBudget}
	for _, r := range set.Rules {
		m, isMatch := matched[r.ID]
		if !r.Enabled || (!isMatch && !offered[r.ID]) {
			x.Skipped++
			continue
		}
		rx := RuleExplanation{Rule: r.ID, Matched: isMatch, Error: failed[r.ID], Clauses: []ClauseValue{}}
		if clauses, err := set.Clauses(r, s.config().DynamicLists()...); err != nil {
			rx.Error = err.Error()
		} else {
			for _, c := range clauses {
				cv := ClauseValue{Source: c.Source}
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
			s.explainMatch(ctx, r, m, &ev, &rx)
		}
		x.Rules = append(x.Rules, rx)
	}
	return x, nil
}

// explainMatch adds the group's state and the alert, if the event fired one.
func (s *Service) explainMatch(ctx context.Context, r *rules.Rule, m engine.Match, ev *event.Event, rx *RuleExplanation) {
	rx.Group = map[string]string{}
	for i, by := range r.GroupBy {
		if i < len(m.Group) {
			rx.Group[by.Source] = m.Group[i]
		}
	}
	st, live, err := s.state.Get(ctx, engine.StateKey(r.ID, m.Group))
	if err == nil && live {
		v := &StateView{Alerted: st.Alerted, Suppressed: st.Suppressed, InWindow: len(st.Window)}
		if st.Alerted {
			t := time.Unix(0, st.LastAlert).UTC()
			v.LastAlert = &t
		}
		if st.Expires > 0 {
			t := time.Unix(0, st.Expires).UTC()
			v.Expires = &t
		}
		rx.State = v
	}
	id := engine.AlertID(r.ID, m.Group, ev.ID, ev.Time)
	data, _, err := s.streams.Alert(ctx, id)
	if err != nil {
		rx.Decision = noAlertDecision(r, ev, st, live)
		return
	}
	var a alerter.Alert
	if json.Unmarshal(data, &a) != nil {
		return
	}
	rx.Decision = "fired alert " + a.ID
	d, _ := s.outcomes(ctx, &a) // without them, the alert is still told
	rx.Alert = &alertDetail{Alert: &a, Deliveries: d}
}

// noAlertDecision says why a matching event fired no alert, as far as the
// group's state as stored now tells.
func noAlertDecision(r *rules.Rule, ev *event.Event, st engine.GroupState, live bool) string {
	t, w := ev.Time.UnixNano(), r.DedupWindow()
	switch {
	case live && slices.Contains(st.Fired, ev.ID):
		return fmt.Sprintf("it made the group's last alert fire, at %s; that alert is not stored (yet, or any more)",
			time.Unix(0, st.LastAlert).UTC().Format(time.RFC3339))
	case live && r.Threshold != nil && slices.ContainsFunc(st.Window, func(e engine.Entry) bool { return e.ID == ev.ID }):
		return fmt.Sprintf("counted toward the threshold: %d of the %d events within %s it needs are in the group's window", len(st.Window), r.Threshold.Count, r.Threshold.Within)
	case live && st.Alerted && w > 0 && abs(t-st.LastAlert) < int64(w):
		// As the engine decides: one alert per group per window, either
		// side of it (an event may arrive late).
		return fmt.Sprintf("suppressed: the group alerted at %s, less than %s from this event (one alert per group per %s)",
			time.Unix(0, st.LastAlert).UTC().Format(time.RFC3339), w, w)
	case r.Threshold != nil:
		return fmt.Sprintf("counted toward the threshold (%d within %s), or suppressed; it did not fire an alert itself, and the window it was in has moved on", r.Threshold.Count, r.Threshold.Within)
	case r.Dedup != nil:
		return fmt.Sprintf("suppressed: the group alerted less than %s from it", r.Dedup.Window)
	}
	return "matched, but no alert is stored for it (still being evaluated, or older than the ALERTS stream keeps)"
}

func abs(d int64) int64 {
	if d < 0 {
		return -d
	}
	return d
}

// findEvent reads EVENTS from `within` ago for the message whose id is id.
func (s *Service) findEvent(ctx context.Context, id string, within time.Duration) ([]byte, time.Time, error) {
	found, err := s.findEvents(ctx, map[string]bool{id: true}, time.Now().Add(-within), time.Time{})
	if err != nil {
		return nil, time.Time{}, err
	}
	m, ok := found[id]
	if !ok {
		return nil, time.Time{}, fmt.Errorf("%w: no event %q stored in the last %s", errEventNotFound, id, within)
	}
	return m.data, m.stored, nil
}

// storedEvent is an event as the EVENTS stream holds it.
type storedEvent struct {
	data   []byte
	stored time.Time
}

// findEvents reads EVENTS stored from start (until end, if not zero) for
// the messages whose ids are wanted, stopping when all are found.
func (s *Service) findEvents(ctx context.Context, want map[string]bool, start, end time.Time) (map[string]storedEvent, error) {
	found := map[string]storedEvent{}
	err := bus.ReadEvents(ctx, s.js, start, func(m jetstream.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if !end.IsZero() && md.Timestamp.After(end) {
			return bus.ErrStop
		}
		if id := m.Headers().Get(nats.MsgIdHdr); want[id] {
			found[id] = storedEvent{data: m.Data(), stored: md.Timestamp}
			if len(found) == len(want) {
				return bus.ErrStop
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading EVENTS: %w", err)
	}
	return found, nil
}
