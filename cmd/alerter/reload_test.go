package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/internal/natscluster"
)

// targets are webhook notifiers a and b in the test: the titles of the
// alerts each took; b refuses (503) while closed.
type targets struct {
	mu      sync.Mutex
	got     map[string][]string // by target
	closed  atomic.Bool
	refused atomic.Int64
}

func (ts *targets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a struct{ Title string }
	if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	target := strings.TrimPrefix(r.URL.Path, "/")
	if target == "b" && ts.closed.Load() {
		ts.refused.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	ts.mu.Lock()
	ts.got[target] = append(ts.got[target], a.Title)
	ts.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (ts *targets) titles(target string) []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.got[target])
}

// reloadConfig is the config file of TestSIGHUPReloadsConfig: %[5]s are
// more sources, %[6]s more notifiers, %[7]s the default route.
const reloadConfig = `server: {listen: "127.0.0.1:%[1]d"}
nats: {embedded: {store_dir: %[2]q}}
rules: {paths: [%[3]q], watch: false}
sources:
  - {name: hook, type: webhook}
%[5]snotifiers:
  - {name: a, type: webhook, url: "%[4]s/a", max_backoff: 100ms}
%[6]sroutes: {default: [%[7]s]}
`

// reloadStatus is the reload field of GET /api/v1/rules.
type reloadStatus struct {
	At      time.Time `json:"at"`
	OK      bool      `json:"ok"`
	Trigger string    `json:"trigger"`
	Errors  []string  `json:"errors"`
}

// docs/running.md (Reloading): SIGHUP and POST /-/reload read the config
// file of a running alerter again. A new source takes events and alerts go
// to a new notifier by a changed route; an alert waiting for a notifier
// that restarts with new settings is still delivered, once; a config that
// does not load is rejected, with its errors, and the running one stays.
func TestSIGHUPReloadsConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an alerter process")
	}
	ts := &targets{got: map[string][]string{}}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	dir := t.TempDir()
	port := natscluster.FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	rulesFile, _ := filepath.Abs("testdata/crash-rules.yaml")
	cfg := filepath.Join(dir, "alerter.yaml")
	write := func(sources, notifiers, route string) string {
		t.Helper()
		text := fmt.Sprintf(reloadConfig, port, filepath.Join(dir, "nats"), rulesFile, srv.URL, sources, notifiers, route)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return text
	}
	write("", "", "a")
	c := startChild(t, cfg, filepath.Join(dir, "out.txt"))
	waitReady(t, url)
	status := func() reloadStatus {
		t.Helper()
		var s struct{ Reload reloadStatus }
		getJSON(t, url+"/api/v1/rules", &s)
		return s.Reload
	}
	hup := func() reloadStatus {
		t.Helper()
		before := status().At
		if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the reload", func() bool { return status().At.After(before) })
		return status()
	}
	post := func(path, actor string) {
		t.Helper()
		body := fmt.Sprintf(`{"id":"ev-%s","time":"2024-05-14T10:00:00Z","action":"Global setting changed","actor":{"name":%q}}`, actor, actor)
		resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s: %s", path, resp.Status)
		}
	}
	took := func(target string, n int) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("%d alerts at %s", n, target), func() bool { return len(ts.titles(target)) >= n })
	}

	post("/webhooks/hook", "ann")
	took("a", 1)

	// A source, a notifier and a route to it added.
	write("  - {name: audit, type: webhook}\n", fmt.Sprintf("  - {name: b, type: webhook, url: %q, max_backoff: 100ms}\n", srv.URL+"/b"), "b")
	if st := hup(); !st.OK || st.Trigger != "signal" {
		t.Fatalf("reload: %+v", st)
	}
	post("/webhooks/audit", "bob")
	took("b", 1)

	// b refuses: cid's alert waits in b's queue while b restarts with
	// other settings, then is delivered by the new one.
	ts.closed.Store(true)
	post("/webhooks/hook", "cid")
	waitUntil(t, "a refused attempt at b", func() bool { return ts.refused.Load() > 0 })
	good := write("  - {name: audit, type: webhook}\n", fmt.Sprintf("  - {name: b, type: webhook, url: %q, max_backoff: 200ms}\n", srv.URL+"/b"), "b")
	if st := hup(); !st.OK {
		t.Fatalf("reload: %+v", st)
	}
	ts.closed.Store(false)
	took("b", 2)

	// A config that does not load: rejected with its position, by SIGHUP
	// and by POST /-/reload; the running config goes on.
	broken := strings.Replace(good, "routes:", "routs:", 1)
	if err := os.WriteFile(cfg, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	line := strings.Count(broken[:strings.Index(broken, "routs:")], "\n") + 1
	want := fmt.Sprintf("alerter.yaml:%d:1:", line)
	if st := hup(); st.OK || len(st.Errors) == 0 || !strings.Contains(st.Errors[0], want) {
		t.Errorf("SIGHUP with a broken config: %+v, want an error at %s", st, want)
	}
	resp, err := http.Post(url+"/-/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), want) {
		t.Errorf("POST /-/reload with a broken config: %s %s", resp.Status, b)
	}
	post("/webhooks/audit", "dan")
	took("b", 3)

	// POST /-/reload takes a good config: back to a alone.
	write("", "", "a")
	resp, err = http.Post(url+"/-/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"ok":true`) {
		t.Fatalf("POST /-/reload: %s %s", resp.Status, b)
	}
	post("/webhooks/hook", "eve")
	took("a", 2)
	if got := ts.titles("b"); len(got) != 3 {
		t.Errorf("b took %q, want bob's, cid's and dan's alerts once each", got)
	}
	if c.cmd.ProcessState != nil {
		t.Fatal("alerter stopped on a reload")
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// waitUntil waits for cond, a minute at most (alerter processes start and
// stop on a loaded machine).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
