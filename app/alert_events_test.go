package app

import (
	"fmt"
	"io"
	"testing"

	"github.com/alerter/alerter/api"
)

// An alert of a threshold shows the events that made it fire.
func TestAlertEvents(t *testing.T) {
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/threshold-rules.yaml]}
sources: [{name: in, type: webhook}]
notifiers: [{name: console, type: console}]
routes: {default: [console]}
`, t.TempDir())
	r := run(t, yaml, nil, Options{Stdout: io.Discard})
	svc := r.svc
	for i := range 3 {
		if code, body := r.post(t, "/webhooks/in", fmt.Sprintf(`{"id":"x%d","time":"2024-05-14T10:0%d:00Z","action":"All findings exported","actor":{"name":"akumar"}}`, i, i)); code != 202 {
			t.Fatalf("POST %d: %d %v", i, code, body)
		}
	}
	waitFor(t, "the threshold's alert", func() bool { return len(storedAlerts(t, svc)) > 0 })
	r.drained(t)
	alerts := storedAlerts(t, svc)
	if len(alerts) != 1 || len(alerts[0].EventIDs) != 3 {
		t.Fatalf("alerts: %+v", alerts)
	}
	var d api.AlertDetail
	if code := r.get(t, "/api/v1/alerts/"+alerts[0].ID, &d); code != 200 || len(d.Events) != 3 {
		t.Fatalf("GET alert: %d, %d events", code, len(d.Events))
	}
	for i, ev := range d.Events {
		if ev.ID != alerts[0].EventIDs[i] || ev.Actor.Name != "akumar" {
			t.Errorf("event %d: %+v, want %s", i, ev, alerts[0].EventIDs[i])
		}
	}
	// An event the stream no longer holds is named as missing.
	if err := svc.streams.Events.DeleteMsg(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	d = api.AlertDetail{}
	if code := r.get(t, "/api/v1/alerts/"+alerts[0].ID, &d); code != 200 || len(d.Events) != 2 || fmt.Sprint(d.EventsMissing) != "[x1]" {
		t.Errorf("GET alert, x1 deleted: %d, %d events, missing %q", code, len(d.Events), d.EventsMissing)
	}
}
