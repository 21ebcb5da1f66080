package rules

import (
	"reflect"
	"testing"
	"time"

	"github.com/alerter/alerter"
)

func TestLoadEscalate(t *testing.T) {
	set, err := Compile([]File{{Name: "t.yaml", Data: []byte(`rules:
  - id: burst
    severity: high
    when: event.action == "x"
    dedup: {by: [event.actor.id], window: 1h}
    notify: [slack]
    escalate:
      - {after_suppressed: 5, severity: critical, notify: [pagerduty]}
      - {after_suppressed: 20}
      - {after: 30m, notify: [pagerduty]}
`)}}, Options{Notifiers: []string{"slack", "pagerduty"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Escalation{
		{AfterSuppressed: 5, Severity: alerter.Critical, Notify: []string{"pagerduty"}},
		{AfterSuppressed: 20},
		{After: 30 * time.Minute, Notify: []string{"pagerduty"}},
	}
	r := set.Rule("burst")
	if !reflect.DeepEqual(r.Escalate, want) {
		t.Fatalf("escalate: got %+v, want %+v", r.Escalate, want)
	}
	route := set.Router(alerter.Routes{})
	if got := route.Route(&alerter.Alert{Rule: "burst", Escalation: 1}); !reflect.DeepEqual(got, []string{"pagerduty"}) {
		t.Errorf("the first step goes to its notify: got %v", got)
	}
	if got := route.Route(&alerter.Alert{Rule: "burst", Escalation: 2}); !reflect.DeepEqual(got, []string{"slack"}) {
		t.Errorf("a step without notify is routed as the alert: got %v", got)
	}
}

func TestLoadEscalateErrors(t *testing.T) {
	head := "rules:\n  - id: r1\n    severity: high\n    when: 'true'\n"
	dedup := "    dedup: {window: 1h}\n"
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"not a list", dedup + "    escalate: {after_suppressed: 5}\n",
			"6:15: cannot use a mapping here: expected a list"},
		{"empty", dedup + "    escalate: []\n",
			"6:15: escalate is a list of 1 to 8 steps such as {after_suppressed: 5, severity: critical}"},
		{"neither kind", dedup + "    escalate: [{severity: critical}]\n",
			"6:16: an escalate step has one of after_suppressed: N or after: DURATION"},
		{"both kinds", dedup + "    escalate: [{after_suppressed: 2, after: 1h}]\n",
			"6:16: an escalate step has one of after_suppressed: N or after: DURATION"},
		{"zero", dedup + "    escalate: [{after_suppressed: 0}]\n",
			"6:35: escalate: after_suppressed must be 1 or more"},
		{"without dedup", "    escalate: [{after_suppressed: 3}]\n",
			"5:35: escalate: after_suppressed needs dedup: (or a threshold): without it no match of the rule is ever suppressed"},
		{"quiet rule", "    quiet: {within: 1h}\n" + dedup + "    escalate: [{after_suppressed: 1}]\n",
			"7:35: escalate: after_suppressed counts suppressed matches, and an absence or a quiet rule fires at deadlines: its matches are never suppressed"},
		{"out of order", dedup + "    escalate: [{after_suppressed: 5}, {after_suppressed: 5}]\n",
			"6:58: escalate: after_suppressed steps go in increasing order (5 after 5)"},
		{"after out of order", dedup + "    escalate: [{after: 1h}, {after: 30m}]\n",
			"6:37: escalate: after steps go in increasing order (30m after 1h)"},
		{"after without a grouping", "    escalate: [{after: 30m}]\n",
			"5:24: escalate: after is counted from the group's alert: the rule needs a grouping (dedup, threshold, new_value, sequence or quiet) to keep its groups"},
		{"after not positive", dedup + "    escalate: [{after: 0s}]\n",
			"6:24: escalate: after: must be longer than zero"},
		{"bad severity", dedup + "    escalate: [{after_suppressed: 1, severity: urgent}]\n",
			`6:48: escalate: unknown severity "urgent" (one of info, low, medium, high, critical)`},
		{"unknown notifier", dedup + "    escalate: [{after_suppressed: 1, notify: [nope]}]\n",
			`6:46: escalate: unknown notifier "nope" in notify (configured: slack)`},
		{"unknown key", dedup + "    escalate: [{after_supressed: 1}]\n",
			`6:17: unknown key "after_supressed" (did you mean "after_suppressed"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := positionedErrors(t, head+tt.src, Options{Notifiers: []string{"slack"}}); got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
