package pagerduty

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/syncbuf"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testKey is a routing key of the right shape (32 characters).
const testKey = "R0UT1NGKEY0123456789abcdefABCDEF"

// pdServer follows the Events API v2 contract of POST /v2/enqueue: 202
// with {"status":"success"} for a valid event, 400 "invalid event" with
// the errors for an invalid one; and answers as the test sets.
type pdServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	mode    notifiertest.Mode
	status  int    // an answer to give instead, with body and retryAfter
	body    string // for status
	retry   string // Retry-After for status
	events  [][]byte
	release chan struct{}
}

func newPDServer(t *testing.T) *pdServer {
	t.Helper()
	s := &pdServer{release: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.release)
		s.srv.Close()
	})
	return s
}

func (s *pdServer) url() string { return s.srv.URL + "/v2/enqueue" }

func (s *pdServer) set(m notifiertest.Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

func (s *pdServer) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.events...)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *pdServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v2/enqueue" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return
	}
	s.mu.Lock()
	mode, status, sbody, retry := s.mode, s.status, s.body, s.retry
	s.mu.Unlock()
	switch {
	case status != 0:
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, sbody)
		return
	case mode == notifiertest.Hang:
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		return
	case mode == notifiertest.RateLimit:
		w.Header().Set("Retry-After", "7")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"status": "throttle event",
			"message": "Requests for this service are arriving too quickly.  Please retry later."})
		return
	case mode == notifiertest.Down:
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	case mode == notifiertest.Reject:
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event",
			"message": "Event object is invalid", "errors": []string{"Routing key is not recognised"}})
		return
	}
	if len(body) > MaxBody {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid",
			"errors": []string{"Content-Type " + ct}})
		return
	}
	if errs := validate(body); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
		return
	}
	var ev Event
	_ = json.Unmarshal(body, &ev)
	s.mu.Lock()
	s.events = append(s.events, body)
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

// validate checks what the Events API v2 requires of an event: of a
// trigger its payload, of an acknowledge or resolve its dedup_key.
func validate(body []byte) []string {
	var ev struct {
		RoutingKey  *string `json:"routing_key"`
		EventAction string  `json:"event_action"`
		DedupKey    string  `json:"dedup_key"`
		Payload     *struct {
			Summary, Source, Severity, Timestamp string
			CustomDetails                        json.RawMessage `json:"custom_details"`
		} `json:"payload"`
		Links []struct{ Href, Text string } `json:"links"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return []string{"Invalid JSON: " + err.Error()}
	}
	var errs []string
	if ev.RoutingKey == nil || len(*ev.RoutingKey) != 32 {
		errs = append(errs, "Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	if ev.EventAction != "trigger" && ev.EventAction != "acknowledge" && ev.EventAction != "resolve" {
		errs = append(errs, "'event_action' is invalid")
	}
	if utf8.RuneCountInString(ev.DedupKey) > 255 {
		errs = append(errs, "'dedup_key' is too long")
	}
	if ev.EventAction != "trigger" {
		// An acknowledge or resolve names the incident by dedup_key and
		// needs no payload.
		if ev.DedupKey == "" {
			errs = append(errs, "'dedup_key' is missing")
		}
		return errs
	}
	if ev.Payload == nil {
		return append(errs, "'payload' is missing")
	}
	p := ev.Payload
	if p.Summary == "" || utf8.RuneCountInString(p.Summary) > 1024 {
		errs = append(errs, "'payload.summary' is missing or longer than 1024 characters")
	}
	if p.Source == "" {
		errs = append(errs, "'payload.source' is missing")
	}
	switch p.Severity {
	case "critical", "error", "warning", "info":
	default:
		errs = append(errs, "'payload.severity' is invalid (must be one of critical, error, warning, info)")
	}
	if p.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, p.Timestamp); err != nil {
			errs = append(errs, "'payload.timestamp' is invalid")
		}
	}
	if len(p.CustomDetails) > 0 && p.CustomDetails[0] != '{' {
		errs = append(errs, "'payload.custom_details' is not an object")
	}
	for _, l := range ev.Links {
		if l.Href == "" {
			errs = append(errs, "'links.href' is missing")
		}
	}
	return errs
}

type logBuffer struct{ syncbuf.Buffer }

func newNotifier(t *testing.T, url string, logs io.Writer) *Notifier {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	n, err := New(config.Notifier{Name: "pd", Type: Type,
		Timeout: yamlx.Duration(time.Minute), Settings: Config{RoutingKey: testKey, URL: url},
	}, Options{
		ExternalURL: "https://alerter.example.com/",
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConformance(t *testing.T) {
	notifiertest.Run(t, func(t *testing.T) notifiertest.Target {
		s := newPDServer(t)
		logs := &logBuffer{}
		n := newNotifier(t, s.url(), logs)
		return notifiertest.Target{
			Notify:   n.Notify,
			Set:      s.set,
			Received: func() int { return len(s.received()) },
			Secrets:  []string{testKey},
			Logs:     logs.String,
		}
	})
}

// sent is the JSON the server received, decoded.
func sent(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func get(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func TestSeverityMapping(t *testing.T) {
	s := newPDServer(t)
	n := newNotifier(t, s.url(), nil)
	want := map[alerter.Severity]string{
		alerter.Critical: "critical",
		alerter.High:     "error",
		alerter.Medium:   "warning",
		alerter.Low:      "info",
		alerter.Info:     "info",
	}
	for _, sev := range alerter.Severities() {
		if err := n.Notify(t.Context(), notifiers.Sample(sev, time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	got := s.received()
	if len(got) != len(alerter.Severities()) {
		t.Fatalf("%d events", len(got))
	}
	for i, sev := range alerter.Severities() {
		m := sent(t, got[i])
		if v := get(m, "payload", "severity"); v != want[sev] {
			t.Errorf("severity %s sent as %v, want %s", sev, v, want[sev])
		}
		if v := get(m, "payload", "custom_details", "severity"); v != string(sev) {
			t.Errorf("custom_details.severity %v, want %s", v, sev)
		}
	}
}

func TestEvent(t *testing.T) {
	s := newPDServer(t)
	n := newNotifier(t, s.url(), nil)
	a := notifiers.Sample(alerter.High, time.Now())
	if err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	got := s.received()
	if len(got) != 1 {
		t.Fatalf("%d events", len(got))
	}
	m := sent(t, got[0])
	for path, want := range map[string]any{
		"routing_key":                       testKey,
		"event_action":                      "trigger",
		"dedup_key":                         "soteri-protection-weakened:6b1f0c2d9e8a7b44",
		"client":                            "alerter",
		"client_url":                        "https://alerter.example.com/alerts/01HXV8VQSYBTC29ZQ6YHKQYR13",
		"payload.summary":                   "Ming <Chen> & Co (mchen) weakened Soteri protection",
		"payload.source":                    "https://confluence.example.com",
		"payload.severity":                  "error",
		"payload.timestamp":                 "2024-05-14T10:08:00Z",
		"payload.component":                 "Soteri Security for Confluence",
		"payload.group":                     "soteri-protection-weakened",
		"payload.class":                     "Global setting changed",
		"payload.custom_details.alert_id":   "01HXV8VQSYBTC29ZQ6YHKQYR13",
		"payload.custom_details.rule":       "soteri-protection-weakened",
		"payload.custom_details.actor.name": "mchen",
		"payload.custom_details.actor.display_name": "Ming <Chen> & Co",
		"payload.custom_details.ip":                 "198.51.100.7",
		"payload.custom_details.count":              1.0,
		"payload.custom_details.suppressed":         2.0,
		"payload.custom_details.attrs.Setting":      "securityHook",
		"payload.custom_details.text":               a.Text,
	} {
		if v := get(m, strings.Split(path, ".")...); v != want {
			t.Errorf("%s = %#v, want %#v", path, v, want)
		}
	}
	if g, _ := get(m, "payload", "custom_details", "group").(map[string]any); g["event.actor.name"] != "mchen" {
		t.Errorf("custom_details.group = %v", g)
	}
	d := get(m, "payload", "custom_details").(map[string]any)
	objs, _ := json.Marshal(d["objects"])
	chs, _ := json.Marshal(d["changes"])
	if string(objs) != `[{"id":"98305","name":"Finance \u0026 Payroll","type":"Space","uri":"https://confluence.example.com/display/FIN"}]` {
		t.Errorf("objects %s", objs)
	}
	if string(chs) != `[{"from":"Enabled","key":"Security hook (scan content on publish)","to":"Disabled"}]` {
		t.Errorf("changes %s", chs)
	}
	links, _ := json.Marshal(m["links"])
	if string(links) != `[{"href":"https://wiki.example.com/runbooks/soteri-settings","text":"Runbook"},`+
		`{"href":"https://alerter.example.com/alerts/01HXV8VQSYBTC29ZQ6YHKQYR13","text":"Alert in alerter"},`+
		`{"href":"https://alerter.example.com/silences?alert=01HXV8VQSYBTC29ZQ6YHKQYR13","text":"Silence similar in alerter"}]` {
		t.Errorf("links %s", links)
	}
	if _, ok := d["raw"]; ok {
		t.Errorf("custom_details carries the raw payload")
	}
}

// A resolve or an acknowledgement notification resolves or acknowledges
// the incident its alert triggered: the same routing key and dedup_key,
// event_action resolve or acknowledge, which the Events API accepts
// without a payload.
func TestResolveAndAcknowledge(t *testing.T) {
	fired := time.Now()
	for _, tt := range []struct {
		action string
		notice func(alerter.Severity, time.Time, time.Time) *alerter.Alert
	}{
		{"resolve", notifiers.SampleResolve},
		{"acknowledge", notifiers.SampleAck},
	} {
		t.Run(tt.action, func(t *testing.T) {
			s := newPDServer(t)
			n := newNotifier(t, s.url(), nil)
			long := tt.notice(alerter.High, fired, fired.Add(time.Minute))
			long.DedupKey = strings.Repeat("k", 300)
			for _, a := range []*alerter.Alert{notifiers.Sample(alerter.High, fired), tt.notice(alerter.High, fired, fired.Add(time.Minute)), long} {
				if err := n.Notify(t.Context(), a); err != nil {
					t.Fatalf("%s: %v", a.ID, err)
				}
			}
			got := s.received()
			if len(got) != 3 {
				t.Fatalf("%d events, want 3", len(got))
			}
			want := `{"routing_key":"` + testKey + `","event_action":"` + tt.action + `","dedup_key":"soteri-protection-weakened:6b1f0c2d9e8a7b44"}`
			if string(got[1]) != want {
				t.Errorf("%s sent\n%s\nwant\n%s", tt.action, got[1], want)
			}
			if m := sent(t, got[0]); m["dedup_key"] != sent(t, got[1])["dedup_key"] {
				t.Errorf("the %s's dedup_key %v is not the trigger's %v", tt.action, sent(t, got[1])["dedup_key"], m["dedup_key"])
			}
			if k := sent(t, got[2])["dedup_key"]; k != dedupKey(long.DedupKey) {
				t.Errorf("a long dedup_key is sent as %v, want it as triggered, %s", k, dedupKey(long.DedupKey))
			}
			noKey := tt.notice(alerter.High, fired, fired)
			noKey.DedupKey = ""
			if err := n.Notify(t.Context(), noKey); err == nil {
				t.Errorf("a %s without a dedup_key was sent", tt.action)
			} else if retry, _ := notifiers.Classify(err); retry {
				t.Errorf("a %s without a dedup_key: %v, want a permanent error", tt.action, err)
			}
		})
	}
}

func TestEventFallbacks(t *testing.T) {
	s := newPDServer(t)
	n, err := New(config.Notifier{Settings: Config{RoutingKey: testKey, URL: s.url()}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := notifiers.Sample(alerter.Low, time.Now())
	a.Event.System, a.Event.Category = "", ""
	a.Runbook = "javascript:alert(1)"
	a.Title = "two\r\nlines"
	if err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	a = notifiers.Sample(alerter.Info, time.Now())
	a.Event = nil
	a.Title = ""
	if err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	got := s.received()
	m := sent(t, got[0])
	if v := get(m, "payload", "source"); v != "alerter" {
		t.Errorf("source %v, want alerter without event.system", v)
	}
	if v := get(m, "payload", "component"); v != "confluence" {
		t.Errorf("component %v, want the event's source without a category", v)
	}
	if v := get(m, "payload", "summary"); v != "two lines" {
		t.Errorf("summary %q", v)
	}
	if _, ok := m["links"]; ok {
		t.Errorf("links %v: neither a javascript: runbook nor a UI link without external_url", m["links"])
	}
	if _, ok := m["client_url"]; ok {
		t.Errorf("client_url without external_url")
	}
	m = sent(t, got[1])
	if get(m, "payload", "source") != "alerter" || get(m, "payload", "summary") != "Soteri protection weakened" {
		t.Errorf("an alert without event or title: %s", got[1])
	}
}

func TestSummaryTruncated(t *testing.T) {
	s := newPDServer(t)
	n := newNotifier(t, s.url(), nil)
	for _, title := range []string{strings.Repeat("a", 2000), strings.Repeat("→", 1500), strings.Repeat("x", 1024)} {
		a := notifiers.Sample(alerter.Critical, time.Now())
		a.Title = title
		if err := n.Notify(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	got := s.received()
	for i, want := range []string{strings.Repeat("a", 1023) + "…", strings.Repeat("→", 1023) + "…", strings.Repeat("x", 1024)} {
		if v := get(sent(t, got[i]), "payload", "summary"); v != want {
			t.Errorf("summary %d: %d characters, want %d ending %q", i, utf8.RuneCountInString(v.(string)), utf8.RuneCountInString(want), want[len(want)-3:])
		}
	}
}

func TestDedupKey(t *testing.T) {
	s := newPDServer(t)
	n := newNotifier(t, s.url(), nil)
	long := "rule-" + strings.Repeat("é", 200) + ":" // 406 bytes
	keys := map[string]bool{}
	for _, k := range []string{long + "a", long + "a", long + "b"} {
		a := notifiers.Sample(alerter.High, time.Now())
		a.DedupKey = k
		if err := n.Notify(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range s.received() {
		k := get(sent(t, b), "dedup_key").(string)
		if len(k) > MaxDedupKey || !utf8.ValidString(k) || !strings.HasPrefix(k, "rule-éé") {
			t.Errorf("dedup_key %q (%d bytes)", k, len(k))
		}
		keys[k] = true
	}
	if len(keys) != 2 {
		t.Errorf("dedup keys %v: want the same long key sent the same, different keys different", keys)
	}
}

func TestClassifies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		retry  string
		want   bool
		after  time.Duration
		text   string // in the error
	}{
		{"400 invalid event", 400, `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.severity' is invalid","'payload.source' is missing"]}`,
			"", false, 0, "400 Bad Request: invalid event: Event object is invalid ('payload.severity' is invalid; 'payload.source' is missing)"},
		{"400 quoting the routing key", 400, `{"status":"invalid event","message":"Event object is invalid","errors":["routing_key ` + testKey + ` is not known"]}`,
			"", false, 0, "(routing_key <routing key> is not known)"},
		{"429 without Retry-After", 429, `{"status":"throttle event"}`, "", true, 0, "429 Too Many Requests: throttle event"},
		{"429 with an HTTP date", 429, ``, time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), true, -1, "429"},
		{"500", 500, "Internal Server Error", "", true, 0, `500 Internal Server Error: "Internal Server Error"`},
		{"502 HTML", 502, "<html><body>Bad gateway</body></html>", "", true, 0, "502 Bad Gateway"},
		{"503 with Retry-After", 503, "", "30", true, 30 * time.Second, "503"},
		{"408", 408, "", "", true, 0, "408"},
		{"401", 401, "", "", false, 0, "401"},
		{"403", 403, "", "", false, 0, "403"},
		{"404 (a wrong url)", 404, "404 page not found", "", false, 0, "404"},
		{"413", 413, "", "", false, 0, "413"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newPDServer(t)
			s.status, s.body, s.retry = tc.status, tc.body, tc.retry
			logs := &logBuffer{}
			n := newNotifier(t, s.url(), logs)
			err := n.Notify(t.Context(), notifiers.Sample(alerter.Critical, time.Now()))
			if err == nil {
				t.Fatal("no error")
			}
			retry, after := notifiers.Classify(err)
			if retry != tc.want {
				t.Errorf("%v: retryable %v, want %v", err, retry, tc.want)
			}
			if tc.after >= 0 && after != tc.after {
				t.Errorf("%v: after %v, want %v", err, after, tc.after)
			}
			if tc.after < 0 && (after < 60*time.Second || after > 90*time.Second) {
				t.Errorf("%v: after %v, want about 90s", err, after)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q lacks %q", err, tc.text)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tc.status {
				t.Errorf("%v is not a StatusError %d", err, tc.status)
			}
			for _, text := range []string{err.Error(), logs.String()} {
				if strings.Contains(text, testKey) {
					t.Errorf("the routing key appears in %q", text)
				}
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		s := newPDServer(t)
		url := s.url()
		s.srv.Close()
		err := newNotifier(t, url, nil).Notify(t.Context(), notifiers.Sample(alerter.Critical, time.Now()))
		if retry, _ := notifiers.Classify(err); err == nil || !retry {
			t.Errorf("%v: want a retryable error", err)
		}
	})
}

func TestTimeout(t *testing.T) {
	s := newPDServer(t)
	s.set(notifiertest.Hang)
	n, err := New(config.Notifier{Timeout: yamlx.Duration(50 * time.Millisecond), Settings: Config{RoutingKey: testKey, URL: s.url()}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(t.Context(), notifiers.Sample(alerter.Critical, time.Now()))
	if retry, _ := notifiers.Classify(err); err == nil || !retry {
		t.Fatalf("%v: want a retryable error", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not wrap context.DeadlineExceeded", err)
	}
}

func TestBodyLimit(t *testing.T) {
	big := strings.Repeat("x", 100_000)
	for _, tc := range []struct {
		name string
		edit func(a *alerter.Alert)
	}{
		{"long changes", func(a *alerter.Alert) {
			for i := range 20 {
				a.Event.Changes = append(a.Event.Changes, event.Change{Key: fmt.Sprint("k", i), From: big, To: big})
			}
		}},
		{"many objects", func(a *alerter.Alert) {
			for i := range 20_000 {
				a.Event.Objects = append(a.Event.Objects, event.Object{Type: "Page", ID: fmt.Sprint(i), Name: strings.Repeat("n", 40)})
			}
		}},
		{"huge text and group", func(a *alerter.Alert) {
			a.Text = strings.Repeat(big, 8)
			a.Group = map[string]string{"event.attrs.x": strings.Repeat(big, 6)}
		}},
		{"huge everything", func(a *alerter.Alert) {
			a.Title = strings.Repeat(big, 3)
			a.Event.System = strings.Repeat(big, 3)
			a.Event.Category = strings.Repeat(big, 3)
			a.Event.Action = strings.Repeat(big, 3)
			a.Rule = strings.Repeat(big, 3)
			a.Event.Attrs = map[string]string{"a": strings.Repeat(big, 10)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newPDServer(t)
			n := newNotifier(t, s.url(), nil)
			a := notifiers.Sample(alerter.Critical, time.Now())
			tc.edit(a)
			if err := n.Notify(t.Context(), a); err != nil {
				t.Fatal(err)
			}
			got := s.received()
			if len(got) != 1 || len(got[0]) > MaxBody {
				t.Fatalf("%d events, %d bytes", len(got), len(got[0]))
			}
			m := sent(t, got[0])
			if get(m, "payload", "custom_details", "truncated") != true || get(m, "payload", "custom_details", "alert_id") != a.ID {
				t.Errorf("custom_details not marked truncated, or without the alert id: %.300s", got[0])
			}
			if get(m, "dedup_key") != a.DedupKey || get(m, "payload", "severity") != "critical" {
				t.Errorf("the trimmed event lost its identity: %.300s", got[0])
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		entry string
		want  string
	}{
		{"{name: p, type: pagerduty}", "needs routing_key"},
		{"{name: p, type: pagerduty, routing_key: " + testKey + ", url: 'ftp://example.com/x'}", "url"},
		{"{name: p, type: pagerduty, routing_key: " + testKey + ", url: /v2/enqueue}", "url"},
	} {
		err := notifiertest.Validate(Plugin{}, tc.entry)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), testKey) {
			t.Errorf("%s: %v, want an error about %s", tc.entry, err, tc.want)
		}
	}
	n, err := New(config.Notifier{Settings: Config{RoutingKey: testKey}}, Options{})
	if err != nil || n.url != DefaultURL || n.timeout != config.DefaultNotifierTimeout {
		t.Errorf("defaults: %v, %q, %v", err, n.url, n.timeout)
	}
}

// TestGolden renders notifiers.Sample for each severity as the request
// body, indented, and compares it byte for byte with
// testdata/<severity>.golden (go test -update rewrites them).
func TestGolden(t *testing.T) {
	fired := time.Date(2024, 5, 14, 10, 8, 0, 12e6, time.UTC)
	n, err := New(config.Notifier{Settings: Config{RoutingKey: testKey}}, Options{ExternalURL: "https://alerter.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sev := range alerter.Severities() {
		t.Run(string(sev), func(t *testing.T) {
			body, err := n.body(notifiers.Sample(sev, fired))
			if err != nil {
				t.Fatal(err)
			}
			if errs := validate(body); len(errs) > 0 {
				t.Errorf("the Events API would refuse it: %v", errs)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, body, "", "  "); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			path := filepath.Join("testdata", string(sev)+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs from the body (go test -update rewrites it):\n%s", path, got.Bytes())
			}
		})
	}
}
