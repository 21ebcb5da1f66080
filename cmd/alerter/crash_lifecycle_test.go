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

// tally is what a target received, by kind and actor: distinct
// notifications, and copies received more than once.
type tally struct {
	alerts, escalations, acks, resolves, digests map[string]int
	// digested sums the digests' counts; examples counts each event a
	// digest showed.
	digested map[string]int64
	examples map[string]int
	dups     int
}

func (lt *lifecycleTarget) tally() tally {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	tl := tally{alerts: map[string]int{}, escalations: map[string]int{}, acks: map[string]int{}, resolves: map[string]int{}, digests: map[string]int{},
		digested: map[string]int64{}, examples: map[string]int{}}
	for _, copies := range lt.got {
		a := copies[0]
		actor := a.Group["event.actor.name"]
		switch {
		case a.Acknowledges != "":
			tl.acks[actor]++
		case a.Resolves != "":
			tl.resolves[actor]++
		case a.Escalation > 0:
			tl.escalations[actor]++
		case a.Digest != nil:
			tl.digests[actor]++
			tl.digested[actor] += a.Digest.Count
			for _, x := range a.Digest.Examples {
				tl.examples[x.ID]++
			}
		default:
			tl.alerts[actor]++
		}
		tl.dups += len(copies) - 1
	}
	return tl
}

// lifecycleEvent is one Confluence-like event of actor a<i>.
func lifecycleEvent(action string, i, round int) string {
	return fmt.Sprintf(`{"id":"ev-%d-%d","time":"2024-05-14T10:%02d:00Z","action":%q,"actor":{"name":"a%d"}}`,
		i, round, round, action, i)
}

// lifecycleRun is an alerter process, restarted as a test kills it, with
// the rules of one file and a webhook target.
type lifecycleRun struct {
	t             *testing.T
	target        *lifecycleTarget
	cfg, out, url string
	kills         int
}

// startLifecycle writes the config of a lifecycleRun: rulesFile, a webhook
// source, the target, and extra config lines.
func startLifecycle(t *testing.T, rulesFile, extra string) *lifecycleRun {
	t.Helper()
	l := &lifecycleRun{t: t, target: &lifecycleTarget{got: map[string][]alerter.Alert{}}}
	srv := httptest.NewServer(l.target)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	port := natscluster.FreePort(t)
	l.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	rulesFile, _ = filepath.Abs(rulesFile)
	l.cfg, l.out = filepath.Join(dir, "alerter.yaml"), filepath.Join(dir, "out.txt")
	if err := os.WriteFile(l.cfg, fmt.Appendf(nil, `
server:
  listen: "127.0.0.1:%d"
  tokens: [{name: oncall, token: writer-secret, role: writer}]
nats: {embedded: {store_dir: %q}}
rules: {paths: [%q]}
sources: [{name: hook, type: webhook}]
notifiers: [{name: siem, type: webhook, url: %q, max_backoff: 100ms}]
routes: {default: [siem]}
%s
`, port, filepath.Join(dir, "nats"), rulesFile, srv.URL, extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

// start starts alerter and waits until it is ready.
func (l *lifecycleRun) start() *child {
	c := startChild(l.t, l.cfg, l.out)
	waitReady(l.t, l.url)
	return c
}

// send posts events through a kill before the killAt-th (-1: none).
func (l *lifecycleRun) send(c *child, events []string, killAt int) *child {
	if killAt >= 0 {
		l.kills++
	}
	return sendThroughKill(l.t, c, l.cfg, l.out, l.url+"/webhooks/hook", events, killAt)
}

// restart kills alerter with SIGKILL and starts it again.
func (l *lifecycleRun) restart(c *child) *child {
	c.kill()
	l.kills++
	return l.start()
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
	l := startLifecycle(t, "testdata/crash-lifecycle-rules.yaml", "")
	target, url := l.target, l.url
	const n = 30

	// 1. Every group fires, with a kill halfway.
	c := l.start()
	var first []string
	for i := range n {
		first = append(first, lifecycleEvent("Global setting changed", i, 0))
	}
	c = l.send(c, first, n/2)
	waitUntil(t, "the target to get the first alerts", func() bool { return len(target.tally().alerts) == n })
	fired := groupAlerts(t, url)
	if len(fired) != n {
		t.Fatalf("the API lists alerts of %d groups, want %d", len(fired), n)
	}

	// 2. a0..a9 acknowledged; killed right after the last answer.
	for i := range 10 {
		lifecycleAct(t, url, fired[fmt.Sprint("a", i)].ID, "ack", `{"comment":"looking"}`)
	}
	c = l.restart(c)

	// 3. Three suppressed matches per group, in rounds, killed mid-burst:
	// the third escalates the groups nobody acknowledged, once.
	var burst []string
	for round := 1; round <= 3; round++ {
		for i := range n {
			burst = append(burst, lifecycleEvent("Global setting changed", i, round))
		}
	}
	c = l.send(c, burst, len(burst)/2)
	waitUntil(t, "the target to get the escalations", func() bool { return len(target.tally().escalations) == 20 })

	// 4. Three more, killed mid-burst: no second escalation.
	burst = burst[:0]
	for round := 4; round <= 6; round++ {
		for i := range n {
			burst = append(burst, lifecycleEvent("Global setting changed", i, round))
		}
	}
	c = l.send(c, burst, len(burst)/3)

	// 5. a20..a29 resolved by the rule's resolve.when, killed midway; a0..a4
	// resolved by hand, killed right after the last answer.
	var fixes []string
	for i := 20; i < n; i++ {
		fixes = append(fixes, lifecycleEvent("Global setting restored", i, 7))
	}
	c = l.send(c, fixes, len(fixes)/2)
	for i := range 5 {
		lifecycleAct(t, url, fired[fmt.Sprint("a", i)].ID, "resolve", `{"verdict":"benign"}`)
	}
	c = l.restart(c)
	waitUntil(t, "the target to get the resolves", func() bool { return len(target.tally().resolves) == 15 })
	waitDrained(t, url)
	time.Sleep(500 * time.Millisecond) // a second escalation or resolve would come now

	tl := target.tally()
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
		if tl.alerts[actor] != 1 || tl.escalations[actor] != wantEsc || tl.resolves[actor] != wantRes || tl.acks[actor] != wantAck {
			target.mu.Lock()
			for id, copies := range target.got {
				if a := copies[0]; a.Group["event.actor.name"] == actor {
					t.Logf("%s: %s x%d: rule %s status %q resolves %q escalation %d event %s time %s", actor, id, len(copies), a.Rule, a.Status, a.Resolves, a.Escalation, a.Event.ID, a.Time)
				}
			}
			target.mu.Unlock()
			t.Errorf("%s: %d alerts, %d escalations, %d resolves, %d acknowledgements received; want 1, %d, %d, %d",
				actor, tl.alerts[actor], tl.escalations[actor], tl.resolves[actor], tl.acks[actor], wantEsc, wantRes, wantAck)
		}
	}
	// Only a notification sent in the instant between the target's answer
	// and recording it can come twice: at most the sends a target has in
	// flight (16) per kill.
	if tl.dups > 16*l.kills {
		t.Errorf("%d notifications received twice over %d kills", tl.dups, l.kills)
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

// timedEvent is an event of actor <prefix><i> at t.
func timedEvent(action, prefix string, i, n int, t time.Time) string {
	return fmt.Sprintf(`{"id":"%s%d-%d","time":%q,"action":%q,"actor":{"name":"%s%d"}}`,
		prefix, i, n, t.UTC().Format(time.RFC3339Nano), action, prefix, i)
}

// docs/notifications.md (The alert lifecycle): the lifecycle's deadlines
// survive kill -9. 20 groups fire now; 5 are acknowledged and alerter is
// killed before their escalate: after steps (6s of wall-clock time) are
// due, and stays down past them: once back, it escalates the 15 others
// once each, and resolve.after (15s with no match) resolves all 20, each
// target hearing once. 10 groups of a digest: rule have bursts of
// suppressed matches an hour old, sent through a kill: every suppressed
// match is in exactly one digest, each digest arriving once.
func TestCrashLifecycleTimers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts alerter processes")
	}
	l := startLifecycle(t, "testdata/crash-timers-rules.yaml", "engine: {lateness: 0s}")
	target, url := l.target, l.url
	c := l.start()

	const n, bursts = 20, 10
	now := time.Now()
	var first []string
	for i := range n {
		first = append(first, timedEvent("Global setting changed", "c", i, 0, now))
	}
	c = l.send(c, first, n/2)
	waitUntil(t, "the target to get the first alerts", func() bool { return len(target.tally().alerts) == n })
	fired := groupAlerts(t, url)
	for i := range 5 {
		lifecycleAct(t, url, fired[fmt.Sprint("c", i)].ID, "ack", `{"comment":"looking"}`)
	}
	c.kill()
	l.kills++
	time.Sleep(time.Until(now.Add(8 * time.Second))) // the escalations fall due while alerter is down
	c = l.start()

	// The digest groups: an alert each, then four suppressed matches.
	old := now.Add(-time.Hour)
	var burst []string
	for k := range 5 {
		for i := range bursts {
			burst = append(burst, timedEvent("Space exported", "d", i, k, old.Add(time.Duration(k)*time.Second)))
		}
	}
	c = l.send(c, burst, len(burst)/2)

	waitUntil(t, "the target to get the resolves", func() bool { return len(target.tally().resolves) == n })
	waitUntil(t, "the target to get the digests", func() bool {
		tl := target.tally()
		var sum int64
		for _, c := range tl.digested {
			sum += c
		}
		return sum >= 4*bursts
	})
	waitDrained(t, url)
	time.Sleep(time.Second) // a second escalation, resolve or digest would come now

	tl := target.tally()
	for i := range n {
		actor := fmt.Sprint("c", i)
		wantEsc, wantAck := 1, 0
		if i < 5 {
			wantEsc, wantAck = 0, 1
		}
		if tl.alerts[actor] != 1 || tl.escalations[actor] != wantEsc || tl.acks[actor] != wantAck || tl.resolves[actor] != 1 {
			t.Errorf("%s: %d alerts, %d escalations, %d acknowledgements, %d resolves received; want 1, %d, %d, 1",
				actor, tl.alerts[actor], tl.escalations[actor], tl.acks[actor], tl.resolves[actor], wantEsc, wantAck)
		}
	}
	for i := range bursts {
		actor := fmt.Sprint("d", i)
		if tl.alerts[actor] != 1 || tl.digested[actor] != 4 || tl.digests[actor] < 1 {
			t.Errorf("%s: %d alerts, %d digests of %d matches received; want 1 alert, digests of 4", actor, tl.alerts[actor], tl.digests[actor], tl.digested[actor])
		}
		for k := 1; k < 5; k++ {
			if id := fmt.Sprintf("d%d-%d", i, k); tl.examples[id] != 1 {
				t.Errorf("suppressed match %s is in %d digests, want 1", id, tl.examples[id])
			}
		}
	}
	if tl.dups > 16*l.kills {
		t.Errorf("%d notifications received twice over %d kills", tl.dups, l.kills)
	}
	for actor, a := range groupAlerts(t, url) {
		if strings.HasPrefix(actor, "c") && a.Status != "resolved" {
			t.Errorf("%s is %q, want resolved by resolve.after", actor, a.Status)
		}
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("alerter exited with %v after SIGTERM", err)
	}
}
