package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/notifiers"
)

// target is an alert target that fails as told: the delivery queue's
// behaviour is what is tested here; the real targets are tested against
// their contracts in notifiers/.
type target struct {
	mu       sync.Mutex
	fail     func(attempt int) error // nil: accept
	attempts map[string]int
	got      []string // alert ids accepted
	hang     bool
}

func newTarget(fail func(int) error) *target { return &target{fail: fail, attempts: map[string]int{}} }

func (t *target) Notify(ctx context.Context, a *alerter.Alert) error {
	t.mu.Lock()
	t.attempts[a.ID]++
	n := t.attempts[a.ID]
	hang := t.hang
	t.mu.Unlock()
	if hang {
		<-ctx.Done()
		return notifiers.Retry(ctx.Err(), 0)
	}
	if t.fail != nil {
		if err := t.fail(n); err != nil {
			return err
		}
	}
	t.mu.Lock()
	t.got = append(t.got, a.ID)
	t.mu.Unlock()
	return nil
}

func (t *target) accepted() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.got...)
}

const deliveryConfig = `
server: {listen: "127.0.0.1:0"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/rules.yaml]}
sources: [{name: in, type: webhook}]
notifiers:
  - {name: flaky, type: console, max_backoff: 20ms}
  - {name: broken, type: console}
  - {name: limited, type: console, max_attempts: 2, max_backoff: 20ms}
  - {name: slow, type: console, timeout: 1s}
  - {name: quiet, type: console}
routes: {default: [flaky, broken, limited, slow]}
`

func startDelivery(t *testing.T, targets map[string]delivery.Notifier) *running {
	t.Helper()
	r := run(t, string(fmt.Appendf(nil, deliveryConfig, t.TempDir())), nil, Options{Stdout: io.Discard}, targets)
	return r
}

func TestDeliveryRetriesAndDeadLetters(t *testing.T) {
	flaky := newTarget(func(n int) error {
		if n <= 3 {
			return notifiers.Retry(errors.New("503 from the target"), 10*time.Millisecond)
		}
		return nil
	})
	broken := newTarget(func(int) error { return notifiers.Permanent(errors.New("invalid_auth")) })
	limited := newTarget(func(int) error { return errors.New("connection refused") })
	slow := newTarget(nil)
	slow.hang = true
	r := startDelivery(t, map[string]delivery.Notifier{"flaky": flaky, "broken": broken, "limited": limited, "slow": slow})

	r.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	r.post(t, "/webhooks/in", setting("e2", "ben", "2024-05-14T10:00:00Z"))
	// The flaky target gets both once, after its failures, although the
	// slow one hangs on every attempt.
	waitFor(t, "the flaky target to accept both", func() bool { return len(flaky.accepted()) == 2 })
	waitFor(t, "four dead letters", func() bool { return len(deadLetters(t, r, "")) == 4 })

	for _, dl := range deadLetters(t, r, "") {
		switch dl.Notifier {
		case "broken":
			if dl.Attempts != 1 || !strings.Contains(dl.Reason, "refused it for good") || !strings.Contains(dl.Error, "invalid_auth") {
				t.Errorf("broken: %+v", dl)
			}
		case "limited":
			if dl.Attempts != 2 || dl.Reason != "2 attempts failed" {
				t.Errorf("limited: %+v", dl)
			}
		default:
			t.Errorf("unexpected dead letter %+v", dl)
		}
	}
	if got := deadLetters(t, r, "broken"); len(got) != 2 {
		t.Errorf("?notifier=broken listed %d, want 2", len(got))
	}
	id := flaky.accepted()[0]
	o, ok, err := r.svc.deliveries.Get(t.Context(), "flaky", id)
	if err != nil || !ok || o.Status != alerter.Sent || o.Attempts != 4 {
		t.Errorf("flaky outcome %+v %v %v, want sent after 4 attempts", o, ok, err)
	}
	for _, d := range r.svc.current().deliver {
		if d.Name() == "flaky" && d.Stats().Retried.Load() != 6 {
			t.Errorf("flaky retried %d times, want 6", d.Stats().Retried.Load())
		}
	}
}

func deadLetters(t *testing.T, r *running, notifier string) []api.DeadLetter {
	t.Helper()
	url := r.url + "/api/v1/deadletters"
	if notifier != "" {
		url += "?notifier=" + notifier
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct{ Deadletters []api.DeadLetter }
	if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return body.Deadletters
}

func TestSilences(t *testing.T) {
	flaky := newTarget(nil)
	r := startDelivery(t, map[string]delivery.Notifier{"flaky": flaky, "broken": newTarget(nil), "limited": newTarget(nil), "slow": newTarget(nil)})
	call := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, r.url+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	code, sl := call("POST", "/api/v1/silences", `{"matchers":[{"name":"group.event.actor.name","value":"ann"}],"duration":"1h","created_by":"oncall","comment":"ann is testing"}`)
	if code != 201 || sl["state"] != "active" {
		t.Fatalf("POST silence: %d %v", code, sl)
	}
	if code, body := call("POST", "/api/v1/silences", `{"matchers":[],"duration":"1h","created_by":"x","comment":"y"}`); code != 400 || !strings.Contains(fmt.Sprint(body["error"]), "at least one matcher") {
		t.Errorf("a silence of everything: %d %v", code, body)
	}
	r.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	r.post(t, "/webhooks/in", setting("e2", "ben", "2024-05-14T10:00:00Z"))
	waitFor(t, "ben's alert", func() bool { return len(flaky.accepted()) == 1 })
	r.drained(t)
	if n := len(flaky.accepted()); n != 1 {
		t.Fatalf("%d alerts sent, want only ben's", n)
	}
	var annID string
	for _, a := range storedAlerts(t, r.svc) {
		if a.Group["event.actor.name"] == "ann" {
			annID = a.ID
		}
	}
	o, ok, _ := r.svc.deliveries.Get(t.Context(), "flaky", annID)
	if !ok || o.Status != alerter.Silenced || len(o.Silences) != 1 || o.Silences[0] != sl["id"] {
		t.Errorf("ann's outcome %+v, want silenced by %v", o, sl["id"])
	}
	code, exp := call("DELETE", "/api/v1/silences/"+sl["id"].(string), "")
	if code != 200 || exp["state"] != "expired" {
		t.Fatalf("DELETE: %d %v", code, exp)
	}
	r.post(t, "/webhooks/in", setting("e3", "ann", "2024-05-14T12:00:00Z")) // after the dedup window
	waitFor(t, "ann's alert once the silence expired", func() bool { return len(flaky.accepted()) == 2 })
	if code, list := call("GET", "/api/v1/silences", ""); code != 200 || len(list["silences"].([]any)) != 1 {
		t.Errorf("GET silences: %d %v", code, list)
	}

	// Before a silence is created: which recent alerts it would have muted.
	r.drained(t)
	for body, want := range map[string]string{
		`{"matchers":[{"name":"group.event.actor.name","value":"ann"}]}`:                                                         "2 of 3: ann,ann",
		`{"matchers":[{"name":"rule","value":"setting-changed"},{"name":"group.event.actor.name","value":"ann","negate":true}]}`: "1 of 3: ben",
		`{"matchers":[{"name":"group.event.actor.name","value":"a.*|b.*","regex":true}]}`:                                        "3 of 3: ann,ann,ben",
		`{"matchers":[{"name":"rule","value":"setting-changed"},{"name":"severity","value":"low"}]}`:                             "0 of 3: ",
	} {
		code, p := call("POST", "/api/v1/silences/preview", body)
		var who []string
		alerts, _ := p["alerts"].([]any)
		for _, a := range alerts {
			g := a.(map[string]any)["group"].(map[string]any)
			who = append(who, fmt.Sprint(g["event.actor.name"]))
		}
		sort.Strings(who) // alerts are stored as evaluated, not as posted
		if got := fmt.Sprintf("%v of %v: %s", p["matched"], p["scanned"], strings.Join(who, ",")); code != 200 || got != want {
			t.Errorf("preview %s: %d %s, want %s", body, code, got, want)
		}
	}
	if code, p := call("POST", "/api/v1/silences/preview", `{"matchers":[{"name":"rule","value":"x.*","regex":true,"negate":true}]}`); code != 400 || !strings.Contains(fmt.Sprint(p["error"]), "could match every alert") {
		t.Errorf("preview of a silence of everything: %d %v", code, p)
	}
}

// A dead letter handed back once its target is mended is delivered to that
// target alone, once, however often it is asked for.
func TestRedeliverDeadLetter(t *testing.T) {
	var mended atomic.Bool
	gate := make(chan struct{}) // holds the redelivered send until closed
	broken := newTarget(func(int) error {
		if mended.Load() {
			<-gate
			return nil
		}
		return notifiers.Permanent(errors.New("invalid_auth"))
	})
	flaky, limited, slow := newTarget(nil), newTarget(nil), newTarget(nil)
	r := startDelivery(t, map[string]delivery.Notifier{"flaky": flaky, "broken": broken, "limited": limited, "slow": slow})
	r.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	waitFor(t, "the dead letter", func() bool { return len(deadLetters(t, r, "broken")) == 1 })
	waitFor(t, "the other targets", func() bool {
		return len(flaky.accepted()) == 1 && len(limited.accepted()) == 1 && len(slow.accepted()) == 1
	})
	id := deadLetters(t, r, "broken")[0].Alert.ID
	redeliver := func(body string) (int, string) {
		t.Helper()
		resp, err := http.Post(r.url+"/api/v1/alerts/"+id+"/redeliver", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Error, Status string }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Error + out.Status
	}
	for body, want := range map[string]string{
		`{"target":"flaky"}`: "409 only a dead letter can be redelivered: not a dead letter: it was sent",
		`{"target":"quiet"}`: `400 was not routed to "quiet"`,
		`{}`:                 `400 the body must be`,
	} {
		if code, got := redeliver(body); fmt.Sprint(code) != want[:3] || !strings.Contains(got, want[4:]) {
			t.Errorf("%s: %d %s, want %s", body, code, got, want)
		}
	}

	mended.Store(true)
	for range 3 { // asked for three times while the first is being sent: handed back once
		if code, got := redeliver(`{"target":"broken"}`); code != http.StatusAccepted || got != "requeued" {
			t.Fatalf("redeliver: %d %s", code, got)
		}
	}
	waitFor(t, "the send under way", func() bool {
		broken.mu.Lock()
		defer broken.mu.Unlock()
		return broken.attempts[id] == 2
	})
	// While that copy is being sent: the original alert handed out again
	// (its ack lost in a crash), and a second copy stored for the same
	// handing back (a request repeated after the duplicate window), are
	// both passed over.
	var d *delivery.Deliverer
	for _, x := range r.svc.current().deliver {
		if x.Name() == "broken" {
			d = x
		}
	}
	data, _, err := r.svc.streams.Alert(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	original := alertMsg(t, r, id, false, 2)
	copy2 := &nats.Msg{Subject: original.Subject(), Data: data, Header: nats.Header{}}
	last, _ := r.svc.streams.Alerts.GetLastMsgForSubject(t.Context(), original.Subject())
	copy2.Header.Set(bus.RedeliverHeader, "broken")
	copy2.Header.Set(bus.RedeliverRevHeader, last.Header.Get(bus.RedeliverRevHeader))
	copy2.Header.Set(jetstream.MsgIDHeader, id+"/a-second-copy")
	if _, err := r.svc.js.PublishMsg(t.Context(), copy2); err != nil {
		t.Fatal(err)
	}
	passedOver := func(what string, m jetstream.Msg) {
		done := make(chan struct{})
		go func() { d.Handle(t.Context(), m); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s is being sent again", what) // held by the gate until it closes
		}
	}
	passedOver("the original alert", original)
	passedOver("a second copy", alertMsg(t, r, id, true, 1))
	if n := func() int { broken.mu.Lock(); defer broken.mu.Unlock(); return broken.attempts[id] }(); n != 2 {
		t.Errorf("%d attempts at the mended target while its copy is sent, want 2", n)
	}
	close(gate)
	waitFor(t, "the redelivery", func() bool { return len(broken.accepted()) == 1 })
	waitFor(t, "its outcome", func() bool {
		o, ok, _ := r.svc.deliveries.Get(t.Context(), "broken", id)
		return ok && o.Status == alerter.Sent && o.Attempts == 1
	})
	r.drained(t)
	time.Sleep(200 * time.Millisecond) // a second handing back would be sent by now
	if n := len(broken.accepted()); n != 1 {
		t.Errorf("the mended target got it %d times", n)
	}
	if code, got := redeliver(`{"target":"broken"}`); code != http.StatusConflict || !strings.Contains(got, "it was sent") {
		t.Errorf("once delivered: %d %s", code, got)
	}
	for name, tg := range map[string]*target{"flaky": flaky, "limited": limited, "slow": slow} {
		if n := len(tg.accepted()); n != 1 {
			t.Errorf("%s got the alert %d times", name, n)
		}
	}
	// The copy handed back is not another alert in the history; the dead
	// letter stays listed.
	var page struct{ Alerts []struct{ ID string } }
	if r.get(t, "/api/v1/alerts", &page); len(page.Alerts) != 1 || page.Alerts[0].ID != id {
		t.Errorf("history %+v", page.Alerts)
	}
	if dls := deadLetters(t, r, "broken"); len(dls) != 1 || dls[0].Now != "sent" {
		t.Errorf("dead letters of broken: %+v", dls)
	}

	// Once its record expired, a dead letter cannot be handed back, and
	// the answer says why.
	kv, err := r.svc.js.KeyValue(t.Context(), bus.DefaultDeliveriesBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(t.Context(), "slow."+id); err != nil {
		t.Fatal(err)
	}
	if code, got := redeliver(`{"target":"slow"}`); code != http.StatusConflict || !strings.Contains(got, "still being tried there (pending)") {
		t.Errorf("no record of a recent alert: %d %s", code, got)
	}
	r.svc.deliveriesTTL = time.Millisecond // as if the alert were older than the records are kept
	if code, got := redeliver(`{"target":"slow"}`); code != http.StatusGone || !strings.Contains(got, "expired") {
		t.Errorf("an expired record: %d %s", code, got)
	}
	if err := kv.Purge(t.Context(), "broken."+id); err != nil {
		t.Fatal(err)
	}
	if dls := deadLetters(t, r, "broken"); len(dls) != 1 || dls[0].Now != "expired" {
		t.Errorf("dead letters of broken once its record expired: %+v", dls)
	}
}

// alertMsg is a message of ALERTS at the alert's subject, the first (the
// original) or the latest, handed out times times through a consumer of
// the test's own.
func alertMsg(t *testing.T, r *running, id string, latest bool, times int) jetstream.Msg {
	t.Helper()
	ctx := t.Context()
	policy := jetstream.DeliverAllPolicy
	if latest {
		policy = jetstream.DeliverLastPerSubjectPolicy
	}
	cons, err := r.svc.streams.Alerts.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject: bus.AlertsSubject + ".*." + id, DeliverPolicy: policy, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if !latest && msg.Headers().Get(bus.RedeliverHeader) != "" {
			_ = msg.Ack() // a copy, not the original
			continue
		}
		if md, err := msg.Metadata(); err == nil && int(md.NumDelivered) >= times {
			return msg
		}
		_ = msg.Nak()
	}
}

// The targets with what they did, and a test notification through one,
// outside its queue.
func TestNotifiersAPI(t *testing.T) {
	broken := newTarget(func(int) error { return notifiers.Permanent(errors.New("invalid_auth")) })
	flaky := newTarget(nil)
	r := startDelivery(t, map[string]delivery.Notifier{"flaky": flaky, "broken": broken, "limited": newTarget(nil), "slow": newTarget(nil)})
	r.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	waitFor(t, "the alert at flaky", func() bool { return len(flaky.accepted()) == 1 })
	waitFor(t, "the dead letter", func() bool { return len(deadLetters(t, r, "broken")) == 1 })

	var list struct {
		Notifiers []api.Notifier
	}
	if code := r.get(t, "/api/v1/notifiers", &list); code != 200 || len(list.Notifiers) != 5 {
		t.Fatalf("notifiers: %d %+v", code, list)
	}
	byName := map[string]api.Notifier{}
	for _, n := range list.Notifiers {
		byName[n.Name] = n
	}
	if n := byName["flaky"]; n.Type != "console" || n.Stats["sent"] != 1 || n.Pending == nil {
		t.Errorf("flaky %+v", n)
	}
	if n := byName["broken"]; n.Stats["dead"] != 1 || n.Stats["failed"] != 1 || n.Stats["sent"] != 0 {
		t.Errorf("broken %+v", n)
	}

	test := func(name, body string) (int, api.TestResult) {
		t.Helper()
		resp, err := http.Post(r.url+"/api/v1/notifiers/"+name+"/test", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out api.TestResult
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, got := test("flaky", ""); code != 200 || !got.OK || len(flaky.accepted()) != 2 || flaky.accepted()[1] == flaky.accepted()[0] {
		t.Errorf("test flaky: %d %+v", code, got)
	}
	if code, got := test("broken", `{"severity":"critical"}`); code != 200 || got.OK || got.Retryable || !strings.Contains(got.Error, "invalid_auth") {
		t.Errorf("test broken: %d %+v", code, got)
	}
	if code, _ := test("nowhere", ""); code != 404 {
		t.Errorf("test an unknown notifier: %d", code)
	}
	if code, _ := test("flaky", `{"severity":"urgent"}`); code != 400 {
		t.Errorf("test with a bad severity: %d", code)
	}
	// A test is not a delivery: it is in no queue's counters.
	r.get(t, "/api/v1/notifiers", &list)
	for _, n := range list.Notifiers {
		if n.Name == "flaky" && n.Stats["sent"] != 1 {
			t.Errorf("flaky counted the test: %+v", n)
		}
	}
}

// Alerts that wait for a target's rate limit longer than the ack wait are
// still sent once each: the wait tells JetStream they are in progress.
func TestRateLimitWaitSendsOnce(t *testing.T) {
	paced := newTarget(nil)
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/rules.yaml]}
sources: [{name: in, type: webhook}]
notifiers: [{name: paced, type: console, rate_per_second: 4, timeout: 1s}, {name: quiet, type: console}]
routes: {default: [paced]}
`, t.TempDir())
	r := run(t, yaml, nil, Options{Stdout: io.Discard, AckWait: time.Second}, map[string]delivery.Notifier{"paced": paced})
	const n = 20 // five seconds at 4 a second: with 16 at once, waits past the ack wait of 3s
	var body strings.Builder
	for i := range n {
		body.WriteString(setting(fmt.Sprintf("e%d", i), fmt.Sprintf("actor%d", i), "2024-05-14T10:00:00Z") + "\n")
	}
	resp, err := http.Post(r.url+"/webhooks/in", "application/x-ndjson", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
	waitFor(t, "every alert", func() bool { return len(paced.accepted()) >= n })
	time.Sleep(500 * time.Millisecond) // a second send of any would come now
	seen := map[string]int{}
	for _, id := range paced.accepted() {
		seen[id]++
	}
	for id, c := range seen {
		if c > 1 {
			t.Errorf("alert %s sent %d times", id, c)
		}
	}
	if len(seen) != n {
		t.Errorf("%d alerts sent, want %d", len(seen), n)
	}
}

// An alert id stored again in ALERTS after the duplicate window (a signed
// webhook replayed minutes later, an event re-evaluated) is not sent again
// to a target that had it: the deliveries record is read for every alert,
// not only for those stored before the server started.
func TestAlertStoredAgainIsSentOnce(t *testing.T) {
	targets := map[string]delivery.Notifier{"flaky": newTarget(nil), "broken": newTarget(nil), "limited": newTarget(nil), "slow": newTarget(nil)}
	r := startDelivery(t, targets)
	flaky := targets["flaky"].(*target)

	r.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	waitFor(t, "the alert to be sent", func() bool { return len(flaky.accepted()) == 1 })
	stored := storedAlerts(t, r.svc)
	if len(stored) != 1 {
		t.Fatalf("%d alerts stored, want 1", len(stored))
	}
	a := stored[0]
	// Stored again under its id, as it is once the message-id window has
	// passed (the publish carries no message id, so none is deduplicated).
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.js.Publish(t.Context(), bus.AlertsSubject+"."+a.Rule+"."+a.ID, b); err != nil {
		t.Fatal(err)
	}
	var d *delivery.Deliverer
	for _, x := range r.svc.current().deliver {
		if x.Name() == "flaky" {
			d = x
		}
	}
	queue, err := r.svc.js.Consumer(t.Context(), bus.AlertsStream, "notify-flaky")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the copy to be handled", func() bool {
		info, err := queue.Info(t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream >= 2
	})
	if got := flaky.accepted(); len(got) != 1 {
		t.Errorf("alert %s sent %d times: %v", a.ID, len(got), got)
	}
	if n := d.Stats().Skipped.Load(); n != 1 {
		t.Errorf("skipped %d, want 1", n)
	}
}

// A notifier's queue deleted while alerts wait in it (its consumer state
// lost) is made again and resumes from the deliveries record: the alerts
// pending are sent, those already sent are not sent again, and the loss
// is logged and counted.
func TestDeletedQueueResumes(t *testing.T) {
	var down atomic.Bool
	flaky := newTarget(func(int) error {
		if down.Load() {
			return notifiers.Retry(errors.New("503 from the target"), 10*time.Millisecond)
		}
		return nil
	})
	targets := map[string]delivery.Notifier{"flaky": flaky, "broken": newTarget(nil), "limited": newTarget(nil), "slow": newTarget(nil)}
	logs := &syncBuffer{}
	r := run(t, string(fmt.Appendf(nil, deliveryConfig, t.TempDir())), nil, Options{Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(logs, nil))}, targets)

	post := func(i int) {
		r.post(t, "/webhooks/in", setting(fmt.Sprintf("e%d", i), fmt.Sprintf("actor%d", i), "2024-05-14T10:00:00Z"))
	}
	post(0)
	post(1)
	waitFor(t, "two alerts sent", func() bool { return len(flaky.accepted()) == 2 })
	down.Store(true)
	for i := 2; i < 5; i++ {
		post(i)
	}
	waitFor(t, "three alerts tried and pending", func() bool {
		flaky.mu.Lock()
		defer flaky.mu.Unlock()
		return len(flaky.attempts) == 5
	})
	if err := r.svc.js.DeleteConsumer(t.Context(), bus.AlertsStream, "notify-flaky"); err != nil {
		t.Fatal(err)
	}
	down.Store(false)
	waitFor(t, "the pending alerts sent", func() bool { return len(flaky.accepted()) == 5 })
	post(5)
	waitFor(t, "an alert fired after the loss sent", func() bool { return len(flaky.accepted()) == 6 })

	seen := map[string]int{}
	for _, id := range flaky.accepted() {
		seen[id]++
	}
	if len(seen) != 6 {
		t.Errorf("sent %v, want 6 alerts once each", seen)
	}
	for _, d := range r.svc.current().deliver {
		if d.Name() == "flaky" && d.Stats().QueueLost.Load() != 1 {
			t.Errorf("queue losses counted: %d, want 1", d.Stats().QueueLost.Load())
		}
	}
	if !strings.Contains(logs.String(), "the notifier's queue was deleted") {
		t.Errorf("the loss is not logged:\n%s", logs.String())
	}
}
