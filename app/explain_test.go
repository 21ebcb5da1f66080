package app

import (
	"strings"
	"testing"

	"github.com/alerter/alerter/api"
)

func TestExplain(t *testing.T) {
	r := start(t, t.TempDir())
	r.post(t, "/in", setting("e1", "jdoe", "2024-05-14T10:00:00Z"))
	r.post(t, "/in", setting("e2", "jdoe", "2024-05-14T10:05:00Z"))
	waitFor(t, "the alert", func() bool { return len(r.out.lines()) == 1 })
	r.drained(t)

	var x api.Explanation
	if code := r.get(t, "/api/v1/events/e1/explain", &x); code != 200 || x.Event == nil || x.Event.ID != "e1" {
		t.Fatalf("explain e1: %d %+v", code, x)
	}
	if len(x.Rules) != 1 || x.Skipped != 1 {
		t.Fatalf("explain e1: %d rules explained, %d skipped; want 1 and 1 (page-created is not a candidate)", len(x.Rules), x.Skipped)
	}
	rx := x.Rules[0]
	if !rx.Matched || rx.Alert == nil || !strings.HasPrefix(rx.Decision, "fired alert ") || rx.Alert.Deliveries["console"].Status != "sent" ||
		rx.Group["event.actor.name"] != "jdoe" || rx.State == nil || !rx.State.Alerted || rx.State.Suppressed != 1 {
		t.Errorf("e1: %+v (state %+v)", rx, rx.State)
	}
	if len(rx.Clauses) != 1 || rx.Clauses[0].Value == nil || !*rx.Clauses[0].Value {
		t.Errorf("e1 clauses: %+v", rx.Clauses)
	}

	var x2 api.Explanation
	if r.get(t, "/api/v1/events/e2/explain", &x2); len(x2.Rules) != 1 || x2.Rules[0].Alert != nil ||
		x2.Rules[0].Decision != "suppressed: the group alerted at 2024-05-14T10:00:00Z, less than 1h0m0s from this event (one alert per group per 1h0m0s)" {
		t.Errorf("e2: %+v", x2.Rules)
	}
	var ev struct {
		ID  string
		Raw map[string]any
	}
	if code := r.get(t, "/api/v1/events/e2", &ev); code != 200 || ev.ID != "e2" || ev.Raw["action"] != "Global setting changed" {
		t.Errorf("GET event: %d %+v", code, ev)
	}
	var e struct{ Error string }
	if code := r.get(t, "/api/v1/events/nope/explain", &e); code != 404 || !strings.Contains(e.Error, `no event "nope"`) {
		t.Errorf("unknown event: %d %q", code, e.Error)
	}
}
