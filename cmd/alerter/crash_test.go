package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/internal/natscluster"
	"github.com/alerter/alerter/internal/natstest"
)

// TestChildAlerter is the alerter process of TestCrash: it runs only when
// that test starts this test binary as a child.
func TestChildAlerter(t *testing.T) {
	cfg := os.Getenv("ALERTER_CHILD_CONFIG")
	if cfg == "" {
		t.Skip("only run as the child process of TestCrash")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	code := run(ctx, []string{"run", "--config", cfg, "--log-format", "json"}, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// child is an alerter process.
type child struct {
	cmd *exec.Cmd
	out string
}

func startChild(t *testing.T, cfg, out string) *child {
	t.Helper()
	return startChildEnv(t, cfg, out, nil)
}

// startChildEnv is startChild with more environment (KEY=value).
func startChildEnv(t *testing.T, cfg, out string, env []string) *child {
	t.Helper()
	stdout, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildAlerter$")
	cmd.Env = append(append(os.Environ(), "ALERTER_CHILD_CONFIG="+cfg), env...)
	cmd.Stdout = stdout
	cmd.Stderr = stdout // logs are JSON; console lines are not
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: out}
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		_ = c.cmd.Wait()
	}
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("alerter did not get ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashEvents are 2 events for each of n actors, a minute apart: the first
// of each alerts, the second is suppressed by the dedup window.
func crashEvents(n int) []string {
	var out []string
	for round := range 2 {
		for i := range n {
			out = append(out, fmt.Sprintf(`{"id":"ev-%d-%d","time":"2024-05-14T10:%02d:00Z","action":"Global setting changed","actor":{"name":"user%d"}}`, i, round, round, i))
		}
	}
	return out
}

// docs/running.md (Stopping, crashing, restarting): kill -9 of alerter mid-stream loses no accepted event and sends
// no duplicate alert. The sender retries what was not accepted, as
// webhook senders do.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts alerter processes")
	}
	dir := t.TempDir()
	port := natscluster.FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	rulesFile, _ := filepath.Abs("testdata/crash-rules.yaml")
	cfg := filepath.Join(dir, "alerter.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `
server: {listen: "127.0.0.1:%d"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [%q]}
sources: [{name: hook, type: webhook}]
notifiers: [{name: console, type: console}]
routes: {default: [console]}
`, port, filepath.Join(dir, "nats"), rulesFile), 0o644)
	out := filepath.Join(dir, "out.txt")

	const actors = 150
	events := crashEvents(actors)
	c := startChild(t, cfg, out)
	waitReady(t, url)
	c = sendThroughKill(t, c, cfg, out, url+"/webhooks/hook", events, len(events)/3)
	// Let the last run finish its work, then stop it gracefully.
	waitConsole(t, out, actors)
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("alerter exited with %v after SIGTERM", err)
	}

	// Every event is in EVENTS once, every actor alerted exactly once in
	// ALERTS, and the console printed each alert.
	env := natstest.StartIn(t, filepath.Join(dir, "nats"))
	if got := len(env.Events(t)); got != len(events) {
		t.Errorf("EVENTS holds %d events, want %d", got, len(events))
	}
	perActor := map[string]int{}
	ids := map[string]bool{}
	for _, b := range env.Alerts(t) {
		var a alerter.Alert
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		perActor[a.Group["event.actor.name"]]++
		ids[a.ID] = true
		if a.Suppressed != 0 {
			t.Errorf("alert %s counts %d suppressed; the second events come after it", a.ID, a.Suppressed)
		}
	}
	if len(perActor) != actors {
		t.Errorf("%d actors alerted, want %d", len(perActor), actors)
	}
	for actor, n := range perActor {
		if n != 1 {
			t.Errorf("%s alerted %d times", actor, n)
		}
	}
	printed := consoleIDs(t, out)
	for id := range ids {
		if printed[id] == 0 {
			t.Errorf("alert %s was never printed", id)
		}
	}
	dups := 0
	for id, n := range printed {
		if !ids[id] {
			t.Errorf("printed alert %s is not in ALERTS", id)
		}
		dups += n - 1
	}
	// Only an alert printed in the instant between printing and recording
	// it as delivered can come twice: at most the sends a target has in
	// flight (16) per kill.
	if dups > 16 {
		b, _ := os.ReadFile(out)
		t.Errorf("%d alerts printed twice after one kill:\n%s", dups, b)
	}
}

// sendThroughKill posts events to hook one after another as a webhook
// sender does, kills c with SIGKILL before the killAt-th (-1: never), and
// starts alerter again until every event was accepted: the sender sends
// again what was not. It returns the alerter running at the end.
func sendThroughKill(t *testing.T, c *child, cfg, out, hook string, events []string, killAt int) *child {
	t.Helper()
	base, _, _ := strings.Cut(strings.TrimPrefix(hook, "http://"), "/")
	client := &http.Client{Timeout: 5 * time.Second}
	pending := events
	for restarts := 0; len(pending) > 0; restarts++ {
		if restarts > 20 {
			t.Fatal("too many restarts")
		}
		var rest []string
		for i, body := range pending {
			if restarts == 0 && i == killAt {
				c.kill() // mid-stream, while earlier events are being evaluated
			}
			resp, err := client.Post(hook, "application/json", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusAccepted {
				rest = append(rest, body) // not accepted: the sender sends it again
			}
		}
		pending = rest
		if len(pending) > 0 || c.cmd.ProcessState != nil {
			c.kill()
			c = startChild(t, cfg, out)
			waitReady(t, "http://"+base)
		}
	}
	return c
}

func consoleIDs(t *testing.T, out string) map[string]int {
	t.Helper()
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "{") {
			continue // a log line
		}
		if i := strings.LastIndex(line, " id="); i >= 0 {
			ids[line[i+4:]]++
		}
	}
	return ids
}

func waitConsole(t *testing.T, out string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(consoleIDs(t, out)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d alerts printed", len(consoleIDs(t, out)), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// docs/running.md (Stopping, crashing, restarting): alerter killed with deliveries pending (the target
// is down) delivers them after the restart, each once.
func TestCrashWithPendingDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("starts alerter processes")
	}
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	got := map[string]int{}
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			refused.Add(1)
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		var a alerter.Alert
		b, _ := io.ReadAll(r.Body)
		if json.Unmarshal(b, &a) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got[a.ID]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	dir := t.TempDir()
	port := natscluster.FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	rulesFile, _ := filepath.Abs("testdata/crash-rules.yaml")
	cfg := filepath.Join(dir, "alerter.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `
server: {listen: "127.0.0.1:%d"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [%q]}
sources: [{name: hook, type: webhook}]
notifiers: [{name: siem, type: webhook, url: %q, max_backoff: 100ms}]
routes: {default: [siem]}
`, port, filepath.Join(dir, "nats"), rulesFile, srv.URL), 0o644)
	out := filepath.Join(dir, "out.txt")

	const actors = 40
	c := startChild(t, cfg, out)
	waitReady(t, url)
	for _, body := range crashEvents(actors)[:actors] {
		resp, err := http.Post(url+"/webhooks/hook", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for refused.Load() < 2*actors {
		if time.Now().After(deadline) {
			t.Fatalf("only %d attempts refused", refused.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.kill()
	down.Store(false)
	_ = startChild(t, cfg, out) // stopped by its cleanup
	waitReady(t, url)
	deadline = time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == actors {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d alerts delivered after the restart", n, actors)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would come now
	mu.Lock()
	defer mu.Unlock()
	for id, n := range got {
		if n != 1 {
			t.Errorf("alert %s delivered %d times", id, n)
		}
	}
}

// SIGHUP reloads the rules of a running alerter: a good set replaces the
// running one, a broken one is rejected and the running set stays.
func TestSIGHUPReloadsRules(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an alerter process")
	}
	dir := t.TempDir()
	port := natscluster.FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	rulesDir := filepath.Join(dir, "rules")
	os.Mkdir(rulesDir, 0o755)
	base, _ := os.ReadFile("testdata/crash-rules.yaml")
	os.WriteFile(filepath.Join(rulesDir, "base.yaml"), base, 0o644)
	cfg := filepath.Join(dir, "alerter.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `
server: {listen: "127.0.0.1:%d"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [%q], watch: false}
sources: [{name: hook, type: webhook}]
notifiers: [{name: console, type: console}]
routes: {default: [console]}
`, port, filepath.Join(dir, "nats"), rulesDir), 0o644)
	c := startChild(t, cfg, filepath.Join(dir, "out.txt"))
	waitReady(t, url)

	type status struct {
		Rules  []struct{ ID string } `json:"rules"`
		Reload struct {
			OK      bool     `json:"ok"`
			Trigger string   `json:"trigger"`
			Errors  []string `json:"errors"`
		} `json:"reload"`
	}
	get := func() status {
		t.Helper()
		var s status
		resp, err := http.Get(url + "/api/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := len(get().Rules)
	hup := func(what string, done func(status) bool) status {
		t.Helper()
		if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if s := get(); done(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s after SIGHUP: %+v", what, get())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	os.WriteFile(filepath.Join(rulesDir, "new.yaml"), []byte("rules:\n  - {id: added, severity: low, when: event.action == \"x\"}\n"), 0o644)
	s := hup("reload", func(s status) bool { return len(s.Rules) == before+1 })
	if !s.Reload.OK || s.Reload.Trigger != "signal" {
		t.Errorf("after a good file: %+v", s.Reload)
	}

	os.WriteFile(filepath.Join(rulesDir, "new.yaml"), []byte("rules:\n  - {id: added, severity: low, when: event.actoin == \"x\"}\n"), 0o644)
	s = hup("rejected reload", func(s status) bool { return !s.Reload.OK })
	if len(s.Rules) != before+1 || s.Reload.Trigger != "signal" || len(s.Reload.Errors) != 1 || !strings.Contains(s.Reload.Errors[0], "new.yaml:2:") {
		t.Errorf("after a broken file: %d rules, %+v", len(s.Rules), s.Reload)
	}
	if c.cmd.ProcessState != nil {
		t.Fatal("alerter stopped on SIGHUP")
	}
}
