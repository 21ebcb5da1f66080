package ruletest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/alerter/alerter/rules"
)

// expect: event_ids names the first alert's events by their positions in
// the test's events: a sequence reports the chain with the latest first
// event, so the right positions pass and others fail.
func TestExpectEventIDs(t *testing.T) {
	ev := func(id, action, at string) string {
		return fmt.Sprintf(`{"id":%q,"time":"2024-05-14T10:%s:00Z","action":%q,"actor":{"name":"zoe"}}`, id, at, action)
	}
	events := strings.Join([]string{ev("a", "A", "00"), ev("b", "A", "01"), ev("c", "B", "02")}, ", ")
	src := `rules:
  - id: s
    severity: low
    sequence:
      by: [event.actor.name]
      within: 30m
      steps: [{name: one, when: event.action == "A"}, {name: two, when: event.action == "B"}]
    tests:
      - {name: right, events: [` + events + `], expect: {alerts: 1, event_ids: [2, 3]}}
      - {name: wrong, events: [` + events + `], expect: {alerts: 1, event_ids: [1, 3]}}
`
	set, err := rules.Compile([]rules.File{{Name: "t.yaml", Data: []byte(src)}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := Run(t.Context(), set, nil)
	if len(res) != 2 || res[0].Err != nil {
		t.Fatalf("right positions: %+v", res)
	}
	if err := res[1].Err; err == nil || err.Error() != "event_ids: expected the events at [1 3], got [2 3]" {
		t.Fatalf("wrong positions: %v", err)
	}
}

// A position outside the test's events is refused at load.
func TestExpectEventIDsOutOfRange(t *testing.T) {
	src := `rules:
  - id: s
    severity: low
    when: "true"
    tests: [{name: t, events: [{"action": "A"}], expect: {alerts: 1, event_ids: [2]}}]
`
	_, err := rules.Compile([]rules.File{{Name: "t.yaml", Data: []byte(src)}}, rules.Options{})
	if err == nil || !strings.Contains(err.Error(), `t.yaml:5:81: test "t": event_ids are positions of the test's events, 1 to 1, not 2`) {
		t.Fatalf("got %v", err)
	}
}

// until: moves a test's time on after its events, so that an absence
// fires without a later event; without it, or short of the deadline, it
// does not; an event later than the deadline fires it as well.
func TestUntil(t *testing.T) {
	ev := func(id, action, at string) string {
		return fmt.Sprintf(`{"id":%q,"time":"2024-05-14T10:%s:00Z","action":%q,"actor":{"name":"zoe"}}`, id, at, action)
	}
	off := ev("a", "Off", "00")
	src := `rules:
  - id: left-off
    severity: low
    sequence:
      by: [event.actor.name]
      within: 15m
      steps: [{name: off, when: event.action == "Off"}, {name: "on", when: event.action == "On", absent: true}]
    title: '{{ event.actor.name }} left it off'
    tests:
      - {name: until the deadline, events: [` + off + `], until: "2024-05-14T10:15:00Z", expect: {alerts: 1, event_ids: [1], title: zoe left it off}}
      - {name: short of it, events: [` + off + `], until: "2024-05-14T10:14:59Z", expect: none}
      - {name: no until, events: [` + off + `], expect: none}
      - {name: back on in time, events: [` + off + `, ` + ev("b", "On", "15") + `], until: "2024-05-14T11:00:00Z", expect: none}
      - {name: a later event, events: [` + off + `, ` + ev("c", "Other", "16") + `], expect: {alerts: 1, event_ids: [1]}}
      - {name: wrong, events: [` + off + `], until: "2024-05-14T10:15:00Z", expect: none}
`
	set, err := rules.Compile([]rules.File{{Name: "t.yaml", Data: []byte(src)}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := Run(t.Context(), set, nil)
	if len(res) != 6 {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res[:5] {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Test, r.Err)
		}
	}
	if err := res[5].Err; err == nil || !strings.Contains(err.Error(), "expected 0 alert(s), got 1") {
		t.Fatalf("wrong: %v", err)
	}
}

// expect: escalations counts the escalations the test's events made, apart
// from its alerts.
func TestExpectEscalations(t *testing.T) {
	ev := func(id, at string) string {
		return fmt.Sprintf(`{"id":%q,"time":"2024-05-14T10:%s:00Z","action":"A","actor":{"name":"zoe"}}`, id, at)
	}
	events := strings.Join([]string{ev("a", "00"), ev("b", "01"), ev("c", "02"), ev("d", "03")}, ", ")
	src := `rules:
  - id: s
    severity: low
    when: event.action == "A"
    dedup: {by: [event.actor.name], window: 1h}
    escalate: [{after_suppressed: 2, severity: high}]
    tests:
      - {name: right, events: [` + events + `], expect: {alerts: 1, suppressed: 3, escalations: 1, severity: low}}
      - {name: wrong, events: [` + events + `], expect: {escalations: 2}}
`
	set, err := rules.Compile([]rules.File{{Name: "t.yaml", Data: []byte(src)}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := Run(t.Context(), set, nil)
	if len(res) != 2 || res[0].Err != nil {
		t.Fatalf("right count: %+v", res)
	}
	if err := res[1].Err; err == nil || !strings.HasPrefix(err.Error(), "expected 2 escalation(s), got 1") {
		t.Fatalf("wrong count: %v", err)
	}
}

// expect: resolves counts the events that met the rule's resolve.when; a
// match after a resolve opens a new alert.
func TestExpectResolves(t *testing.T) {
	ev := func(id, action, at string) string {
		return fmt.Sprintf(`{"id":%q,"time":"2024-05-14T10:%s:00Z","action":%q,"actor":{"name":"zoe"}}`, id, at, action)
	}
	events := strings.Join([]string{ev("a", "off", "00"), ev("b", "on", "01"), ev("c", "off", "02")}, ", ")
	src := `rules:
  - id: s
    severity: low
    when: event.action == "off"
    dedup: {by: [event.actor.name], window: 1h}
    resolve: {when: 'event.action == "on"'}
    tests:
      - {name: right, events: [` + events + `], expect: {alerts: 2, suppressed: 0, resolves: 1}}
      - {name: wrong, events: [` + events + `], expect: {resolves: 2}}
`
	set, err := rules.Compile([]rules.File{{Name: "t.yaml", Data: []byte(src)}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := Run(t.Context(), set, nil)
	if len(res) != 2 || res[0].Err != nil {
		t.Fatalf("right count: %+v", res)
	}
	if err := res[1].Err; err == nil || !strings.HasPrefix(err.Error(), "expected 2 resolve(s), got 1") {
		t.Fatalf("wrong count: %v", err)
	}
}
