package app

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	json "github.com/goccy/go-json"
)

// mailbox is an SMTP server that keeps the messages it receives.
type mailbox struct {
	mu   sync.Mutex
	msgs []string
}

type mailSession struct{ mb *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, string(b))
	s.mb.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func (mb *mailbox) all() []string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]string(nil), mb.msgs...)
}

// recorder is an HTTP target that keeps the bodies it received and answers
// as its contract says.
type recorder struct {
	mu     sync.Mutex
	bodies []string
	answer func(w http.ResponseWriter)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, string(b))
	rc.mu.Unlock()
	rc.answer(w)
}

func (rc *recorder) all() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bodies...)
}

// examples/alerter.yaml's routes wired as it shows: a critical alert reaches PagerDuty and Slack,
// a high one Slack and email, through the real notifiers.
func TestRoutesToRealTargets(t *testing.T) {
	slackHook := &recorder{answer: func(w http.ResponseWriter) { _, _ = io.WriteString(w, "ok") }}
	pd := &recorder{answer: func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"x"}`)
	}}
	slackSrv, pdSrv := httptest.NewServer(slackHook), httptest.NewServer(pd)
	defer slackSrv.Close()
	defer pdSrv.Close()
	mb := &mailbox{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	smtpSrv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb}, nil }))
	smtpSrv.Domain = "localhost"
	smtpSrv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = smtpSrv.Serve(ln) }()
	defer smtpSrv.Close()

	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0", external_url: "https://alerter.example.com"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/routing-rules.yaml]}
sources: [{name: in, type: webhook}]
notifiers:
  - {name: slack-secops, type: slack, webhook_url: "%s/services/T0/B0/${SLACK_TOKEN}"}
  - {name: email-secops, type: email, host: 127.0.0.1, port: %d, tls: none, from: alerter@example.com, to: [secops@example.com]}
  - {name: pagerduty-oncall, type: pagerduty, routing_key: "${PD_KEY}", url: "%s/v2/enqueue"}
  - {name: console, type: console}
routes:
  critical: [pagerduty-oncall, slack-secops]
  high: [slack-secops, email-secops]
  default: [console]
`, t.TempDir(), slackSrv.URL, ln.Addr().(*net.TCPAddr).Port, pdSrv.URL)
	env := map[string]string{"SLACK_TOKEN": "xoxb-secret-slack", "PD_KEY": "R0UT1NGKEY0123456789abcdef012345"}
	r := run(t, yaml, env, Options{Stdout: io.Discard})

	r.post(t, "/webhooks/in", `{"id":"c1","time":"2024-05-14T10:00:00Z","action":"Global setting changed","actor":{"name":"mchen","display_name":"Ming <Chen>"},"ip":"198.51.100.7"}`)
	r.post(t, "/webhooks/in", `{"id":"h1","time":"2024-05-14T10:01:00Z","action":"All findings exported","actor":{"name":"akumar"}}`)
	waitFor(t, "every target", func() bool {
		return len(slackHook.all()) == 2 && len(pd.all()) == 1 && len(mb.all()) == 1
	})
	r.drained(t)
	time.Sleep(100 * time.Millisecond) // a stray second delivery would land now

	var ev struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     struct {
			Summary, Severity string
		}
	}
	if err := json.Unmarshal([]byte(pd.all()[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RoutingKey != env["PD_KEY"] || ev.EventAction != "trigger" || ev.Payload.Severity != "critical" ||
		!strings.HasPrefix(ev.DedupKey, "setting-critical:") || ev.Payload.Summary != "mchen changed a global setting" {
		t.Errorf("PagerDuty got %+v", ev)
	}
	// Slack's JSON escapes HTML characters; compare the decoded text.
	var slack string
	for _, b := range slackHook.all() {
		var v any
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			t.Fatalf("Slack got %q: %v", b, err)
		}
		slack += fmt.Sprint(v)
	}
	for _, want := range []string{"mchen changed a global setting", "akumar exported findings", "Ming &lt;Chen&gt;", "https://alerter.example.com/alerts/"} {
		if !strings.Contains(slack, want) {
			t.Errorf("Slack messages lack %q", want)
		}
	}
	mail := mb.all()[0]
	if !strings.Contains(mail, "Subject: [HIGH] akumar exported findings") || strings.Contains(mail, "mchen") {
		t.Errorf("email:\n%s", mail)
	}
	if len(slackHook.all()) != 2 || len(pd.all()) != 1 || len(mb.all()) != 1 {
		t.Errorf("deliveries: slack %d, pagerduty %d, email %d; want 2, 1, 1", len(slackHook.all()), len(pd.all()), len(mb.all()))
	}
}
