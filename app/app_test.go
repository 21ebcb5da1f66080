package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/internal/syncbuf"
)

// syncBuffer is the console's output, read while the service writes it.
type syncBuffer struct{ syncbuf.Buffer }

func (s *syncBuffer) lines() []string {
	return strings.FieldsFunc(s.String(), func(r rune) bool { return r == '\n' })
}

const testConfig = `
server: {listen: "127.0.0.1:0", max_body_bytes: 65536}
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/rules.yaml], watch: false}
sources:
  - {name: hook, type: webhook, secret: "${HOOK_SECRET}"}
  - {name: open, type: webhook, path: /in}
  - {name: bus, type: nats, subject: "audit.>"}
%snotifiers:
  - {name: console, type: console}
  - {name: quiet, type: console}
routes: {default: [console]}
`

type running struct {
	svc    *App
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
	url    string
}

func start(t *testing.T, dir string) *running {
	t.Helper()
	return startWith(t, dir, "")
}

// startWith starts alerter with more sources (YAML list items).
func startWith(t *testing.T, dir, sources string) *running {
	t.Helper()
	return run(t, string(fmt.Appendf(nil, testConfig, dir, sources)), map[string]string{"HOOK_SECRET": "tok"}, Options{AckWait: 2 * time.Second})
}

// run starts alerter on a config file's text, with env as the
// environment, and waits until it is ready; it stops when the test ends.
// The console prints into the running's out, unless opt says otherwise;
// notifiers, if given, replace the configured targets of their names.
func run(t *testing.T, yaml string, env map[string]string, opt Options, notifiers ...map[string]delivery.Notifier) *running {
	t.Helper()
	cfg, err := config.Parse("alerter.yaml", []byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok }, builtin.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	if opt.Stdout == nil {
		opt.Stdout = out
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var targets map[string]delivery.Notifier
	if len(notifiers) > 0 {
		targets = notifiers[0]
	}
	svc, err := newApp(ctx, cfg, opt, targets)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &running{svc: svc, out: out, cancel: cancel, done: make(chan error, 1), url: "http://" + svc.Addr()}
	go func() { r.done <- svc.Run(ctx) }()
	t.Cleanup(r.stop)
	select {
	case <-svc.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the service did not get ready")
	}
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

func (r *running) post(t *testing.T, path, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func setting(id, actor, at string) string {
	return fmt.Sprintf(`{"id":%q,"time":%q,"action":"Global setting changed","actor":{"name":%q}}`, id, at, actor)
}

// An event posted to a webhook comes out as an alert on the console of the
// targets it is routed to, once; the dedup window suppresses the next.
func TestWebhookToConsole(t *testing.T) {
	r := start(t, t.TempDir())
	code, body := r.post(t, "/webhooks/hook", setting("e1", "jdoe", "2024-05-14T10:00:00Z"), "Authorization", "Bearer tok")
	if code != 202 || body["accepted"] != 1.0 {
		t.Fatalf("POST: %d %v", code, body)
	}
	waitFor(t, "the alert on the console", func() bool { return len(r.out.lines()) == 1 })
	line := r.out.lines()[0]
	for _, want := range []string{"2024-05-14T10:00:00Z HIGH setting-changed", `"jdoe changed a global setting"`, "name=jdoe"} {
		if !strings.Contains(line, want) {
			t.Errorf("console line %q lacks %q", line, want)
		}
	}

	// Suppressed by dedup; a page_created goes to the quiet console only,
	// which prints on the same output; the unsigned request is refused.
	r.post(t, "/in", setting("e2", "jdoe", "2024-05-14T10:05:00Z"))
	r.post(t, "/in", `{"id":"p1","time":"2024-05-14T10:06:00Z","action":"page_created"}`)
	if code, _ := r.post(t, "/webhooks/hook", setting("e3", "eve", "2024-05-14T10:07:00Z")); code != 401 {
		t.Errorf("unsigned POST: %d, want 401", code)
	}
	r.post(t, "/in", setting("e4", "mallory", "2024-05-14T10:08:00Z"))
	waitFor(t, "three alerts", func() bool { return len(r.out.lines()) == 3 })
	out := r.out.String()
	if !strings.Contains(out, "INFO page-created") || !strings.Contains(out, "name=mallory") || strings.Contains(out, "eve") {
		t.Errorf("console output:\n%s", out)
	}
	r.drained(t)
	if n := len(r.out.lines()); n != 3 {
		t.Errorf("%d lines printed, want 3:\n%s", n, r.out)
	}
	if got := r.svc.eval.Stats().Events.Load(); got != 4 {
		t.Errorf("evaluated %d events, want 4", got)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	r := start(t, t.TempDir())
	for path, want := range map[string]string{"/healthz": `"status":"ok"`, "/readyz": `"status":"ready"`} {
		resp, err := http.Get(r.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
	resp, err := http.Post(r.url+"/webhooks/nope", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), "/webhooks/hook") {
		t.Errorf("unknown webhook: %d %s", resp.StatusCode, b)
	}
}

// State and queues live in JetStream on disk: after a restart, the dedup
// window still holds, and nothing is printed twice.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir)
	r.post(t, "/in", setting("e1", "jdoe", "2024-05-14T10:00:00Z"))
	waitFor(t, "the first alert", func() bool { return len(r.out.lines()) == 1 })
	r.stop()

	r2 := start(t, dir)
	r2.post(t, "/in", setting("e2", "jdoe", "2024-05-14T10:10:00Z")) // suppressed
	r2.post(t, "/in", setting("e1", "jdoe", "2024-05-14T10:00:00Z")) // a duplicate
	r2.post(t, "/in", setting("e3", "ann", "2024-05-14T10:11:00Z"))
	waitFor(t, "all events evaluated", func() bool { return r2.svc.eval.Stats().Events.Load() == 2 })
	r2.drained(t)
	if lines := r2.out.lines(); len(lines) != 1 || !strings.Contains(lines[0], "name=ann") {
		t.Errorf("after restart the console printed:\n%s", r2.out)
	}
}

// drained waits until the evaluator and every deliverer have nothing
// pending or unacknowledged.
func (r *running) drained(t *testing.T) {
	t.Helper()
	waitFor(t, "the queues to drain", func() bool {
		if n, err := r.svc.eval.Pending(t.Context()); err != nil || n > 0 {
			return false
		}
		for _, d := range r.svc.current().deliver {
			if n, err := d.Pending(t.Context()); err != nil || n > 0 {
				return false
			}
		}
		return true
	})
}

// Events published on a NATS subject are alerted on like webhook events;
// a message that is no event is kept aside and does not stop the others.
func TestNATSSource(t *testing.T) {
	r := start(t, t.TempDir())
	resp, err := r.svc.nc.Request("audit.dc1", []byte(setting("n1", "kim", "2024-05-14T10:00:00Z")), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp.Data), `"accepted":1`) {
		t.Fatalf("answer %s", resp.Data)
	}
	if err := r.svc.nc.Publish("audit.dc1", []byte("<xml/>")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.nc.Request("audit.dc1", []byte(setting("n2", "lee", "2024-05-14T10:01:00Z")), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two alerts", func() bool { return len(r.out.lines()) == 2 })
	if out := r.out.String(); !strings.Contains(out, "name=kim") || !strings.Contains(out, "name=lee") {
		t.Errorf("console:\n%s", out)
	}
	info, err := r.svc.streams.Rejected.Info(t.Context())
	if err != nil || info.State.Msgs != 1 {
		t.Errorf("REJECTED holds %v messages (%v), want 1", info.State.Msgs, err)
	}
}

// The audit log file source: lines appended to the file alert, and a
// restart resumes after what was read.
func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "current.audit.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("  - {name: audit-file, type: file, path: %q}\n", log)
	r := startWith(t, filepath.Join(dir, "nats"), src)
	appendLine := func(s string) {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	appendLine(setting("f1", "ola", "2024-05-14T10:00:00Z"))
	waitFor(t, "the alert from the file", func() bool { return strings.Contains(r.out.String(), "name=ola") })
	r.stop()

	appendLine(setting("f2", "per", "2024-05-14T10:01:00Z"))
	r2 := startWith(t, filepath.Join(dir, "nats"), src)
	waitFor(t, "the alert for the line written while stopped", func() bool { return strings.Contains(r2.out.String(), "name=per") })
	r2.drained(t)
	if strings.Contains(r2.out.String(), "name=ola") {
		t.Errorf("the restart read the file again:\n%s", r2.out)
	}
}
