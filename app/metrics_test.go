package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	r := start(t, t.TempDir())
	r.post(t, "/webhooks/hook", setting("e1", "jdoe", "2024-05-14T10:00:00Z"), "Authorization", "Bearer tok")
	r.post(t, "/webhooks/hook", setting("e2", "eve", "2024-05-14T10:00:00Z")) // unsigned
	r.post(t, "/in", setting("e3", "jdoe", "2024-05-14T10:01:00Z"))           // suppressed
	r.post(t, "/in", "{broken")
	waitFor(t, "the alert", func() bool { return len(r.out.lines()) == 1 })
	r.drained(t)

	text := r.metrics(t)
	for _, want := range []string{
		`alerter_events_received_total{source="hook",type="webhook"} 1`,
		`alerter_events_received_total{source="open",type="webhook"} 1`,
		`alerter_events_rejected_total{reason="unauthorized",source="hook"} 1`,
		`alerter_events_rejected_total{reason="malformed",source="open"} 1`,
		`alerter_events_evaluated_total 2`,
		`alerter_rule_matches_total{rule="setting-changed"} 2`,
		`alerter_alerts_total{rule="setting-changed",severity="high"} 1`,
		`alerter_alerts_suppressed_total{rule="setting-changed"} 1`,
		`alerter_notifications_total{notifier="console",outcome="sent"} 1`,
		`alerter_queue_pending{queue="evaluator"} 0`,
		`alerter_queue_pending{queue="notify-console"} 0`,
		`alerter_evaluation_duration_seconds_count 2`,
		`alerter_nats_connected 1`,
		// The second update of the group is a compare-and-set on the
		// state the first one wrote, without a read.
		`alerter_state_requests_total{kind="write"} 2`,
		`alerter_state_requests_total{kind="retry"} 0`,
		`alerter_state_cache_total{result="hit"} 1`,
		`alerter_rules_last_reload_failed 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}

// metrics is what /metrics says now.
func (r *running) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
