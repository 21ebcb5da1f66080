package app

import (
	"fmt"
	"io"
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

const resolveWhenConfig = `
server:
  listen: "127.0.0.1:0"
  tokens: [{name: dashboard, token: viewer-token, role: viewer}]
nats: {embedded: {store_dir: %q}}
rules: {paths: [%q], watch: false}
sources: [{name: open, type: webhook, path: /in}]
notifiers: [{name: chat, type: console}, {name: other, type: console}]
routes: {default: [chat]}
`

const resolveWhenRules = `
rules:
  - id: setting-changed
    severity: high
    when: event.action == "Global setting changed"
    dedup: {by: [event.actor.name], window: 1h}
    resolve: {when: 'event.action == "Global setting reverted"'}
`

func reverted(id, actor, at string) string {
	return fmt.Sprintf(`{"id":%q,"time":%q,"action":"Global setting reverted","actor":{"name":%q}}`, id, at, actor)
}

// An event meeting a rule's resolve.when resolves its group's alert by
// "rule": the target that got the alert gets its resolve once, a second
// resolving event or one of a group that never alerted does nothing, and
// the next match, within the dedup window, is a new firing alert.
func TestResolveByRule(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(resolveWhenRules), 0o600); err != nil {
		t.Fatal(err)
	}
	chat, other := newTarget(nil), newTarget(nil)
	r := run(t, fmt.Sprintf(resolveWhenConfig, filepath.Join(dir, "nats"), rulesFile), nil, Options{AckWait: 2 * time.Second, Stdout: io.Discard},
		map[string]delivery.Notifier{"chat": chat, "other": other})

	r.post(t, "/in", setting("b1", "bob", "2024-05-14T10:00:00Z"))
	waitFor(t, "the alert sent to chat", func() bool {
		ids := chat.accepted()
		if len(ids) != 1 {
			return false
		}
		o, ok, _ := r.svc.deliveries.Get(t.Context(), "chat", ids[0])
		return ok && o.Status == alerter.Sent
	})
	id := chat.accepted()[0]

	r.post(t, "/in", reverted("r0", "ann", "2024-05-14T10:05:00Z")) // ann's group never alerted
	r.post(t, "/in", reverted("r1", "bob", "2024-05-14T10:10:00Z"))
	notice := id + lifecycle.NoticeSuffix
	waitFor(t, "the resolve at chat", func() bool { return slices.Contains(chat.accepted(), notice) })
	code, body := r.call(t, "viewer-token", "GET", "/api/v1/alerts/"+id, "")
	if code != 200 || body["status"] != "resolved" || body["resolved_by"] != lifecycle.ByRule {
		t.Fatalf("the alert after the resolving event: %d %v", code, body)
	}
	if hist := fmt.Sprint(body["history"]); !strings.Contains(hist, "event r1") {
		t.Errorf("the history does not name the resolving event: %s", hist)
	}

	r.post(t, "/in", reverted("r2", "bob", "2024-05-14T10:11:00Z")) // resolved already
	r.post(t, "/in", setting("b2", "bob", "2024-05-14T10:20:00Z"))  // within the dedup window
	waitFor(t, "the next alert at chat", func() bool { return len(chat.accepted()) == 3 })
	r.drained(t)
	next := chat.accepted()[2]
	if got := chat.accepted(); !slices.Equal(got, []string{id, notice, next}) || next == id {
		t.Fatalf("chat received %v, want the alert, its resolve once, and a new alert", got)
	}
	if code, body := r.call(t, "viewer-token", "GET", "/api/v1/alerts/"+next, ""); code != 200 || body["status"] != "firing" {
		t.Errorf("the next alert: %d %v, want firing", code, body)
	}
	if got := other.accepted(); len(got) != 0 {
		t.Errorf("other, which never got the alert, received %v", got)
	}
	if n := len(firedAlerts(t, r)); n != 2 {
		t.Errorf("%d alerts stored, want 2", n)
	}
}

const resolveEscalatedRules = `
rules:
  - id: setting-changed
    severity: high
    when: event.action == "Global setting changed"
    dedup: {by: [event.actor.name], window: 1h}
    escalate: [{after_suppressed: 1, notify: [other]}]
    resolve: {when: 'event.action == "Global setting reverted"'}
`

// A group whose alert was escalated to another target resolves with its
// escalation: the alert's target and the escalation's both get a resolve.
func TestResolveByRuleEscalated(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(resolveEscalatedRules), 0o600); err != nil {
		t.Fatal(err)
	}
	chat, other := newTarget(nil), newTarget(nil)
	r := run(t, fmt.Sprintf(resolveWhenConfig, filepath.Join(dir, "nats"), rulesFile), nil, Options{AckWait: 2 * time.Second, Stdout: io.Discard},
		map[string]delivery.Notifier{"chat": chat, "other": other})
	sent := func(target *target, name string) bool {
		ids := target.accepted()
		if len(ids) != 1 {
			return false
		}
		o, ok, _ := r.svc.deliveries.Get(t.Context(), name, ids[0])
		return ok && o.Status == alerter.Sent
	}
	r.post(t, "/in", setting("b1", "bob", "2024-05-14T10:00:00Z"))
	waitFor(t, "the alert sent to chat", func() bool { return sent(chat, "chat") })
	r.post(t, "/in", setting("b2", "bob", "2024-05-14T10:01:00Z"))
	waitFor(t, "the escalation sent to other", func() bool { return sent(other, "other") })
	alert, escalation := chat.accepted()[0], other.accepted()[0]

	r.post(t, "/in", reverted("r1", "bob", "2024-05-14T10:10:00Z"))
	waitFor(t, "both resolves", func() bool { return len(chat.accepted()) == 2 && len(other.accepted()) == 2 })
	r.drained(t)
	if got, want := chat.accepted(), []string{alert, alert + lifecycle.NoticeSuffix}; !slices.Equal(got, want) {
		t.Errorf("chat received %v, want %v", got, want)
	}
	if got, want := other.accepted(), []string{escalation, escalation + lifecycle.NoticeSuffix}; !slices.Equal(got, want) {
		t.Errorf("other received %v, want %v", got, want)
	}
	for _, id := range []string{alert, escalation} {
		if code, body := r.call(t, "viewer-token", "GET", "/api/v1/alerts/"+id, ""); code != 200 || body["status"] != "resolved" || body["resolved_by"] != lifecycle.ByRule {
			t.Errorf("alert %s: %d %v, want resolved by rule", id, code, body)
		}
	}
}
