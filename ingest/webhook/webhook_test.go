package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
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
	req := httptest.NewRequest(http.MethodPost, "/webhooks/confluence", bytes.NewReader(body))
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
	h, err := New(config.Source{Name: "confluence", Type: "webhook", Format: "auto", Secret: config.Secret(secret)}, env.Streams, Options{MaxBody: maxBody})
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
