package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/lifecycle"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/verdicts"
)

// statuses fills in where alerts stand (docs/notifications.md, The alert
// lifecycle), reading each group's state once.
type statuses struct {
	store  AlertStates
	states map[string]*lifecycle.State
}

func (h *handler) statuses() *statuses {
	return &statuses{store: h.AlertStates, states: map[string]*lifecycle.State{}}
}

// fill sets a's status fields from its group's state.
func (s *statuses) fill(ctx context.Context, a *alerter.Alert) error {
	st, err := s.state(ctx, a)
	if err != nil {
		return err
	}
	lifecycle.Of(st, a).Fill(a)
	return nil
}

func (s *statuses) state(ctx context.Context, a *alerter.Alert) (*lifecycle.State, error) {
	if s.store == nil {
		return nil, nil
	}
	key := lifecycle.Key(a)
	st, ok := s.states[key]
	if !ok {
		var err error
		if st, err = s.store.Get(ctx, a); err != nil {
			return nil, fmt.Errorf("reading what became of alert %s: %w", a.ID, err)
		}
		s.states[key] = st
	}
	return st, nil
}

func (h *handler) ackAlert(w http.ResponseWriter, r *http.Request) {
	h.actOnAlert(w, r, lifecycle.Acknowledged)
}

func (h *handler) resolveAlert(w http.ResponseWriter, r *http.Request) {
	h.actOnAlert(w, r, lifecycle.Resolved)
}

// actOnAlert acknowledges or resolves the alert of the request's {id},
// and with it its group, as the caller, with the body's comment (and
// verdict, for a resolve). Doing it twice changes nothing the second time
// (changed: false); acknowledging a resolved alert is a conflict.
func (h *handler) actOnAlert(w http.ResponseWriter, r *http.Request, to lifecycle.Status) {
	var req api.AlertAction
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, errorBody(`the body must be {"comment": "...", "verdict": "..."} (both optional; verdict only to resolve)`))
		return
	}
	verdict, err := lifecycle.ParseVerdict(req.Verdict)
	switch {
	case err != nil:
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	case verdict != "" && to != lifecycle.Resolved:
		writeJSON(w, http.StatusBadRequest, errorBody("a verdict is given when resolving, not when acknowledging"))
		return
	case len(req.Comment) > lifecycle.MaxComment:
		writeJSON(w, http.StatusBadRequest, errorBody(fmt.Sprintf("comment: %d bytes, at most %d", len(req.Comment), lifecycle.MaxComment)))
		return
	}
	if h.AlertStates == nil || h.Acts == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody("alert states are not kept here"))
		return
	}
	a, _, ok := h.storedAlert(w, r)
	if !ok {
		return
	}
	if of := lifecycle.NoticeOf(a); of != "" {
		writeJSON(w, http.StatusBadRequest, errorBody(fmt.Sprintf("%s is a notification of alert %s: act on %s", a.ID, of, of)))
		return
	}
	who := identity(r)
	c := lifecycle.Change{By: who.Name, At: time.Now().UTC(), Comment: req.Comment, Verdict: verdict}
	res, err := h.act(r.Context(), a, to, who, c)
	var nq lifecycle.ErrNotQueued
	switch {
	case errors.Is(err, lifecycle.ErrResolved):
		writeJSON(w, http.StatusConflict, errorBody(fmt.Sprintf("alert %s was resolved by %s at %s: it cannot be acknowledged", a.ID, res.View.Resolved.By, res.View.Resolved.At.Format(time.RFC3339))))
		return
	case errors.As(err, &nq):
		kind, verb := "resolve", "resolve"
		if to == lifecycle.Acknowledged {
			kind, verb = "acknowledgement", "acknowledge"
		}
		writeJSON(w, http.StatusServiceUnavailable, errorBody(fmt.Sprintf("alert %s is %s, but its %s notifications are not queued (%v): %s it again to queue them", a.ID, to, kind, nq.Err, verb)))
		return
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, errorBody(err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, api.AlertActed{Alert: a, Changed: res.Changed, History: nonNil(res.State.History)})
}

// act acknowledges or resolves (to) alert a, and with it its group, as
// who with c's comment and verdict, from wherever it was asked (the API,
// a button in a message), through the lifecycle's Acts, and keeps the
// verdict of a resolve (see lifecycle.Acts.Act).
func (h *handler) act(ctx context.Context, a *alerter.Alert, to lifecycle.Status, who actions.Identity, c lifecycle.Change) (lifecycle.Acted, error) {
	res, err := h.Acts.Act(ctx, a, to, who, c)
	if res.Changed {
		h.recordVerdict(ctx, a, res.View)
	}
	return res, err
}

// recordVerdict keeps the verdict of a resolve for the rule's precision
// (docs/notifications.md, Verdicts and precision). The resolve stands if
// it cannot be kept: the precision misses one verdict, which is logged.
func (h *handler) recordVerdict(ctx context.Context, a *alerter.Alert, v lifecycle.View) {
	if h.Verdicts == nil || v.Resolved == nil || v.Resolved.Verdict == "" {
		return
	}
	if err := h.Verdicts.Record(ctx, verdicts.New(a, *v.Resolved)); err != nil {
		h.Log.Error("keeping the verdict", "alert", a.ID, "rule", a.Rule, "err", err)
	}
}

// judged are the rules' verdicts over the last verdicts.Window.
type judged struct {
	since time.Time
	rules map[string]*verdicts.Summary
}

// verdicts reads the verdicts kept; nil if none are kept here or they
// cannot be read (logged: the rules are listed without them).
func (h *handler) verdicts(ctx context.Context) *judged {
	if h.Verdicts == nil {
		return nil
	}
	entries, err := h.Verdicts.Recent(ctx)
	if err != nil {
		h.Log.Error("reading the verdicts", "err", err)
		return nil
	}
	since := time.Now().UTC().Add(-verdicts.Window).Truncate(time.Second)
	return &judged{since: since, rules: verdicts.Summarize(entries, since)}
}

// of is rule rl's verdicts, and the exclusion suggested for it, if any:
// only for a rule whose one when: condition it can extend (not a
// sequence, whose steps have their own, nor a quiet rule, which alerts on
// the absence of what it matches).
func (j *judged) of(rl *rules.Rule) (*api.RuleVerdicts, *api.Suggestion) {
	v := &api.RuleVerdicts{Since: j.since}
	s := j.rules[rl.ID]
	if s == nil {
		return v, nil
	}
	v.TruePositive, v.FalsePositive, v.Benign = s.TruePositive, s.FalsePositive, s.Benign
	if p, ok := s.Precision(); ok {
		v.Precision = &p
	}
	sg := s.Suggestion
	if sg == nil || rl.Sequence != nil || rl.Quiet != nil {
		return v, nil
	}
	source, err := verdicts.Extend(rl.Source, sg.Condition)
	if err != nil {
		return v, nil
	}
	return v, &api.Suggestion{Field: sg.Field, Values: sg.Values, Condition: sg.Condition,
		FalsePositivesRemoved: sg.FalsePositivesRemoved, TruePositivesKept: sg.TruePositivesKept, Source: source}
}
