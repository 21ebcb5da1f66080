package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/notifiers"
)

func (h *handler) listNotifiers(w http.ResponseWriter, r *http.Request) {
	out := make([]api.Notifier, 0, len(h.gen.Notifiers))
	for _, d := range h.gen.Notifiers {
		st := d.Stats()
		v := api.Notifier{Name: d.Name(), Stats: map[string]int64{
			"sent": st.Sent.Load(), "failed": st.Failed.Load(), "retried": st.Retried.Load(),
			"dead": st.Dead.Load(), "silenced": st.Silenced.Load(),
		}}
		if nc := h.cfg.Notifier(d.Name()); nc != nil {
			v.Type = nc.Type
		}
		if n, err := d.Pending(r.Context()); err == nil {
			v.Pending = &n
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifiers": out})
}

// testNotifier sends a sample alert through one target, at once and once,
// outside its queue: to check an address and credentials from the UI.
func (h *handler) testNotifier(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d := h.notifier(name)
	if d == nil {
		writeJSON(w, http.StatusNotFound, errorBody("no notifier "+name))
		return
	}
	req := struct {
		Severity string `json:"severity"`
	}{Severity: string(alerter.High)}
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody(`the body is {"severity": "high"} or empty`))
			return
		}
	}
	if alerter.Severity(req.Severity).Rank() < 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("severity must be one of info, low, medium, high, critical"))
		return
	}
	// A test counts against the target's rate limit, so that it cannot
	// earn the alerts a 429.
	err := d.Send(r.Context(), notifiers.TestAlert(name, alerter.Severity(req.Severity), time.Now().UTC()))
	if errors.Is(err, delivery.ErrRateLimit) {
		writeJSON(w, http.StatusOK, api.TestResult{Error: err.Error(), Retryable: true})
		return
	}
	// A test pages a real target: who did it is recorded, sent or not
	// (the error is left out: a target's answer may echo credentials).
	who := identity(r)
	h.Actions.Publish(r.Context(), actions.Action{Name: actions.TestNotification, Who: who,
		Attrs: map[string]string{"notifier": name, "severity": req.Severity, "ok": strconv.FormatBool(err == nil)}})
	if err != nil {
		retryable, _ := notifiers.Classify(err)
		h.Log.Warn("test notification failed", "notifier", name, "by", who.Name, "err", err)
		writeJSON(w, http.StatusOK, api.TestResult{Error: err.Error(), Retryable: retryable})
		return
	}
	h.Log.Info("test notification sent", "notifier", name, "by", who.Name)
	writeJSON(w, http.StatusOK, api.TestResult{OK: true})
}

// notifier is the queue of the target name, nil if none runs here
// (removed from the config, or of a type not in this build).
func (h *handler) notifier(name string) Notifier {
	for _, d := range h.gen.Notifiers {
		if d.Name() == name {
			return d
		}
	}
	return nil
}
