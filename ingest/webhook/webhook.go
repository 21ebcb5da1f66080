// Package webhook is the HTTP source (docs/running.md, "webhook"): POST /webhooks/{source}
// takes one JSON event, a JSON array or JSON lines, checks the sender, and
// answers 202 only once every event is stored.
//
// Answers, all JSON:
//
//	202 {"accepted": N, "duplicates": M}    every event stored (M were already)
//	400 {"error": "line 3, column 7 (object 2): ...", "line": 3, "column": 7, "object": 2}
//	                                        malformed, no event, or a bad ?event=
//	401 {"error": "..."}                    signature or token missing or wrong
//	405, 415                                not a POST; not a JSON content type
//	413 {"error": "..."}                    body over max_body_bytes, or too many events
//	503 {"error": "..."}                    the ingest limit is reached (Retry-After);
//	                                        nothing was read
//	503 {"error": "...", "accepted": N, "duplicates": M, "not_stored": [ids]}
//	                                        storage failed: the ids listed were not
//	                                        stored and must be sent again (sending
//	                                        the whole body again is safe: stored
//	                                        events count as duplicates)
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
)

// Handler serves one webhook source.
type Handler struct {
	name    string
	format  string
	secret  []byte
	mapping *event.Mapping
	path    string
	sink    ingest.Sink
	maxBody int64
	limiter *ingest.Limiter
	replays ingest.Replays
	log     *slog.Logger
	bufs    sync.Pool // *bytes.Buffer
	stats   Stats
}

// Options of a Handler.
type Options struct {
	// MaxBody caps a request body in bytes (413 beyond).
	MaxBody int64
	// Limiter, shared by the webhook sources of a process, caps the bytes
	// of the bodies they hold at once; nil: no cap.
	Limiter *ingest.Limiter
	// Replays remembers the signed requests already stored, so that one
	// sent again after the EVENTS stream's dedup window is still a
	// duplicate; nil: only that window applies.
	Replays ingest.Replays
	Log     *slog.Logger
}

// Stats count what a Handler answered.
type Stats struct {
	Requests   atomic.Int64
	Accepted   atomic.Int64 // events newly stored
	Duplicates atomic.Int64 // events already stored
	Malformed  atomic.Int64 // 400
	Denied     atomic.Int64 // 401
	TooLarge   atomic.Int64 // 413
	Refused    atomic.Int64 // 405, 415
	Failed     atomic.Int64 // 503
}

// New returns the handler of a webhook source.
func New(src config.Source, sink ingest.Sink, opt Options) (*Handler, error) {
	if err := event.CheckFormat(src.Format); err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	var m *event.Mapping
	if len(src.Fields) > 0 {
		var err error
		if m, err = event.NewMapping(src.Fields); err != nil {
			return nil, fmt.Errorf("source %s: fields: %w", src.Name, err)
		}
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := ConfigOf(src).Path
	if path == "" {
		path = "/webhooks/" + src.Name
	}
	return &Handler{
		name:    src.Name,
		path:    path,
		format:  src.Format,
		secret:  []byte(ConfigOf(src).Secret.Value()),
		mapping: m,
		sink:    sink,
		maxBody: opt.MaxBody,
		limiter: opt.Limiter,
		replays: opt.Replays,
		log:     log.With("source", src.Name),
	}, nil
}

// Path is the URL path the handler is served at.
func (h *Handler) Path() string { return h.path }

// Run has nothing to run: a webhook takes events as requests come. It
// returns once ctx is done.
func (h *Handler) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Stats returns the handler's counters.
func (h *Handler) Stats() *Stats { return &h.stats }

// Counters are the handler's counters in the shape every source shares.
func (h *Handler) Counters() ingest.Counters {
	st := &h.stats
	return ingest.Counters{Received: &st.Accepted, Rejected: map[string]*atomic.Int64{
		ingest.Malformed: &st.Malformed, ingest.Unauthorized: &st.Denied, ingest.TooLarge: &st.TooLarge,
		ingest.Refused: &st.Refused, ingest.Unavailable: &st.Failed,
	}}
}

// maxPooled keeps buffers grown by one huge body from being kept forever.
const maxPooled = 4 << 20

// ServeHTTP takes the events of one request: it refuses what is no JSON
// POST, checks the sender, reserves the body's room, reads and decodes
// it, and answers once the events are stored.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.stats.Requests.Add(1)
	if !h.admit(w, r) {
		return
	}
	sig := r.Header.Get("X-Hub-Signature")
	if sig == "" {
		sig = r.Header.Get("X-Hub-Signature-256")
	}
	signed := len(h.secret) > 0 && sig != ""
	// A bearer token is checked before the body is read; a signature needs it.
	if len(h.secret) > 0 && !signed {
		if msg := h.checkBearer(r.Header.Get("Authorization")); msg != "" {
			h.deny(w, r, msg)
			return
		}
	}
	webhookEvent, msg := h.queryEvent(r, signed)
	if msg != "" {
		h.stats.Malformed.Add(1)
		reply(w, http.StatusBadRequest, errorBody(msg))
		return
	}
	reserved, ok := h.reserve(w, r)
	if !ok {
		return
	}
	defer h.limiter.Release(reserved)
	b := h.buffer()
	// Parse keeps sub-slices of the body; Store has encoded the events by
	// the time this runs, so the buffer is free again.
	defer h.free(b)
	if !h.read(w, r, b) {
		return
	}
	body := b.Bytes()
	var mac []byte
	if signed {
		if mac, msg = h.checkSignature(sig, body); msg != "" {
			h.deny(w, r, msg)
			return
		}
	}
	events, err := event.Parse(body, event.Options{
		Format:        h.format,
		Source:        h.name,
		Mapping:       h.mapping,
		WebhookEvent:  webhookEvent,
		Received:      time.Now(),
		RequireFields: true,
	})
	if err != nil {
		h.badPayload(w, err)
		return
	}
	h.store(w, r, events, mac)
}

// admit refuses (405, 415) a request that is not a POST of JSON.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		h.stats.Refused.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, errorBody(fmt.Sprintf("%s is not allowed: send events with POST", r.Method)))
		return false
	}
	if msg := checkContentType(r.Header.Get("Content-Type")); msg != "" {
		h.stats.Refused.Add(1)
		reply(w, http.StatusUnsupportedMediaType, errorBody(msg))
		return false
	}
	return true
}

// reserve takes the body's room in the limiter before it is read: a body
// costs several times its size until its events are stored (decoded
// events, their encoding, the publishes in flight), so many large bodies
// at once would exhaust memory. One whose size is not announced takes the
// most it may have. A body announced too large is refused (413), and so is
// one that finds no room (503 with Retry-After).
func (h *Handler) reserve(w http.ResponseWriter, r *http.Request) (int64, bool) {
	if r.ContentLength > h.maxBody {
		h.tooLarge(w)
		return 0, false
	}
	n := h.maxBody
	if r.ContentLength >= 0 {
		n = r.ContentLength
	}
	if !h.limiter.TryAcquire(n) {
		h.stats.Failed.Add(1)
		w.Header().Set("Retry-After", retryAfter)
		reply(w, http.StatusServiceUnavailable, errorBody(fmt.Sprintf(
			"busy: the webhooks are taking in %d bytes already (server.max_ingest_bytes); send again in a few seconds",
			h.limiter.Max())))
		return 0, false
	}
	return n, true
}

// buffer is a buffer for a body, from the pool.
func (h *Handler) buffer() *bytes.Buffer {
	b, _ := h.bufs.Get().(*bytes.Buffer)
	if b == nil {
		b = new(bytes.Buffer)
	}
	b.Reset()
	return b
}

// free puts b back in the pool, unless a huge body grew it.
func (h *Handler) free(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		h.bufs.Put(b)
	}
}

// read reads the body into b, up to max_body_bytes (413 beyond).
func (h *Handler) read(w http.ResponseWriter, r *http.Request, b *bytes.Buffer) bool {
	_, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		h.tooLarge(w)
		return false
	}
	h.stats.Malformed.Add(1)
	reply(w, http.StatusBadRequest, errorBody("reading the body: "+err.Error()))
	return false
}

// store stores the events of a request and answers 202, or 503 with the
// ids not stored. A signed request (mac, its signature) already taken is
// answered as duplicates without storing anything again.
func (h *Handler) store(w http.ResponseWriter, r *http.Request, events []event.Event, mac []byte) {
	replayKey := ""
	if mac != nil && h.replays != nil && len(events) > 0 {
		replayKey = h.replayKey(mac)
		seen, err := h.replays.Seen(r.Context(), replayKey)
		if err != nil {
			// The stream's own dedup window still applies: take the events.
			h.log.Warn("cannot tell whether a signed request was already taken", "err", err)
		} else if seen {
			h.stats.Duplicates.Add(int64(len(events)))
			h.log.Info("signed webhook request sent again; its events are duplicates", "remote", r.RemoteAddr, "events", len(events))
			replyAccepted(w, 0, len(events))
			return
		}
	}
	st, err := h.sink.Store(r.Context(), h.name, events)
	h.stats.Accepted.Add(int64(st.Accepted))
	h.stats.Duplicates.Add(int64(st.Duplicates))
	if err != nil {
		h.notStored(w, events, st, err)
		return
	}
	if replayKey != "" {
		// Remembered only once every event is stored: a request that failed
		// must be taken when it is sent again.
		if err := h.replays.Remember(r.Context(), replayKey); err != nil {
			h.log.Warn("cannot remember a signed request; a replay after the dedup window would be taken again", "err", err)
		}
	}
	replyAccepted(w, st.Accepted, st.Duplicates)
}

// notStored answers 503 to a request whose events were not all stored,
// with the ids to send again.
func (h *Handler) notStored(w http.ResponseWriter, events []event.Event, st ingest.Stored, err error) {
	h.stats.Failed.Add(1)
	ids := make([]string, 0, len(st.Failed))
	for _, i := range st.Failed {
		ids = append(ids, events[i].ID)
	}
	h.log.Error("webhook events not stored", "events", len(events), "not_stored", len(ids), "err", err)
	w.Header().Set("Retry-After", "5")
	reply(w, http.StatusServiceUnavailable, map[string]any{
		"error":      fmt.Sprintf("%d of %d events could not be stored; send them again", len(ids), len(events)),
		"accepted":   st.Accepted,
		"duplicates": st.Duplicates,
		"not_stored": ids,
	})
}

// retryAfter is the Retry-After of an answer refused at the ingest limit:
// bodies are read and stored in well under a second.
const retryAfter = "2"

func (h *Handler) tooLarge(w http.ResponseWriter) {
	h.stats.TooLarge.Add(1)
	reply(w, http.StatusRequestEntityTooLarge, errorBody(fmt.Sprintf("body is larger than %d bytes (server.max_body_bytes): send fewer events per request", h.maxBody)))
}

// queryEvent returns the ?event= of a request: the event name of Confluence
// Cloud bodies, which carry none. A signature covers only the body, so on a
// signed request the query could be changed by anyone who saw it pass (a
// page_created turned into a space_permissions_updated): it is refused
// there. A request with the bearer token comes whole from the secret's
// holder and may carry it. msg says what is wrong, for a 400.
func (h *Handler) queryEvent(r *http.Request, signed bool) (name, msg string) {
	if r.URL.RawQuery == "" {
		return "", ""
	}
	q := r.URL.Query()
	if !q.Has("event") {
		return "", ""
	}
	if signed {
		return "", "?event= is not covered by the signature, which signs only the body: on a signed request the event name must come from the body (or authenticate with Authorization: Bearer instead of signing)"
	}
	name = q.Get("event")
	if !validEventName(name) {
		return "", "?event= must be a Confluence event name: 1 to 64 lowercase letters, digits and _, starting with a letter (page_created)"
	}
	return name, ""
}

// validEventName accepts the shape of Confluence event names (page_created,
// space_permissions_updated): anything else in the query is not one, and
// would become event.action, which alerts show and rules match.
func validEventName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// replayKey is the key of a signed request in Replays: the source and the
// body's HMAC, hashed into a valid bucket key.
func (h *Handler) replayKey(mac []byte) string {
	d := sha256.New()
	d.Write([]byte(h.name))
	d.Write([]byte{0})
	d.Write(mac)
	return hex.EncodeToString(d.Sum(nil))
}

// replyAccepted answers 202 {"accepted":N,"duplicates":M}, written by hand:
// it is the answer to nearly every request.
func replyAccepted(w http.ResponseWriter, accepted, duplicates int) {
	var buf [64]byte
	b := append(buf[:0], `{"accepted":`...)
	b = strconv.AppendInt(b, int64(accepted), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(duplicates), 10)
	b = append(b, "}\n"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(b)
}

var jsonContentType = []string{"application/json"}

func (h *Handler) deny(w http.ResponseWriter, r *http.Request, msg string) {
	h.stats.Denied.Add(1)
	h.log.Warn("webhook request denied", "remote", r.RemoteAddr, "reason", msg)
	reply(w, http.StatusUnauthorized, errorBody(msg))
}

func (h *Handler) checkBearer(auth string) string {
	if auth == "" {
		return "authentication required: sign the body with HMAC-SHA256 in X-Hub-Signature (sha256=<hex>) or send Authorization: Bearer <secret>"
	}
	scheme, token, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return fmt.Sprintf("unsupported Authorization scheme %q: use Bearer, or sign the body in X-Hub-Signature", scheme)
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), h.secret) != 1 {
		return "wrong bearer token"
	}
	return ""
}

// checkSignature checks an HMAC-SHA256 of the body, given as sha256=<hex>
// or bare hex (Confluence Data Center does not document which it sends),
// and returns it.
func (h *Handler) checkSignature(sig string, body []byte) ([]byte, string) {
	hexSig := sig
	if alg, rest, ok := strings.Cut(sig, "="); ok {
		if !strings.EqualFold(alg, "sha256") {
			return nil, fmt.Sprintf("unsupported signature algorithm %q: use sha256=<hex>", alg)
		}
		hexSig = rest
	}
	got, err := hex.DecodeString(strings.TrimSpace(hexSig))
	if err != nil || len(got) != sha256.Size {
		return nil, "malformed X-Hub-Signature: want sha256=<64 hex digits>"
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil, "signature does not match the body: check the webhook secret"
	}
	return got, ""
}

func (h *Handler) badPayload(w http.ResponseWriter, err error) {
	if errors.Is(err, event.ErrTooManyEvents) {
		h.stats.TooLarge.Add(1)
		reply(w, http.StatusRequestEntityTooLarge, errorBody(err.Error()))
		return
	}
	h.stats.Malformed.Add(1)
	body := map[string]any{"error": err.Error()}
	var se *event.SyntaxError
	var oe *event.ObjectError
	switch {
	case errors.As(err, &se):
		body["line"], body["column"] = se.Line, se.Column
		if se.Object >= 0 {
			body["object"] = se.Object + 1
		}
	case errors.As(err, &oe):
		body["line"], body["column"], body["object"] = oe.Line, oe.Column, oe.Object+1
	}
	reply(w, http.StatusBadRequest, body)
}

// checkContentType accepts JSON and JSON lines, and a missing type (some
// senders set none); anything else is most likely a misconfigured sender,
// such as curl -d without a Content-Type, or a cross-site form post
// (text/plain is what a page can send without asking first).
func checkContentType(ct string) string {
	switch ct {
	case "", "application/json", "application/x-ndjson", "application/json; charset=utf-8":
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Sprintf("malformed Content-Type %q", ct)
	}
	switch {
	case mt == "application/json", mt == "application/x-ndjson", mt == "application/jsonl",
		mt == "application/json-lines", mt == "application/x-jsonlines",
		strings.HasSuffix(mt, "+json"):
		return ""
	}
	return fmt.Sprintf("Content-Type %s is not JSON: send application/json or application/x-ndjson (with curl: -H 'Content-Type: application/json')", mt)
}

func errorBody(msg string) map[string]string { return map[string]string{"error": msg} }

func reply(w http.ResponseWriter, code int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
