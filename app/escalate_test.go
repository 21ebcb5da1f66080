package app

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/delivery"
)

const escalateConfig = `
server:
  listen: "127.0.0.1:0"
  tokens: [{name: alice, token: writer-token, role: writer}]
nats: {embedded: {store_dir: %q}}
rules: {paths: [%q], watch: false}
sources: [{name: open, type: webhook, path: /in}]
notifiers: [{name: chat, type: console}, {name: pager, type: console}]
routes: {default: [chat]}
`

const escalateRules = `
rules:
  - id: setting-changed
    severity: high
    when: event.action == "Global setting changed"
    dedup: {by: [event.actor.name], window: 1h}
    title: "{{ event.actor.name }} changed a global setting"
    escalate:
      - {after_suppressed: 2, severity: critical, notify: [pager]}
`

// A burst of matches escalates its group's alert once, at the second
// suppressed match, to the step's target with the step's severity; a
// group acknowledged through the API before its burst does not escalate.
func TestEscalateAfterSuppressed(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(escalateRules), 0o600); err != nil {
		t.Fatal(err)
	}
	chat, pager := newTarget(nil), newTarget(nil)
	r := run(t, fmt.Sprintf(escalateConfig, filepath.Join(dir, "nats"), rulesFile), nil, Options{AckWait: 2 * time.Second},
		map[string]delivery.Notifier{"chat": chat, "pager": pager})

	// ann's group is acknowledged before its burst.
	r.post(t, "/in", setting("a0", "ann", "2024-05-14T10:00:00Z"))
	waitFor(t, "ann's alert at chat", func() bool { return len(chat.accepted()) == 1 && r.sentTo(t, "chat", chat.accepted()[0]) })
	annAlert := storedAlerts(t, r.svc)[0]
	if code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+annAlert.ID+"/ack", `{"comment":"on it"}`); code != 200 {
		t.Fatalf("ack: %d %v", code, body)
	}
	for i, actor := range []string{"bob", "bob", "ann", "bob", "ann", "ann", "bob"} {
		r.post(t, "/in", setting(fmt.Sprint("e", i), actor, fmt.Sprintf("2024-05-14T10:%02d:00Z", i+1)))
		r.drained(t) // in order: the second suppressed match of a group is the one that escalates
	}

	var alerts, escalations []alerter.Alert
	for _, a := range firedAlerts(t, r) {
		if a.Escalation > 0 {
			escalations = append(escalations, a)
		} else {
			alerts = append(alerts, a)
		}
	}
	if len(alerts) != 2 || len(escalations) != 1 {
		t.Fatalf("got %d alerts and %d escalations, want 2 and 1 (bob's only)", len(alerts), len(escalations))
	}
	bob := alerts[1]
	x := escalations[0]
	if bob.Event.ID != "e0" || x.Escalation != 1 || x.Escalates != bob.ID || x.DedupKey != bob.DedupKey ||
		x.Severity != alerter.Critical || x.Suppressed != 2 || x.Event.ID != "e3" || !slices.Equal(x.Notify, []string{"pager"}) {
		t.Fatalf("escalation %+v of alert %+v", x, bob)
	}
	if got := pager.accepted(); !slices.Equal(got, []string{x.ID}) {
		t.Errorf("pager got %v, want the escalation %s alone", got, x.ID)
	}
	if got, want := sorted(chat.accepted()...), sorted(annAlert.ID, annAlert.ID+alerter.AckedSuffix, bob.ID); !slices.Equal(got, want) {
		t.Errorf("chat got %v, want the two alerts and the acknowledgement of ann's", got)
	}
	// The metrics count the escalations made (ann's too, not sent) and
	// the acknowledgement, and how long ann's alert waited for it.
	text := r.metrics(t)
	for _, want := range []string{
		`alerter_escalations_total{rule="setting-changed"} 2`,
		`alerter_alerts_total{rule="setting-changed",severity="high"} 2`,
		`alerter_alert_changes_total{change="acknowledged",source="api"} 1`,
		`alerter_alert_time_to_acknowledge_seconds_count{severity="high"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}
