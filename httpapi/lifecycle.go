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
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/lifecycle"
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
	if h.AlertStates == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody("alert states are not kept here"))
		return
	}
	a, _, ok := h.storedAlert(w, r)
	if !ok {
		return
	}
	if a.Resolves != "" {
		writeJSON(w, http.StatusBadRequest, errorBody(fmt.Sprintf("%s is the resolve notification of alert %s: act on %s", a.ID, a.Resolves, a.Resolves)))
		return
	}
	who := identity(r)
	c := lifecycle.Change{By: who.Name, At: time.Now().UTC(), Comment: req.Comment, Verdict: verdict}
	var changed bool
	st, err := h.AlertStates.Update(r.Context(), a, func(st *lifecycle.State) (bool, error) {
		var err error
		if to == lifecycle.Acknowledged {
			changed, err = lifecycle.Ack(st, a, c)
		} else {
			changed = lifecycle.Resolve(st, a, c)
		}
		return changed, err
	})
	switch {
	case errors.Is(err, lifecycle.ErrResolved):
		v := lifecycle.Of(st, a)
		writeJSON(w, http.StatusConflict, errorBody(fmt.Sprintf("alert %s was resolved by %s at %s: it cannot be acknowledged", a.ID, v.Resolved.By, v.Resolved.At.Format(time.RFC3339))))
		return
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, errorBody(err.Error()))
		return
	}
	v := lifecycle.Of(st, a)
	v.Fill(a)
	if changed {
		h.recordAct(r.Context(), who, a, c, to)
	}
	if v.Status == lifecycle.Resolved {
		// Also when resolved already: a resolve whose notifications were
		// not queued is retried by resolving again.
		if err := h.queueResolve(r.Context(), a, v); err != nil {
			h.Log.Error("queueing resolve notifications", "alert", a.ID, "err", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody(fmt.Sprintf("alert %s is resolved, but its resolve notifications are not queued (%v): resolve it again to queue them", a.ID, err)))
			return
		}
	}
	writeJSON(w, http.StatusOK, api.AlertActed{Alert: a, Changed: changed, History: nonNil(st.History)})
}

// queueResolve queues the resolve notification of a, resolved as v says,
// to the targets that got a: those where its delivery was sent, not those
// where it was silenced, given up on or is still being tried
// (docs/notifications.md, The alert lifecycle). Nothing is queued when no
// target got it.
func (h *handler) queueResolve(ctx context.Context, a *alerter.Alert, v lifecycle.View) error {
	var sent []string
	for _, t := range a.Notify {
		o, ok, err := h.Outcomes.Get(ctx, t, a.ID)
		if err != nil {
			return fmt.Errorf("reading the deliveries of alert %s: %w", a.ID, err)
		}
		if ok && o.Status == alerter.Sent {
			sent = append(sent, t)
		}
	}
	if len(sent) == 0 {
		return nil
	}
	n := lifecycle.Notice(a, v, sent)
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return h.Alerts.PublishResolve(ctx, a.Rule, n.ID, a.ID, data)
}

// recordAct logs an acknowledgement or a resolve and stores it as one of
// alerter's own events (docs/rules.md, alerter's own actions).
func (h *handler) recordAct(ctx context.Context, who actions.Identity, a *alerter.Alert, c lifecycle.Change, to lifecycle.Status) {
	name := actions.AlertAcked
	if to == lifecycle.Resolved {
		name = actions.AlertResolved
	}
	h.Log.Info(name, "alert", a.ID, "rule", a.Rule, "by", who.Name)
	attrs := map[string]string{"alert_id": a.ID, "rule": a.Rule, "severity": string(a.Severity), "title": a.Title,
		"dedup_key": a.DedupKey, "comment": c.Comment}
	if c.Verdict != "" {
		attrs["verdict"] = string(c.Verdict)
	}
	h.Actions.Publish(ctx, actions.Action{Name: name, Who: who, Attrs: attrs,
		Objects: []event.Object{{Type: "alert", ID: a.ID, Name: a.Title}, {Type: "rule", ID: a.Rule, Name: a.Name}}})
}
