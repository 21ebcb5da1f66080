package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
	ingestwebhook "github.com/alerter/alerter/ingest/webhook"
	"github.com/alerter/alerter/internal/syncbuf"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var fixedTime = time.Date(2024, 5, 14, 10, 8, 0, 12_000_000, time.UTC)

const (
	secret    = "hMaC-SeCrEt-0123456789"
	bearer    = "Bearer hEaDeR-ToKeN-abcdef"
	pathToken = "PaThToKeN-9876543210"
	queryKey  = "QuErY-KeY-555"
)

type syncBuffer struct{ syncbuf.Buffer }

// receiver is a webhook target: it checks the signature with its own
// HMAC computation, and answers as told.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	mode     notifiertest.Mode
	status   int
	body     string
	header   http.Header
	requests []*http.Request
	bodies   [][]byte
	received int
	release  chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, release: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() { close(r.release) })
	return r
}

func (r *receiver) url() string {
	return r.srv.URL + "/hooks/" + pathToken + "?key=" + queryKey
}

func (r *receiver) set(m notifiertest.Mode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode, r.status, r.body, r.header = m, 0, "", nil
}

func (r *receiver) answerWith(status int, body string, h http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode, r.status, r.body, r.header = notifiertest.OK, status, body, h
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received
}

func (r *receiver) last() (*http.Request, []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.requests) == 0 {
		r.t.Fatal("the receiver got nothing")
	}
	return r.requests[len(r.requests)-1], r.bodies[len(r.bodies)-1]
}

func validSignature(body []byte, got string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(got), []byte(want))
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	r.mu.Lock()
	mode, status, answer, header := r.mode, r.status, r.body, r.header
	r.requests = append(r.requests, req)
	r.bodies = append(r.bodies, body)
	r.mu.Unlock()
	for k, v := range header {
		w.Header()[k] = v
	}
	switch {
	case mode == notifiertest.Hang:
		select {
		case <-req.Context().Done():
		case <-r.release:
		}
		return
	case mode == notifiertest.RateLimit:
		w.Header().Set("Retry-After", "7")
		http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
		return
	case mode == notifiertest.Down:
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	case mode == notifiertest.Reject:
		http.Error(w, `{"error":"unknown tenant"}`, http.StatusUnprocessableEntity)
		return
	case status != 0:
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
		return
	}
	switch {
	case req.Method != http.MethodPost:
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
	case req.URL.Path != "/hooks/"+pathToken || req.URL.Query().Get("key") != queryKey:
		http.Error(w, "no such hook", http.StatusNotFound)
	case req.Header.Get("Authorization") != bearer:
		http.Error(w, "bad token", http.StatusUnauthorized)
	case !validSignature(body, req.Header.Get("X-Hub-Signature")):
		http.Error(w, "bad signature", http.StatusUnauthorized)
	case req.Header.Get("Content-Type") != "application/json":
		http.Error(w, "JSON only", http.StatusUnsupportedMediaType)
	case !json.Valid(body):
		http.Error(w, "not JSON", http.StatusBadRequest)
	default:
		r.mu.Lock()
		r.received++
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
}

func newNotifier(t *testing.T, target string, logs *syncBuffer) *Notifier {
	t.Helper()
	if logs == nil {
		logs = &syncBuffer{}
	}
	n, err := New(config.Notifier{
		Name: "hook", Type: Type, Settings: Config{URL: target, Secret: secret,
			Headers: map[string]config.Secret{"Authorization": bearer, "X-Tenant": "secops-tenant-id"}},
	}, Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConformance(t *testing.T) {
	notifiertest.Run(t, func(t *testing.T) notifiertest.Target {
		r := newReceiver(t)
		logs := &syncBuffer{}
		n := newNotifier(t, r.url(), logs)
		return notifiertest.Target{
			Notify: n.Notify, Set: r.set, Received: r.count, Logs: logs.String,
			Secrets: []string{secret, bearer, "hEaDeR-ToKeN-abcdef", "secops-tenant-id", pathToken, queryKey, r.url()},
		}
	})
}

// TestRequest checks what the target receives: the headers, the
// signature (recomputed here), and a body that decodes back to the alert.
func TestRequest(t *testing.T) {
	r := newReceiver(t)
	a := notifiers.Sample("critical", fixedTime)
	if err := newNotifier(t, r.url(), nil).Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	req, body := r.last()
	for k, want := range map[string]string{
		"Content-Type":        "application/json",
		"User-Agent":          "alerter",
		"X-Alerter-Alert-Id":  a.ID,
		"Authorization":       bearer,
		"X-Tenant":            "secops-tenant-id",
		"X-Hub-Signature-256": req.Header.Get("X-Hub-Signature"),
	} {
		if got := req.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !validSignature(body, req.Header.Get("X-Hub-Signature")) {
		t.Errorf("signature %q does not verify", req.Header.Get("X-Hub-Signature"))
	}
	if !strings.HasPrefix(req.Header.Get("X-Hub-Signature"), "sha256=") || len(req.Header.Get("X-Hub-Signature")) != len("sha256=")+64 {
		t.Errorf("signature format: %q", req.Header.Get("X-Hub-Signature"))
	}

	// The body is the alert of docs/notifications.md: these keys, the event in its normalized shape.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "rule", "name", "severity", "title", "text", "runbook", "labels", "tags", "group",
		"dedup_key", "time", "fired_at", "count", "suppressed", "event", "event_ids"} {
		if _, ok := m[k]; !ok {
			t.Errorf("body has no %q", k)
		}
	}
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(m["event"], &ev); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "time", "source", "format", "system", "category", "category_key", "action", "action_key",
		"summary", "area", "level", "actor", "ip", "node", "method", "objects", "changes", "attrs", "raw"} {
		if _, ok := ev[k]; !ok {
			t.Errorf("body's event has no %q", k)
		}
	}
	var back alerter.Alert
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != a.ID || back.Title != a.Title || back.Text != a.Text || back.Event.Actor.DisplayName != a.Event.Actor.DisplayName ||
		!back.FiredAt.Equal(a.FiredAt) || back.Suppressed != 2 || back.Event.Changes[0] != a.Event.Changes[0] {
		t.Errorf("the body does not decode back to the alert:\n%s", body)
	}
	if string(m["time"]) != `"2024-05-14T10:08:00Z"` || string(m["fired_at"]) != `"2024-05-14T10:08:00.012Z"` {
		t.Errorf("times: %s %s", m["time"], m["fired_at"])
	}
}

// A resolve notification's body is the alert with "status": "resolved",
// who resolved it, when, the verdict, and the id of the alert it
// resolves; an acknowledgement notification's, with "status":
// "acknowledged", who acknowledged it, when, and the id of the alert it
// acknowledges; either with the same dedup_key as the alert's.
func TestNoticeBody(t *testing.T) {
	acted := fixedTime.Add(20 * time.Minute)
	for _, tt := range []struct {
		a    *alerter.Alert
		want map[string]any
	}{
		{notifiers.SampleResolve("critical", fixedTime, acted), map[string]any{
			"id": "01HXV8VQSYBTC29ZQ6YHKQYR13-resolved", "resolves": "01HXV8VQSYBTC29ZQ6YHKQYR13", "status": "resolved",
			"resolved_by": "Ann <Lee> & Co", "resolved_at": "2024-05-14T10:28:00.012Z", "verdict": "false_positive",
			"acknowledges": nil, "dedup_key": "soteri-protection-weakened:6b1f0c2d9e8a7b44"}},
		{notifiers.SampleAck("critical", fixedTime, acted), map[string]any{
			"id": "01HXV8VQSYBTC29ZQ6YHKQYR13-acked", "acknowledges": "01HXV8VQSYBTC29ZQ6YHKQYR13", "status": "acknowledged",
			"acknowledged_by": "Ann <Lee> & Co", "acknowledged_at": "2024-05-14T10:28:00.012Z", "resolves": nil,
			"dedup_key": "soteri-protection-weakened:6b1f0c2d9e8a7b44"}},
	} {
		r := newReceiver(t)
		if err := newNotifier(t, r.url(), nil).Notify(t.Context(), tt.a); err != nil {
			t.Fatal(err)
		}
		req, body := r.last()
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range tt.want {
			if m[k] != v {
				t.Errorf("%s: %s: %v, want %v", tt.a.ID, k, m[k], v)
			}
		}
		if got := req.Header.Get("X-Alerter-Alert-Id"); got != tt.a.ID {
			t.Errorf("X-Alerter-Alert-Id: %q, want %q", got, tt.a.ID)
		}
	}
}

// TestNoSecret: without a secret, no signature header is sent.
func TestNoSecret(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	n, err := New(config.Notifier{Name: "h", Settings: Config{URL: srv.URL, Headers: map[string]config.Secret{
		"User-Agent": "siem-forwarder/2", "X-Alerter-Alert-Id": "forged", "Content-Type": "text/plain", "X-Hub-Signature": "forged",
	}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(t.Context(), notifiers.Sample("low", fixedTime)); err != nil {
		t.Fatal(err)
	}
	if got.Get("X-Hub-Signature") != "" || got.Get("X-Hub-Signature-256") != "" {
		t.Errorf("signed without a secret: %v", got)
	}
	if got.Get("User-Agent") != "siem-forwarder/2" || got.Get("X-Alerter-Alert-Id") != "01HXV8VQSYBTC29ZQ6YHKQYR13" || got.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", got)
	}
}

// TestSignatureAcceptedByAlerter posts to alerter's own webhook source:
// it takes the signature, and refuses a wrong one (401, permanent).
func TestSignatureAcceptedByAlerter(t *testing.T) {
	sink := &countingSink{}
	h, err := ingestwebhook.New(config.Source{Name: "alerts", Type: ingestwebhook.Type, Format: event.FormatJSON, Settings: ingestwebhook.Config{Secret: secret}}, sink, ingestwebhook.Options{MaxBody: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	n, err := New(config.Notifier{Name: "h", Settings: Config{URL: srv.URL + "/webhooks/alerts", Secret: secret}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(t.Context(), notifiers.Sample("high", fixedTime)); err != nil {
		t.Fatalf("alerter's webhook source refused the signed alert: %v", err)
	}
	if sink.n.Load() != 1 {
		t.Errorf("stored %d events", sink.n.Load())
	}
	wrong, err := New(config.Notifier{Name: "h", Settings: Config{URL: srv.URL + "/webhooks/alerts", Secret: "not-the-secret"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = wrong.Notify(t.Context(), notifiers.Sample("high", fixedTime))
	if retry, _ := notifiers.Classify(err); err == nil || retry || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("error shows the secret: %v", err)
	}
}

type countingSink struct{ n atomic.Int64 }

func (s *countingSink) Store(_ context.Context, _ string, events []event.Event) (ingest.Stored, error) {
	s.n.Add(int64(len(events)))
	return ingest.Stored{Accepted: len(events)}, nil
}

func TestGolden(t *testing.T) {
	for _, sev := range []alerter.Severity{"info", "low", "medium", "high", "critical"} {
		t.Run(string(sev), func(t *testing.T) {
			r := newReceiver(t)
			if err := newNotifier(t, r.url(), nil).Notify(t.Context(), notifiers.Sample(sev, fixedTime)); err != nil {
				t.Fatal(err)
			}
			_, got := r.last()
			path := filepath.Join("testdata", string(sev)+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("body differs from %s (go test -update rewrites it)\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
}

func TestClassification(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	long := strings.Repeat("x", 150) + "é" + strings.Repeat("y", 1000)
	for _, tc := range []struct {
		status int
		body   string
		header http.Header
		retry  bool
		after  time.Duration
	}{
		{400, `{"error":"bad alert"}`, nil, false, 0},
		{401, "", nil, false, 0},
		{403, "", nil, false, 0},
		{404, "", nil, false, 0},
		{410, "", nil, false, 0},
		{413, "", nil, false, 0},
		{422, long, nil, false, 0},
		{408, "", nil, true, 0},
		{425, "", nil, true, 0},
		{429, "", nil, true, 0},
		{429, "", http.Header{"Retry-After": {"7"}}, true, 7 * time.Second},
		{503, "", http.Header{"Retry-After": {date}}, true, 90 * time.Second},
		{503, "", http.Header{"Retry-After": {"99999"}}, true, time.Hour},
		{500, "", http.Header{"Retry-After": {"7"}}, true, 0}, // Retry-After is read on 429 and 503 only
		{502, "", nil, true, 0},
		{504, "", nil, true, 0},
		{302, "", http.Header{"Location": {"/elsewhere"}}, false, 0},
		{307, "", http.Header{"Location": {"/elsewhere"}}, false, 0},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			r := newReceiver(t)
			r.answerWith(tc.status, tc.body, tc.header)
			err := newNotifier(t, r.url(), nil).Notify(t.Context(), notifiers.Sample("high", fixedTime))
			if err == nil {
				t.Fatal("no error")
			}
			retry, after := notifiers.Classify(err)
			if retry != tc.retry {
				t.Errorf("%v: retryable %v, want %v", err, retry, tc.retry)
			}
			if after > tc.after || after < tc.after-5*time.Second {
				t.Errorf("%v: after %v, want about %v", err, after, tc.after)
			}
			msg := err.Error()
			if !strings.Contains(msg, "HTTP "+strconv.Itoa(tc.status)) {
				t.Errorf("error %q does not give the status", msg)
			}
			if tc.body == long && (!strings.Contains(msg, strings.Repeat("x", 150)+"é"+strings.Repeat("y", 48)) || strings.Contains(msg, strings.Repeat("y", 49))) {
				t.Errorf("error %q does not hold exactly the body's first 200 bytes", msg)
			} else if tc.body != "" && tc.body != long && !strings.Contains(msg, tc.body) {
				t.Errorf("error %q does not hold the body", msg)
			}
			if tc.status/100 == 3 && r.count() != 0 {
				t.Error("the redirect was followed")
			}
			if tc.status/100 == 3 && !strings.Contains(msg, "redirects are not followed") {
				t.Errorf("error %q does not say why", msg)
			}
			for _, s := range []string{pathToken, queryKey, secret, "hEaDeR-ToKeN"} {
				if strings.Contains(msg, s) {
					t.Errorf("error %q shows %q", msg, s)
				}
			}
		})
	}
	for _, status := range []int{200, 201, 202, 204} {
		r := newReceiver(t)
		r.answerWith(status, "", nil)
		if err := newNotifier(t, r.url(), nil).Notify(t.Context(), notifiers.Sample("high", fixedTime)); err != nil {
			t.Errorf("%d: %v", status, err)
		}
	}
}

// TestEchoedSecrets: a target that echoes the request's headers in its
// error answer does not get them into our error.
func TestEchoedSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "denied: "+r.Header.Get("Authorization")+" "+r.URL.String())
	}))
	defer srv.Close()
	err := newNotifier(t, srv.URL+"/hooks/"+pathToken+"?key="+queryKey, nil).Notify(t.Context(), notifiers.Sample("high", fixedTime))
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{pathToken, queryKey, "hEaDeR-ToKeN"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows %q", err, s)
		}
	}
	if !strings.Contains(err.Error(), "denied: <secret>") {
		t.Errorf("error %q lost the answer", err)
	}
}

// TestNoAnswer: refused connections and timeouts are retryable, and the
// error names scheme and host only.
func TestNoAnswer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	n := newNotifier(t, "http://"+addr+"/hooks/"+pathToken+"?key="+queryKey, nil)
	err = n.Notify(t.Context(), notifiers.Sample("high", fixedTime))
	if retry, _ := notifiers.Classify(err); err == nil || !retry {
		t.Fatalf("refused: %v", err)
	}
	if strings.Contains(err.Error(), pathToken) || strings.Contains(err.Error(), queryKey) || !strings.Contains(err.Error(), "http://"+addr) {
		t.Errorf("error %q", err)
	}

	r := newReceiver(t)
	r.set(notifiertest.Hang)
	n, err = New(config.Notifier{Name: "h", Timeout: yamlx.Duration(50 * time.Millisecond), Settings: Config{URL: r.url()}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(t.Context(), notifiers.Sample("high", fixedTime))
	if retry, _ := notifiers.Classify(err); err == nil || !retry || strings.Contains(err.Error(), pathToken) {
		t.Errorf("timeout: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := n.Notify(ctx, notifiers.Sample("high", fixedTime)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		entry string
		want  string
	}{
		{"{name: h, type: webhook}", "needs url"},
		{"{name: h, type: webhook, url: 'siem.example.com/in?key=" + queryKey + "'}", "not an absolute"},
		{"{name: h, type: webhook, url: 'ftp://siem.example.com/" + pathToken + "'}", "not an absolute"},
		{"{name: h, type: webhook, url: 'https://x', headers: {Bad Name: v}}", "not a header name"},
		{"{name: h, type: webhook, url: 'https://x', headers: {X-A: \"v\\r\\nX-Injected: " + queryKey + "\"}}", "line breaks"},
	} {
		err := notifiertest.Validate(Plugin{}, tc.entry)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.entry, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), queryKey) || strings.Contains(err.Error(), pathToken) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}

// TestHostHeader: a configured Host header sets the request's host.
func TestHostHeader(t *testing.T) {
	var host string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host = r.Host
	}))
	defer srv.Close()
	n, err := New(config.Notifier{Name: "h", Settings: Config{URL: srv.URL, Headers: map[string]config.Secret{"Host": "siem.internal"}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(t.Context(), notifiers.Sample("high", fixedTime)); err != nil {
		t.Fatal(err)
	}
	if host != "siem.internal" {
		t.Errorf("host %q", host)
	}
}
