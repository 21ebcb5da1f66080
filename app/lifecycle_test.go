package app

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/lifecycle"
	"github.com/alerter/alerter/notifiers"
)

// alertsWith lists the ids of the alerts GET /api/v1/alerts gives for
// query, sorted.
func (r *running) alertsWith(t *testing.T, query string) []string {
	t.Helper()
	code, body := r.call(t, "viewer-token", "GET", "/api/v1/alerts?"+query, "")
	if code != 200 {
		t.Fatalf("alerts?%s: %d %v", query, code, body)
	}
	var ids []string
	for _, a := range body["alerts"].([]any) {
		ids = append(ids, a.(map[string]any)["id"].(string))
	}
	slices.Sort(ids)
	return ids
}

// An alert acknowledged and resolved through the API: the group's alerts
// follow it, a resolved one cannot be acknowledged, a later alert opens
// the group again, each change is an event of alerter's own, and all of
// it outlives a restart.
func TestAckAndResolve(t *testing.T) {
	dir := t.TempDir()
	yaml := fmt.Sprintf(tokensConfig, dir)
	r := run(t, yaml, nil, Options{AckWait: 2 * time.Second})
	// setting-changed dedups by actor for an hour: bob's two settings two
	// hours apart are two alerts of one group; ann's is another group.
	r.post(t, "/in", setting("b1", "bob", "2024-05-14T10:00:00Z"))
	r.post(t, "/in", setting("a1", "ann", "2024-05-14T10:05:00Z"))
	r.post(t, "/in", setting("b2", "bob", "2024-05-14T12:00:00Z"))
	waitFor(t, "three alerts", func() bool { return len(storedAlerts(t, r.svc)) == 3 })
	byEvent := map[string]string{}
	for _, a := range storedAlerts(t, r.svc) {
		byEvent[a.Event.ID] = a.ID
	}
	bob1, bob2, ann := byEvent["b1"], byEvent["b2"], byEvent["a1"]
	all := []string{bob1, bob2, ann}
	slices.Sort(all)
	if got := r.alertsWith(t, "status=firing"); !slices.Equal(got, all) {
		t.Fatalf("firing %v, want all %v", got, all)
	}

	if code, body := r.call(t, "viewer-token", "POST", "/api/v1/alerts/"+bob1+"/ack", `{}`); code != 403 {
		t.Fatalf("a viewer acked: %d %v", code, body)
	}
	code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+bob1+"/ack", `{"comment":"looking"}`)
	if code != 200 || body["status"] != "acknowledged" || body["acknowledged_by"] != "alice" || body["changed"] != true {
		t.Fatalf("ack: %d %v", code, body)
	}
	if code, body := r.call(t, "admin-token", "POST", "/api/v1/alerts/"+bob2+"/ack", ``); code != 200 || body["changed"] != false || body["acknowledged_by"] != "alice" {
		t.Fatalf("a second ack of the group: %d %v", code, body)
	}
	bobs := []string{bob1, bob2}
	slices.Sort(bobs)
	if got := r.alertsWith(t, "status=acknowledged"); !slices.Equal(got, bobs) {
		t.Fatalf("acknowledged %v, want bob's %v", got, bobs)
	}
	if got := r.alertsWith(t, "status=firing"); !slices.Equal(got, []string{ann}) {
		t.Fatalf("firing %v, want ann's", got)
	}

	for _, bad := range []struct{ body, want string }{
		{`{"verdict":"maybe"}`, "want true_positive, false_positive or benign"},
		{`{"comment":"` + strings.Repeat("x", 3000) + `"}`, "at most 2000"},
		{`{"who":"mallory"}`, "the body must be"},
	} {
		if code, body := r.call(t, "admin-token", "POST", "/api/v1/alerts/"+bob1+"/resolve", bad.body); code != 400 || !strings.Contains(fmt.Sprint(body["error"]), bad.want) {
			t.Errorf("resolve with %.40s: %d %v, want 400 %q", bad.body, code, body, bad.want)
		}
	}
	code, body = r.call(t, "admin-token", "POST", "/api/v1/alerts/"+bob1+"/resolve", `{"comment":"svc-backup","verdict":"false_positive"}`)
	if code != 200 || body["status"] != "resolved" || body["resolved_by"] != "ops-admin" || body["verdict"] != "false_positive" || body["acknowledged_by"] != "alice" {
		t.Fatalf("resolve: %d %v", code, body)
	}
	if code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+bob2+"/ack", `{}`); code != 409 || !strings.Contains(fmt.Sprint(body["error"]), "was resolved by ops-admin") {
		t.Fatalf("ack of a resolved alert: %d %v", code, body)
	}
	if code, _ := r.call(t, "writer-token", "POST", "/api/v1/alerts/nope/ack", `{}`); code != 404 {
		t.Fatalf("ack of no alert: %d", code)
	}

	// A later alert of bob's group opens it again.
	r.post(t, "/in", setting("b3", "bob", "2024-05-14T14:00:00Z"))
	// ALERTS holds the notifications of bob's group besides the alerts.
	waitFor(t, "the fourth alert", func() bool { return len(firedAlerts(t, r)) == 4 })
	var bob3 string
	for _, a := range firedAlerts(t, r) {
		if a.Event.ID == "b3" {
			bob3 = a.ID
		}
	}
	if got := r.alertsWith(t, "status=resolved"); !slices.Equal(got, bobs) {
		t.Fatalf("resolved %v, want bob's first two", got)
	}

	// The changes are alerter's own events.
	waitFor(t, "the ack and resolve events", func() bool {
		var page struct{ Events []struct{ Event event.Event } }
		_, body := r.call(t, "viewer-token", "GET", "/api/v1/events?source=alerter", "")
		b, _ := json.Marshal(body)
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		var acked, resolved bool
		for _, e := range page.Events {
			ev := e.Event
			acked = acked || (ev.Action == actions.AlertAcked && ev.Actor.Name == "alice" && ev.Attrs["alert_id"] == bob1 && ev.Attrs["comment"] == "looking")
			resolved = resolved || (ev.Action == actions.AlertResolved && ev.Actor.Name == "ops-admin" && ev.Attrs["verdict"] == "false_positive")
		}
		return acked && resolved
	})

	r.stop()
	r2 := run(t, yaml, nil, Options{AckWait: 2 * time.Second})
	var detail struct {
		Status  string
		History []struct{ Status, By, Comment string }
	}
	if code, body := r2.call(t, "viewer-token", "GET", "/api/v1/alerts/"+bob2, ""); code == 200 {
		b, _ := json.Marshal(body)
		_ = json.Unmarshal(b, &detail)
	}
	if detail.Status != "resolved" || len(detail.History) != 2 || detail.History[0].By != "alice" || detail.History[1].Comment != "svc-backup" {
		t.Fatalf("after a restart: %+v", detail)
	}
	if got := r2.alertsWith(t, "status=firing"); !slices.Equal(got, sorted(ann, bob3)) {
		t.Fatalf("firing after the restart %v, want ann's and bob's third", got)
	}
}

// firedAlerts are the alerts in ALERTS, without resolve and
// acknowledgement notifications.
func firedAlerts(t *testing.T, r *running) []alerter.Alert {
	t.Helper()
	return slices.DeleteFunc(storedAlerts(t, r.svc), func(a alerter.Alert) bool { return lifecycle.NoticeOf(&a) != "" })
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

const resolveConfig = `
server:
  listen: "127.0.0.1:0"
  tokens: [{name: alice, token: writer-token, role: writer}, {name: dashboard, token: viewer-token, role: viewer}]
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/rules.yaml], watch: false}
sources: [{name: open, type: webhook, path: /in}]
notifiers:
  - {name: got, type: console}
  - {name: muted, type: console, max_backoff: 20ms}
  - {name: quiet, type: console}
routes: {default: [got, muted]}
`

// A resolve made by hand reaches the targets that got the alert, and only
// them, once however often it is made, even while a silence covers the
// alert; the resolve notification is no alert of its own in the list.
func TestResolveReachesTargetsThatGotTheAlert(t *testing.T) {
	got := newTarget(nil)
	// muted fails until a silence comes, which then mutes the alert there.
	muted := newTarget(func(int) error { return notifiers.Retry(errors.New("503 from the target"), 10*time.Millisecond) })
	r := run(t, fmt.Sprintf(resolveConfig, t.TempDir()), nil, Options{AckWait: 2 * time.Second, Stdout: io.Discard},
		map[string]delivery.Notifier{"got": got, "muted": muted})
	r.post(t, "/in", setting("b1", "bob", "2024-05-14T10:00:00Z"))
	waitFor(t, "the alert at got", func() bool { return len(got.accepted()) == 1 })
	id := got.accepted()[0]
	code, sl := r.call(t, "writer-token", "POST", "/api/v1/silences", `{"matchers":[{"name":"rule","value":"setting-changed"}],"duration":"1h","created_by":"alice","comment":"noisy"}`)
	if code != 201 {
		t.Fatalf("POST silence: %d %v", code, sl)
	}
	waitFor(t, "the alert silenced at muted", func() bool {
		o, ok, _ := r.svc.deliveries.Get(t.Context(), "muted", id)
		return ok && o.Status == alerter.Silenced
	})

	for i := range 2 {
		code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+id+"/resolve", `{"verdict":"benign"}`)
		if code != 200 || body["status"] != "resolved" || body["changed"] != (i == 0) {
			t.Fatalf("resolve %d: %d %v", i+1, code, body)
		}
	}
	notice := id + lifecycle.NoticeSuffix
	waitFor(t, "the resolve at got", func() bool { return slices.Contains(got.accepted(), notice) })
	r.drained(t)
	if a := got.accepted(); !slices.Equal(a, []string{id, notice}) {
		t.Errorf("got received %v, want the alert and its resolve once", a)
	}
	if a := muted.accepted(); len(a) != 0 {
		t.Errorf("muted received %v, want nothing", a)
	}
	code, detail := r.call(t, "viewer-token", "GET", "/api/v1/alerts/"+notice, "")
	deliveries, _ := detail["deliveries"].(map[string]any)
	if code != 200 || detail["status"] != "resolved" || detail["resolves"] != id || detail["resolved_by"] != "alice" ||
		detail["verdict"] != "benign" || fmt.Sprint(detail["notify"]) != "[got]" || len(deliveries) != 1 {
		t.Errorf("the resolve notification: %d %v", code, detail)
	}
	if ids := r.alertsWith(t, ""); !slices.Equal(ids, []string{id}) {
		t.Errorf("the alert list has %v, want only the alert %s", ids, id)
	}
	if code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+notice+"/resolve", `{}`); code != 400 {
		t.Errorf("resolving the resolve notification: %d %v, want 400", code, body)
	}
}

// A resolve whose notification cannot be stored answers 503, saying the
// alert is resolved; resolving again, once the stream takes it, queues it.
func TestResolveRetriedAfterFailedQueueing(t *testing.T) {
	got := newTarget(nil)
	r := run(t, fmt.Sprintf(resolveConfig, t.TempDir()), nil, Options{AckWait: 2 * time.Second, Stdout: io.Discard},
		map[string]delivery.Notifier{"got": got, "muted": newTarget(nil)})
	r.post(t, "/in", setting("b1", "bob", "2024-05-14T10:00:00Z"))
	waitFor(t, "the alert at got", func() bool { return len(got.accepted()) == 1 })
	id := got.accepted()[0]

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
	code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+id+"/resolve", `{}`)
	if code != 503 || !strings.Contains(fmt.Sprint(body["error"]), "is resolved, but its resolve notifications are not queued") {
		t.Fatalf("resolve with ALERTS full: %d %v, want 503", code, body)
	}
	if code, body := r.call(t, "viewer-token", "GET", "/api/v1/alerts/"+id, ""); code != 200 || body["status"] != "resolved" {
		t.Fatalf("after the 503: %d %v, want the alert resolved", code, body)
	}

	if _, err := r.svc.js.UpdateStream(ctx, info.Config); err != nil {
		t.Fatal(err)
	}
	if code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+id+"/resolve", `{}`); code != 200 || body["changed"] != false {
		t.Fatalf("resolve again: %d %v", code, body)
	}
	waitFor(t, "the resolve at got", func() bool { return slices.Contains(got.accepted(), id+lifecycle.NoticeSuffix) })
}
