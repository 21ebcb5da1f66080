package app

import (
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
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

func TestNoAlertDecision(t *testing.T) {
	set, err := rules.Compile([]rules.File{{Name: "t.yaml", Data: []byte(`rules:
  - {id: th, severity: low, when: "true", threshold: {count: 3, within: 10m}, dedup: {window: 1h}}
`)}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Rules[0]
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	ev := &event.Event{ID: "e2", Time: at("2024-05-14T10:05:00Z")}
	for _, tt := range []struct {
		name string
		st   engine.GroupState
		live bool
		want string
	}{
		{"in the window", engine.GroupState{Window: []engine.Entry{{ID: "e1"}, {ID: "e2"}}}, true,
			"counted toward the threshold: 2 of the 3 events within 10m0s it needs are in the group's window"},
		{"after the group's alert", engine.GroupState{Alerted: true, LastAlert: at("2024-05-14T10:00:00Z").UnixNano()}, true,
			"suppressed: the group alerted at 2024-05-14T10:00:00Z, less than 1h0m0s from this event (one alert per group per 1h0m0s)"},
		{"late, before the group's alert", engine.GroupState{Alerted: true, LastAlert: at("2024-05-14T10:06:00Z").UnixNano()}, true,
			"suppressed: the group alerted at 2024-05-14T10:06:00Z, less than 1h0m0s from this event (one alert per group per 1h0m0s)"},
		{"long after the group's alert", engine.GroupState{Alerted: true, LastAlert: at("2024-05-14T08:00:00Z").UnixNano()}, true,
			"counted toward the threshold (3 within 10m0s), or suppressed; it did not fire an alert itself, and the window it was in has moved on"},
		{"the firing event, its alert not stored yet", engine.GroupState{Alerted: true, LastAlert: at("2024-05-14T10:05:00Z").UnixNano(), Fired: []string{"e0", "e1", "e2"}}, true,
			"it made the group's last alert fire, at 2024-05-14T10:05:00Z; that alert is not stored (yet, or any more)"},
		{"no state", engine.GroupState{}, false,
			"counted toward the threshold (3 within 10m0s), or suppressed; it did not fire an alert itself, and the window it was in has moved on"},
	} {
		if got := noAlertDecision(r, ev, tt.st, tt.live); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
