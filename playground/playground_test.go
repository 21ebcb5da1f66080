package playground

import (
	"cmp"
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

// lifecycleRule escalates, resolves and digests (docs/rules.md,
// Escalations, Resolving and Digests). resolve.after's slack is 1m.
const lifecycleRule = `id: try
severity: high
when: event.action == "Global setting changed"
dedup: {by: [event.actor.name], window: 1h}
resolve:
  when: event.action == "Setting restored"
  after: 32m
digest: 15m
escalate:
  - {after_suppressed: 2, severity: critical}
  - {after: 10m, severity: critical}
`

// lifecycleEvent is an event of action by actor at 10:MM, or at HH:MM.
func lifecycleEvent(id, action, actor, at string) string {
	if !strings.Contains(at, ":") {
		at = "10:" + at
	}
	return fmt.Sprintf(`{"id":%q,"time":"2024-05-14T%s:00Z","action":%q,"actor":{"name":%q}}`, id, at, action, actor)
}

// made describes what one event did: its alerts, escalations, digests and
// resolves, each with how many notifications preview it.
func made(r EvalResult) string {
	previews := map[string]int{}
	for _, n := range r.Notifications {
		previews[n.Alert]++
	}
	var out []string
	for _, a := range r.Alerts {
		out = append(out, fmt.Sprintf("alert/%d", previews[a.ID]))
	}
	for _, a := range r.Escalations {
		out = append(out, fmt.Sprintf("escalation %d %s %s/%d", a.Escalation, a.Time.Format("15:04"), a.Severity, previews[a.ID]))
	}
	for _, a := range r.Digests {
		out = append(out, fmt.Sprintf("digest %d %s/%d", a.Digest.Count, a.Time.Format("15:04"), previews[a.ID]))
	}
	for _, rv := range r.Resolves {
		by := "by " + rv.EventID
		if rv.After != "" {
			by = "after " + rv.After
		}
		out = append(out, fmt.Sprintf("resolve %s %s %s", rv.Group["event.actor.name"], by, rv.Time.Format("15:04")))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

// The playground shows, with each event, the escalations, digests and
// resolves it made, and those of the deadlines that fell due before it,
// each routed and previewed as alerts are; after the last event, the
// deadlines still to come.
func TestEvaluateShowsLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rule    string // lifecycleRule if empty
		events  []string
		want    []string
		pending string
	}{{
		name: "escalations, a digest and resolve.when",
		events: []string{
			lifecycleEvent("a", "Global setting changed", "zoe", "00"),
			lifecycleEvent("b", "Global setting changed", "zoe", "02"), // suppressed: the digest opens, due 10:17
			lifecycleEvent("c", "Global setting changed", "zoe", "04"), // the 2nd suppressed: step 1
			lifecycleEvent("d", "Page viewed", "bob", "12"),            // after the after: step's 10:10
			lifecycleEvent("e", "Setting restored", "zoe", "20"),       // after the digest's 10:17; resolves
			lifecycleEvent("f", "Global setting changed", "zoe", "25"), // a new alert
			lifecycleEvent("g", "Global setting changed", "zoe", "27"), // suppressed: a new digest period
		},
		want: []string{
			"alert/1",
			"-",
			"escalation 1 10:04 critical/1",
			"escalation 2 10:10 critical/1",
			"digest 2 10:17/1, resolve zoe by e 10:20",
			"alert/1",
			"-",
		},
		pending: "escalate 10:35 step 2, digest 10:42 count 1, resolve 11:00",
	}, {
		name: "resolve.after",
		events: []string{
			lifecycleEvent("a", "Global setting changed", "zoe", "00"),
			lifecycleEvent("b", "Page viewed", "bob", "11:00"),
		},
		want:    []string{"alert/1", "escalation 2 10:10 critical/1, resolve zoe after 32m0s 10:33"},
		pending: "",
	}, {
		name:    "a quiet group's alert",
		rule:    "id: try\nseverity: high\nwhen: event.action == \"Global setting changed\"\nquiet: {within: 32m, by: [event.actor.name]}\n",
		events:  []string{lifecycleEvent("a", "Global setting changed", "zoe", "00")},
		want:    []string{"-"},
		pending: "alert 10:33",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s, cfg := New(fixed{&rules.Set{}}, nil, builtin.Notifiers()), config.Default(builtin.Plugins())
			rule := cmp.Or(tc.rule, lifecycleRule)
			out := s.Evaluate(t.Context(), cfg, Request{Rule: rule, Events: strings.Join(tc.events, "\n")})
			if !out.OK || len(out.Results) != len(tc.events) {
				t.Fatalf("%+v", out)
			}
			for i, r := range out.Results {
				if got := made(r); got != tc.want[i] {
					t.Errorf("event %s: %s, want %s", r.Event.ID, got, tc.want[i])
				}
			}
			var pending []string
			for _, p := range out.Pending {
				x := fmt.Sprintf("%s %s", p.Kind, p.Due.Format("15:04"))
				switch {
				case p.Step > 0:
					x += fmt.Sprint(" step ", p.Step)
				case p.Count > 0:
					x += fmt.Sprint(" count ", p.Count)
				}
				if p.Rule != "try" || p.Group["event.actor.name"] != "zoe" {
					t.Errorf("pending %+v: not zoe's group of try", p)
				}
				pending = append(pending, x)
			}
			if got := strings.Join(pending, ", "); got != tc.pending {
				t.Errorf("pending: %s, want %s", got, tc.pending)
			}
		})
	}
}

// stored are the events a backtest reads.
type stored []event.Event

func (s stored) NewestEvents(context.Context, time.Time, int) ([]event.Event, bool, error) {
	return s, false, nil
}

// A backtest sums up escalations, resolves and digests, and counts each
// day's pages as its alerts, escalations and digests; an event that
// matches nothing is shown when a deadline made something before it.
func TestBacktestCountsLifecycle(t *testing.T) {
	var evs []event.Event
	for _, e := range []string{
		lifecycleEvent("a", "Global setting changed", "zoe", "00"),
		lifecycleEvent("b", "Global setting changed", "zoe", "02"),
		lifecycleEvent("c", "Global setting changed", "zoe", "04"),
		lifecycleEvent("d", "Page viewed", "bob", "12"),
		lifecycleEvent("x", "Page viewed", "bob", "14"), // nothing before it: not shown
		lifecycleEvent("e", "Setting restored", "zoe", "20"),
		lifecycleEvent("f", "Global setting changed", "zoe", "25"),
		lifecycleEvent("g", "Global setting changed", "zoe", "27"),
	} {
		ev, err := event.Parse([]byte(e), event.Options{Source: "test"})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev...)
	}
	s, cfg := New(fixed{&rules.Set{}}, stored(evs), builtin.Notifiers()), config.Default(builtin.Plugins())
	out := s.Evaluate(t.Context(), cfg, Request{Rule: lifecycleRule, Since: "24h"})
	if !out.OK || out.Backtest == nil {
		t.Fatalf("%+v", out)
	}
	bt := out.Backtest
	got := fmt.Sprintf("matched %d, alerts %d, suppressed %d, escalations %d, resolves %d, digests %d, shown %d, by day %v",
		bt.Matched, bt.Alerts, bt.Suppressed, bt.Escalations, bt.Resolves, bt.Digests, bt.Shown, bt.ByDay)
	if want := "matched 5, alerts 2, suppressed 3, escalations 2, resolves 1, digests 1, shown 7, by day [{2024-05-14 5}]"; got != want {
		t.Errorf("backtest:\n%s, want\n%s", got, want)
	}
	var shown []string
	for _, r := range out.Results {
		shown = append(shown, r.Event.ID)
	}
	if got := strings.Join(shown, ""); got != "abcdefg" {
		t.Errorf("shown: %s, want abcdefg", got)
	}
	if len(out.Pending) != 3 {
		t.Errorf("pending: %+v", out.Pending)
	}
}
