package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/internal/natstest"
)

const fixtures = "../../event/testdata/"

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type answer struct {
	code int
	body map[string]any
	hdr  http.Header
}

func post(t *testing.T, h http.Handler, body []byte, hdr map[string]string) answer {
	t.Helper()
	return postTo(t, h, "/webhooks/confluence", body, hdr)
}

func postTo(t *testing.T, h http.Handler, target string, body []byte, hdr map[string]string) answer {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var a answer
	a.code, a.hdr = rec.Code, rec.Header()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &a.body); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body)
	}
	return a
}

func newHandler(t *testing.T, env *natstest.Env, secret string, maxBody int64) *Handler {
	t.Helper()
	h, err := New(config.Source{Name: "confluence", Type: "webhook", Format: "auto", Settings: Config{Secret: config.Secret(secret)}}, env.Streams, Options{MaxBody: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Every accepted event is in the EVENTS stream when 202 comes back, and a
// resent body is counted as duplicates, not stored again.
func TestAcceptedEventsAreStored(t *testing.T) {
	env := natstest.Start(t)
	h := newHandler(t, env, "", 1<<20)
	page := fixture(t, "auditing-events-page.json")
	lines := fixture(t, "soteri-events.jsonl")
	single := fixture(t, "webhook-dc-page_created.json")

	want := 0
	for _, tc := range []struct {
		name string
		body []byte
	}{{"page", page}, {"ndjson", lines}, {"single", single}} {
		n := countEvents(t, tc.body)
		a := post(t, h, tc.body, nil)
		if a.code != http.StatusAccepted || a.body["accepted"] != float64(n) || a.body["duplicates"] != 0.0 {
			t.Fatalf("%s: %d %v, want 202 with %d accepted", tc.name, a.code, a.body, n)
		}
		want += n
		if got := len(env.Events(t)); got != want {
			t.Fatalf("%s: %d events stored when 202 came back, want %d", tc.name, got, want)
		}
	}
	a := post(t, h, lines, nil)
	if a.code != http.StatusAccepted || a.body["accepted"] != 0.0 || a.body["duplicates"] != float64(countEvents(t, lines)) {
		t.Fatalf("resend: %d %v, want everything duplicate", a.code, a.body)
	}
	if got := len(env.Events(t)); got != want {
		t.Fatalf("resend stored %d events, want none", got-want)
	}
	stored, err := event.Decode(env.Events(t)[0])
	if err != nil || stored.Source != "confluence" {
		t.Fatalf("stored event: %+v, %v", stored, err)
	}
}

func countEvents(t *testing.T, body []byte) int {
	t.Helper()
	evs, err := event.Parse(body, event.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func TestRejections(t *testing.T) {
	env := natstest.Start(t)
	const secret = "s3cret-webhook"
	h := newHandler(t, env, secret, 4096)
	ok := []byte(`{"id":"e1","action":"Global setting changed","time":"2024-05-14T10:08:00Z"}`)
	tests := []struct {
		name    string
		method  string
		body    []byte
		hdr     map[string]string
		code    int
		errHas  string
		line    float64
		column  float64
		wantIDs bool
	}{
		{name: "no authentication", body: ok, code: 401, errHas: "authentication required"},
		{name: "wrong bearer", body: ok, hdr: map[string]string{"Authorization": "Bearer nope"}, code: 401, errHas: "wrong bearer token"},
		{name: "basic auth", body: ok, hdr: map[string]string{"Authorization": "Basic eDp5"}, code: 401, errHas: `unsupported Authorization scheme "Basic"`},
		{name: "wrong signature", body: ok, hdr: map[string]string{"X-Hub-Signature": "sha256=" + sign("other", ok)}, code: 401, errHas: "does not match"},
		{name: "malformed signature", body: ok, hdr: map[string]string{"X-Hub-Signature": "sha256=xyz"}, code: 401, errHas: "malformed X-Hub-Signature"},
		{name: "sha1 signature", body: ok, hdr: map[string]string{"X-Hub-Signature": "sha1=abcd"}, code: 401, errHas: `unsupported signature algorithm "sha1"`},
		{name: "signature of another body", body: append([]byte(" "), ok...), hdr: map[string]string{"X-Hub-Signature": "sha256=" + sign(secret, ok)}, code: 401, errHas: "does not match"},
		{name: "bearer", body: ok, hdr: map[string]string{"Authorization": "Bearer " + secret}, code: 202},
		{name: "signature with prefix", body: ok, hdr: map[string]string{"X-Hub-Signature": "sha256=" + sign(secret, ok)}, code: 202},
		{name: "bare signature", body: ok, hdr: map[string]string{"X-Hub-Signature": sign(secret, ok)}, code: 202},
		{name: "GET", method: "GET", hdr: map[string]string{"Authorization": "Bearer " + secret}, code: 405, errHas: "POST"},
		{name: "text/plain", body: ok, hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "text/plain"}, code: 415, errHas: "not JSON"},
		{name: "text/plain with charset", body: ok, hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "text/plain; charset=utf-8"}, code: 415, errHas: "not JSON"},
		{name: "empty object", body: []byte(`{}`), hdr: map[string]string{"Authorization": "Bearer " + secret}, code: 400, errHas: "no event fields", line: 1, column: 1},
		{name: "object with no event field", body: []byte(`{"foo":1}`), hdr: map[string]string{"Authorization": "Bearer " + secret}, code: 400, errHas: "no event fields"},
		{name: "not JSON", body: []byte(`not json`), hdr: map[string]string{"Authorization": "Bearer " + secret}, code: 400, errHas: "not JSON: invalid character 'n'", line: 1, column: 1},
		{name: "form", body: ok, hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/x-www-form-urlencoded"}, code: 415, errHas: "-H 'Content-Type: application/json'"},
		{name: "ndjson type", body: ok, hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/x-ndjson"}, code: 202},
		{name: "no type", body: ok, hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": ""}, code: 202},
		{name: "too large", body: bytes.Repeat([]byte(" "), 4097), hdr: map[string]string{"Authorization": "Bearer " + secret}, code: 413, errHas: "larger than 4096 bytes"},
		{name: "malformed second line", body: []byte("{\"id\":\"a\"}\n{\"id\": \"b\",,}"), hdr: map[string]string{"Authorization": "Bearer " + secret}, code: 400, errHas: "line 2", line: 2, column: 12},
		{name: "empty", body: nil, hdr: map[string]string{"Authorization": "Bearer " + secret}, code: 400, errHas: "empty payload"},
		{name: "not an object", body: []byte(`[1]`), hdr: map[string]string{"Authorization": "Bearer " + secret}, code: 400, errHas: "object 1"},
		{name: "bad time", body: []byte(`{"id":"x","time":"yesterday"}`), hdr: map[string]string{"Authorization": "Bearer " + secret}, code: 400, errHas: "time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(env.Events(t))
			var a answer
			if tc.method == "GET" {
				req := httptest.NewRequest("GET", "/webhooks/confluence", nil)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				a.code = rec.Code
				_ = json.Unmarshal(rec.Body.Bytes(), &a.body)
				if rec.Header().Get("Allow") != "POST" {
					t.Errorf("Allow = %q", rec.Header().Get("Allow"))
				}
			} else {
				a = post(t, h, tc.body, tc.hdr)
			}
			if a.code != tc.code {
				t.Fatalf("code %d, want %d: %v", a.code, tc.code, a.body)
			}
			if tc.code != 202 {
				msg, _ := a.body["error"].(string)
				if !strings.Contains(msg, tc.errHas) {
					t.Errorf("error %q does not say %q", msg, tc.errHas)
				}
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows the secret", msg)
				}
				if got := len(env.Events(t)); got != before {
					t.Errorf("a rejected request stored %d events", got-before)
				}
			}
			if tc.line != 0 && (a.body["line"] != tc.line || a.body["column"] != tc.column) {
				t.Errorf("position = %v:%v, want %v:%v", a.body["line"], a.body["column"], tc.line, tc.column)
			}
		})
	}
}

// When JetStream cannot store, the sender is told so, with the ids that
// were not stored, and those it was told were stored are in the stream.
func TestUnavailableSays503(t *testing.T) {
	env := natstest.Start(t)
	h := newHandler(t, env, "", 1<<20)
	env.Stop()
	body := []byte("{\"id\":\"a\"}\n{\"id\":\"b\"}")
	a := post(t, h, body, nil)
	if a.code != http.StatusServiceUnavailable {
		t.Fatalf("code %d, want 503: %v", a.code, a.body)
	}
	if a.hdr.Get("Retry-After") == "" {
		t.Error("no Retry-After on 503")
	}
	ids, _ := a.body["not_stored"].([]any)
	if len(ids) != 2 || a.body["accepted"] != 0.0 {
		t.Errorf("503 body %v: want both ids not stored", a.body)
	}
}

// A signature covers the body only: on a signed request the query cannot
// name the event, and on any request a ?event= must look like an event
// name. A bearer-authenticated request (the secret's holder) may name it.
func TestQueryEvent(t *testing.T) {
	env := natstest.Start(t)
	const secret = "s3cret-webhook"
	h := newHandler(t, env, secret, 1<<20)
	// A Cloud-style body: no "event" member.
	cloud := []byte(`{"page":{"id":"42","title":"Runbook"},"userAccountId":"5b10","timestamp":1765076400000}`)
	signed := map[string]string{"X-Hub-Signature": "sha256=" + sign(secret, cloud)}
	bearer := map[string]string{"Authorization": "Bearer " + secret}
	tests := []struct {
		name   string
		query  string
		hdr    map[string]string
		code   int
		errHas string
		action string
	}{
		{"signed, no query", "", signed, 202, "", "page"},
		{"signed, event in the query", "?event=page_removed", signed, 400, "not covered by the signature", ""},
		{"signed, another event in the query", "?event=space_permissions_updated", signed, 400, "not covered by the signature", ""},
		{"signed, markup in the query", "?event=%3Cimg%20src%3Dx%3E%20ANY", signed, 400, "not covered by the signature", ""},
		{"bearer, event in the query", "?event=page_removed", bearer, 202, "", "page_removed"},
		{"bearer, markup in the query", "?event=%3Cimg%20src%3Dx%3E%20ANY", bearer, 400, "must be a Confluence event name", ""},
		{"bearer, empty event", "?event=", bearer, 400, "must be a Confluence event name", ""},
		{"bearer, other query", "?x=1", bearer, 202, "", "page"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Events(t)
			a := postTo(t, h, "/webhooks/confluence"+tc.query, cloud, tc.hdr)
			if a.code != tc.code {
				t.Fatalf("code %d, want %d: %v", a.code, tc.code, a.body)
			}
			after := env.Events(t)
			if tc.code != 202 {
				if msg, _ := a.body["error"].(string); !strings.Contains(msg, tc.errHas) || strings.Contains(msg, "<img") {
					t.Errorf("error %q: want it to say %q, without the query's markup", msg, tc.errHas)
				}
				if len(after) != len(before) {
					t.Errorf("a refused request stored %d events", len(after)-len(before))
				}
				return
			}
			if len(after) == len(before) {
				// Stored before by another case: the same event.
				return
			}
			ev, err := event.Decode(after[len(after)-1])
			if err != nil || ev.Action != tc.action {
				t.Errorf("stored action %q (%v), want %q", ev.Action, err, tc.action)
			}
		})
	}
}

// heldSink holds every Store until release is closed, telling when one
// has started.
type heldSink struct {
	started chan struct{}
	release chan struct{}
	memSink
}

func (s *heldSink) Store(ctx context.Context, source string, events []event.Event) (ingest.Stored, error) {
	s.started <- struct{}{}
	<-s.release
	return s.memSink.Store(ctx, source, events)
}

// Bodies being taken in share one limit: past it a request is answered 503
// with Retry-After before its body is read, and once room is free again it
// is taken.
func TestIngestLimit(t *testing.T) {
	sink := &heldSink{started: make(chan struct{}, 1), release: make(chan struct{})}
	lim := ingest.NewLimiter(1000)
	src := config.Source{Name: "a", Type: "webhook", Format: "auto"}
	h, err := New(src, sink, Options{MaxBody: 1000, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	// A second source shares the limit.
	other, err := New(config.Source{Name: "b", Type: "webhook", Format: "auto"}, sink, Options{MaxBody: 1000, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"1","action":"x"}` + strings.Repeat(" ", 600))
	first := make(chan answer, 1)
	go func() { first <- post(t, h, body, nil) }()
	<-sink.started

	read := &countingReader{r: bytes.NewReader(body)}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/b", read)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	other.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
		!strings.Contains(rec.Body.String(), "max_ingest_bytes") {
		t.Fatalf("over the limit: %d %v %s; want 503 with Retry-After naming max_ingest_bytes", rec.Code, rec.Header(), rec.Body)
	}
	if read.n > 0 {
		t.Errorf("%d bytes of a refused body were read", read.n)
	}
	// A body of unknown length takes max_body_bytes.
	chunked := httptest.NewRequest(http.MethodPost, "/webhooks/b", bytes.NewReader([]byte(`{"id":"2","action":"x"}`)))
	chunked.ContentLength = -1
	rec = httptest.NewRecorder()
	other.ServeHTTP(rec, chunked)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a body of unknown length over the limit: %d %s", rec.Code, rec.Body)
	}

	close(sink.release)
	if a := <-first; a.code != http.StatusAccepted {
		t.Fatalf("first request: %d %v", a.code, a.body)
	}
	sink.started = make(chan struct{}, 1)
	if a := postTo(t, other, "/webhooks/b", body, nil); a.code != http.StatusAccepted {
		t.Errorf("with room again: %d %v, want 202", a.code, a.body)
	}
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// A signed request sent again after the EVENTS stream's dedup window is
// answered as duplicates and not stored again.
func TestSignedReplayAfterDedupWindow(t *testing.T) {
	env := natstest.Start(t)
	ctx := t.Context()
	// A dedup window short enough to pass in the test.
	if _, err := bus.EnsureStreams(ctx, env.JS, bus.StreamOptions{Duplicates: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	replays, err := bus.NewReplays(ctx, env.JS, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cret-webhook"
	h, err := New(config.Source{Name: "confluence", Type: "webhook", Format: "auto", Settings: Config{Secret: config.Secret(secret)}},
		env.Streams, Options{MaxBody: 1 << 20, Replays: replays})
	if err != nil {
		t.Fatal(err)
	}
	body := fixture(t, "webhook-dc-page_created.json")
	signed := map[string]string{"X-Hub-Signature": "sha256=" + sign(secret, body)}
	if a := post(t, h, body, signed); a.code != 202 || a.body["accepted"] != 1.0 {
		t.Fatalf("first: %d %v", a.code, a.body)
	}
	time.Sleep(300 * time.Millisecond) // past the stream's dedup window
	if a := post(t, h, body, signed); a.code != 202 || a.body["accepted"] != 0.0 || a.body["duplicates"] != 1.0 {
		t.Fatalf("replayed: %d %v, want a duplicate", a.code, a.body)
	}
	if n := len(env.Events(t)); n != 1 {
		t.Errorf("%d events stored, want 1", n)
	}
}
