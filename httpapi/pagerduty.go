package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/lifecycle"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/pagerduty"
)

// pagerDutyAnswer is what POST /pagerduty/webhook answers to a webhook it
// took: PagerDuty only reads the status code, people testing read this.
type pagerDutyAnswer struct {
	// Status is the alert's status after the webhook, or "ignored".
	Status  string `json:"status"`
	Alert   string `json:"alert,omitempty"`
	Changed bool   `json:"changed"`
	// Reason says why a webhook was ignored.
	Reason string `json:"reason,omitempty"`
}

// pagerDutyWebhook takes PagerDuty's v3 webhooks (docs/notifications.md,
// PagerDuty): a webhook signed with the webhook_secret of one of the
// pagerduty notifiers acknowledges (incident.acknowledged) or resolves
// (incident.resolved) the alert group whose dedup_key opened the
// incident. A bad or missing signature is 401 and does nothing.
//
// Whatever alerter does not act on (other event types, an incident that
// is not one of its alerts, an acknowledgement of a resolved alert) is
// answered 200: PagerDuty retries 5xx and 429, drops other 4xx, and after
// three dropped webhooks in a row disables the subscription for a day.
// A failure to store the change is 503, so that PagerDuty tries again.
//
// A webhook received again (PagerDuty delivers at least once; or one
// replayed by whoever saw it) does nothing more: acting twice changes
// nothing the second time, and an event acts only on alerts fired before
// it occurred, so that a replayed old resolve cannot close a group that
// fired again since.
func (h *handler) pagerDutyWebhook(w http.ResponseWriter, r *http.Request) {
	secrets := pagerduty.WebhookSecrets(h.cfg)
	if len(secrets) == 0 {
		writeJSON(w, http.StatusNotFound, errorBody("no pagerduty notifier has a webhook_secret: PagerDuty's webhooks are not taken (docs/notifications.md, PagerDuty)"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, pagerduty.MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody(fmt.Sprintf("a PagerDuty webhook is at most %d bytes", pagerduty.MaxWebhookBody)))
			return
		}
		writeJSON(w, http.StatusBadRequest, errorBody("reading the body: "+err.Error()))
		return
	}
	from := pagerduty.Signers(body, r.Header.Get(pagerduty.SignatureHeader), h.cfg)
	if len(from) == 0 {
		h.Log.Warn("refused a PagerDuty webhook: no valid signature", "remote", r.RemoteAddr,
			"signed", r.Header.Get(pagerduty.SignatureHeader) != "")
		writeJSON(w, http.StatusUnauthorized, errorBody("no valid "+pagerduty.SignatureHeader+" for the webhook_secret of any pagerduty notifier"))
		return
	}
	ev, err := pagerduty.ParseWebhook(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	code, ans := h.takePagerDuty(r.Context(), ev, from)
	writeJSON(w, code, ans)
}

// pagerDutyStatus is the status each event type alerter takes leads to.
var pagerDutyStatus = map[string]lifecycle.Status{
	pagerduty.IncidentAcknowledged: lifecycle.Acknowledged,
	pagerduty.IncidentResolved:     lifecycle.Resolved,
}

// takePagerDuty acts on a verified webhook's event, which came from the
// pagerduty notifiers from (whose webhook_secret signed it).
func (h *handler) takePagerDuty(ctx context.Context, ev *pagerduty.WebhookEvent, from []string) (int, pagerDutyAnswer) {
	log := h.Log.With("pagerduty_event", ev.ID, "event_type", ev.EventType, "incident", ev.Data.ID)
	to, ok := pagerDutyStatus[ev.EventType]
	if !ok || ev.Data.Type != "incident" {
		return http.StatusOK, pagerDutyAnswer{Status: "ignored", Reason: "alerter takes incident.acknowledged and incident.resolved only"}
	}
	if h.AlertStates == nil || h.Acts == nil {
		return http.StatusServiceUnavailable, pagerDutyAnswer{Status: "ignored", Reason: "alert states are not kept here"}
	}
	// The event acts as of when it occurred in PagerDuty (never later than
	// now): on the alerts fired before it. PagerDuty always says when; an
	// event that does not could be an old one replayed against a newer
	// alert of the group.
	if ev.OccurredAt.IsZero() {
		return http.StatusOK, pagerDutyAnswer{Status: "ignored", Reason: "the event has no occurred_at"}
	}
	at := time.Now().UTC()
	if o := ev.OccurredAt.UTC(); o.Before(at) {
		at = o
	}
	a, err := h.incidentAlert(ctx, ev.Data.IncidentKey, at)
	if err != nil {
		log.Error("finding the alert of a PagerDuty incident", "err", err)
		return http.StatusServiceUnavailable, pagerDutyAnswer{Status: "ignored", Reason: err.Error()}
	}
	if a == nil {
		log.Info("PagerDuty webhook for no alert of alerter; ignored", "incident_key", ev.Data.IncidentKey)
		return http.StatusOK, pagerDutyAnswer{Status: "ignored", Reason: "the incident is not one of alerter's alerts, or its alert is no longer stored"}
	}
	if to == lifecycle.Resolved {
		if a, ok = h.resolvedWith(ctx, a); !ok {
			return http.StatusOK, pagerDutyAnswer{Status: string(lifecycle.Resolved), Alert: a.ID, Reason: "resolved already"}
		}
	}
	// An acknowledgement here is the group's, as from the API: what is to
	// stop on one (escalations, docs/notifications.md) reads the group's
	// state, so it needs nothing more from this path. Its notification
	// reaches the alert's other targets, not the PagerDuty services it
	// came from (Change.From), whose incident is acknowledged already.
	who := pagerDutyAgent(ev.Agent)
	c := lifecycle.Change{By: who.Name, At: at, Comment: pagerDutyComment(ev.Data)}
	if to == lifecycle.Acknowledged {
		c.From = from
	}
	res, err := h.act(ctx, a, to, who, c)
	switch {
	case errors.Is(err, lifecycle.ErrResolved):
		log.Info("PagerDuty acknowledged an incident whose alert is resolved; ignored", "alert", a.ID)
		return http.StatusOK, pagerDutyAnswer{Status: string(lifecycle.Resolved), Alert: a.ID, Reason: "the alert is resolved"}
	case err != nil:
		log.Error("acting on a PagerDuty webhook", "alert", a.ID, "err", err)
		return http.StatusServiceUnavailable, pagerDutyAnswer{Status: notifiers.Or(string(res.View.Status), "ignored"), Alert: a.ID, Reason: err.Error()}
	}
	return http.StatusOK, pagerDutyAnswer{Status: string(res.View.Status), Alert: a.ID, Changed: res.Changed}
}

// incidentAlert is the newest alert fired up to at whose PagerDuty
// dedup_key is key (an incident's incident_key), nil if there is none
// among the stored alerts one page of the history reads. alerter's dedup
// keys are "<rule>:<group hash>", so only the rule's alerts are decoded;
// a key of another shape is not alerter's.
func (h *handler) incidentAlert(ctx context.Context, key string, at time.Time) (*alerter.Alert, error) {
	rule, _, ok := strings.Cut(key, ":")
	if !ok || !ruleShaped(rule) {
		return nil, nil
	}
	var found *alerter.Alert
	_, err := h.Alerts.AlertHistory(ctx, 0, rule, func(a *alerter.Alert) bool {
		if !a.FiredAt.After(at) && pagerduty.DedupKey(a.DedupKey) == key {
			found = a
			return false
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("reading alerts: %w", err)
	}
	return found, nil
}

// ruleShaped tells whether s can be a rule id ([a-z0-9-]+; docs/rules.md),
// and so a subject token to filter the history on.
func ruleShaped(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return s != ""
}

// resolvedWith is the alert a resolve from PagerDuty acts on: a, unless
// its group is resolved already, with another of its alerts (alerter's
// own resolve, which PagerDuty echoes back): then that alert, so that
// acting again queues nothing new. ok is false when that alert is no
// longer stored: there is nothing left to do.
func (h *handler) resolvedWith(ctx context.Context, a *alerter.Alert) (_ *alerter.Alert, ok bool) {
	st, err := h.AlertStates.Get(ctx, a)
	if err != nil {
		return a, true // act reads the state again and says why
	}
	v := lifecycle.Of(st, a)
	if v.Status != lifecycle.Resolved || v.Resolved.Alert == a.ID || v.Resolved.Alert == "" {
		return a, true
	}
	if b, _, err := h.Alerts.FindAlert(ctx, v.Resolved.Alert); err == nil {
		return b, true
	}
	return a, false
}

// pagerDutyAgent is who acted in PagerDuty, as alerter records it:
// "pagerduty:<the agent's name>" ("pagerduty" when PagerDuty names no
// one, as when an incident resolves on its own).
func pagerDutyAgent(ag *pagerduty.Reference) actions.Identity {
	name := "pagerduty"
	if ag != nil {
		if s := notifiers.Truncate(notifiers.OneLine(strings.TrimSpace(ag.Summary)), 200); s != "" {
			name += ":" + s
		}
	}
	return actions.Identity{Name: name, Role: config.RoleWriter}
}

// pagerDutyComment names the incident in the change's comment.
func pagerDutyComment(inc pagerduty.Incident) string {
	s := "in PagerDuty"
	if inc.Number > 0 {
		s += fmt.Sprintf(", incident #%d", inc.Number)
	}
	if u := notifiers.HTTPURL(inc.HTMLURL); u != "" {
		s += " " + u
	}
	return notifiers.Truncate(s, lifecycle.MaxComment)
}
