package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/exprlimit"
	"github.com/alerter/alerter/rules"
)

func compile(t testing.TB, src string) *rules.Set {
	t.Helper()
	set, err := rules.Compile([]rules.File{{Name: "test.yaml", Data: []byte(src)}}, rules.Options{})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return set
}

var t0 = time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)

func ev(id, action, actor string, at time.Duration) *event.Event {
	return &event.Event{ID: id, Time: t0.Add(at), Action: action, Category: "Soteri Security for Confluence",
		Actor: event.Actor{Name: actor, DisplayName: strings.ToUpper(actor)}, IP: "203.0.113.24"}
}

func TestProcessBurstAlertsOnceThenSuppresses(t *testing.T) {
	set := compile(t, `
rules:
  - id: exports-burst
    name: Burst of exports
    severity: high
    labels: {team: security}
    tags: [soteri]
    when: event.action == "Findings exported"
    threshold: {count: 3, within: 10m, by: [event.actor.name]}
    title: "{{ event.actor.display_name }} exported findings {{ 1 + 1 }} times"
    text: "from {{ event.ip }}"
`)
	fired := t0.Add(time.Hour)
	e := New(set, &MemStore{}, WithClock(func() time.Time { return fired }))
	var alerts []*alerter.Alert
	suppressed := 0
	for i, at := range []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute} {
		res, err := e.Process(t.Context(), ev(fmt.Sprint("e", i), "Findings exported", "akumar", at))
		if err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, res.Alerts...)
		suppressed += len(res.Suppressed)
	}
	// Another actor is another group.
	res, _ := e.Process(t.Context(), ev("x", "Findings exported", "tnguyen", 5*time.Minute))
	if len(res.Alerts) != 0 || len(res.Suppressed) != 0 {
		t.Fatalf("other actor's first event: %+v", res)
	}
	if len(alerts) != 1 || suppressed != 2 {
		t.Fatalf("got %d alerts, %d suppressed; want 1 and 2", len(alerts), suppressed)
	}
	a := alerts[0]
	if a.Rule != "exports-burst" || a.Severity != alerter.High || a.Count != 3 || a.Suppressed != 0 ||
		!slices.Equal(a.EventIDs, []string{"e0", "e1", "e2"}) || a.Group["event.actor.name"] != "akumar" ||
		a.Time != t0.Add(2*time.Minute) || a.FiredAt != fired || a.Labels["team"] != "security" {
		t.Fatalf("alert fields: %+v", a)
	}
	if a.Title != "AKUMAR exported findings 2 times" || a.Text != "from 203.0.113.24" {
		t.Fatalf("rendered title %q text %q", a.Title, a.Text)
	}
	if !strings.HasPrefix(a.DedupKey, "exports-burst:") || len(a.ID) != 26 {
		t.Fatalf("dedup key %q id %q", a.DedupKey, a.ID)
	}
	st := e.Stats("exports-burst")
	if st.Matches.Load() != 6 || st.Alerts.Load() != 1 || st.Suppressed.Load() != 2 {
		t.Fatalf("stats: matches %d alerts %d suppressed %d", st.Matches.Load(), st.Alerts.Load(), st.Suppressed.Load())
	}
}

func TestAlertIDIsDeterministic(t *testing.T) {
	set := compile(t, "rules: [{id: r, severity: low, when: 'true'}]\n")
	a1, _ := New(set, &MemStore{}).Process(t.Context(), ev("same", "x", "a", 0))
	a2, _ := New(set, &MemStore{}).Process(t.Context(), ev("same", "x", "a", 0))
	a3, _ := New(set, &MemStore{}).Process(t.Context(), ev("other", "x", "a", 0))
	if a1.Alerts[0].ID != a2.Alerts[0].ID || a1.Alerts[0].ID == a3.Alerts[0].ID {
		t.Fatalf("ids: %s %s %s", a1.Alerts[0].ID, a2.Alerts[0].ID, a3.Alerts[0].ID)
	}
}

func TestFailingRulesAreContained(t *testing.T) {
	set := compile(t, `
rules:
  - {id: huge, severity: low, when: 'len(1..10000000) > 0'}
  - {id: nilobj, severity: low, when: 'object("Page").name == "x"'}
  - {id: badgroup, severity: low, when: 'true', dedup: {by: ['event.objects[5].name'], window: 1m}}
  - {id: fine, severity: low, when: 'event.action == "x"'}
`)
	e := New(set, &MemStore{})
	res, err := e.Process(t.Context(), ev("1", "x", "a", 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Alerts) != 1 || res.Alerts[0].Rule != "fine" {
		t.Fatalf("the healthy rule did not alert alone: %+v", res.Alerts)
	}
	var failed []string
	for _, re := range res.Errors {
		failed = append(failed, re.Rule)
	}
	if !slices.Equal(failed, []string{"huge", "nilobj", "badgroup"}) {
		t.Fatalf("errors for %v: %v", failed, res.Errors)
	}
	if !strings.Contains(res.Errors[0].Err.Error(), "memory budget exceeded") {
		t.Fatalf("huge: %v", res.Errors[0].Err)
	}
	if e.Stats("huge").Errors.Load() != 1 || e.Stats("huge").LastError() == "" {
		t.Fatal("error not counted")
	}
}

// A rule that runs away (a loop of a trillion turns, strings doubled to
// gigabytes, in its condition, group-by or title) is stopped at its limit
// and reported; the other rules alert on the same event.
func TestRunawayRulesAreStopped(t *testing.T) {
	grows := compile(t, `
rules:
  - {id: grows, severity: low, when: 'let a = repeat("x", 99999); let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; let h = g + g; let i = h + h; len(i + i) > 0'}
  - {id: fine, severity: low, when: 'event.action == "x"'}
`)
	// No time limit: it is the memory budget that stops this one.
	res, err := New(grows, &MemStore{}, WithEvalTimeout(0)).Process(t.Context(), ev("1", "x", "a", 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Alerts) != 1 || len(res.Errors) != 1 || !errors.Is(res.Errors[0].Err, exprlimit.ErrMemory) {
		t.Fatalf("got alerts %v and errors %v, want fine's alert and grows stopped by the memory budget", res.Alerts, res.Errors)
	}

	set := compile(t, `
rules:
  - {id: loops, severity: low, when: 'let a = 1..1000; all(a, {all(a, {all(a, {all(a, {true})})})})'}
  - {id: loops-in-group, severity: low, when: 'true', dedup: {by: ['let a = 1..1000; any(a, {any(a, {any(a, {false})})})'], window: 1m}}
  - {id: loops-in-title, severity: low, when: 'event.action == "x"', title: '{{ let a = 1..1000; any(a, {any(a, {any(a, {false})})}) }}'}
  - {id: fine, severity: low, when: 'event.action == "x"'}
`)
	e := New(set, &MemStore{}, WithEvalTimeout(20*time.Millisecond))
	res, err = e.Process(t.Context(), ev("1", "x", "a", 0))
	if err != nil {
		t.Fatal(err)
	}
	var alerted []string
	for _, a := range res.Alerts {
		alerted = append(alerted, a.Rule)
	}
	// A title that fails still alerts, with the error in its place.
	if !slices.Equal(alerted, []string{"loops-in-title", "fine"}) {
		t.Fatalf("alerts of %v", alerted)
	}
	want := map[string]error{"loops": exprlimit.ErrTime, "loops-in-group": exprlimit.ErrTime, "loops-in-title": exprlimit.ErrTime}
	for _, re := range res.Errors {
		if !errors.Is(re.Err, want[re.Rule]) {
			t.Errorf("%s: got %v, want %v", re.Rule, re.Err, want[re.Rule])
		}
		delete(want, re.Rule)
		if e.Stats(re.Rule).Errors.Load() != 1 {
			t.Errorf("%s: error not counted", re.Rule)
		}
	}
	if len(want) > 0 {
		t.Errorf("not reported: %v", want)
	}
}

// When the caller gives up (a playground request whose client left), the
// rules still running stop.
func TestEvaluationStopsWithContext(t *testing.T) {
	set := compile(t, `
rules:
  - {id: loops, severity: low, when: 'let a = 1..1000; all(a, {all(a, {all(a, {all(a, {true})})})})'}
`)
	e := New(set, &MemStore{}, WithEvalTimeout(0))
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(10*time.Millisecond, cancel)
	res, err := e.Process(ctx, ev("1", "x", "a", 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || !errors.Is(res.Errors[0].Err, exprlimit.ErrStopped) {
		t.Fatalf("got %v, want the rule stopped", res.Errors)
	}
}

// The index must never change what matches: compare with evaluating every
// rule on random events.
func TestIndexMatchesBruteForce(t *testing.T) {
	actions := []string{"a", "b", "c", "d"}
	cats := []string{"x", "y"}
	conds := []string{
		`event.action == "a"`, `event.action in ["b", "c"]`, `event.category == "x" && event.action == "d"`,
		`event.action == "a" || event.action == "b"`, `event.action == "a" || event.category == "y"`,
		`!(event.action == "a")`, `event.category_key == "k" || true`, `"c" == event.action && event.ip != ""`,
		`event.action == "a" && event.action == "b"`, `event.actor.type == "user" && event.action in ["a", "d"]`,
		// Alternatives on different fields, as the example rules fall back
		// from the action key to the English action.
		`event.action_key == "k1" || event.action == "b"`,
		`event.action_key == "k2" || (event.action_key == "" && event.action == "c")`,
		`(event.action_key == "k1" || event.action == "a") && (event.category == "x" || event.category_key == "ck")`,
		`(event.action_key == "k1" || event.action == "a") && event.ip startsWith "203."`,
		`event.action_key == "k2" || event.ip == "203.0.113.24"`,
		`event.action in ["a", "b"] || event.action_key in ["k1", "k2"] || event.category == "y"`,
		`!(event.action_key == "k1" || event.action == "a")`,
		`(event.action == "a" || event.action == "b") && (event.action == "b" || event.action == "c")`,
	}
	var src strings.Builder
	src.WriteString("rules:\n")
	for i, c := range conds {
		fmt.Fprintf(&src, "  - {id: r%d, severity: low, when: '%s'}\n", i, c)
	}
	set := compile(t, src.String())
	e := New(set, &MemStore{})
	brute := New(set, &MemStore{}, withoutIndex())
	keys := []string{"", "k1", "k2"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		x := ev(fmt.Sprint(i), actions[rng.IntN(len(actions))], "a", 0)
		x.Category = cats[rng.IntN(len(cats))]
		x.ActionKey = keys[rng.IntN(len(keys))]
		if rng.IntN(2) == 0 {
			x.Actor.Type = "user"
		}
		if rng.IntN(2) == 0 {
			x.CategoryKey = "ck"
		}
		got, _ := e.Evaluate(x)
		var gotIDs []string
		for _, m := range got {
			gotIDs = append(gotIDs, m.Rule.ID)
		}
		want, _ := brute.Evaluate(x)
		var wantIDs []string
		for _, m := range want {
			wantIDs = append(wantIDs, m.Rule.ID)
		}
		if !slices.Equal(gotIDs, wantIDs) {
			t.Fatalf("event action=%s action_key=%s category=%s category_key=%s actor.type=%s: index gave %v, all rules give %v",
				x.Action, x.ActionKey, x.Category, x.CategoryKey, x.Actor.Type, gotIDs, wantIDs)
		}
	}
}

func TestSwapKeepsCountersOfUnchangedRules(t *testing.T) {
	e := New(compile(t, "rules: [{id: keep, severity: low, when: 'true'}, {id: gone, severity: low, when: 'true'}]\n"), &MemStore{})
	if _, err := e.Process(t.Context(), ev("1", "x", "a", 0)); err != nil {
		t.Fatal(err)
	}
	e.Swap(compile(t, "rules: [{id: keep, severity: high, when: 'true'}]\n"))
	res, _ := e.Process(t.Context(), ev("2", "x", "a", 0))
	if len(res.Alerts) != 1 || res.Alerts[0].Severity != alerter.High {
		t.Fatalf("new set not in effect: %+v", res.Alerts)
	}
	if n := e.Stats("keep").Evaluations.Load(); n != 2 {
		t.Fatalf("counter lost on swap: %d", n)
	}
}

func TestDisabledRulesDoNotRun(t *testing.T) {
	e := New(compile(t, "rules: [{id: off, severity: low, when: 'true', enabled: false}]\n"), &MemStore{})
	res, _ := e.Process(t.Context(), ev("1", "x", "a", 0))
	if len(res.Matches) != 0 {
		t.Fatal("disabled rule matched")
	}
}

// JetStream redelivers an event whose ack was lost; a suppressed one must
// not be reported or counted again, here or in the next alert.
func TestProcessRedeliveredSuppressedEventCountsOnce(t *testing.T) {
	set := compile(t, `
rules:
  - id: exports
    severity: high
    when: event.action == "Findings exported"
    dedup: {by: [event.actor.name], window: 30m}
`)
	e := New(set, &MemStore{})
	var suppressed int
	var alerts []*alerter.Alert
	for _, x := range []*event.Event{
		ev("a", "Findings exported", "akumar", 0),
		ev("b", "Findings exported", "akumar", time.Minute),
		ev("c", "Findings exported", "akumar", 2*time.Minute),
		ev("b", "Findings exported", "akumar", time.Minute),
		ev("d", "Findings exported", "akumar", time.Hour),
	} {
		res, err := e.Process(t.Context(), x)
		if err != nil {
			t.Fatal(err)
		}
		suppressed += len(res.Suppressed)
		alerts = append(alerts, res.Alerts...)
	}
	if suppressed != 2 || len(alerts) != 2 || alerts[1].Suppressed != 2 {
		t.Fatalf("got %d suppressed, %d alerts (%+v); want 2 suppressed, carried by the second alert", suppressed, len(alerts), alerts)
	}
	if n := e.Stats("exports").Suppressed.Load(); n != 2 {
		t.Fatalf("stats count %d suppressed, want 2", n)
	}
}

func TestCandidates(t *testing.T) {
	set, err := rules.Compile([]rules.File{{Name: "r.yaml", Data: []byte(`
rules:
  - {id: a, severity: low, when: 'event.action == "x"'}
  - {id: b, severity: low, when: 'event.action_key == "k" || event.action == "y"'}
  - {id: c, severity: low, when: 'event.ip != ""'}
`)}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(set, &MemStore{})
	for action, want := range map[string]string{"x": "a c", "y": "b c", "z": "c"} {
		var got []string
		for _, r := range eng.Candidates(&event.Event{Action: action}) {
			got = append(got, r.ID)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("action %s: candidates %v, want %s", action, got, want)
		}
	}
}

// A template that reads event.raw gets it, although the condition does not
// read it and alerts no longer decode raw themselves.
func TestTemplateReadsRaw(t *testing.T) {
	set := compile(t, `
rules:
  - id: r
    severity: low
    when: event.action == "x"
    title: "{{ event.raw.extra }}"
`)
	evs, err := event.Parse([]byte(`{"id":"1","action":"x","extra":"from raw"}`), event.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := New(set, &MemStore{}).Process(t.Context(), &evs[0])
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Title != "from raw" {
		t.Fatalf("alerts %+v, %v, errors %v", res.Alerts, err, res.Errors)
	}
}

// A plan is applied with the rule set it was made with, even after a swap.
func TestPlanApplyAcrossSwap(t *testing.T) {
	one := compile(t, `
rules:
  - {id: a, severity: low, when: 'event.action == "x"', dedup: {by: [event.actor.name], window: 1h}}
`)
	two := compile(t, `
rules:
  - {id: b, severity: low, when: 'event.action == "y"'}
  - {id: a, severity: high, when: 'event.action == "x"', dedup: {by: [event.actor.name], window: 1h}}
`)
	eng := New(one, &MemStore{})
	ev := &event.Event{ID: "e1", Action: "x", Actor: event.Actor{Name: "kim"}, Time: time.Unix(1e9, 0)}
	p := eng.Plan(t.Context(), ev, nil)
	eng.Swap(two)
	res, err := eng.Apply(t.Context(), p)
	if err != nil || len(res.Alerts) != 1 || res.Alerts[0].Rule != "a" || res.Alerts[0].Severity != "low" {
		t.Fatalf("apply after swap: %+v, %v", res.Alerts, err)
	}
	if st := eng.Stats("a"); st.Matches.Load() != 1 || st.Alerts.Load() != 1 {
		t.Errorf("stats of a: %d matches, %d alerts", st.Matches.Load(), st.Alerts.Load())
	}
}

// A rule with threshold.distinct, through evaluation and the store: the
// alert carries the window's events and how many distinct tuples they had.
func TestProcessDistinct(t *testing.T) {
	set := compile(t, `
rules:
  - id: exports-from-many-addresses
    severity: high
    when: event.action == "Findings exported"
    threshold: {count: 3, within: 1h, by: [event.actor.name], distinct: [event.ip]}
    title: "{{ event.actor.name }} exported from 3 addresses"
`)
	e := New(set, &MemStore{})
	type in struct{ id, actor, ip string }
	var alerts []*alerter.Alert
	for i, x := range []in{{"a", "akumar", "10.0.0.1"}, {"b", "akumar", "10.0.0.1"}, {"c", "mchen", "10.0.0.2"},
		{"d", "akumar", "10.0.0.2"}, {"e", "mchen", "10.0.0.3"}, {"f", "akumar", "10.0.0.3"}} {
		v := ev(x.id, "Findings exported", x.actor, time.Duration(i)*time.Minute)
		v.IP = x.ip
		res, err := e.Process(t.Context(), v)
		if err != nil || len(res.Errors) > 0 {
			t.Fatal(err, res.Errors)
		}
		alerts = append(alerts, res.Alerts...)
	}
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1 (akumar's third address)", len(alerts))
	}
	a := alerts[0]
	if a.Distinct != 3 || a.Count != 4 || strings.Join(a.EventIDs, ",") != "a,b,d,f" || a.Group["event.actor.name"] != "akumar" {
		t.Fatalf("alert: distinct %d, count %d, events %v, group %v", a.Distinct, a.Count, a.EventIDs, a.Group)
	}
}

// A new_value rule's learning starts at its first matching event, whatever
// group that is in: a group first seen after the learning window alerts on
// its first tuple; the learning start survives in the store.
func TestProcessNewValue(t *testing.T) {
	set := compile(t, `
rules:
  - id: admin-from-new-ip
    severity: medium
    when: event.action == "Global setting changed"
    new_value: {of: [event.ip], by: [event.actor.name], history: 30d, learning: 7d}
`)
	store := &MemStore{}
	e := New(set, store)
	day := 24 * time.Hour
	type in struct {
		id, actor, ip string
		at            time.Duration
	}
	var fired []string
	for _, x := range []in{{"a", "mchen", "10.0.0.1", 0}, {"b", "mchen", "10.0.0.2", day}, {"c", "akumar", "10.0.0.1", 8 * day},
		{"d", "mchen", "10.0.0.2", 8 * day}, {"e", "mchen", "10.0.0.3", 9 * day}, {"e", "mchen", "10.0.0.3", 9 * day}} {
		v := ev(x.id, "Global setting changed", x.actor, x.at)
		v.IP = x.ip
		res, err := e.Process(t.Context(), v)
		if err != nil || len(res.Errors) > 0 {
			t.Fatal(err, res.Errors)
		}
		for _, a := range res.Alerts {
			fired = append(fired, a.EventIDs[0]+"/"+a.Group["event.actor.name"])
		}
	}
	// e is redelivered: it fires the same alert again (its id dedups it).
	if got := strings.Join(fired, " "); got != "c/akumar e/mchen e/mchen" {
		t.Fatalf("alerts of events %s, want c/akumar e/mchen e/mchen", got)
	}
	st, ok := store.Get(LearningKey("admin-from-new-ip"))
	if !ok || st.Since != t0.UnixNano() {
		t.Fatalf("learning start %+v, %v; want %d", st, ok, t0.UnixNano())
	}
}

// countingStore is a MemStore that counts the updates of each key.
type countingStore struct {
	MemStore
	updates map[string]int
}

func (c *countingStore) Update(ctx context.Context, key string, ttl time.Duration, fn func(*GroupState) error) error {
	c.updates[key]++
	return c.MemStore.Update(ctx, key, ttl, fn)
}

// The rule-level learning key is written only when an event may move the
// learning start back (it is earlier than the start last read) or when the
// start is read again for other replicas' writes (every learningRefresh):
// otherwise every match of every group would write that one key.
func TestNewValueLearningKeyIsWrittenOnlyToMoveItBack(t *testing.T) {
	set := compile(t, `
rules:
  - {id: nv, severity: low, when: "true", new_value: {of: [event.ip], by: [event.actor.name], history: 30d, learning: 1h}}
`)
	store := &countingStore{updates: map[string]int{}}
	now := t0
	e := New(set, store, WithClock(func() time.Time { return now }))
	for _, tc := range []struct {
		at     time.Duration
		ip     string
		clock  time.Duration // the wall clock moves on this much first
		writes int           // of the learning key, so far
		alerts int
	}{
		{at: 0, ip: "10.0.0.1", writes: 1},                                         // the first: records the start
		{at: 30 * time.Minute, ip: "10.0.0.2", writes: 1},                          // learning, after the start: nothing to record
		{at: -10 * time.Minute, ip: "10.0.0.3", writes: 2},                         // earlier: moves the start back
		{at: 40 * time.Minute, ip: "10.0.0.4", clock: 11 * time.Second, writes: 3}, // read again, for other replicas
		{at: 55 * time.Minute, ip: "10.0.0.5", writes: 3, alerts: 1},               // past -10m + 1h: learning is over
		{at: 3 * time.Hour, ip: "10.0.0.6", writes: 3, alerts: 1},
	} {
		now = now.Add(tc.clock)
		x := ev("e"+tc.ip, "x", "mchen", tc.at)
		x.IP = tc.ip
		res, err := e.Process(t.Context(), x)
		if err != nil {
			t.Fatal(err)
		}
		if n := store.updates[LearningKey("nv")]; n != tc.writes {
			t.Errorf("event at %s: learning key written %d times, want %d", tc.at, n, tc.writes)
		}
		if len(res.Alerts) != tc.alerts {
			t.Errorf("event at %s: %d alerts, want %d", tc.at, len(res.Alerts), tc.alerts)
		}
	}
}

// A sequence rule through Process: the index offers it the events of every
// step, not only the first; groups chain apart; the alert carries the
// chain's events, the completing one as its event.
func TestProcessSequence(t *testing.T) {
	set := compile(t, `
rules:
  - id: secret-then-export
    severity: critical
    sequence:
      by: [event.actor.name]
      within: 30m
      steps:
        - {name: secret, when: event.action == "User edit introduced potentially sensitive content"}
        - {name: exported, when: event.action == "All findings exported"}
  - id: other
    severity: low
    when: event.action == "Space created"
`)
	for _, indexed := range []bool{true, false} {
		var opts []Option
		if !indexed {
			opts = append(opts, withoutIndex())
		}
		e := New(set, &MemStore{}, opts...)
		var fired []string
		for _, v := range []*event.Event{
			ev("a", "User edit introduced potentially sensitive content", "mchen", 0),
			ev("b", "All findings exported", "akumar", time.Minute),
			ev("c", "Space created", "mchen", 2*time.Minute),
			ev("d", "All findings exported", "mchen", 3*time.Minute),
			ev("e", "All findings exported", "mchen", 4*time.Minute),
		} {
			res, err := e.Process(t.Context(), v)
			if err != nil || len(res.Errors) > 0 {
				t.Fatal(err, res.Errors)
			}
			for _, a := range res.Alerts {
				if a.Rule == "secret-then-export" {
					fired = append(fired, fmt.Sprintf("%s:%s/%s", strings.Join(a.EventIDs, ","), a.Event.ID, a.Group["event.actor.name"]))
				}
			}
		}
		if got := strings.Join(fired, " "); got != "a,d:d/mchen" {
			t.Fatalf("indexed %v: alerts %s, want a,d:d/mchen", indexed, got)
		}
	}
}

// Merge keeps every field of both results: a field added to Result and
// forgotten in Merge would be lost by a caller that applies plans in
// parts.
func TestResultMergeKeepsEveryField(t *testing.T) {
	var a, b Result
	for _, r := range []*Result{&a, &b} {
		v := reflect.ValueOf(r).Elem()
		for i := range v.NumField() {
			f := v.Field(i)
			if f.Kind() != reflect.Slice {
				t.Fatalf("Result.%s is a %s: teach Merge and this test about it", v.Type().Field(i).Name, f.Kind())
			}
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		}
	}
	a.Merge(b)
	v := reflect.ValueOf(a)
	for i := range v.NumField() {
		if n := v.Field(i).Len(); n != 2 {
			t.Errorf("Result.%s has %d items after merging 1 and 1", v.Type().Field(i).Name, n)
		}
	}
}
