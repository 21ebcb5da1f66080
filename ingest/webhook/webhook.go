// Package webhook is the HTTP source of SPEC §6: POST /webhooks/{source}
// takes one JSON event, a JSON array or JSON lines, checks the sender, and
// answers 202 only once every event is stored.
//
// Answers, all JSON:
//
//	202 {"accepted": N, "duplicates": M}    every event stored (M were already)
//	400 {"error": "line 3, column 7 (object 2): ...", "line": 3, "column": 7, "object": 2}
//	401 {"error": "..."}                    signature or token missing or wrong
//	405, 415                                not a POST; not a JSON content type
//	413 {"error": "..."}                    body over max_body_bytes, or too many events
//	503 {"error": "...", "accepted": N, "duplicates": M, "not_stored": [ids]}
//	                                        storage failed: the ids listed were not
//	                                        stored and must be sent again (sending
//	                                        the whole body again is safe: stored
//	                                        events count as duplicates)
package webhook

import (
	"bytes"
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
	sink    ingest.Sink
	maxBody int64
	log     *slog.Logger
	bufs    sync.Pool // *bytes.Buffer
	stats   Stats
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

// New returns the handler of a webhook source. maxBody caps a request body
// in bytes.
func New(src config.Source, sink ingest.Sink, maxBody int64, log *slog.Logger) (*Handler, error) {
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
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{
		name:    src.Name,
		format:  src.Format,
		secret:  []byte(src.Secret.Value()),
		mapping: m,
		sink:    sink,
		maxBody: maxBody,
		log:     log.With("source", src.Name),
	}, nil
}

// Stats returns the handler's counters.
func (h *Handler) Stats() *Stats { return &h.stats }

// maxPooled keeps buffers grown by one huge body from being kept forever.
const maxPooled = 4 << 20

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.stats.Requests.Add(1)
	if r.Method != http.MethodPost {
		h.stats.Refused.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, errorBody(fmt.Sprintf("%s is not allowed: send events with POST", r.Method)))
		return
	}
	if msg := checkContentType(r.Header.Get("Content-Type")); msg != "" {
		h.stats.Refused.Add(1)
		reply(w, http.StatusUnsupportedMediaType, errorBody(msg))
		return
	}
	sig := r.Header.Get("X-Hub-Signature")
	if sig == "" {
		sig = r.Header.Get("X-Hub-Signature-256")
	}
	// A bearer token is checked before the body is read; a signature needs it.
	if len(h.secret) > 0 && sig == "" {
		if msg := h.checkBearer(r.Header.Get("Authorization")); msg != "" {
			h.deny(w, r, msg)
			return
		}
	}

	buf := h.bufs.Get()
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	b := buf.(*bytes.Buffer)
	b.Reset()
	defer func() {
		// Parse keeps sub-slices of the body; Store has encoded the events
		// by the time this runs, so the buffer is free again.
		if b.Cap() <= maxPooled {
			h.bufs.Put(b)
		}
	}()
	if _, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.stats.TooLarge.Add(1)
			reply(w, http.StatusRequestEntityTooLarge, errorBody(fmt.Sprintf("body is larger than %d bytes (server.max_body_bytes): send fewer events per request", h.maxBody)))
			return
		}
		h.stats.Malformed.Add(1)
		reply(w, http.StatusBadRequest, errorBody("reading the body: "+err.Error()))
		return
	}
	body := b.Bytes()
	if len(h.secret) > 0 && sig != "" {
		if msg := h.checkSignature(sig, body); msg != "" {
			h.deny(w, r, msg)
			return
		}
	}

	var webhookEvent string
	if r.URL.RawQuery != "" {
		webhookEvent = r.URL.Query().Get("event")
	}
	events, err := event.Parse(body, event.Options{
		Format:       h.format,
		Source:       h.name,
		Mapping:      h.mapping,
		WebhookEvent: webhookEvent,
	})
	if err != nil {
		h.badPayload(w, err)
		return
	}
	st, err := h.sink.Store(r.Context(), h.name, events)
	h.stats.Accepted.Add(int64(st.Accepted))
	h.stats.Duplicates.Add(int64(st.Duplicates))
	if err != nil {
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
		return
	}
	replyAccepted(w, st.Accepted, st.Duplicates)
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
// or bare hex (Confluence Data Center does not document which it sends).
func (h *Handler) checkSignature(sig string, body []byte) string {
	hexSig := sig
	if alg, rest, ok := strings.Cut(sig, "="); ok {
		if !strings.EqualFold(alg, "sha256") {
			return fmt.Sprintf("unsupported signature algorithm %q: use sha256=<hex>", alg)
		}
		hexSig = rest
	}
	got, err := hex.DecodeString(strings.TrimSpace(hexSig))
	if err != nil || len(got) != sha256.Size {
		return "malformed X-Hub-Signature: want sha256=<64 hex digits>"
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return "signature does not match the body: check the webhook secret"
	}
	return ""
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
// such as curl -d without a Content-Type.
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
		mt == "application/json-lines", mt == "application/x-jsonlines", mt == "text/plain",
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
