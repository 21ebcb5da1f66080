package main

// Attacks on POST /pagerduty/webhook, the one route that changes alerts
// without a token: only PagerDuty, holding the subscription's secret, may
// acknowledge or resolve through it (docs/notifications.md, PagerDuty).

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/internal/pdtest"
	"github.com/alerter/alerter/notifiers/pagerduty"
)

func TestAttackPagerDutyWebhook(t *testing.T) {
	var mu sync.Mutex
	var keys []string // dedup_keys of the triggers PagerDuty received
	pd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			DedupKey string `json:"dedup_key"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &ev)
		mu.Lock()
		keys = append(keys, ev.DedupKey)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"`+ev.DedupKey+`"}`)
	}))
	defer pd.Close()
	const secret = "whsec-attack-0123456789"
	tg := startTarget(t, targetConfig{
		env: []string{"PD_WEBHOOK_SECRET=" + secret},
		rest: fmt.Sprintf(`
sources: [{name: hook, type: webhook}]
notifiers:
  - {name: pd, type: pagerduty, routing_key: R0UT1NGKEY0123456789abcdef012345, url: "%s/v2/enqueue", webhook_secret: "${PD_WEBHOOK_SECRET}"}
routes: {default: [pd]}
`, pd.URL),
	})
	if code, body := tg.do(request{method: "POST", path: "/webhooks/hook", body: []byte(`{"id":"p1","time":"2024-05-14T10:00:00Z","action":"Global setting changed","actor":{"name":"bob"}}`)}); code != 202 {
		t.Fatalf("event: %d %s", code, body)
	}
	var key string
	deadline := time.Now().Add(30 * time.Second)
	for key == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no trigger at PagerDuty:\n%s", tg.output())
		}
		mu.Lock()
		if len(keys) > 0 {
			key = keys[0]
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	status := func() string {
		code, body := tg.do(request{method: "GET", path: "/api/v1/alerts"})
		var page struct {
			Alerts []struct {
				Status         string `json:"status"`
				AcknowledgedBy string `json:"acknowledged_by"`
			}
		}
		if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil || len(page.Alerts) != 1 {
			t.Fatalf("alerts: %d %s", code, body)
		}
		return page.Alerts[0].Status + " " + page.Alerts[0].AcknowledgedBy
	}

	ack := pdtest.Body(pdtest.Incident{EventType: pagerduty.IncidentAcknowledged, IncidentKey: key, Agent: "Mallory"})
	flood := strings.Repeat(pdtest.Signature(ack, "guess")+",", 10000)
	for _, a := range []struct {
		name   string
		body   []byte
		header map[string]string
		want   int
	}{
		{"unsigned", ack, nil, 401},
		{"signed with a guessed secret", ack, map[string]string{"X-PagerDuty-Signature": pdtest.Signature(ack, "guess")}, 401},
		{"signed with an empty secret", ack, map[string]string{"X-PagerDuty-Signature": pdtest.Signature(ack, "")}, 401},
		{"the signature of another body", ack, map[string]string{"X-PagerDuty-Signature": pdtest.Signature([]byte("{}"), secret)}, 401},
		{"10,000 wrong signatures", ack, map[string]string{"X-PagerDuty-Signature": flood}, 401},
		{"a valid signature after 10,000 wrong ones", ack, map[string]string{"X-PagerDuty-Signature": flood + pdtest.Signature(ack, secret)}, 401},
		{"a body of 300 KiB", append(ack, make([]byte, 300<<10)...), map[string]string{"X-PagerDuty-Signature": pdtest.Signature(ack, secret)}, 413},
		{"a form from another site's page", ack, map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site",
			"X-PagerDuty-Signature": pdtest.Signature(ack, secret)}, 403},
	} {
		if code, body := tg.do(request{method: "POST", path: "/pagerduty/webhook", body: a.body, header: a.header}); code != a.want {
			t.Errorf("%s: %d %s, want %d", a.name, code, body, a.want)
		}
	}
	// Signed, but saying nothing of when it occurred: it could be an old
	// event replayed against a newer alert of the group.
	undated := bytes.Replace(ack, []byte(`"occurred_at"`), []byte(`"occurred_at_"`), 1)
	if code, body := tg.do(request{method: "POST", path: "/pagerduty/webhook", body: undated,
		header: map[string]string{"X-PagerDuty-Signature": pdtest.Signature(undated, secret)}}); code != 200 || !strings.Contains(body, "no occurred_at") {
		t.Errorf("an event without occurred_at: %d %s", code, body)
	}
	if s := status(); s != "firing " {
		t.Fatalf("after the attacks the alert is %q, want firing", s)
	}

	// PagerDuty's own webhook, then the same again (a retry, or a replay).
	for i := range 2 {
		code, body := tg.do(request{method: "POST", path: "/pagerduty/webhook", body: ack, header: map[string]string{"X-PagerDuty-Signature": pdtest.Signature(ack, secret)}})
		if code != 200 || !strings.Contains(body, fmt.Sprintf(`"changed":%v`, i == 0)) {
			t.Errorf("webhook %d: %d %s", i+1, code, body)
		}
	}
	if s := status(); s != "acknowledged pagerduty:Mallory" {
		t.Errorf("after the webhook the alert is %q", s)
	}
	tg.mustBeAlive()
	if out := tg.output(); strings.Contains(out, secret) {
		t.Error("the webhook secret is in the output")
	}
}
