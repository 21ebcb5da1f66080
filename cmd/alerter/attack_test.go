package main

// The attack suite: requests an attacker can make against a running alerter
// process, each with the answer it must get. The process is a real
// `alerter run` (the test binary started as a child, as in TestCrash), so
// that what an attack does to the process itself (a crash, its memory, a
// core held) is seen. One file per area: attack_*_test.go.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alerter/alerter/internal/natscluster"
)

// target is an alerter process under attack.
type target struct {
	*child
	t      *testing.T
	url    string // http://127.0.0.1:PORT
	listen string // 127.0.0.1:PORT
	dir    string // its config, store and output
	client *http.Client
}

// targetConfig is the config of an attacked alerter; rest is YAML added
// after server, nats and rules (sources, notifiers, routes, ...), and
// server is added to the server: mapping (e.g. `api_token: x`).
type targetConfig struct {
	server string
	nats   string // added to nats.embedded
	rules  string // a rule file's text; default: testdata/crash-rules.yaml
	rest   string
	env    []string // KEY=value for the process
}

// startTarget starts an alerter with cfg and waits until it is ready.
func startTarget(t *testing.T, cfg targetConfig) *target {
	t.Helper()
	if testing.Short() {
		t.Skip("starts alerter processes")
	}
	tg := newTarget(t, cfg)
	tg.waitReady()
	return tg
}

// newTarget writes the config and starts the process without waiting.
func newTarget(t *testing.T, cfg targetConfig) *target {
	t.Helper()
	dir := t.TempDir()
	port := natscluster.FreePort(t)
	rulesFile, _ := filepath.Abs("testdata/crash-rules.yaml")
	if cfg.rules != "" {
		rulesFile = filepath.Join(dir, "rules.yaml")
		if err := os.WriteFile(rulesFile, []byte(cfg.rules), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rest := cfg.rest
	if rest == "" {
		rest = `
sources: [{name: hook, type: webhook}]
notifiers: [{name: console, type: console}]
routes: {default: [console]}
`
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	server := fmt.Sprintf("listen: %q", listen)
	if cfg.server != "" {
		server += ", " + cfg.server
	}
	nats := fmt.Sprintf("store_dir: %q", filepath.Join(dir, "nats"))
	if cfg.nats != "" {
		nats += ", " + cfg.nats
	}
	file := filepath.Join(dir, "alerter.yaml")
	text := fmt.Sprintf("server: {%s}\nnats: {embedded: {%s}}\nrules: {paths: [%q], watch: false}\n%s", server, nats, rulesFile, rest)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startChildEnv(t, file, filepath.Join(dir, "out.txt"), cfg.env)
	return &target{child: c, t: t, url: "http://" + listen, listen: listen, dir: dir,
		client: &http.Client{Timeout: 30 * time.Second}}
}

func (tg *target) waitReady() {
	tg.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if tg.exited() {
			tg.t.Fatalf("alerter exited before it was ready:\n%s", tg.output())
		}
		resp, err := http.Get(tg.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			tg.t.Fatalf("alerter did not get ready:\n%s", tg.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exited tells whether the process has ended (without waiting for it).
func (tg *target) exited() bool {
	if tg.cmd.ProcessState != nil {
		return true
	}
	// Signal 0 checks the process exists; a zombie still does, so look at
	// its state too.
	if err := tg.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tg.cmd.Process.Pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) {
		return b[i+2] == 'Z'
	}
	return false
}

// output is what the process printed (logs and console lines).
func (tg *target) output() string {
	b, _ := os.ReadFile(filepath.Join(tg.dir, "out.txt"))
	return string(b)
}

// mustBeAlive fails the test when the process has died or stopped
// answering.
func (tg *target) mustBeAlive() {
	tg.t.Helper()
	if tg.exited() {
		tg.t.Fatalf("alerter died:\n%s", lastLines(tg.output(), 40))
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(tg.url + "/healthz")
	if err != nil {
		tg.t.Fatalf("alerter does not answer: %v", err)
	}
	resp.Body.Close()
}

// rssBytes is the process's resident memory now.
func (tg *target) rssBytes() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tg.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// request is one HTTP request of an attack.
type request struct {
	method, path string
	body         []byte
	header       map[string]string // Content-Type defaults to application/json when there is a body
}

// do sends req and returns the status and body of the answer.
func (tg *target) do(req request) (int, string) {
	tg.t.Helper()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	r, err := http.NewRequest(req.method, tg.url+req.path, body)
	if err != nil {
		tg.t.Fatal(err)
	}
	if req.body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.header {
		if strings.EqualFold(k, "Host") {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	resp, err := tg.client.Do(r)
	if err != nil {
		tg.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestAttackHarness checks the harness itself: a healthy process is alive,
// and a killed one is seen as dead.
func TestAttackHarness(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	tg.mustBeAlive()
	if code, _ := tg.do(request{method: "GET", path: "/healthz"}); code != 200 {
		t.Fatalf("healthz answered %d", code)
	}
	if tg.rssBytes() == 0 {
		t.Error("no RSS read for the process")
	}
	tg.kill()
	if !tg.exited() {
		t.Error("a killed process is not seen as exited")
	}
}
