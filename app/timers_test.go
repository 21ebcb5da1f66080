package app

import (
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/lifecycle"
)

// timersConfig runs the rules in the file %q with no lateness, so that
// deadlines fire at their time, a webhook target at %q and two consoles.
const timersConfig = `
server:
  listen: "127.0.0.1:0"
  external_url: https://alerter.example.com
  tokens: [{name: alice, token: writer-token, role: writer}]
nats: {embedded: {store_dir: %q}}
rules: {paths: [%q], watch: false}
sources: [{name: open, type: webhook, path: /in}]
notifiers:
  - {name: siem, type: webhook, url: %q, max_backoff: 50ms}
  - {name: chat, type: console}
  - {name: pager, type: console}
routes: {default: [%s]}
engine: {lateness: 0s}
`

// runTimers runs rules with timersConfig, routed to target by default.
func runTimers(t *testing.T, rules, target string, notifiers map[string]delivery.Notifier) (*running, *receiver) {
	t.Helper()
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	rc := &receiver{got: map[string]int{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	cfg := fmt.Sprintf(timersConfig, filepath.Join(dir, "nats"), rulesFile, srv.URL, target)
	return run(t, cfg, nil, Options{AckWait: 2 * time.Second, Stdout: io.Discard}, notifiers), rc
}

const resolveAfterRules = `
rules:
  - id: setting-changed
    severity: high
    when: event.action == "Global setting changed"
    dedup: {by: [event.actor.name], window: 1h}
    resolve: {after: 2s}
`

// A group with no match for resolve.after resolves by "rule": the webhook
// target that got its alert gets the resolve once; a match before the
// deadline moves it on; the next match after the resolve, within the
// dedup window, is a new alert.
func TestResolveAfter(t *testing.T) {
	r, siem := runTimers(t, resolveAfterRules, "siem", nil)
	t0 := time.Now().UTC()
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	r.post(t, "/in", setting("b1", "bob", at(0)))
	waitFor(t, "the alert at siem", func() bool { return len(siem.counts()) == 1 })
	var id string
	for k := range siem.counts() {
		id = k
	}
	r.post(t, "/in", setting("b2", "bob", at(time.Second))) // suppressed: the deadline moves to 3s
	notice := id + lifecycle.NoticeSuffix
	waitFor(t, "the resolve at siem", func() bool { return siem.counts()[notice] == 1 })
	if since := time.Since(t0); since < 3*time.Second {
		t.Errorf("resolved %s after the first match: the second one did not move the deadline", since)
	}
	code, body := r.call(t, "writer-token", "GET", "/api/v1/alerts/"+id, "")
	if code != 200 || body["status"] != "resolved" || body["resolved_by"] != lifecycle.ByRule {
		t.Fatalf("the alert after resolve.after: %d %v", code, body)
	}
	if hist := fmt.Sprint(body["history"]); !strings.Contains(hist, "resolve.after") {
		t.Errorf("the history does not say resolve.after resolved it: %s", hist)
	}

	r.post(t, "/in", setting("b3", "bob", at(4*time.Second))) // within the dedup window
	waitFor(t, "the next alert at siem", func() bool { return len(siem.counts()) == 3 })
	r.drained(t)
	for k, n := range siem.counts() {
		if n != 1 {
			t.Errorf("siem got %s %d times", k, n)
		}
	}
	if n := len(firedAlerts(t, r)); n != 2 {
		t.Errorf("%d alerts stored, want 2", n)
	}
}

const escalateAfterRules = `
rules:
  - id: setting-changed
    severity: high
    when: event.action == "Global setting changed"
    dedup: {by: [event.actor.name], window: 1h}
    title: "{{ event.actor.name }} changed a global setting"
    escalate:
      - {after: 2s, severity: critical, notify: [pager]}
`

// An escalate: after step re-sends a group's alert to the step's target,
// with its severity, once the wall clock is past the alert plus after, if
// nobody acknowledged it; a group acknowledged before is not escalated.
// The events are an hour old: the step counts from when the alert fired.
func TestEscalateAfter(t *testing.T) {
	chat, pager := newTarget(nil), newTarget(nil)
	r, _ := runTimers(t, escalateAfterRules, "chat", map[string]delivery.Notifier{"chat": chat, "pager": pager})
	posted := time.Now()
	old := posted.Add(-time.Hour).UTC()
	r.post(t, "/in", setting("a1", "ann", old.Format(time.RFC3339Nano)))
	waitFor(t, "ann's alert", func() bool { return len(firedAlerts(t, r)) == 1 })
	ann := firedAlerts(t, r)[0]
	if code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+ann.ID+"/ack", `{"comment":"on it"}`); code != 200 {
		t.Fatalf("ack: %d %v", code, body)
	}
	r.post(t, "/in", setting("b1", "bob", old.Format(time.RFC3339Nano)))
	waitFor(t, "both deadlines dealt with", func() bool { return r.svc.eval.Stats().Deadlines.Load() >= 2 })
	r.drained(t)
	if since := time.Since(posted); since < 2*time.Second {
		t.Errorf("escalated %s after the events were posted, before after: 2s", since)
	}
	var bob, x []alerter.Alert
	for _, a := range firedAlerts(t, r) {
		switch {
		case a.Escalation > 0:
			x = append(x, a)
		case a.Group["event.actor.name"] == "bob":
			bob = append(bob, a)
		}
	}
	if len(bob) != 1 || len(x) != 1 {
		t.Fatalf("got bob's alerts %v and escalations %v, want one of each (ann's was acknowledged)", bob, x)
	}
	if e := x[0]; e.Escalation != 1 || e.Escalates != bob[0].ID || e.DedupKey != bob[0].DedupKey || e.Severity != alerter.Critical ||
		e.Event.ID != "b1" || e.Title != "bob changed a global setting" || !slices.Equal(e.Notify, []string{"pager"}) {
		t.Fatalf("escalation %+v of alert %+v", e, bob[0])
	}
	if got := pager.accepted(); !slices.Equal(got, []string{x[0].ID}) {
		t.Errorf("pager got %v, want bob's escalation %s alone", got, x[0].ID)
	}
}

const digestRules = `
rules:
  - id: setting-changed
    severity: high
    when: event.action == "Global setting changed"
    dedup: {by: [event.actor.name], window: 1h}
    digest: 1m
`

// A burst suppressed by the dedup window is summed up once per digest
// period, at its first suppressed match plus the period: one digest to
// the alert's target, with the count, the first and last times, and the
// examples linked to their pages. A group with nothing suppressed gets
// none. The events are 56 seconds old, so the period is over about 5s
// after they are posted.
func TestDigestLive(t *testing.T) {
	r, siem := runTimers(t, digestRules, "siem", nil)
	t0 := time.Now().Add(-56 * time.Second).UTC()
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	r.post(t, "/in", setting("b0", "bob", at(0)))
	r.post(t, "/in", setting("a0", "ann", at(0))) // alone: no digest
	waitFor(t, "both alerts at siem", func() bool { return len(siem.counts()) == 2 })
	var burst []string
	for i := range 3 {
		burst = append(burst, setting(fmt.Sprint("b", i+1), "bob", at(time.Duration(i+1)*time.Second)))
	}
	r.post(t, "/in", "["+strings.Join(burst, ",")+"]")
	waitFor(t, "the digest dealt with", func() bool { return r.svc.eval.Stats().Deadlines.Load() >= 1 })
	r.drained(t)
	var digests []alerter.Alert
	for _, a := range storedAlerts(t, r.svc) {
		if a.Digest != nil {
			digests = append(digests, a)
		}
	}
	if len(digests) != 1 {
		t.Fatalf("%d digests stored, want bob's alone: %+v", len(digests), digests)
	}
	d := digests[0]
	if d.Digest.Count != 3 || !d.Digest.First.Equal(t0.Add(time.Second)) || !d.Digest.Last.Equal(t0.Add(3*time.Second)) ||
		len(d.Digest.Examples) != 3 || d.Group["event.actor.name"] != "bob" || !slices.Equal(d.Notify, []string{"siem"}) {
		t.Fatalf("digest %+v: %+v", d, d.Digest)
	}
	if x := d.Digest.Examples[0]; x.ID != "b1" || x.URL != "https://alerter.example.com/explain?event=b1" || x.Summary != "Global setting changed by bob" {
		t.Errorf("first example %+v", x)
	}
	if !strings.HasPrefix(d.Title, "Digest: 3 more of ") || !strings.Contains(d.Text, "https://alerter.example.com/explain?event=b3") {
		t.Errorf("digest title %q, text %q", d.Title, d.Text)
	}
	waitFor(t, "the digest at siem", func() bool { return siem.counts()[d.ID] == 1 })
	if n := len(siem.counts()); n != 3 {
		t.Errorf("siem got %v, want the two alerts and the digest", siem.counts())
	}
	if text := r.metrics(t); !strings.Contains(text, `alerter_digests_total{rule="setting-changed"} 1`) ||
		!strings.Contains(text, `alerter_alerts_total{rule="setting-changed",severity="high"} 2`) {
		t.Errorf("/metrics does not count the digest apart from the two alerts")
	}
}
