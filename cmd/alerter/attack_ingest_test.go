package main

// Attacks on ingest: memory, signed webhooks, event identity, credentials.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/internal/natscluster"
)

// ndjson returns about size bytes of JSON lines, each a distinct event of
// run (so none is a duplicate of another request's).
func ndjson(run, size int) []byte {
	var b bytes.Buffer
	for i := 0; ; i++ {
		line := fmt.Sprintf(`{"id":"r%d-e%d","action":"Login failed","actor":{"name":"u%d"}}`+"\n", run, i, i%97)
		if b.Len()+len(line) > size {
			return b.Bytes()
		}
		b.WriteString(line)
	}
}

// peakRSS samples the process's RSS until stop is closed, and returns the
// highest.
func peakRSS(tg *target, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, tg.rssBytes())
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// TestAttackIngestMemory posts 12 NDJSON bodies of 1 MiB at once: the
// process stays within a memory bound, what it cannot take now is refused
// with 503 and Retry-After before the body is read, and every event a 202
// counts is stored.
func TestAttackIngestMemory(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	// A post admitted waits for its events to be stored, which takes long
	// on a loaded machine.
	client := &http.Client{Timeout: 2 * time.Minute}
	before := tg.rssBytes()
	stop := make(chan struct{})
	peak := peakRSS(tg, stop)

	const posts = 12
	var (
		wg       sync.WaitGroup
		accepted atomic.Int64
		refused  atomic.Int64 // at the ingest limit, unread
		partial  atomic.Int64 // some events not stored
		mu       sync.Mutex
		errs     []string
	)
	for run := range posts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := ndjson(run, 1<<20)
			req, _ := http.NewRequest("POST", tg.url+"/webhooks/hook", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := client.Do(req)
			if err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			switch resp.StatusCode {
			case http.StatusAccepted:
				var a struct{ Accepted, Duplicates int64 }
				if err := json.Unmarshal(b, &a); err != nil {
					t.Errorf("202 answer %q: %v", b, err)
				}
				accepted.Add(a.Accepted + a.Duplicates)
			case http.StatusServiceUnavailable:
				// Refused before reading, or some events not stored (the
				// answer then counts those that were).
				var a struct {
					Error      string
					Accepted   int64
					Duplicates int64
				}
				if err := json.Unmarshal(b, &a); err != nil || a.Error == "" || resp.Header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After or a JSON error: %v %s", resp.Header, b)
				}
				accepted.Add(a.Accepted + a.Duplicates)
				if strings.Contains(a.Error, "max_ingest_bytes") {
					refused.Add(1)
				} else {
					partial.Add(1)
				}
			default:
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%d %s", resp.StatusCode, b))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	p := <-peak
	t.Logf("RSS before %d MB, peak %d MB; %d events accepted, %d posts refused at the limit, %d partly stored",
		before>>20, p>>20, accepted.Load(), refused.Load(), partial.Load())
	if len(errs) > 0 {
		t.Fatalf("unexpected answers: %v", errs)
	}
	tg.mustBeAlive()
	if p > 400<<20 && !raceEnabled {
		t.Errorf("RSS reached %d MB under 12 concurrent 1 MiB posts; want < 400 MB", p>>20)
	}
	if accepted.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("%d events accepted, %d posts refused at the limit; want some of each", accepted.Load(), refused.Load())
	}
	// Events a 503 listed as not stored may be stored all the same (the
	// ack was late): more may be stored than answered, never fewer.
	if n := evaluatedEvents(t, tg, accepted.Load()); n < accepted.Load() {
		t.Errorf("%d events stored, %d answered as accepted: %d lost", n, accepted.Load(), accepted.Load()-n)
	}
}

// metric sums the samples of a metric of /metrics.
func metric(t *testing.T, tg *target, name string) int64 {
	t.Helper()
	code, body := tg.do(request{method: "GET", path: "/metrics"})
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	var n float64
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, name); ok && (rest[0] == ' ' || rest[0] == '{') {
			var v float64
			f := strings.Fields(rest)
			fmt.Sscan(f[len(f)-1], &v)
			n += v
		}
	}
	return int64(n)
}

// evaluatedEvents waits until the evaluator has taken want events from the
// EVENTS stream (each stored event is evaluated once), and returns how many
// it took: the events stored.
func evaluatedEvents(t *testing.T, tg *target, want int64) int64 {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n := metric(t, tg, "alerter_events_evaluated_total")
		if n >= want || time.Now().After(deadline) {
			// A moment more, to see any event stored beyond want.
			time.Sleep(200 * time.Millisecond)
			return metric(t, tg, "alerter_events_evaluated_total")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hookSecret is the secret of the signed webhook source of these attacks.
const hookSecret = "hook-secret-5e1f"

func signBody(body []byte) string {
	m := hmac.New(sha256.New, []byte(hookSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// listEvents returns the stored events, newest first.
func listEvents(t *testing.T, tg *target) []map[string]any {
	t.Helper()
	code, body := tg.do(request{method: "GET", path: "/api/v1/events?limit=500"})
	if code != 200 {
		t.Fatalf("GET /api/v1/events: %d %s", code, body)
	}
	var page struct {
		Events []struct {
			Event map[string]any `json:"event"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatalf("events: %v", err)
	}
	events := make([]map[string]any, len(page.Events))
	for i, e := range page.Events {
		events[i] = e.Event
	}
	return events
}

// TestAttackSignedWebhook: a signature covers the body only. A captured
// signed Cloud-style body (no "event" member) sent with ?event= naming
// another event, or markup, is refused; and the same signed request sent
// again after the EVENTS stream's dedup window is a duplicate.
func TestAttackSignedWebhook(t *testing.T) {
	const natsToken = "attack-test-nats-token"
	natsPort := natscluster.FreePort(t)
	tg := startTarget(t, targetConfig{
		nats: fmt.Sprintf("listen: \"127.0.0.1:%d\", token: %s", natsPort, natsToken),
		rest: fmt.Sprintf(`
sources: [{name: conf, type: webhook, secret: %q}]
notifiers: [{name: console, type: console}]
routes: {default: [console]}
`, hookSecret),
	})
	body := []byte(`{"page":{"id":"42","title":"Runbook"},"userAccountId":"5b10","timestamp":1765076400000}`)
	signed := map[string]string{"X-Hub-Signature": signBody(body)}
	for _, q := range []string{"?event=page_removed", "?event=space_permissions_updated", "?event=%3Cimg%20src%3Dx%3E%20ANY"} {
		code, answer := tg.do(request{method: "POST", path: "/webhooks/conf" + q, body: body, header: signed})
		if code != http.StatusBadRequest || !strings.Contains(answer, "not covered by the signature") {
			t.Errorf("signed body with %s: %d %s; want 400", q, code, answer)
		}
	}
	code, answer := tg.do(request{method: "POST", path: "/webhooks/conf", body: body, header: signed})
	if code != http.StatusAccepted || !strings.Contains(answer, `"accepted":1`) {
		t.Fatalf("signed body: %d %s", code, answer)
	}
	events := listEvents(t, tg)
	if len(events) != 1 || events[0]["action"] != "page" {
		t.Fatalf("stored %d events, first %v; want the one from the body", len(events), events)
	}

	// The replay, after the dedup window: shortened here through the NATS
	// port so as not to wait minutes.
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", natsPort), nats.Token(natsToken))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(t.Context(), "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.Duplicates = 100 * time.Millisecond
	if _, err := js.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	code, answer = tg.do(request{method: "POST", path: "/webhooks/conf", body: body, header: signed})
	if code != http.StatusAccepted || !strings.Contains(answer, `"accepted":0,"duplicates":1`) {
		t.Errorf("signed request replayed after the dedup window: %d %s; want a duplicate", code, answer)
	}
	if n := len(listEvents(t, tg)); n != 1 {
		t.Errorf("%d events stored after the replay, want 1", n)
	}
	tg.mustBeAlive()
}

// TestAttackEventIdentity: two events without id or time that differ only
// in the actor's name are two events, stored with the time they came in;
// the same body sent again is a duplicate.
func TestAttackEventIdentity(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	carol := []byte(`{"action":"Login failed","actor":{"name":"carol"}}`)
	dave := []byte(`{"action":"Login failed","actor":{"name":"dave"}}`)
	for _, tc := range []struct {
		body []byte
		want string
	}{{carol, `{"accepted":1,"duplicates":0}`}, {dave, `{"accepted":1,"duplicates":0}`}, {carol, `{"accepted":0,"duplicates":1}`}} {
		code, answer := tg.do(request{method: "POST", path: "/webhooks/hook", body: tc.body})
		if code != http.StatusAccepted || strings.TrimSpace(answer) != tc.want {
			t.Errorf("%s: %d %s; want %s", tc.body, code, answer, tc.want)
		}
	}
	events := listEvents(t, tg)
	if len(events) != 2 {
		t.Fatalf("%d events stored, want 2", len(events))
	}
	for _, ev := range events {
		tm, err := time.Parse(time.RFC3339Nano, fmt.Sprint(ev["time"]))
		if err != nil || time.Since(tm) > time.Hour || time.Since(tm) < -time.Minute {
			t.Errorf("event %v stored with time %v; want the time it came in", ev["id"], ev["time"])
		}
	}
	tg.mustBeAlive()
}

// TestAttackWebhookAnswers: what is no JSON event gets a clear error and
// stores nothing.
func TestAttackWebhookAnswers(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	for _, tc := range []struct {
		name, contentType, body string
		code                    int
		says                    string
	}{
		{"a form's text/plain", "text/plain", `{"action":"Login failed"}`, 415, "not JSON"},
		{"an empty object", "application/json", `{}`, 400, "no event fields"},
		{"an object that is no event", "application/json", `{"foo":1}`, 400, "no event fields"},
		{"not JSON", "application/json", `not json`, 400, "not JSON: invalid character 'n'"},
		{"not JSON either", "application/json", `this is not json`, 400, "not JSON: invalid character 't'"},
	} {
		code, answer := tg.do(request{method: "POST", path: "/webhooks/hook", body: []byte(tc.body), header: map[string]string{"Content-Type": tc.contentType}})
		var a struct{ Error string }
		if err := json.Unmarshal([]byte(answer), &a); code != tc.code || err != nil || !strings.Contains(a.Error, tc.says) {
			t.Errorf("%s: %d %s; want %d with an error saying %q", tc.name, code, answer, tc.code, tc.says)
		}
	}
	if n := len(listEvents(t, tg)); n != 0 {
		t.Errorf("%d events stored, want none", n)
	}
	tg.mustBeAlive()
}

// TestAttackPollerRedirect: the Confluence server (or whoever answers for
// base_url) redirects the poller to another port of the same host, where Go
// would send the token along: no request with credentials reaches it.
func TestAttackPollerRedirect(t *testing.T) {
	const pat = "PAT-confluence-8d2c"
	var reached, withAuth atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.Header.Get("Authorization") != "" {
			withAuth.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"entities":[],"pagingInfo":{}}`))
	}))
	defer elsewhere.Close()
	var polled atomic.Int64
	base := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		polled.Add(1)
		http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	defer base.Close()
	tg := startTarget(t, targetConfig{rest: fmt.Sprintf(`
sources: [{name: dc, type: confluence-poll, base_url: %q, token: %q, interval: 1s}]
notifiers: [{name: console, type: console}]
routes: {default: [console]}
`, base.URL, pat)})
	deadline := time.Now().Add(20 * time.Second)
	for polled.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if polled.Load() == 0 {
		t.Fatalf("the poller never asked base_url:\n%s", lastLines(tg.output(), 20))
	}
	if n := withAuth.Load(); n > 0 {
		t.Errorf("%d requests with the token reached %s", n, elsewhere.URL)
	}
	out := tg.output()
	if !strings.Contains(out, "redirected to "+elsewhere.URL) {
		t.Errorf("the logs do not say where base_url redirected to:\n%s", lastLines(out, 20))
	}
	if strings.Contains(out, pat) {
		t.Error("the logs show the token")
	}
	tg.mustBeAlive()
}

// echoingSMTP is an SMTP server that refuses every AUTH PLAIN, quoting the
// blob it got (base64 of "\0user\0password"), as some servers do in their
// replies and logs.
type echoingSMTP struct{}

func (echoingSMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &echoSession{}, nil }

type echoSession struct{}

func (*echoSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (*echoSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		blob := base64.StdEncoding.EncodeToString([]byte(identity + "\x00" + username + "\x00" + password))
		return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed for " + blob}
	}), nil
}
func (*echoSession) Mail(string, *smtp.MailOptions) error { return smtp.ErrAuthRequired }
func (*echoSession) Rcpt(string, *smtp.RcptOptions) error { return smtp.ErrAuthRequired }
func (*echoSession) Data(io.Reader) error                 { return smtp.ErrAuthRequired }
func (*echoSession) Reset()                               {}
func (*echoSession) Logout() error                        { return nil }

// TestAttackSMTPAuthEcho: an SMTP server that echoes the AUTH data puts no
// credential, in any encoding, into the test notification's answer, the
// dead letter or the logs.
func TestAttackSMTPAuthEcho(t *testing.T) {
	const user, pass = "alerter", "SMTPPASSWORD-xyz"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(echoingSMTP{})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	tg := startTarget(t, targetConfig{
		env: []string{"SMTP_PASSWORD=" + pass},
		rest: fmt.Sprintf(`
sources: [{name: hook, type: webhook}]
notifiers: [{name: mail, type: email, host: 127.0.0.1, port: %d, tls: none, username: %s, password: "${SMTP_PASSWORD}",
  from: alerter@example.com, to: [secops@example.com], max_attempts: 1}]
routes: {default: [mail]}
`, ln.Addr().(*net.TCPAddr).Port, user),
	})
	blob := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	leaks := []string{pass, blob, strings.TrimRight(blob, "=")}
	check := func(where, text string) {
		t.Helper()
		for _, l := range leaks {
			if strings.Contains(text, l) {
				t.Errorf("%s shows %q:\n%s", where, l, lastLines(text, 10))
			}
		}
	}

	code, answer := tg.do(request{method: "POST", path: "/api/v1/notifiers/mail/test", body: []byte(`{}`)})
	var result struct{ Error string }
	if err := json.Unmarshal([]byte(answer), &result); code != 200 || err != nil ||
		!strings.Contains(result.Error, "Authentication failed for <secret>") {
		t.Errorf("test notification: %d %s; want the server's refusal, scrubbed", code, answer)
	}
	check("the test notification's answer", answer)

	// An alert whose delivery fails for good becomes a dead letter.
	ev := []byte(`{"id":"smtp-1","time":"2026-12-07T03:00:00Z","action":"Global setting changed","actor":{"name":"mallory"}}`)
	if code, answer := tg.do(request{method: "POST", path: "/webhooks/hook", body: ev}); code != 202 {
		t.Fatalf("event: %d %s", code, answer)
	}
	var (
		dead    string
		letters struct {
			Deadletters []struct{ Error string } `json:"deadletters"`
		}
	)
	deadline := time.Now().Add(20 * time.Second)
	for len(letters.Deadletters) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		_, dead = tg.do(request{method: "GET", path: "/api/v1/deadletters"})
		if err := json.Unmarshal([]byte(dead), &letters); err != nil {
			t.Fatalf("dead letters: %v", err)
		}
	}
	if len(letters.Deadletters) != 1 || !strings.Contains(letters.Deadletters[0].Error, "Authentication failed for <secret>") {
		t.Errorf("want one dead letter with the scrubbed refusal: %s", dead)
	}
	check("the dead letters", dead)
	check("the logs", tg.output())
	tg.mustBeAlive()
}
