package playground

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// fixed is a running alerter whose rules are set, without lists from
// Confluence groups and without enrichment.
type fixed struct{ set *rules.Set }

func (f fixed) Rules() *rules.Set                  { return f.set }
func (fixed) Lists() map[string][]string           { return nil }
func (fixed) Enrich(context.Context, *event.Event) {}

func setting(id, actor, at string) string {
	return fmt.Sprintf(`{"id":%q,"time":%q,"action":"Global setting changed","actor":{"name":%q}}`, id, at, actor)
}

const loopForever = `let a = 1..1000; all(a, {all(a, {all(a, {all(a, {true})})})})`

// A playground request's work ends with its context (the client left, or
// the request's time ran out), and the answer says why.
func TestEvaluateStopsWithItsContext(t *testing.T) {
	set, err := rules.Load([]string{"testdata/rules.yaml"}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, cfg := New(fixed{set}, nil, builtin.Notifiers()), config.Default(builtin.Plugins())
	var events []string
	for i := range 200 {
		events = append(events, setting(fmt.Sprint("x", i), "zoe", "2024-05-14T10:00:00Z"))
	}
	req := Request{Rule: "id: try\nseverity: low\nwhen: '" + loopForever + "'\n", Events: strings.Join(events, "\n")}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	out := s.Evaluate(ctx, cfg, req)
	if out.OK || len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Message, "stopped after 10s") {
		t.Errorf("past its time: %+v", out.Errors)
	}

	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	out = s.Evaluate(ctx, cfg, req)
	if out.OK || len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Message, "the request ended") {
		t.Errorf("client gone: %+v", out.Errors)
	}
}

// One backtest at a time: a second one, while the first holds its place,
// is refused with a reason.
func TestOneBacktestAtATime(t *testing.T) {
	s := New(fixed{&rules.Set{}}, nil, builtin.Notifiers())
	s.backtest <- struct{}{}
	out := s.Evaluate(t.Context(), config.Default(builtin.Plugins()), Request{Rule: "id: try\nseverity: low\nwhen: 'true'\n", Since: "1h"})
	if out.OK || len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Message, "another backtest is running") {
		t.Errorf("a second backtest: %+v", out.Errors)
	}
	<-s.backtest
}

// The playground shows, after each event, the distinct values in the
// window of each matching rule that counts them, and the alert's count.
func TestEvaluateShowsDistinctValues(t *testing.T) {
	s, cfg := New(fixed{&rules.Set{}}, nil, builtin.Notifiers()), config.Default(builtin.Plugins())
	ev := func(id, ip, at string) string {
		return fmt.Sprintf(`{"id":%q,"time":%q,"action":"Global setting changed","actor":{"name":"zoe"},"ip":%q}`, id, at, ip)
	}
	req := Request{
		Rule: "id: try\nseverity: low\nwhen: 'true'\nthreshold: {count: 2, within: 1h, distinct: [event.ip]}\n",
		Events: strings.Join([]string{ev("a", "10.0.0.1", "2024-05-14T10:00:00Z"), ev("b", "10.0.0.1", "2024-05-14T10:01:00Z"),
			ev("c", "10.0.0.2", "2024-05-14T10:02:00Z")}, "\n"),
	}
	out := s.Evaluate(t.Context(), cfg, req)
	if !out.OK || len(out.Results) != 3 {
		t.Fatalf("%+v", out)
	}
	var got []string
	for _, r := range out.Results {
		got = append(got, fmt.Sprint(r.Distinct["try"]))
	}
	if want := "[[10.0.0.1]] [[10.0.0.1]] []"; strings.Join(got, " ") != want {
		t.Errorf("distinct values after each event: %s, want %s", strings.Join(got, " "), want)
	}
	if a := out.Results[2].Alerts; len(a) != 1 || a[0].Distinct != 2 || a[0].Count != 3 {
		t.Errorf("alerts of the third event: %+v", a)
	}
}

// The playground shows, for a new_value rule, when the group last saw
// the event's tuple before it (null: never), and alerts on new tuples.
func TestEvaluateShowsLastSeen(t *testing.T) {
	s, cfg := New(fixed{&rules.Set{}}, nil, builtin.Notifiers()), config.Default(builtin.Plugins())
	ev := func(id, ip, at string) string {
		return fmt.Sprintf(`{"id":%q,"time":%q,"action":"Global setting changed","actor":{"name":"zoe"},"ip":%q}`, id, at, ip)
	}
	req := Request{
		Rule: "id: try\nseverity: low\nwhen: 'true'\nnew_value: {of: [event.ip], by: [event.actor.name], history: 30d}\n",
		Events: strings.Join([]string{ev("a", "10.0.0.1", "2024-05-14T10:00:00Z"), ev("b", "10.0.0.1", "2024-05-14T10:01:00Z"),
			ev("c", "10.0.0.2", "2024-05-14T10:02:00Z")}, "\n"),
	}
	out := s.Evaluate(t.Context(), cfg, req)
	if !out.OK || len(out.Results) != 3 {
		t.Fatalf("%+v", out)
	}
	var got []string
	for _, r := range out.Results {
		seen, ok := r.LastSeen["try"]
		switch {
		case !ok:
			got = append(got, "missing")
		case seen == nil:
			got = append(got, fmt.Sprintf("new:%d", len(r.Alerts)))
		default:
			got = append(got, fmt.Sprintf("%s:%d", seen.Format(time.RFC3339), len(r.Alerts)))
		}
	}
	if want := "new:1 2024-05-14T10:00:00Z:0 new:1"; strings.Join(got, " ") != want {
		t.Errorf("last seen before each event and its alerts: %s, want %s", strings.Join(got, " "), want)
	}
}

// The playground runs sequence rules and shows, after each event, the
// group's partial chain closest to completing: empty once a chain
// completed and fired.
func TestEvaluateShowsPartialChain(t *testing.T) {
	s, cfg := New(fixed{&rules.Set{}}, nil, builtin.Notifiers()), config.Default(builtin.Plugins())
	ev := func(id, action, at string) string {
		return fmt.Sprintf(`{"id":%q,"time":%q,"action":%q,"actor":{"name":"zoe"}}`, id, at, action)
	}
	req := Request{
		Rule: `id: try
severity: low
sequence:
  by: [event.actor.name]
  within: 30m
  steps:
    - {name: one, when: event.action == "A"}
    - {name: two, when: event.action == "B"}
    - {name: three, when: event.action == "C"}
`,
		Events: strings.Join([]string{ev("a", "A", "2024-05-14T10:00:00Z"), ev("b", "B", "2024-05-14T10:01:00Z"),
			ev("c", "C", "2024-05-14T10:02:00Z")}, "\n"),
	}
	out := s.Evaluate(t.Context(), cfg, req)
	if !out.OK || len(out.Results) != 3 {
		t.Fatalf("%+v", out)
	}
	var got []string
	for _, r := range out.Results {
		var steps []string
		for _, c := range r.Chains["try"] {
			steps = append(steps, c.Step+"@"+c.Time.Format("15:04")+"/"+c.EventID)
		}
		got = append(got, fmt.Sprintf("[%s]:%d", strings.Join(steps, ","), len(r.Alerts)))
	}
	if want := "[one@10:00/a]:0 [one@10:00/a,two@10:01/b]:0 []:1"; strings.Join(got, " ") != want {
		t.Errorf("partial chain after each event and its alerts: %s, want %s", strings.Join(got, " "), want)
	}
	if a := out.Results[2].Alerts[0]; strings.Join(a.EventIDs, ",") != "a,b,c" || a.Count != 3 {
		t.Errorf("alert: events %v, count %d", a.EventIDs, a.Count)
	}
}
