package service

import (
	"net/http"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"

	"github.com/alerter/alerter/ui"
)

// httpHandler is the HTTP surface: webhook sources, health and readiness.
func (s *Service) httpHandler() http.Handler {
	mux := http.NewServeMux()
	for path, h := range s.webhooks {
		mux.Handle(path, h)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics())
	s.api(mux)
	ui.Register(mux, ui.Options{})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/webhooks/") {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no webhook source at " + r.URL.Path + "; configured: " + strings.Join(s.webhookPaths(), ", ")})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found: " + r.URL.Path})
	})
	return mux
}

func (s *Service) webhookPaths() []string {
	var out []string
	for p := range s.webhooks {
		out = append(out, p)
	}
	return out
}

// readyz is ready when events can be stored and evaluated: NATS connected,
// the streams there, rules loaded.
func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{}
	ok := true
	if st := s.nc.Status(); st != nats.CONNECTED {
		checks["nats"] = "not connected: " + st.String()
		ok = false
	} else {
		checks["nats"] = "ok"
	}
	if _, err := s.streams.Events.Info(r.Context()); err != nil {
		checks["streams"] = "EVENTS stream unavailable: " + err.Error()
		ok = false
	} else if p := s.watch.problems(); len(p) > 0 {
		// Not a reason to stop taking events, but to be seen.
		checks["streams"] = "ok; " + strings.Join(p, "; ")
	} else {
		checks["streams"] = "ok"
	}
	if set := s.eng.Rules(); set == nil {
		checks["rules"] = "not loaded"
		ok = false
	} else {
		checks["rules"] = "ok: " + itoa(len(set.Rules)) + " rules"
	}
	if s.lists != nil {
		if s.lists.Loaded() {
			checks["lists"] = "ok"
		} else {
			// Not a reason to stop taking events: rules run on the lists
			// they have, and the events wait for nothing.
			checks["lists"] = "some Confluence group lists not loaded yet"
		}
	}
	select {
	case <-s.ready:
		checks["sources"] = "ok"
	default:
		checks["sources"] = "starting"
		ok = false
	}
	code := http.StatusOK
	status := "ready"
	if !ok {
		code, status = http.StatusServiceUnavailable, "not ready"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
