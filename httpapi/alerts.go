package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/lifecycle"
)

func (h *handler) listRules(w http.ResponseWriter, r *http.Request) {
	set, routes := h.Live.Rules(), h.cfg.Routes
	judged := h.verdicts(r.Context())
	out := make([]api.Rule, 0, len(set.Rules))
	for _, rl := range set.Rules {
		v := api.Rule{
			ID: rl.ID, Name: rl.Name, Description: rl.Description, Severity: rl.Severity,
			Tags: nonNil(rl.Tags), Labels: rl.Labels, Enabled: rl.Enabled, When: rl.When.Source,
			Notify: nonNil(routes.Targets(rl.Notify, rl.Severity)), Runbook: rl.Runbook,
			File: rl.Pos.File, Line: rl.Pos.Line, Tests: len(rl.Tests),
			Title: rl.Title.Source, Text: rl.Text.Source, Source: rl.Source,
		}
		if v.Labels == nil {
			v.Labels = map[string]string{}
		}
		if t := rl.Threshold; t != nil {
			v.Threshold = &api.Threshold{Count: t.Count, Within: t.Within.String(), By: nonNil(t.By)}
		}
		if d := rl.Dedup; d != nil {
			v.Dedup = &api.Dedup{By: nonNil(d.By), Window: d.Window.String()}
		}
		if st := h.Live.Stats(rl.ID); st != nil {
			v.Stats = api.RuleStats{
				Evaluations: st.Evaluations.Load(), Matches: st.Matches.Load(), Alerts: st.Alerts.Load(),
				Suppressed: st.Suppressed.Load(), Errors: st.Errors.Load(), LastError: st.LastError(),
			}
			if ns := st.LastMatch.Load(); ns != 0 {
				t := time.Unix(0, ns).UTC()
				v.Stats.LastMatch = &t
			}
		}
		if judged != nil {
			v.Verdicts, v.Suggestion = judged.of(rl)
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, api.Rules{Version: set.Version, Files: nonNil(set.Files), Rules: out, Reload: h.Reloader.Status()})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// alertFilter selects alerts of the history.
type alertFilter struct {
	rule     string
	severity alerter.Severity
	status   string            // "" or a lifecycle.Status
	group    map[string]string // by expression (or "" for any) → value
	since    time.Time
	until    time.Time
}

func (f *alertFilter) match(a *alerter.Alert) bool {
	if f.severity != "" && a.Severity != f.severity {
		return false
	}
	if !f.since.IsZero() && a.Time.Before(f.since) {
		return false
	}
	if !f.until.IsZero() && !a.Time.Before(f.until) {
		return false
	}
	for k, v := range f.group {
		if k == "" {
			found := false
			for _, gv := range a.Group {
				found = found || gv == v
			}
			if !found {
				return false
			}
		} else if a.Group[k] != v {
			return false
		}
	}
	return true
}

// listAlerts pages through the alert history, newest first. Query:
// rule, severity, status (firing, acknowledged, resolved), group (VALUE,
// or EXPR=VALUE, repeatable), since and until (RFC 3339, on the alert's
// time), limit (default 50, at most 500), before (the "next" cursor of the
// previous page).
func (h *handler) listAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := alertFilter{rule: q.Get("rule"), severity: alerter.Severity(q.Get("severity")), status: q.Get("status"), group: map[string]string{}}
	if f.severity != "" && f.severity.Rank() < 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("severity must be one of info, low, medium, high, critical"))
		return
	}
	switch lifecycle.Status(f.status) {
	case "", lifecycle.Firing, lifecycle.Acknowledged, lifecycle.Resolved:
	default:
		writeJSON(w, http.StatusBadRequest, errorBody("status must be one of firing, acknowledged, resolved"))
		return
	}
	if f.rule != "" && strings.ContainsAny(f.rule, ".*> ") {
		writeJSON(w, http.StatusBadRequest, errorBody("rule: not a rule id"))
		return
	}
	for _, g := range q["group"] {
		k, v, ok := strings.Cut(g, "=")
		if !ok {
			k, v = "", g
		}
		f.group[k] = v
	}
	hq, ok := historyParams(w, r)
	if !ok {
		return
	}
	f.since, f.until = hq.since, hq.until
	withDeliveries := q.Get("deliveries") == "true"
	page := api.Alerts{Alerts: []api.Alert{}}
	sts := h.statuses()
	var stErr error
	next, err := h.Alerts.AlertHistory(r.Context(), hq.before, f.rule, func(a *alerter.Alert) bool {
		if !f.match(a) {
			return true
		}
		if stErr = sts.fill(r.Context(), a); stErr != nil {
			return false
		}
		if f.status == "" || a.Status == f.status {
			page.Alerts = append(page.Alerts, api.Alert{Alert: a})
		}
		return len(page.Alerts) < hq.limit
	})
	if err == nil {
		err = stErr
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody("reading alerts: "+err.Error()))
		return
	}
	if withDeliveries {
		for i, a := range page.Alerts {
			if page.Alerts[i].Deliveries, err = h.outcomes(r.Context(), a.Alert); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, errorBody("reading deliveries: "+err.Error()))
				return
			}
		}
	}
	page.Next = cursor(next)
	writeJSON(w, http.StatusOK, page)
}

// historyQuery is what a page of the alert or event history is asked:
// since and until (RFC 3339, on the item's own time; zero when absent),
// limit (default 50, at most 500) and before (the previous page's next).
type historyQuery struct {
	since, until time.Time
	limit        int
	before       uint64
}

func historyParams(w http.ResponseWriter, r *http.Request) (historyQuery, bool) {
	var hq historyQuery
	for name, dst := range map[string]*time.Time{"since": &hq.since, "until": &hq.until} {
		if v := r.URL.Query().Get(name); v != "" {
			var err error
			if *dst, err = time.Parse(time.RFC3339, v); err != nil {
				writeJSON(w, http.StatusBadRequest, errorBody(name+": an RFC 3339 time such as 2024-05-14T10:00:00Z"))
				return hq, false
			}
		}
	}
	var ok bool
	if hq.limit, ok = intParam(w, r.URL.Query().Get("limit"), 50, 500); !ok {
		return hq, false
	}
	hq.before, ok = cursorParam(w, r)
	return hq, ok
}

func intParam(w http.ResponseWriter, v string, def, most int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("limit must be a positive number"))
		return 0, false
	}
	return min(n, most), true
}

func (h *handler) getAlert(w http.ResponseWriter, r *http.Request) {
	a, _, ok := h.storedAlert(w, r)
	if !ok {
		return
	}
	d, err := h.outcomes(r.Context(), a)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody(err.Error()))
		return
	}
	st, err := h.statuses().state(r.Context(), a)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody(err.Error()))
		return
	}
	lifecycle.Of(st, a).Fill(a)
	detail := api.AlertDetail{Alert: a, Deliveries: d}
	if st != nil {
		detail.History = st.History
	}
	detail.Events, detail.EventsMissing = h.alertEvents(r.Context(), a)
	writeJSON(w, http.StatusOK, detail)
}

// storedAlert reads the alert of the request's {id} from ALERTS, answering
// for it when it cannot: 404 when there is none.
func (h *handler) storedAlert(w http.ResponseWriter, r *http.Request) (*alerter.Alert, []byte, bool) {
	id := r.PathValue("id")
	a, data, err := h.Alerts.FindAlert(r.Context(), id)
	switch {
	case errors.Is(err, bus.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody("no alert "+id))
		return nil, nil, false
	case errors.Is(err, bus.ErrUnreadable):
		writeJSON(w, http.StatusInternalServerError, errorBody(err.Error()))
		return nil, nil, false
	case err != nil:
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return nil, nil, false
	}
	return a, data, true
}

// redeliver hands a dead letter back to its target's queue, to be tried
// again (after the target was mended, say): the alert is sent to that one
// target, with its tries and max_age counted afresh. Only a dead delivery
// can be handed back, and asking twice at once hands it back once (the
// answer says "already" to all but the first).
func (h *handler) redeliver(w http.ResponseWriter, r *http.Request) {
	var req api.RedeliverRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Target == "" {
		writeJSON(w, http.StatusBadRequest, errorBody(`the body must be {"target": "<notifier>"}`))
		return
	}
	a, data, ok := h.storedAlert(w, r)
	if !ok {
		return
	}
	id := a.ID
	if !slices.Contains(a.Notify, req.Target) {
		writeJSON(w, http.StatusBadRequest, errorBody(fmt.Sprintf("alert %s was not routed to %q (its targets: %s)", id, req.Target, strings.Join(a.Notify, ", "))))
		return
	}
	if h.notifier(req.Target) == nil {
		writeJSON(w, http.StatusConflict, errorBody(fmt.Sprintf("%s has no queue running here (removed from the config, or its type is not in this build)", req.Target)))
		return
	}
	rev, already, claimed, err := h.Outcomes.Requeue(r.Context(), req.Target, id)
	switch {
	case errors.Is(err, bus.ErrNoRecord) && time.Since(a.FiredAt) < h.Outcomes.TTL():
		writeJSON(w, http.StatusConflict, errorBody(fmt.Sprintf("alert %s at %s: only a dead letter can be redelivered: it is still being tried there (pending)", id, req.Target)))
		return
	case errors.Is(err, bus.ErrNoRecord):
		writeJSON(w, http.StatusGone, errorBody(fmt.Sprintf("alert %s at %s: its delivery record expired (records are kept for %s); it cannot be redelivered", id, req.Target, h.Outcomes.TTL())))
		return
	case errors.Is(err, bus.ErrNotDead):
		writeJSON(w, http.StatusConflict, errorBody(fmt.Sprintf("alert %s at %s: only a dead letter can be redelivered: %v", id, req.Target, err)))
		return
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, errorBody(err.Error()))
		return
	}
	// A copy for this handing back is stored unless one took it already;
	// storing it again (a request repeated after a failure to store) is
	// harmless: the first copy claims the handing back.
	if !claimed {
		if err := h.DeadLetters.PublishRedelivery(r.Context(), a.Rule, id, req.Target, rev, data); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, errorBody(err.Error()))
			return
		}
	}
	if !already {
		who := identity(r)
		h.Log.Info("dead letter handed back", "alert", id, "target", req.Target, "by", who.Name)
		h.Actions.Publish(r.Context(), actions.Action{Name: actions.AlertRedelivered, Who: who,
			Attrs:   map[string]string{"alert_id": id, "rule": a.Rule, "severity": string(a.Severity), "target": req.Target, "title": a.Title},
			Objects: []event.Object{{Type: "alert", ID: id, Name: a.Title}, {Type: "rule", ID: a.Rule, Name: a.Name}}})
	}
	writeJSON(w, http.StatusAccepted, api.Redelivery{Alert: id, Target: req.Target, Status: alerter.Requeued, Already: already})
}

// outcomes are what became of a at each of its targets; a target with no
// outcome recorded yet is pending.
func (h *handler) outcomes(ctx context.Context, a *alerter.Alert) (map[string]alerter.Outcome, error) {
	out := make(map[string]alerter.Outcome, len(a.Notify))
	for _, t := range a.Notify {
		o, ok, err := h.Outcomes.Get(ctx, t, a.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			o = alerter.Outcome{Status: "pending"}
		}
		o.Copy = 0 // internal to redelivery
		out[t] = o
	}
	return out, nil
}

// alertEvents are the events behind an alert of several events, in the
// order of its event_ids, and the ids of those no longer stored. They were
// stored before the alert fired, within the rule's reach (its window and
// dedup window) plus the time they may have taken to arrive (an hour is
// allowed). If they cannot be read, both are nil.
func (h *handler) alertEvents(ctx context.Context, a *alerter.Alert) (found []*event.Event, missing []string) {
	if len(a.EventIDs) < 2 || a.FiredAt.IsZero() {
		return nil, nil
	}
	span := time.Hour
	if r := h.Live.Rules().Rule(a.Rule); r != nil {
		span += engine.Reach(r)
	}
	stored, err := h.Events.FindEvents(ctx, a.EventIDs, a.FiredAt.Add(-span), a.FiredAt.Add(time.Minute))
	if err != nil {
		h.Log.Warn("reading an alert's events", "alert", a.ID, "err", err)
		return nil, nil
	}
	for _, id := range a.EventIDs {
		se, ok := stored[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		if ev, err := event.Decode(se.Data); err == nil {
			found = append(found, &ev)
		}
	}
	return found, missing
}
