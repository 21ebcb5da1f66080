package teams

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/syncbuf"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

// sig is the signature in the webhook URL: whoever has it may post.
const sig = "SiGnAtUrE-0123456789abcdef"

// fakeTeams follows the contract of a Teams webhook (docs/notifications.md,
// Microsoft Teams): a POST of JSON to the URL with its signature, whose body
// is a message with one Adaptive Card; "1" when taken, 400 for a bad card,
// 404 for an unknown webhook, 429 with Retry-After when posted to too fast.
type fakeTeams struct {
	srv *httptest.Server

	mu       sync.Mutex
	mode     notifiertest.Mode
	legacy   bool // rate limit as incoming webhooks do: 200 with the error in the body
	received []Message
	release  chan struct{}
}

func newFakeTeams(t *testing.T) *fakeTeams {
	f := &fakeTeams{release: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.release) })
	return f
}

func (f *fakeTeams) url() string {
	return f.srv.URL + "/workflows/4f1c/triggers/manual/paths/invoke?api-version=1&sig=" + sig
}

func (f *fakeTeams) set(m notifiertest.Mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

func (f *fakeTeams) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.received)
}

func (f *fakeTeams) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	f.mu.Lock()
	mode, legacy := f.mode, f.legacy
	f.mu.Unlock()
	switch mode {
	case notifiertest.Hang:
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
		return
	case notifiertest.RateLimit:
		if legacy {
			_, _ = io.WriteString(w, "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production")
			return
		}
		w.Header().Set("Retry-After", "7")
		http.Error(w, `{"error":{"code":"WorkflowTriggerIsThrottled"}}`, http.StatusTooManyRequests)
		return
	case notifiertest.Down:
		http.Error(w, "Service Unavailable", http.StatusBadGateway)
		return
	case notifiertest.Reject:
		http.Error(w, "Bad payload received by generic incoming webhook.", http.StatusBadRequest)
		return
	}
	var m Message
	switch {
	case r.Method != http.MethodPost:
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
	case r.URL.Query().Get("sig") != sig:
		http.Error(w, "webhook not found", http.StatusNotFound)
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		http.Error(w, "JSON only", http.StatusUnsupportedMediaType)
	case json.Unmarshal(body, &m) != nil || !validCard(m):
		http.Error(w, "Bad payload received by generic incoming webhook.", http.StatusBadRequest)
	default:
		f.mu.Lock()
		f.received = append(f.received, m)
		f.mu.Unlock()
		_, _ = io.WriteString(w, "1")
	}
}

// validCard checks what Teams requires of a message: type message, and
// attachments of Adaptive Cards with a body.
func validCard(m Message) bool {
	if m.Type != "message" || len(m.Attachments) != 1 {
		return false
	}
	a := m.Attachments[0]
	return a.ContentType == "application/vnd.microsoft.card.adaptive" && a.ContentURL == nil &&
		a.Content.Type == "AdaptiveCard" && a.Content.Version != "" && len(a.Content.Body) > 0
}

func newNotifier(t *testing.T, hook string, logs io.Writer) *Notifier {
	t.Helper()
	n, err := New(config.Notifier{Name: "teams-secops", Type: Type, Settings: Config{WebhookURL: config.Secret(hook)}},
		Options{ExternalURL: "https://alerter.example.com", Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConformance(t *testing.T) {
	notifiertest.Run(t, func(t *testing.T) notifiertest.Target {
		f := newFakeTeams(t)
		logs := &syncbuf.Buffer{}
		n := newNotifier(t, f.url(), logs)
		return notifiertest.Target{Notify: n.Notify, Set: f.set, Received: f.count, Logs: logs.String,
			Secrets: []string{sig, f.url()}}
	})
}

// TestRateLimitInBody: an incoming webhook answers its rate limit with a
// 200 whose body names the 429; that is no delivery.
func TestRateLimitInBody(t *testing.T) {
	f := newFakeTeams(t)
	f.legacy = true
	f.set(notifiertest.RateLimit)
	err := newNotifier(t, f.url(), io.Discard).Notify(t.Context(), notifiers.Sample(alerter.High, time.Now()))
	if retry, _ := notifiers.Classify(err); err == nil || !retry {
		t.Fatalf("error %v: want a retryable one", err)
	}
}

func TestCard(t *testing.T) {
	f := newFakeTeams(t)
	a := notifiers.Sample(alerter.Critical, time.Now())
	a.Event.Actor.DisplayName = "[click](https://evil.example.com) *bold*"
	if err := newNotifier(t, f.url(), io.Discard).Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	m := f.received[0]
	card := m.Attachments[0].Content
	if title := card.Body[0]; title.Color != "attention" || !strings.Contains(title.Text, "\\[CRITICAL\\]") {
		t.Errorf("title %+v: want the severity, in attention color", title)
	}
	data, _ := json.Marshal(card)
	if s := string(data); strings.Contains(s, "[click](") || strings.Contains(s, " *bold*") {
		t.Errorf("event text is read as Markdown: %s", s)
	}
	var links []string
	for _, act := range card.Actions {
		links = append(links, act.Title+" "+act.URL)
	}
	want := []string{
		"Runbook https://wiki.example.com/runbooks/soteri-settings",
		"View alert https://alerter.example.com/alerts/01HXV8VQSYBTC29ZQ6YHKQYR13",
		"Silence similar https://alerter.example.com/silences?alert=01HXV8VQSYBTC29ZQ6YHKQYR13",
	}
	if strings.Join(links, "\n") != strings.Join(want, "\n") {
		t.Errorf("actions:\n%s\nwant\n%s", strings.Join(links, "\n"), strings.Join(want, "\n"))
	}
}

// A resolve notification is a card of its own: "Resolved: title" in
// green, who resolved the alert, when and the verdict, and the alert's link.
func TestResolveCard(t *testing.T) {
	f := newFakeTeams(t)
	fired := time.Date(2024, 5, 14, 10, 8, 0, 0, time.UTC)
	a := notifiers.SampleResolve(alerter.Critical, fired, fired.Add(22*time.Minute))
	a.ResolvedBy = "[ann](https://evil.example.com)"
	if err := newNotifier(t, f.url(), io.Discard).Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	m := f.received[0]
	card := m.Attachments[0].Content
	if m.Summary != "Resolved: Ming <Chen> & Co (mchen) weakened Soteri protection" {
		t.Errorf("summary %q", m.Summary)
	}
	if title := card.Body[0]; title.Color != "good" || title.Text != "Resolved: Ming <Chen> & Co (mchen) weakened Soteri protection" {
		t.Errorf("title %+v: want Resolved and the title, in good color", title)
	}
	if got, want := card.Body[1].Text, `Resolved by \[ann\](https://evil.example.com) at 2024-05-14 10:30:00 UTC, verdict: false positive`; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	if len(card.Actions) != 1 || card.Actions[0].URL != "https://alerter.example.com/alerts/01HXV8VQSYBTC29ZQ6YHKQYR13" {
		t.Errorf("actions %+v, want only the alert's link", card.Actions)
	}
}

// An acknowledgement notification posts nothing, and is done with.
func TestAckPostsNothing(t *testing.T) {
	f := newFakeTeams(t)
	fired := time.Date(2024, 5, 14, 10, 8, 0, 0, time.UTC)
	if err := newNotifier(t, f.url(), io.Discard).Notify(t.Context(), notifiers.SampleAck(alerter.Critical, fired, fired.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if len(f.received) != 0 {
		t.Errorf("Teams got %d cards for an acknowledgement, want none", len(f.received))
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct{ entry, want string }{
		{"{name: t, type: teams}", "c.yaml:1:13: notifier t: a teams notifier needs webhook_url"},
		{"{name: t, type: teams, webhook_url: \"outlook.office.com/webhook/" + sig + "\"}", "c.yaml:1:49: webhook_url: not an absolute http or https URL (it has no scheme)"},
		{"{name: t, type: teams, webhook_url: \"https://x.example.com/" + sig + "\", url: x}", `c.yaml:1:101: unknown key "url" (allowed: max_age, max_attempts, max_backoff, name, rate_per_second, timeout, type, webhook_url)`},
	} {
		if err := notifiertest.Validate(Plugin{}, tc.entry); err == nil || err.Error() != tc.want {
			t.Errorf("%s: error\n%v\nwant\n%s", tc.entry, err, tc.want)
		}
	}
	c, err := config.Parse("c.yaml", []byte("notifiers: [{name: t, type: teams, webhook_url: \"https://x.example.com/"+sig+"\"}]"), nil,
		config.Plugins{Notifiers: []config.Plugin{Plugin{}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Notifiers[0]; n.RatePerSecond != 1 || n.Settings.(Config).WebhookURL.Value() != "https://x.example.com/"+sig {
		t.Errorf("notifier %+v", n)
	}
}
