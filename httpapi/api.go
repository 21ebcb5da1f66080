package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/httpapi/openapi"
	"github.com/alerter/alerter/silences"
)

// route is one route of the HTTP API.
type route struct {
	method, path string
	handler      http.HandlerFunc
	// role is the least a token must have for the route (config.RoleViewer,
	// RoleWriter, RoleAdmin), or public: served without a token.
	role string
}

// public marks a route served without a token.
const public = ""

// routes are the API's routes, each with the role it needs (the table
// of docs/api.md, "Tokens and roles"); the OpenAPI document must describe
// exactly these (a test checks), besides webhooks, health and metrics.
// Viewers read (the playground and a silence's preview change nothing);
// writers also change what is sent (silences, redeliveries); admins also
// change how alerter runs (reload) or reach outside (a test notification
// pages a real target).
func (h *handler) routes() []route {
	const viewer, writer, admin = config.RoleViewer, config.RoleWriter, config.RoleAdmin
	return []route{
		{"GET", "/api/v1/rules", h.listRules, viewer},
		{"POST", "/-/reload", h.reloadHandler, admin},
		{"GET", "/api/v1/alerts", h.listAlerts, viewer},
		{"GET", "/api/v1/alerts/{id}", h.getAlert, viewer},
		{"POST", "/api/v1/alerts/{id}/redeliver", h.redeliver, writer},
		{"POST", "/api/v1/alerts/{id}/ack", h.ackAlert, writer},
		{"POST", "/api/v1/alerts/{id}/resolve", h.resolveAlert, writer},
		{"POST", "/api/v1/evaluate", h.evaluate, viewer},
		{"GET", "/api/v1/events", h.listEvents, viewer},
		{"GET", "/api/v1/events/{id}", h.getEvent, viewer},
		{"GET", "/api/v1/events/{id}/explain", h.explainHandler, viewer},
		{"GET", "/api/v1/silences", h.listSilences, viewer},
		{"POST", "/api/v1/silences", h.addSilence, writer},
		{"POST", "/api/v1/silences/preview", h.previewSilence, viewer},
		{"GET", "/api/v1/silences/{id}", h.getSilence, viewer},
		{"DELETE", "/api/v1/silences/{id}", h.expireSilence, writer},
		{"GET", "/api/v1/deadletters", h.listDeadLetters, viewer},
		{"GET", "/api/v1/notifiers", h.listNotifiers, viewer},
		{"POST", "/api/v1/notifiers/{name}/test", h.testNotifier, admin},
		{"GET", "/api/v1/whoami", h.whoami, viewer},
		{"GET", "/api/v1/openapi.json", serveOpenAPI, public},
	}
}

// api registers the HTTP API of docs/api.md, taking the tokens of the
// generation's config.
func (h *handler) api(mux *http.ServeMux) {
	tokens := apiTokens(h.cfg.Server)
	for _, rt := range h.routes() {
		next := http.Handler(rt.handler)
		if rt.role != public {
			next = auth(tokens, rt.role, rt.handler)
		}
		mux.Handle(rt.method+" "+rt.path, next)
	}
	mux.Handle("/api/", auth(tokens, config.RoleViewer, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody("no API route "+r.Method+" "+r.URL.Path))
	}))
}

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapi.Document)
}

// apiToken is one token the API takes, with the name recorded for what is
// done with it and its role.
type apiToken struct {
	name, role string
	token      []byte
}

// apiTokens are server.api_token (an admin named config.APITokenName) and
// server.tokens.
func apiTokens(srv config.Server) []apiToken {
	var out []apiToken
	if t := srv.APIToken.Value(); t != "" {
		out = append(out, apiToken{name: config.APITokenName, role: config.RoleAdmin, token: []byte(t)})
	}
	for _, t := range srv.Tokens {
		out = append(out, apiToken{name: t.Name, role: t.Role, token: []byte(t.Token.Value())})
	}
	return out
}

type identityKey struct{}

// identity is who made r, as auth found it; the remote address outside
// auth (tests calling a handler directly).
func identity(r *http.Request) actions.Identity {
	if id, ok := r.Context().Value(identityKey{}).(actions.Identity); ok {
		return id
	}
	return actions.Identity{Name: remoteAddr(r), Role: config.RoleAdmin}
}

// remoteAddr is the address a request came from, without the port, which
// changes with every connection.
func remoteAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// roleRank orders roles: each is allowed what the ones before it are.
func roleRank(role string) int { return slices.Index(config.Roles, role) }

// auth requires, when tokens are configured, a bearer token of at least
// role: 401 without one (or with one that is none of them), 403 naming
// the role needed when its role is less. Every token is compared, in
// constant time, so that the answer's timing does not tell which one
// nearly matched.
func auth(tokens []apiToken, role string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := actions.Identity{Name: remoteAddr(r), Role: config.RoleAdmin}
		if len(tokens) > 0 {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			given := []byte(strings.TrimSpace(got))
			var match *apiToken
			for i := range tokens {
				if subtle.ConstantTimeCompare(given, tokens[i].token) == 1 && ok {
					match = &tokens[i]
				}
			}
			if match == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="alerter"`)
				writeJSON(w, http.StatusUnauthorized, errorBody("the API needs Authorization: Bearer <token> (server.api_token or one of server.tokens)"))
				return
			}
			id = actions.Identity{Name: match.name, Role: match.role, Token: true}
		}
		if roleRank(id.Role) < roleRank(role) {
			writeJSON(w, http.StatusForbidden, errorBody(fmt.Sprintf("%s %s needs the role %s or more; token %s is a %s", r.Method, r.URL.Path, role, id.Name, id.Role)))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// whoami answers who the caller is: the token's name and role, so that
// the web page shows only what the role may do.
func (h *handler) whoami(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	writeJSON(w, http.StatusOK, api.Identity{Name: id.Name, Role: id.Role, Token: id.Token})
}

func errorBody(msg string) api.ErrorBody { return api.ErrorBody{Error: msg} }

// view is a silence with its state now.
func view(sl silences.Silence) api.Silence {
	return api.Silence{Silence: sl, State: sl.State(time.Now())}
}

func (h *handler) listSilences(w http.ResponseWriter, r *http.Request) {
	list := h.Silences.List()
	out := make([]api.Silence, 0, len(list))
	for _, sl := range list {
		out = append(out, view(sl))
	}
	writeJSON(w, http.StatusOK, api.Silences{Silences: out})
}

func (h *handler) getSilence(w http.ResponseWriter, r *http.Request) {
	sl, ok := h.Silences.Get(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody("no silence "+r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, view(sl))
}

// readSilence reads a silence request of at most 64 KiB, strictly.
func readSilence(w http.ResponseWriter, r *http.Request) (api.SilenceRequest, bool) {
	var req api.SilenceRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("the body must be a silence as JSON: "+err.Error()))
		return req, false
	}
	return req, true
}

// previewScan is how many of the newest alerts a silence's preview reads.
const previewScan = 1000

// previewShown is how many of the matched alerts a preview lists.
const previewShown = 10

// previewSilence answers which of the newest alerts the matchers of a
// silence (the rest of it is not needed) would have muted: the matched
// count, the newest of them, and how many alerts were read.
func (h *handler) previewSilence(w http.ResponseWriter, r *http.Request) {
	req, ok := readSilence(w, r)
	if !ok {
		return
	}
	sl := req.Silence
	if err := h.Silences.CheckMatchers(&sl); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	p := api.SilencePreview{Alerts: []*alerter.Alert{}}
	_, err := h.Alerts.AlertHistory(r.Context(), 0, "", func(a *alerter.Alert) bool {
		p.Scanned++
		if sl.MatchesAlert(a) {
			p.Matched++
			if len(p.Alerts) < previewShown {
				p.Alerts = append(p.Alerts, a)
			}
		}
		return p.Scanned < previewScan
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody("reading alerts: "+err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *handler) addSilence(w http.ResponseWriter, r *http.Request) {
	req, ok := readSilence(w, r)
	if !ok {
		return
	}
	if req.Duration != "" {
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			writeJSON(w, http.StatusBadRequest, errorBody("duration "+strconv.Quote(req.Duration)+": a positive duration such as 2h or 30m"))
			return
		}
		if !req.EndsAt.IsZero() {
			writeJSON(w, http.StatusBadRequest, errorBody("give ends_at or duration, not both"))
			return
		}
		start := req.StartsAt
		if start.IsZero() {
			start = time.Now()
		}
		req.EndsAt = start.Add(d)
	}
	// Who it was is what the server authenticated, whatever the body says;
	// created_by, what the caller wrote, defaults to it.
	sl, err := h.addSilenceAs(r.Context(), identity(r), req.Silence)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	writeJSON(w, http.StatusCreated, view(sl))
}

// addSilenceAs creates sl as who, through the store's checks and the
// silence policy: what POST /api/v1/silences and a Slack button share. It
// logs the silence and records it as one of alerter's own events.
func (h *handler) addSilenceAs(ctx context.Context, who actions.Identity, sl silences.Silence) (silences.Silence, error) {
	sl.Identity = who.Name
	if strings.TrimSpace(sl.CreatedBy) == "" {
		sl.CreatedBy = who.Name
	}
	sl, err := h.Silences.Add(ctx, sl)
	if err != nil {
		return sl, err
	}
	h.Log.Info("silence added", "silence", sl.ID, "by", sl.Identity, "created_by", sl.CreatedBy, "until", sl.EndsAt)
	h.Actions.Publish(ctx, actions.Silence(actions.SilenceCreated, who, sl, h.Live.Rules()))
	return sl, nil
}

func (h *handler) expireSilence(w http.ResponseWriter, r *http.Request) {
	who := identity(r)
	before, _ := h.Silences.Get(r.PathValue("id"))
	sl, err := h.Silences.Expire(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, silences.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody(err.Error()))
		return
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, errorBody(err.Error()))
		return
	}
	if before.State(time.Now()) != silences.Expired {
		h.Log.Info("silence expired", "silence", sl.ID, "by", who.Name)
		h.Actions.Publish(r.Context(), actions.Silence(actions.SilenceExpired, who, sl, h.Live.Rules()))
	}
	writeJSON(w, http.StatusOK, view(sl))
}

// listDeadLetters lists the notifications given up on, newest first:
// ?notifier=NAME filters, ?limit=N (default 100, at most 1000), ?before=
// continues from a previous page's "next".
func (h *handler) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit, ok := intParam(w, r.URL.Query().Get("limit"), 100, 1000)
	if !ok {
		return
	}
	before, ok := cursorParam(w, r)
	if !ok {
		return
	}
	n := r.URL.Query().Get("notifier")
	if n != "" && h.cfg.Notifier(n) == nil {
		writeJSON(w, http.StatusBadRequest, errorBody("no notifier "+strconv.Quote(n)))
		return
	}
	page := api.DeadLetters{DeadLetters: []api.DeadLetter{}}
	next, err := h.DeadLetters.DeadLetters(r.Context(), before, n, func(dl *alerter.DeadLetter) bool {
		page.DeadLetters = append(page.DeadLetters, api.DeadLetter{DeadLetter: *dl})
		return len(page.DeadLetters) < limit
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody("reading dead letters: "+err.Error()))
		return
	}
	// What became of each since: still dead, handed back, or delivered.
	for i := range page.DeadLetters {
		l := &page.DeadLetters[i]
		switch o, ok, err := h.Outcomes.Get(r.Context(), l.Notifier, l.Alert.ID); {
		case err != nil:
		case ok:
			l.Now = o.Status
		default:
			l.Now = "expired"
		}
	}
	page.Next = cursor(next)
	writeJSON(w, http.StatusOK, page)
}

// cursorParam reads ?before=, the "next" of a previous page (0 if absent).
func cursorParam(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	v := r.URL.Query().Get("before")
	if v == "" {
		return 0, true
	}
	b, err := strconv.ParseUint(v, 10, 64)
	if err != nil || b == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("before: the next cursor of a previous page"))
		return 0, false
	}
	return b, true
}

// cursor is the "next" of a page that stopped before sequence next: ""
// when there is no next page.
func cursor(next uint64) string {
	if next == 0 {
		return ""
	}
	return strconv.FormatUint(next, 10)
}
