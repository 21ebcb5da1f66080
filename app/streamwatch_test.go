package app

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Losses of the streams are loud: a stream past 80% of its byte limit
// (its oldest messages are about to be dropped) and messages gone from the
// middle of EVENTS are logged, shown by /readyz, and in the metrics.
func TestStreamLossesAreLoud(t *testing.T) {
	logs := &syncBuffer{}
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
nats: {embedded: {store_dir: %q}, max_bytes: {rejected: 1MiB}}
rules: {paths: [testdata/rules.yaml], watch: false}
sources: [{name: hook, type: webhook}]
notifiers: [{name: console, type: console}, {name: quiet, type: console}]
routes: {default: [console]}
`, t.TempDir())
	r := run(t, yaml, nil, Options{Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := t.Context()
	for i := range 9 { // 900 KB of a 1 MiB limit
		if err := r.svc.streams.Reject(ctx, "bus", bytes.Repeat([]byte{'x'}, 100_000), fmt.Sprintf("not an event %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		r.post(t, "/webhooks/hook", setting(fmt.Sprintf("e%d", i), "ann", "2024-05-14T10:00:00Z"))
	}
	// Someone with access to NATS deletes an event.
	if err := r.svc.streams.Events.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	r.svc.watch.check(ctx)

	log := logs.String()
	if !strings.Contains(log, "a stream is close to its byte limit") || !strings.Contains(log, "stream=REJECTED") || !strings.Contains(log, "nats.max_bytes.rejected") {
		t.Errorf("no warning of the REJECTED stream filling up:\n%s", log)
	}
	if !strings.Contains(log, "messages missing from a stream") || !strings.Contains(log, "stream=EVENTS") || !strings.Contains(log, "1 deleted from within the stream") {
		t.Errorf("no error for the event deleted from EVENTS:\n%s", log)
	}
	r.svc.watch.check(ctx)
	if n := strings.Count(logs.String(), "messages missing from a stream"); n != 1 {
		t.Errorf("the loss was logged %d times, want once", n)
	}

	resp, err := http.Get(r.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "EVENTS: 1 messages missing") || !strings.Contains(string(body), "REJECTED: 86% of its byte limit") {
		t.Errorf("readyz: %d %s", resp.StatusCode, body)
	}

	resp, err = http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`alerter_stream_messages_missing{stream="EVENTS"} 1`, `alerter_stream_max_bytes{stream="REJECTED"} 1.048576e+06`, `alerter_stream_fill_ratio{stream="REJECTED"} 0.8`, `alerter_stream_max_bytes{stream="EVENTS"} 1.073741824e+10`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A corrupt block of EVENTS on disk (a flipped byte), found when the
// server loads the store again, costs the events after it: the stream
// ends before what the evaluator had read. That is an error in the log
// and on /readyz, not silence.
func TestCorruptEventsBlockIsLoud(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir)
	var body strings.Builder
	for i := range 20 {
		body.WriteString(setting(fmt.Sprintf("ev-%d", i), fmt.Sprintf("actor%d", i), "2024-05-14T10:00:00Z") + "\n")
	}
	if code, resp := r.post(t, "/in", body.String()); code != 202 {
		t.Fatalf("POST: %d %v", code, resp)
	}
	waitFor(t, "all events evaluated", func() bool { return r.svc.eval.Stats().Events.Load() == 20 })
	r.drained(t)
	r.stop()

	msgs := filepath.Join(dir, "jetstream", "$G", "streams", "EVENTS", "msgs")
	blk, err := os.ReadFile(filepath.Join(msgs, "1.blk"))
	if err != nil {
		t.Fatal(err)
	}
	blk[len(blk)/2] ^= 0xff
	if err := os.WriteFile(filepath.Join(msgs, "1.blk"), blk, 0o640); err != nil {
		t.Fatal(err)
	}
	// Without its index the server reads the blocks through, as after a
	// crash.
	_ = os.Remove(filepath.Join(msgs, "index.db"))

	logs := &syncBuffer{}
	r = run(t, string(fmt.Appendf(nil, testConfig, dir, "")), map[string]string{"HOOK_SECRET": "tok"}, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	r.svc.watch.check(t.Context())
	if !strings.Contains(logs.String(), "messages missing from a stream") || !strings.Contains(logs.String(), "lost from its end") {
		t.Errorf("the lost events are not logged:\n%s", logs.String())
	}
	if p := r.svc.watch.problems(); len(p) != 1 || !strings.HasPrefix(p[0], "EVENTS: ") {
		t.Errorf("readyz problems %v", p)
	}
}
