package app

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/deadlines"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/silences"
	"github.com/alerter/alerter/silences/announce"
)

// hookLog is a webhook target keeping every alert it is sent.
type hookLog struct {
	mu  sync.Mutex
	got []alerter.Alert
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a alerter.Alert
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &a); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, a)
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// of are the alerts of rule it got.
func (h *hookLog) of(rule string) []alerter.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []alerter.Alert
	for _, a := range h.got {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	return out
}

// announceRules: setting changes go to the webhook target hook, removed
// pages to the default route (chat).
const announceRules = `
rules:
  - id: setting-changed
    severity: high
    when: event.action == "Global setting changed"
    dedup: {by: [event.actor.name], window: 1h}
    notify: [hook]
  - id: page-removed
    severity: medium
    when: event.action == "Page removed"
`

// announceConfig runs announceRules with the webhook target at hookURL,
// on the embedded server in dir (listening on listen if not "") or on
// the server at url.
func announceConfig(t *testing.T, dir, listen, url, hookURL string) string {
	t.Helper()
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(announceRules), 0o600); err != nil {
		t.Fatal(err)
	}
	natsYAML := fmt.Sprintf("{embedded: {store_dir: %q, listen: %q, token: tok}}", dir, listen)
	if url != "" {
		natsYAML = fmt.Sprintf("{url: %q, token: tok}", url)
	}
	return fmt.Sprintf(`
server: {listen: "127.0.0.1:0", external_url: "https://alerter.example.com"}
nats: %s
rules: {paths: [%q], watch: false}
sources: [{name: in, type: webhook}]
notifiers:
  - {name: hook, type: webhook, url: %q, max_backoff: 50ms}
  - {name: chat, type: console}
routes: {default: [chat]}
`, natsYAML, rules, hookURL)
}

// silence creates a silence through the API and returns its id.
func silence(t *testing.T, r *running, matchers, duration string) string {
	t.Helper()
	code, sl := r.post(t, "/api/v1/silences", `{"matchers":`+matchers+`,"duration":"`+duration+`","created_by":"oncall","comment":"maintenance"}`)
	if code != http.StatusCreated {
		t.Fatalf("POST silence %s: %d %v", matchers, code, sl)
	}
	return sl["id"].(string)
}

// announcementsDone waits until no announcement of a silence is left
// scheduled or due.
func announcementsDone(t *testing.T, r *running) {
	t.Helper()
	waitFor(t, "every silence announcement handled", func() bool {
		st, err := r.svc.js.Stream(t.Context(), deadlines.Stream)
		if err != nil {
			return false
		}
		info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(deadlines.Subject+".silences.>"))
		return err == nil && len(info.State.Subjects) == 0
	})
}

// silencedAt waits until n alerts are recorded as silenced at target.
func silencedAt(t *testing.T, r *running, target string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d alerts silenced at %s", n, target), func() bool {
		k := 0
		for _, a := range storedAlerts(t, r.svc) {
			if o, ok, _ := r.svc.deliveries.Get(t.Context(), target, a.ID); ok && o.Status == alerter.Silenced {
				k++
			}
		}
		return k == n
	})
}

// docs/notifications.md, When a silence ends: on two replicas, a silence
// that suppressed alerts (one taken by each replica), expired early on the
// replica that did not create it, has its end announced once, at the
// webhook target of the rule it silenced, with what it suppressed, though
// a silence matches the announcement; one that suppressed nothing
// announces nothing when it ends.
func TestSilenceEndAnnouncedOnce(t *testing.T) {
	hook := &hookLog{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	chatA, chatB := newTarget(nil), newTarget(nil)
	a := run(t, announceConfig(t, t.TempDir(), addr, "", srv.URL), nil, Options{AckWait: 2 * time.Second, Stdout: io.Discard},
		map[string]delivery.Notifier{"chat": chatA})
	b := run(t, announceConfig(t, "", "", "nats://"+addr, srv.URL), nil, Options{AckWait: 2 * time.Second, Stdout: io.Discard},
		map[string]delivery.Notifier{"chat": chatB})

	busy := silence(t, a, `[{"name":"rule","value":"setting-changed"}]`, "1h")
	silence(t, b, `[{"name":"rule","value":"page-removed"}]`, "2s")
	// Every announcement's group has its silence's id: no silence mutes
	// one, not even a silence of announcements.
	mute := silence(t, b, `[{"name":"group.silence","value":".+","regex":true}]`, "1h")
	a.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	b.post(t, "/webhooks/in", setting("e2", "bob", "2024-05-14T10:00:00Z"))
	silencedAt(t, a, "hook", 2)
	if code, body := b.call(t, "", "DELETE", "/api/v1/silences/"+busy, ""); code != http.StatusOK {
		t.Fatalf("expiring %s: %d %v", busy, code, body)
	}

	waitFor(t, "the end announced at hook", func() bool { return len(hook.of(announce.ExpiredRule)) > 0 })
	if code, body := a.call(t, "", "DELETE", "/api/v1/silences/"+mute, ""); code != http.StatusOK {
		t.Fatalf("expiring %s: %d %v", mute, code, body)
	}
	announcementsDone(t, a)
	a.drained(t)
	b.drained(t)
	got := hook.of(announce.ExpiredRule)
	if len(got) != 1 {
		t.Fatalf("hook got %d end announcements, want 1: %+v", len(got), got)
	}
	n := got[0]
	if !strings.Contains(n.Title, busy) || !strings.Contains(n.Text, "it suppressed 2 alerts of rule setting-changed between") ||
		!strings.Contains(n.Text, "new alerts are sent again") || n.Severity != alerter.Info ||
		!slices.Equal(n.Notify, []string{"hook"}) || n.Runbook != "https://alerter.example.com/silences" {
		t.Errorf("the announcement: %+v", n)
	}
	if sent := append(chatA.accepted(), chatB.accepted()...); len(sent) != 0 {
		t.Errorf("chat got %v: the silence of page-removed suppressed nothing", sent)
	}
	var stored []string
	for _, al := range storedAlerts(t, b.svc) {
		if strings.HasPrefix(al.Rule, "alerter:") {
			stored = append(stored, al.ID)
		}
	}
	if !slices.Equal(stored, []string{n.ID}) {
		t.Errorf("announcements stored: %v, want only %s", stored, n.ID)
	}
	code, list := b.call(t, "", "GET", "/api/v1/alerts?rule="+announce.ExpiredRule, "")
	if alerts, _ := list["alerts"].([]any); code != http.StatusOK || len(alerts) != 1 {
		t.Errorf("GET the alerts of %s: %d %v", announce.ExpiredRule, code, list)
	}
}

// docs/notifications.md, When a silence ends: a silence that lasts longer
// than the lead is announced as about to end, with what it suppressed so
// far, and its end when it comes; one shorter than the lead, or expired
// early, is not. (The alert is posted well before the warning: 5s.)
func TestSilenceAboutToEndAnnounced(t *testing.T) {
	hook := &hookLog{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	r := run(t, announceConfig(t, t.TempDir(), "", "", srv.URL), nil,
		Options{AckWait: 2 * time.Second, Stdout: io.Discard, silenceLead: 3 * time.Second},
		map[string]delivery.Notifier{"chat": newTarget(nil)})

	long := silence(t, r, `[{"name":"rule","value":"setting-changed"}]`, "8s")
	silence(t, r, `[{"name":"rule","value":"setting-changed"},{"name":"group.event.actor.name","value":"bob"}]`, "1s")
	early := silence(t, r, `[{"name":"rule","value":"page-removed"}]`, "8s")
	if code, body := r.call(t, "", "DELETE", "/api/v1/silences/"+early, ""); code != http.StatusOK {
		t.Fatalf("expiring %s: %d %v", early, code, body)
	}
	r.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	silencedAt(t, r, "hook", 1)

	announcementsDone(t, r)
	r.drained(t)
	warned := hook.of(announce.ExpiringRule)
	if len(warned) != 1 || !strings.Contains(warned[0].Title, long) ||
		!strings.Contains(warned[0].Text, "1 alert of rule setting-changed suppressed so far") ||
		!strings.Contains(warned[0].Text, "alerter silence add") {
		t.Errorf("warnings: %+v, want one of %s", warned, long)
	}
	ended := hook.of(announce.ExpiredRule)
	if len(ended) != 1 || !strings.Contains(ended[0].Title, long) {
		t.Errorf("ends announced: %+v, want that of %s", ended, long)
	}
}

// docs/notifications.md, When a silence ends: a silence written into the
// bucket past the API, whose announcements nothing scheduled, has its end
// announced all the same: the announcements of every silence are
// scheduled again now and then.
func TestSilencePastTheAPIAnnounced(t *testing.T) {
	hook := &hookLog{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	r := run(t, announceConfig(t, t.TempDir(), "", "", srv.URL), nil,
		Options{AckWait: 2 * time.Second, Stdout: io.Discard, silenceReconcile: 200 * time.Millisecond},
		map[string]delivery.Notifier{"chat": newTarget(nil)})

	now := time.Now().UTC()
	sl := silences.Silence{ID: "01HXV8Z0000000000000000000", Matchers: []silences.Matcher{{Name: "rule", Value: "setting-changed"}},
		StartsAt: now, EndsAt: now.Add(4 * time.Second), CreatedBy: "ops", Comment: "written past the API", CreatedAt: now, UpdatedAt: now}
	b, _ := json.Marshal(sl)
	kv, err := r.svc.js.KeyValue(t.Context(), silences.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), sl.ID, b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the silence in force", func() bool { _, ok := r.svc.silenceStore.Get(sl.ID); return ok })
	r.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	silencedAt(t, r, "hook", 1)
	waitFor(t, "its end announced", func() bool { return len(hook.of(announce.ExpiredRule)) == 1 })
	if got := hook.of(announce.ExpiredRule)[0]; !strings.Contains(got.Title, sl.ID) {
		t.Errorf("announced %q, want the end of %s", got.Title, sl.ID)
	}
}
