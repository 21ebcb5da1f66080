package app

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/ui"
)

// httpHandler is the HTTP surface of generation g: its webhook sources,
// health and readiness, metrics, the API and the UI.
func (s *App) httpHandler(g *generation) http.Handler {
	mux := http.NewServeMux()
	for path, h := range g.webhooks {
		mux.Handle(path, h)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics(g))
	s.api(mux, g.cfg)
	ui.Register(mux, ui.Options{})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/webhooks/") {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no webhook source at " + r.URL.Path + "; configured: " + strings.Join(g.webhookPaths(), ", ")})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found: " + r.URL.Path})
	})
	return s.guard(g.cfg, mux)
}

// apiCSP is the Content-Security-Policy of every answer but the UI's pages
// (which set their own): JSON and text run nothing and are framed nowhere,
// should a browser be made to render one.
const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// guard is what every request passes before its route, because any page
// the operator opens can make the browser send requests to alerter
// (docs/api.md, "Requests from browsers"):
//   - without a token, the Host must be one of this server's names (421),
//     so that a page whose own name resolves to alerter (DNS rebinding)
//     can neither read nor write;
//   - a request that changes something (any method but GET, HEAD and
//     OPTIONS) must not come from another origin (403): a form or a no-cors
//     fetch reaches any address without asking first;
//   - an API write with a body must say it is JSON (415): no form and no
//     no-cors fetch can send application/json.
func (s *App) guard(cfg *config.Config, next http.Handler) http.Handler {
	checkHost := !cfg.Server.HasTokens()
	names := ownNames(cfg.Server)
	// Go's check: Sec-Fetch-Site, which browsers send since 2023 and no
	// page can set, must be same-origin or none ("same-site" is a page on
	// another port or subdomain: another application); without it, an
	// Origin must be the request's own Host. A request with neither is not
	// a browser's (Confluence's webhooks, curl, the CLI) and passes.
	// server.external_url's origin is the UI's own behind a proxy that
	// passes its upstream's address as Host.
	cross := http.NewCrossOriginProtection()
	if o := externalOrigin(cfg.Server.ExternalURL); o != "" {
		if err := cross.AddTrustedOrigin(o); err != nil {
			s.log.Warn("server.external_url is not an origin browsers send", "err", err)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", apiCSP)
		if checkHost && !ownHost(r.Host, names) {
			s.log.Warn("refused a request for another host name", "host", r.Host, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			writeJSON(w, http.StatusMisdirectedRequest, errorBody("Host "+r.Host+" is not a name of this server: without an API token, alerter answers only to "+
				"localhost, IP addresses and the host names of server.listen and server.external_url, so that no other site's page can reach it under its own name (DNS rebinding); "+
				"set server.external_url to the address you open"))
			return
		}
		if safeMethod(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		if cross.Check(r) != nil {
			why := "Origin: " + r.Header.Get("Origin")
			if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
				why = "Sec-Fetch-Site: " + site
			}
			s.log.Warn("refused a cross-site request", "method", r.Method, "path", r.URL.Path, "why", why, "remote", r.RemoteAddr)
			writeJSON(w, http.StatusForbidden, errorBody("refused a request from another site ("+why+"): pages of other sites cannot change anything here; "+
				"use alerter's own pages, or a client that is not a browser; behind a proxy, set server.external_url to the address you open"))
			return
		}
		if isAPI(r.URL.Path) {
			if ct, ok := jsonBody(r); !ok {
				writeJSON(w, http.StatusUnsupportedMediaType, errorBody("a request with a body needs Content-Type: application/json, not "+ct+
					" (with curl: -H 'Content-Type: application/json')"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// ownNames are the host names, beside localhost and IP addresses, that
// this server answers to without a token: server.listen's and
// server.external_url's, in lower case.
func ownNames(srv config.Server) map[string]bool {
	names := map[string]bool{"localhost": true}
	if host, _, err := net.SplitHostPort(srv.Listen); err == nil && host != "" {
		names[strings.ToLower(host)] = true
	}
	if u, err := url.Parse(srv.ExternalURL); err == nil && u.Hostname() != "" {
		names[strings.ToLower(u.Hostname())] = true
	}
	return names
}

// ownHost tells whether host (a Host header, with or without a port) is
// one of names or an IP address. The port is not checked: a rebinding
// page's name is its own, whatever the port, while an SSH tunnel or a
// container's published port changes the port of a name that is ours.
// An IP address cannot be rebound: a page at it is served by whoever has
// the address.
func ownHost(host string, names map[string]bool) bool {
	if host == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	return net.ParseIP(name) != nil || names[strings.ToLower(name)]
}

// externalOrigin is the origin of server.external_url as a browser sends
// it (scheme://host[:port], lower case, no default port), "" when it is
// not set.
func externalOrigin(external string) string {
	u, err := url.Parse(external)
	if err != nil || u.Scheme == "" || u.Hostname() == "" {
		return ""
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if p := u.Port(); (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
		host = strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return scheme + "://" + host
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// isAPI tells whether path is the API's or an operation's (/-/reload):
// their writes take JSON only.
func isAPI(path string) bool {
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/-/")
}

// jsonBody tells whether r's body, if it has one, is declared JSON; ct is
// the declared type. A request without a body and without a Content-Type
// (DELETE, a reload) is fine: it has nothing to forge.
func jsonBody(r *http.Request) (ct string, ok bool) {
	ct = r.Header.Get("Content-Type")
	if ct == "" {
		return "none", r.ContentLength == 0
	}
	mt, _, err := mime.ParseMediaType(ct)
	return ct, err == nil && mt == "application/json"
}

func (g *generation) webhookPaths() []string {
	var out []string
	for p := range g.webhooks {
		out = append(out, p)
	}
	return out
}

// readyz is ready when events can be stored and evaluated: NATS connected,
// the streams there, rules loaded.
func (s *App) readyz(w http.ResponseWriter, r *http.Request) {
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
	if l := s.current().lists; l != nil {
		if l.Loaded() {
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
