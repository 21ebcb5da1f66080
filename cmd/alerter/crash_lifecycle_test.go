package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/internal/natscluster"
)

// lifecycleTarget is a webhook target that records every notification it
// accepts, by id, with what it was: an alert, an escalation, a resolve.
type lifecycleTarget struct {
	mu  sync.Mutex
	got map[string][]alerter.Alert
}

func (lt *lifecycleTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var a alerter.Alert
	if json.Unmarshal(b, &a) != nil || a.ID == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	lt.mu.Lock()
	lt.got[a.ID] = append(lt.got[a.ID], a)
	lt.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// kinds counts the distinct notifications received, per kind and actor
// (acknowledgements: acks), and the copies received more than once.
func (lt *lifecycleTarget) kinds() (alerts, escalations, resolves map[string]int, dups int) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	alerts, escalations, resolves = map[string]int{}, map[string]int{}, map[string]int{}
	for _, copies := range lt.got {
		a := copies[0]
		actor := a.Group["event.actor.name"]
		switch {
		case a.Acknowledges != "":
			// counted by acks
		case a.Resolves != "":
			resolves[actor]++
		case a.Escalation > 0:
			escalations[actor]++
		default:
			alerts[actor]++
		}
		dups += len(copies) - 1
	}
	return alerts, escalations, resolves, dups
}

// acks counts the distinct acknowledgement notifications received, per
// actor.
func (lt *lifecycleTarget) acks() map[string]int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	acks := map[string]int{}
	for _, copies := range lt.got {
		if a := copies[0]; a.Acknowledges != "" {
			acks[a.Group["event.actor.name"]]++
		}
	}
	return acks
}

// lifecycleEvent is one Confluence-like event of actor a<i>.
func lifecycleEvent(action string, i, round int) string {
	return fmt.Sprintf(`{"id":"ev-%d-%d","time":"2024-05-14T10:%02d:00Z","action":%q,"actor":{"name":"a%d"}}`,
		i, round, round, action, i)
}

// docs/notifications.md (The alert lifecycle): kill -9 in the middle of
// every stage of the lifecycle loses no transition and sends nothing
// twice. 30 groups fire; 10 are acknowledged through the API and alerter
// is killed at once; bursts of suppressed matches escalate the 20 others
// once each (a kill mid-burst, then more matches, must not escalate them
// again); 10 are resolved by a rule's resolve.when mid-kill and 5 by hand
// just before a kill. The webhook target gets each alert, escalation,
// acknowledgement and resolve, and the API shows each group where it was
// left.
func TestCrashLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts alerter processes")
	}
	target := &lifecycleTarget{got: map[string][]alerter.Alert{}}
	srv := httptest.NewServer(target)
	defer srv.Close()

	dir := t.TempDir()
	port := natscluster.FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	rulesFile, _ := filepath.Abs("testdata/crash-lifecycle-rules.yaml")
	cfg := filepath.Join(dir, "alerter.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `
server:
  listen: "127.0.0.1:%d"
  tokens: [{name: oncall, token: writer-secret, role: writer}]
nats: {embedded: {store_dir: %q}}
rules: {paths: [%q]}
sources: [{name: hook, type: webhook}]
notifiers: [{name: siem, type: webhook, url: %q, max_backoff: 100ms}]
routes: {default: [siem]}
`, port, filepath.Join(dir, "nats"), rulesFile, srv.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.txt")
	hook := url + "/webhooks/hook"
	const n = 30
	kills := 0
	send := func(c *child, events []string, killAt int) *child {
		if killAt >= 0 {
			kills++
		}
		return sendThroughKill(t, c, cfg, out, hook, events, killAt)
	}
	restart := func(c *child) *child {
		c.kill()
		kills++
		c = startChild(t, cfg, out)
		waitReady(t, url)
		return c
	}

	// 1. Every group fires, with a kill halfway.
	c := startChild(t, cfg, out)
	waitReady(t, url)
	var first []string
	for i := range n {
		first = append(first, lifecycleEvent("Global setting changed", i, 0))
	}
	c = send(c, first, n/2)
	waitTarget(t, "the first alerts", func() bool {
		alerts, _, _, _ := target.kinds()
		return len(alerts) == n
	})
	fired := groupAlerts(t, url)
	if len(fired) != n {
		t.Fatalf("the API lists alerts of %d groups, want %d", len(fired), n)
	}

	// 2. a0..a9 acknowledged; killed right after the last answer.
	for i := range 10 {
		lifecycleAct(t, url, fired[fmt.Sprint("a", i)].ID, "ack", `{"comment":"looking"}`)
	}
	c = restart(c)

	// 3. Three suppressed matches per group, in rounds, killed mid-burst:
	// the third escalates the groups nobody acknowledged, once.
	var burst []string
	for round := 1; round <= 3; round++ {
		for i := range n {
			burst = append(burst, lifecycleEvent("Global setting changed", i, round))
		}
	}
	c = send(c, burst, len(burst)/2)
	waitTarget(t, "the escalations", func() bool {
		_, esc, _, _ := target.kinds()
		return len(esc) == 20
	})

	// 4. Three more, killed mid-burst: no second escalation.
	burst = burst[:0]
	for round := 4; round <= 6; round++ {
		for i := range n {
			burst = append(burst, lifecycleEvent("Global setting changed", i, round))
		}
	}
	c = send(c, burst, len(burst)/3)

	// 5. a20..a29 resolved by the rule's resolve.when, killed midway; a0..a4
	// resolved by hand, killed right after the last answer.
	var fixes []string
	for i := 20; i < n; i++ {
		fixes = append(fixes, lifecycleEvent("Global setting restored", i, 7))
	}
	c = send(c, fixes, len(fixes)/2)
	for i := range 5 {
		lifecycleAct(t, url, fired[fmt.Sprint("a", i)].ID, "resolve", `{"verdict":"benign"}`)
	}
	c = restart(c)
	waitTarget(t, "the resolves", func() bool {
		_, _, res, _ := target.kinds()
		return len(res) == 15
	})
	waitDrained(t, url)
	time.Sleep(500 * time.Millisecond) // a second escalation or resolve would come now

	alerts, escalations, resolves, dups := target.kinds()
	acks := target.acks()
	for i := range n {
		actor := fmt.Sprint("a", i)
		wantEsc, wantRes, wantAck := 0, 0, 0
		if i >= 10 {
			wantEsc = 1
		} else {
			wantAck = 1
		}
		if i < 5 || i >= 20 {
			wantRes = 1
		}
		if alerts[actor] != 1 || escalations[actor] != wantEsc || resolves[actor] != wantRes || acks[actor] != wantAck {
			target.mu.Lock()
			for id, copies := range target.got {
				if a := copies[0]; a.Group["event.actor.name"] == actor {
					t.Logf("%s: %s x%d: rule %s status %q resolves %q escalation %d event %s time %s", actor, id, len(copies), a.Rule, a.Status, a.Resolves, a.Escalation, a.Event.ID, a.Time)
				}
			}
			target.mu.Unlock()
			t.Errorf("%s: %d alerts, %d escalations, %d resolves, %d acknowledgements received; want 1, %d, %d, %d",
				actor, alerts[actor], escalations[actor], resolves[actor], acks[actor], wantEsc, wantRes, wantAck)
		}
	}
	// Only a notification sent in the instant between the target's answer
	// and recording it can come twice: at most the sends a target has in
	// flight (16) per kill.
	if dups > 16*kills {
		t.Errorf("%d notifications received twice over %d kills", dups, kills)
	}
	states := groupAlerts(t, url)
	for i := range n {
		actor := fmt.Sprint("a", i)
		want := "firing"
		switch {
		case i < 5 || i >= 20:
			want = "resolved"
		case i < 10:
			want = "acknowledged"
		}
		if a := states[actor]; a == nil || a.Status != want {
			t.Errorf("%s is %+v after the kills, want %q", actor, a, want)
		}
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("alerter exited with %v after SIGTERM", err)
	}
}

func waitTarget(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("the target did not get %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lifecycleGet reads a JSON answer of the API into v.
func lifecycleGet(t *testing.T, url string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer writer-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// groupAlerts are each actor's alert (the first fired, not its
// escalations), as the API shows it.
func groupAlerts(t *testing.T, url string) map[string]*alerter.Alert {
	t.Helper()
	var page api.Alerts
	lifecycleGet(t, url+"/api/v1/alerts?limit=500", &page)
	alerts := map[string]*alerter.Alert{}
	for _, a := range page.Alerts {
		if a.Escalation == 0 {
			alerts[a.Group["event.actor.name"]] = a.Alert
		}
	}
	return alerts
}

// lifecycleAct acknowledges or resolves an alert through the API.
func lifecycleAct(t *testing.T, url, id, act, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/api/v1/alerts/"+id+"/"+act, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer writer-secret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %s %s", act, id, resp.Status, b)
	}
}

// waitDrained waits until every queue (the evaluator's, each target's)
// is empty, as the notifiers API reports them.
func waitDrained(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var nf struct {
			Notifiers []struct {
				Pending uint64 `json:"pending"`
			} `json:"notifiers"`
		}
		lifecycleGet(t, url+"/api/v1/notifiers", &nf)
		pending := uint64(0)
		for _, x := range nf.Notifiers {
			pending += x.Pending
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d notifications still pending", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
