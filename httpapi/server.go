package httpapi

import (
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/ui"
)

// Handler is the HTTP surface of generation g: its webhook sources,
// health and readiness, metrics, the API and the UI, behind the guard.
func (srv *Server) Handler(g Generation) http.Handler {
	h := &handler{Server: srv, Options: srv.opt, gen: g, cfg: g.Config}
	mux := http.NewServeMux()
	for path, wh := range g.Webhooks {
		mux.Handle(path, wh)
	}
	mux.HandleFunc("POST "+SlackInteractions, h.slackInteraction)
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	if g.Metrics != nil {
		mux.Handle("GET /metrics", g.Metrics)
	}
	h.api(mux)
	mux.HandleFunc("POST /pagerduty/webhook", h.pagerDutyWebhook)
	ui.Register(mux, ui.Options{})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/webhooks/") {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no webhook source at " + r.URL.Path + "; configured: " + strings.Join(slices.Collect(maps.Keys(g.Webhooks)), ", ")})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found: " + r.URL.Path})
	})
	return guard(g.Config, srv.opt.Log, mux)
}

func healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Starting answers while alerter is still creating what it stands on:
// alive, not ready, and why (waiting says what it waits for).
func Starting(waiting func() string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "checks": map[string]string{"streams": waiting(), "sources": "starting"}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "alerter is starting: " + waiting()})
	})
	return mux
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
func guard(cfg *config.Config, log *slog.Logger, next http.Handler) http.Handler {
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
			log.Warn("server.external_url is not an origin browsers send", "err", err)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", apiCSP)
		if checkHost && !ownHost(r.Host, names) {
			log.Warn("refused a request for another host name", "host", r.Host, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
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
			log.Warn("refused a cross-site request", "method", r.Method, "path", r.URL.Path, "why", why, "remote", r.RemoteAddr)
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

// readyz is ready when events can be stored and evaluated (docs/running.md).
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	checks, ok := h.Readiness.Ready(r.Context())
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
