package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/internal/pdtest"
	"github.com/alerter/alerter/notifiers/pagerduty"
)

const pagerDutyConfig = `
server:
  listen: "127.0.0.1:0"
  tokens: [{name: dashboard, token: viewer-token, role: viewer}, {name: alice, token: writer-token, role: writer}]
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/rules.yaml], watch: false}
sources: [{name: open, type: webhook, path: /in}]
notifiers:
  - {name: pd, type: pagerduty, routing_key: R0UT1NGKEY0123456789abcdef012345, url: "%s/v2/enqueue", webhook_secret: "${PD_WEBHOOK_SECRET}"}
  - {name: quiet, type: console}
routes: {default: [pd]}
`

// pdEvent is an Events API v2 event as the PagerDuty fake received it.
type pdEvent struct {
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
}

func pdEvents(t *testing.T, rc *recorder) []pdEvent {
	t.Helper()
	var out []pdEvent
	for _, b := range rc.all() {
		var ev pdEvent
		if err := json.Unmarshal([]byte(b), &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// pdFake is the Events API v2 as the recorder plays it: 202 to every event.
func pdFake(t *testing.T) (*recorder, string) {
	pd := &recorder{answer: func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"x"}`)
	}}
	srv := httptest.NewServer(pd)
	t.Cleanup(srv.Close)
	return pd, srv.URL
}

// An alert paged to PagerDuty is acknowledged, then resolved, by the
// incident's v3 webhooks, signed as PagerDuty signs them; unsigned,
// mis-signed and oversized webhooks are refused and change nothing; one
// received again changes nothing more, and an old resolve replayed after
// the group fired again does not close it.
func TestPagerDutyWebhookAcksAndResolves(t *testing.T) {
	pd, pdURL := pdFake(t)
	const secret = "whsec-0123456789abcdef"
	r := run(t, fmt.Sprintf(pagerDutyConfig, t.TempDir(), pdURL), map[string]string{"PD_WEBHOOK_SECRET": secret},
		Options{AckWait: 2 * time.Second, Stdout: io.Discard})
	hook := r.url + "/pagerduty/webhook"
	send := func(body []byte, sig string) (int, map[string]any) {
		t.Helper()
		code, b, err := pdtest.Send(t.Context(), hook, body, sig)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("answer %d is not JSON: %q", code, b)
		}
		return code, m
	}
	alert := func(id string) map[string]any {
		t.Helper()
		code, body := r.call(t, "viewer-token", "GET", "/api/v1/alerts/"+id, "")
		if code != 200 {
			t.Fatalf("GET alert %s: %d %v", id, code, body)
		}
		return body
	}

	r.post(t, "/in", setting("b1", "bob", "2024-05-14T10:00:00Z"))
	waitFor(t, "the trigger at PagerDuty", func() bool { return len(pd.all()) == 1 })
	trigger := pdEvents(t, pd)[0]
	id := firedAlerts(t, r)[0].ID
	if trigger.EventAction != "trigger" || !strings.HasPrefix(trigger.DedupKey, "setting-changed:") {
		t.Fatalf("PagerDuty got %+v", trigger)
	}

	ack := pdtest.Body(pdtest.Incident{EventType: pagerduty.IncidentAcknowledged, IncidentKey: trigger.DedupKey, Agent: "Ann Oncall"})
	for _, bad := range []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"no signature", ack, "", 401},
		{"another secret's signature", ack, pdtest.Signature(ack, "not-the-secret"), 401},
		{"a signature of another body", ack, pdtest.Signature([]byte(`{}`), secret), 401},
		{"too large a body", append(ack, make([]byte, pagerduty.MaxWebhookBody)...), pdtest.Signature(ack, secret), 413},
	} {
		if code, body := send(bad.body, bad.sig); code != bad.want {
			t.Errorf("%s: %d %v, want %d", bad.name, code, body, bad.want)
		}
	}
	if a := alert(id); a["status"] != "firing" {
		t.Fatalf("after refused webhooks the alert is %v, want firing", a["status"])
	}

	// Signed with a retired secret and the current one, as during a rotation.
	sig := pdtest.Signature(ack, "retired-secret", secret)
	code, body := send(ack, sig)
	if code != 200 || body["status"] != "acknowledged" || body["alert"] != id || body["changed"] != true {
		t.Fatalf("the ack: %d %v", code, body)
	}
	if a := alert(id); a["status"] != "acknowledged" || a["acknowledged_by"] != "pagerduty:Ann Oncall" {
		t.Fatalf("after the ack: %v by %v", a["status"], a["acknowledged_by"])
	}
	if code, body := send(ack, sig); code != 200 || body["changed"] != false {
		t.Errorf("the ack again: %d %v, want 200, nothing changed", code, body)
	}
	for _, other := range []pdtest.Incident{
		{EventType: "incident.priority_updated", IncidentKey: trigger.DedupKey},
		{EventType: pagerduty.IncidentResolved, IncidentKey: "d3640fbd41094207a1c11e58e46b1662"},
		{EventType: pagerduty.IncidentResolved, IncidentKey: "setting-changed:0000000000000000"},
	} {
		b := pdtest.Body(other)
		if code, body := send(b, pdtest.Signature(b, secret)); code != 200 || body["status"] != "ignored" {
			t.Errorf("%s of %s: %d %v, want 200 ignored", other.EventType, other.IncidentKey, code, body)
		}
	}

	resolve := pdtest.Body(pdtest.Incident{EventType: pagerduty.IncidentResolved, IncidentKey: trigger.DedupKey, Agent: "Ann Oncall"})
	if code, body := send(resolve, pdtest.Signature(resolve, secret)); code != 200 || body["status"] != "resolved" || body["changed"] != true {
		t.Fatalf("the resolve: %d %v", code, body)
	}
	a := alert(id)
	if a["status"] != "resolved" || a["resolved_by"] != "pagerduty:Ann Oncall" || a["acknowledged_by"] != "pagerduty:Ann Oncall" {
		t.Fatalf("after the resolve: %v", a)
	}
	if h, _ := a["history"].([]any); len(h) != 2 || !strings.Contains(fmt.Sprint(h[0]), "incident #2 https://acme.pagerduty.com/incidents/PGR0VU2") {
		t.Errorf("history %v", a["history"])
	}
	// The resolve reaches PagerDuty too, with the same dedup_key: PagerDuty
	// drops a resolve of an incident resolved already.
	waitFor(t, "the resolve at PagerDuty", func() bool { return len(pd.all()) == 2 })
	if ev := pdEvents(t, pd)[1]; ev.EventAction != "resolve" || ev.DedupKey != trigger.DedupKey {
		t.Errorf("PagerDuty got %+v after the resolve", ev)
	}

	// bob's group fires again; the old resolve, replayed, leaves it firing.
	r.post(t, "/in", setting("b2", "bob", "2024-05-14T12:00:00Z"))
	waitFor(t, "the second alert", func() bool { return len(firedAlerts(t, r)) == 2 })
	var id2 string
	for _, a := range firedAlerts(t, r) {
		if a.Event.ID == "b2" {
			id2 = a.ID
		}
	}
	if code, body := send(resolve, pdtest.Signature(resolve, secret)); code != 200 || body["changed"] != false {
		t.Errorf("the resolve replayed: %d %v", code, body)
	}
	if a := alert(id2); a["status"] != "firing" {
		t.Errorf("the group's new alert is %v after an old resolve was replayed, want firing", a["status"])
	}
	r.drained(t)
	if n := len(pd.all()); n != 3 {
		t.Errorf("PagerDuty got %d events, want the trigger, the resolve and the second trigger", n)
	}
}

// A group resolved in alerter by its older alert is resolved at PagerDuty;
// PagerDuty's incident.resolved that follows changes nothing and sends no
// second resolve, though the group's newest alert is another.
func TestPagerDutyEchoOfAlerterResolve(t *testing.T) {
	pd, pdURL := pdFake(t)
	const secret = "whsec-echo"
	r := run(t, fmt.Sprintf(pagerDutyConfig, t.TempDir(), pdURL), map[string]string{"PD_WEBHOOK_SECRET": secret},
		Options{AckWait: 2 * time.Second, Stdout: io.Discard})
	r.post(t, "/in", setting("b1", "bob", "2024-05-14T10:00:00Z"))
	r.post(t, "/in", setting("b2", "bob", "2024-05-14T12:00:00Z"))
	waitFor(t, "both triggers at PagerDuty", func() bool { return len(pd.all()) == 2 })
	var first string
	for _, a := range firedAlerts(t, r) {
		if a.Event.ID == "b1" {
			first = a.ID
		}
	}
	if code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+first+"/resolve", `{}`); code != 200 || body["changed"] != true {
		t.Fatalf("resolve: %d %v", code, body)
	}
	waitFor(t, "the resolve at PagerDuty", func() bool { return len(pd.all()) == 3 })
	key := pdEvents(t, pd)[2].DedupKey

	echo := pdtest.Body(pdtest.Incident{EventType: pagerduty.IncidentResolved, IncidentKey: key})
	code, b, err := pdtest.Send(t.Context(), r.url+"/pagerduty/webhook", echo, pdtest.Signature(echo, secret))
	if err != nil || code != 200 || !strings.Contains(string(b), `"changed":false`) || !strings.Contains(string(b), first) {
		t.Fatalf("the echo: %d %s %v, want 200, nothing changed, on %s", code, b, err, first)
	}
	r.drained(t)
	if evs := pdEvents(t, pd); len(evs) != 3 {
		t.Errorf("PagerDuty got %+v, want two triggers and one resolve", evs)
	}
}

// A resolve from PagerDuty whose resolve notification cannot be queued is
// answered 503, which PagerDuty retries; the retry queues it.
func TestPagerDutyResolveRetried(t *testing.T) {
	pd, pdURL := pdFake(t)
	const secret = "whsec-retry"
	r := run(t, fmt.Sprintf(pagerDutyConfig, t.TempDir(), pdURL), map[string]string{"PD_WEBHOOK_SECRET": secret},
		Options{AckWait: 2 * time.Second, Stdout: io.Discard})
	r.post(t, "/in", setting("b1", "bob", "2024-05-14T10:00:00Z"))
	waitFor(t, "the trigger at PagerDuty", func() bool { return len(pd.all()) == 1 })
	key := pdEvents(t, pd)[0].DedupKey

	// ALERTS full, taking nothing more.
	ctx := t.Context()
	info, err := r.svc.streams.Alerts.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full := info.Config
	full.MaxMsgs, full.Discard = int64(info.State.Msgs), jetstream.DiscardNew
	if _, err := r.svc.js.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	resolve := pdtest.Body(pdtest.Incident{EventType: pagerduty.IncidentResolved, IncidentKey: key, Agent: "Ann Oncall"})
	sig := pdtest.Signature(resolve, secret)
	if code, b, err := pdtest.Send(ctx, r.url+"/pagerduty/webhook", resolve, sig); err != nil || code != 503 {
		t.Fatalf("the resolve with ALERTS full: %d %s %v, want 503", code, b, err)
	}
	if _, err := r.svc.js.UpdateStream(ctx, info.Config); err != nil {
		t.Fatal(err)
	}
	if code, b, err := pdtest.Send(ctx, r.url+"/pagerduty/webhook", resolve, sig); err != nil || code != 200 {
		t.Fatalf("the resolve retried: %d %s %v", code, b, err)
	}
	waitFor(t, "the resolve at PagerDuty", func() bool { return len(pd.all()) == 2 })
	if ev := pdEvents(t, pd)[1]; ev.EventAction != "resolve" || ev.DedupKey != key {
		t.Errorf("PagerDuty got %+v", ev)
	}
}
