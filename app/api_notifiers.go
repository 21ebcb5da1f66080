package app

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/notifiers"
)

// notifierView is a configured target as GET /api/v1/notifiers shows it:
// no address or credential, only what it did.
type notifierView struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Pending are the alerts in its queue, waiting or being tried.
	Pending *uint64 `json:"pending,omitempty"`
	// Stats count what this replica did since it started.
	Stats map[string]int64 `json:"stats"`
}

func (s *App) listNotifiers(w http.ResponseWriter, r *http.Request) {
	g := s.current()
	out := make([]notifierView, 0, len(g.deliver))
	for _, d := range g.deliver {
		st := d.Stats()
		v := notifierView{Name: d.Name(), Stats: map[string]int64{
			"sent": st.Sent.Load(), "failed": st.Failed.Load(), "retried": st.Retried.Load(),
			"dead": st.Dead.Load(), "silenced": st.Silenced.Load(),
		}}
		if nc := g.cfg.Notifier(d.Name()); nc != nil {
			v.Type = nc.Type
		}
		if n, err := d.Pending(r.Context()); err == nil {
			v.Pending = &n
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifiers": out})
}

// testResult is the answer of POST /api/v1/notifiers/{name}/test.
type testResult struct {
	OK bool `json:"ok"`
	// Error is the target's answer when it failed; Retryable says whether
	// it may work later (unreachable, busy) or was refused for good
	// (credentials, address, payload).
	Error     string `json:"error,omitempty"`
	Retryable bool   `json:"retryable,omitempty"`
}

// testNotifier sends a sample alert through one target, at once and once,
// outside its queue: to check an address and credentials from the UI.
func (s *App) testNotifier(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d := s.deliverer(name)
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
		writeJSON(w, http.StatusOK, testResult{Error: err.Error(), Retryable: true})
		return
	}
	// A test pages a real target: who did it is recorded, sent or not
	// (the error is left out: a target's answer may echo credentials).
	who := identity(r)
	s.publishAction(r.Context(), action{name: ActionTestNotification, who: who,
		attrs: map[string]string{"notifier": name, "severity": req.Severity, "ok": strconv.FormatBool(err == nil)}})
	if err != nil {
		retryable, _ := notifiers.Classify(err)
		s.log.Warn("test notification failed", "notifier", name, "by", who.Name, "err", err)
		writeJSON(w, http.StatusOK, testResult{Error: err.Error(), Retryable: retryable})
		return
	}
	s.log.Info("test notification sent", "notifier", name, "by", who.Name)
	writeJSON(w, http.StatusOK, testResult{OK: true})
}

// deliverer is the queue of the target name, nil if none runs here
// (removed from the config, or of a type not in this build).
func (s *App) deliverer(name string) *delivery.Deliverer {
	for _, d := range s.current().deliver {
		if d.Name() == name {
			return d
		}
	}
	return nil
}
