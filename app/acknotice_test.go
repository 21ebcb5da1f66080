package app

import (
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/internal/pdtest"
	"github.com/alerter/alerter/notifiers/pagerduty"
)

// sentTo tells whether the delivery of alert id to target is recorded as
// sent: only then does its acknowledgement or resolve go there.
func (r *running) sentTo(t *testing.T, target, id string) bool {
	t.Helper()
	o, ok, err := r.svc.deliveries.Get(t.Context(), target, id)
	if err != nil {
		t.Fatal(err)
	}
	return ok && o.Status == alerter.Sent
}

const ackNoticeConfig = `
server:
  listen: "127.0.0.1:0"
  tokens: [{name: alice, token: writer-token, role: writer}, {name: dashboard, token: viewer-token, role: viewer}]
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/rules.yaml], watch: false}
sources: [{name: open, type: webhook, path: /in}]
notifiers:
  - {name: pd, type: pagerduty, routing_key: R0UT1NGKEY0123456789abcdef012345, url: "%s/v2/enqueue", webhook_secret: whsec-ack}
  - {name: slack-bot, type: slack, token: xoxb-bot-token, channel: C0SECOPS, api_url: %q, signing_secret: slack-signing-secret}
  - {name: quiet, type: console}
routes: {default: [pd, slack-bot]}
`

// An alert paged to PagerDuty and posted by a Slack bot, acknowledged
// through the API, is acknowledged at PagerDuty (an acknowledge with the
// trigger's dedup_key) and shown acknowledged in its Slack message (one
// chat.update, no reply), once however often it is acknowledged. An alert
// acknowledged through PagerDuty's signed webhook is shown acknowledged in
// Slack, and PagerDuty gets nothing back.
func TestAckReachesTheTargets(t *testing.T) {
	pd, pdURL := pdFake(t)
	slack := &slackFake{got: map[string][]url.Values{}}
	srv := httptest.NewServer(slack)
	defer srv.Close()
	r := run(t, fmt.Sprintf(ackNoticeConfig, t.TempDir(), pdURL, srv.URL+"/api"), nil, Options{AckWait: 2 * time.Second, Stdout: io.Discard})
	fire := func(event, actor string, n int) string {
		t.Helper()
		r.post(t, "/in", setting(event, actor, "2024-05-14T10:00:00Z"))
		var id string
		waitFor(t, "the alert of "+event+" sent", func() bool {
			for _, a := range firedAlerts(t, r) {
				if a.Event.ID == event {
					id = a.ID
				}
			}
			return id != "" && r.sentTo(t, "pd", id) && r.sentTo(t, "slack-bot", id)
		})
		if evs := pdEvents(t, pd); len(evs) != n || evs[n-1].EventAction != "trigger" {
			t.Fatalf("PagerDuty got %+v", evs)
		}
		return id
	}
	updates := func() []url.Values { return slack.posts("/api/chat.update") }

	// Through the API, twice.
	bob := fire("b1", "bob", 1)
	for i := range 2 {
		if code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+bob+"/ack", `{}`); code != 200 || body["changed"] != (i == 0) {
			t.Fatalf("ack %d: %d %v", i+1, code, body)
		}
	}
	waitFor(t, "the acknowledge at PagerDuty", func() bool { return len(pd.all()) == 2 })
	waitFor(t, "the Slack message updated", func() bool { return len(updates()) == 1 })
	r.drained(t)
	evs := pdEvents(t, pd)
	if len(evs) != 2 || evs[1].EventAction != "acknowledge" || evs[1].DedupKey != evs[0].DedupKey {
		t.Errorf("PagerDuty got %+v, want the trigger and one acknowledge of its dedup_key", evs)
	}
	if b := pd.all()[1]; b != `{"routing_key":"R0UT1NGKEY0123456789abcdef012345","event_action":"acknowledge","dedup_key":"`+evs[0].DedupKey+`"}` {
		t.Errorf("the acknowledge: %s", b)
	}
	up := updates()[0]
	if up.Get("channel") != "C0SECOPS" || up.Get("ts") != "1715681280.000100" || !strings.Contains(up.Get("blocks"), "*Acknowledged* by alice at ") ||
		strings.Contains(up.Get("blocks"), `"alerter_ack"`) || !strings.Contains(up.Get("blocks"), `"alerter_resolve"`) {
		t.Errorf("the update: %v", up)
	}
	if n := len(slack.posts("/api/chat.postMessage")); n != 1 {
		t.Errorf("%d Slack messages posted, want the alert alone", n)
	}

	// Through PagerDuty.
	ann := fire("a1", "ann", 3)
	key := pdEvents(t, pd)[2].DedupKey
	hook := pdtest.Body(pdtest.Incident{EventType: pagerduty.IncidentAcknowledged, IncidentKey: key, Agent: "Ann Oncall"})
	code, b, err := pdtest.Send(t.Context(), r.url+"/pagerduty/webhook", hook, pdtest.Signature(hook, "whsec-ack"))
	if err != nil || code != 200 || !strings.Contains(string(b), `"changed":true`) || !strings.Contains(string(b), ann) {
		t.Fatalf("the webhook: %d %s %v", code, b, err)
	}
	waitFor(t, "the Slack message updated", func() bool { return len(updates()) == 2 })
	r.drained(t)
	if up := updates()[1]; !strings.Contains(up.Get("blocks"), "*Acknowledged* by pagerduty:Ann Oncall at ") || !strings.Contains(up.Get("blocks"), "ann changed") {
		t.Errorf("the update: %v", up)
	}
	if evs := pdEvents(t, pd); len(evs) != 3 {
		t.Errorf("PagerDuty got %+v, want its acknowledgement not sent back", evs)
	}
}
