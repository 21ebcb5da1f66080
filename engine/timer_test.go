package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/event"
)

// timerStep is a match at an offset, or a lifecycle deadline: "resolve
// OFFSET", "escalate OFFSET" or "digest OFFSET" fire the timer's deadline
// at that time.
type timerStep struct {
	at   string
	want string
}

// runTimerSteps drives a group's state through matches (decide, then
// timers) and lifecycle deadlines, and describes what each does: "fire",
// "suppress", "wait", "resolved", "escalate N", "digest COUNT FIRST-LAST
// EXAMPLES", "nothing", each followed by the resolve.after, escalate:
// after and digest deadlines then pending ("r=OFFSET", "x=OFFSET",
// "d=OFFSET/COUNT").
func runTimerSteps(t *testing.T, p policy, steps []timerStep) {
	t.Helper()
	var st GroupState
	off := func(s string) int64 {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return int64(d)
	}
	for i, s := range steps {
		var got string
		switch kind, at, _ := strings.Cut(s.at, " "); kind {
		case KindResolve:
			got = "nothing"
			if decideResolve(&st, p, off(at)) {
				got = "resolved"
			}
		case KindEscalate:
			got = "nothing"
			if d := decideEscalate(&st, p, off(at)); d.escalation > 0 {
				got = fmt.Sprint("escalate ", d.escalation)
			}
		case KindDigest:
			got = "nothing"
			if dg, ok := decideDigest(&st, off(at)); ok {
				got = fmt.Sprintf("digest %d %s-%s %d", dg.count, time.Duration(dg.first), time.Duration(dg.last), len(dg.of))
			}
		default:
			tm := off(kind)
			id := fmt.Sprint("e", i)
			d := decide(&st, p, tm, id, "")
			st.timers(p, d, Entry{Time: tm, ID: id}, tm)
			switch {
			case d.fire:
				got = "fire"
			case d.suppressed:
				got = "suppress"
			default:
				got = "wait"
			}
		}
		if st.ResolveAt.Due != 0 {
			got += " r=" + time.Duration(st.ResolveAt.Due).String()
		}
		if st.EscalateAt.Due != 0 {
			got += " x=" + time.Duration(st.EscalateAt.Due).String()
		}
		if st.DigestAt.Due != 0 {
			got += fmt.Sprintf(" d=%s/%d", time.Duration(st.DigestAt.Due), st.DigestCount)
		}
		if got != s.want {
			t.Errorf("step %d (%s): got %q, want %q", i, s.at, got, s.want)
		}
	}
}

func TestDecideResolveAfter(t *testing.T) {
	min := int64(time.Minute)
	// after 32m: a slack of 1m, and a deadline 33m after the match.
	dedup := policy{dedupWindow: 30 * min, resolveAfter: 32 * min}
	tests := []struct {
		name  string
		p     policy
		steps []timerStep
	}{
		{"an alert arms it; the deadline resolves", dedup, []timerStep{
			{"0s", "fire r=33m0s"}, {"resolve 33m", "resolved"}, {"40m", "fire r=1h13m0s"}}},
		{"every match moves it on, at most once per slack", dedup, []timerStep{
			{"0s", "fire r=33m0s"}, {"30s", "suppress r=33m0s"}, {"1m", "suppress r=34m0s"}, {"1m59s", "suppress r=34m0s"},
			{"resolve 33m", "nothing r=34m0s"}, {"resolve 34m", "resolved"}}},
		{"an event out of order does not move it back", dedup, []timerStep{
			{"10m", "fire r=43m0s"}, {"5m", "suppress r=43m0s"}}},
		{"a resolved group's matches arm nothing until it alerts", policy{count: 2, within: 10 * min, dedupWindow: 10 * min, resolveAfter: 32 * min}, []timerStep{
			{"0s", "wait"}, {"1m", "fire r=34m0s"}, {"resolve 34m", "resolved"}, {"40m", "wait"}, {"41m", "fire r=1h14m0s"}}},
		{"handed over again, it resolves again", dedup, []timerStep{
			{"0s", "fire r=33m0s"}, {"resolve 33m", "resolved"}, {"resolve 33m", "resolved"}}},
		{"handed over again after the next alert, it leaves that one alone", dedup, []timerStep{
			{"0s", "fire r=33m0s"}, {"resolve 33m", "resolved"}, {"40m", "fire r=1h13m0s"}, {"resolve 33m", "nothing r=1h13m0s"}}},
		{"without resolve.after nothing is armed", policy{dedupWindow: 30 * min}, []timerStep{
			{"0s", "fire"}, {"resolve 33m", "nothing"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runTimerSteps(t, tt.p, tt.steps) })
	}
}

func TestDecideEscalateAfter(t *testing.T) {
	min := int64(time.Minute)
	p := policy{dedupWindow: time.Hour.Nanoseconds(), escalate: []int64{0, 2, 0}, escalateAfter: []int64{10 * min, 0, 30 * min}}
	tests := []struct {
		name  string
		steps []timerStep
	}{
		{"an alert arms the first step, each step the next", []timerStep{
			{"0s", "fire x=10m0s"}, {"escalate 10m", "escalate 1 x=30m0s"}, {"escalate 30m", "escalate 3"}}},
		{"handed over again, a step escalates again, the same", []timerStep{
			{"0s", "fire x=10m0s"}, {"escalate 10m", "escalate 1 x=30m0s"}, {"escalate 10m", "escalate 1 x=30m0s"}}},
		{"after_suppressed steps are taken by matches, after steps by time", []timerStep{
			{"0s", "fire x=10m0s"}, {"1m", "suppress x=10m0s"}, {"2m", "suppress x=10m0s"}, {"escalate 10m", "escalate 1 x=30m0s"}}},
		{"a new alert starts the steps over", []timerStep{
			{"0s", "fire x=10m0s"}, {"escalate 10m", "escalate 1 x=30m0s"}, {"1h", "fire x=1h10m0s"},
			{"escalate 30m", "nothing x=1h10m0s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runTimerSteps(t, p, tt.steps) })
	}
	// A resolve (resolve.when, or resolve.after) ends the steps; one not
	// later than the alert leaves them.
	var st GroupState
	st.timers(p, decide(&st, p, min, "a", ""), Entry{ID: "a"}, min)
	if st.stopTimers(min); st.EscalateAt.Due == 0 {
		t.Fatal("a resolve at the alert's time stopped its steps")
	}
	st.stopTimers(2 * min)
	if d := decideEscalate(&st, p, 10*min); d.escalation != 0 || st.EscalateAt.Due != 0 {
		t.Errorf("a resolved group escalated: %+v, state %+v", d, st.EscalateAt)
	}
}

func TestDecideDigest(t *testing.T) {
	min := int64(time.Minute)
	p := policy{dedupWindow: 30 * min, digest: 10 * min}
	many := []timerStep{{"0s", "fire"}}
	for i := range 12 {
		many = append(many, timerStep{fmt.Sprint(i+1, "m"), fmt.Sprintf("suppress d=11m0s/%d", i+1)})
	}
	many = append(many, timerStep{"digest 11m", "digest 12 1m0s-12m0s 10"})
	tests := []struct {
		name  string
		steps []timerStep
	}{
		{"the first suppressed match opens a period; its end sums it up", []timerStep{
			{"0s", "fire"}, {"2m", "suppress d=12m0s/1"}, {"5m", "suppress d=12m0s/2"},
			{"digest 12m", "digest 2 2m0s-5m0s 2"}, {"14m", "suppress d=24m0s/1"}, {"digest 24m", "digest 1 14m0s-14m0s 1"}}},
		{"no suppressed match, no period, no digest", []timerStep{
			{"0s", "fire"}, {"40m", "fire"}, {"digest 10m", "nothing"}}},
		{"handed over again, the same digest, also once the next period opened", []timerStep{
			{"0s", "fire"}, {"1m", "suppress d=11m0s/1"}, {"digest 11m", "digest 1 1m0s-1m0s 1"}, {"digest 11m", "digest 1 1m0s-1m0s 1"},
			{"12m", "suppress d=22m0s/1"}, {"digest 11m", "digest 1 1m0s-1m0s 1 d=22m0s/1"},
			{"13m", "suppress d=22m0s/2"}, {"digest 22m", "digest 2 12m0s-13m0s 2"}, {"digest 11m", "nothing"}}},
		{"a stale deadline sends nothing", []timerStep{
			{"0s", "fire"}, {"1m", "suppress d=11m0s/1"}, {"digest 5m", "nothing d=11m0s/1"}}},
		{"at most ten examples, all counted", many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runTimerSteps(t, p, tt.steps) })
	}
	// A redelivered suppressed match is counted once, also one that took
	// an escalate: step.
	p.escalate = []int64{1}
	var st GroupState
	for _, id := range []string{"a", "b", "b", "c", "c"} {
		d := decide(&st, p, min, id, "")
		st.timers(p, d, Entry{Time: min, ID: id}, min)
	}
	if st.DigestCount != 2 || len(st.DigestOf) != 2 {
		t.Errorf("counted %d (%v), want b and c once each", st.DigestCount, st.DigestOf)
	}
}

const timerRules = `
rules:
  - id: setting-changed
    severity: high
    when: event.action == "changed"
    dedup: {by: [event.actor.name], window: 1h}
    resolve: {after: 32m}
    escalate:
      - {after: 10m, severity: critical, notify: [pager]}
    title: '{{ event.actor.name }} changed a setting'
`

// By the event clock, resolve.after resolves a group at its last match
// plus after (and the slack), and an escalate: after step re-sends the
// alert at its time plus after; a match after the resolve opens a new
// alert, which starts the steps over.
func TestTimersByEventClock(t *testing.T) {
	e := New(compile(t, timerRules), &MemStore{}, WithEventClock(), WithClock(func() time.Time { return t0 }))
	var got []string
	add := func(res Result) {
		for _, a := range res.Alerts {
			got = append(got, fmt.Sprintf("alert %s@%s", a.Group["event.actor.name"], a.Time.Sub(t0)))
		}
		for _, a := range res.Escalations {
			got = append(got, fmt.Sprintf("escalation %d %s@%s %s %q", a.Escalation, a.Group["event.actor.name"], a.Time.Sub(t0), a.Severity, a.Title))
		}
		for _, r := range res.Resolves {
			got = append(got, fmt.Sprintf("resolve %s@%s after %s", r.Group["event.actor.name"], r.Time.Sub(t0), r.After))
		}
	}
	for _, v := range []*event.Event{
		ev("a", "changed", "ann", 0),
		ev("b", "changed", "ann", 5*time.Minute), // suppressed; moves the resolve to 38m
		ev("c", "other", "bob", 50*time.Minute),  // moves time on
		ev("d", "changed", "ann", 60*time.Minute),
	} {
		res, err := e.Process(t.Context(), v)
		if err != nil || len(res.Errors) > 0 {
			t.Fatal(err, res.Errors)
		}
		add(res)
	}
	res, err := e.Until(t.Context(), t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	add(res)
	want := []string{
		"alert ann@0s",
		`escalation 1 ann@10m0s critical "ann changed a setting"`,
		"resolve ann@38m0s after 32m0s",
		"alert ann@1h0m0s",
		`escalation 1 ann@1h10m0s critical "ann changed a setting"`,
		"resolve ann@1h33m0s after 32m0s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Live, the lifecycle deadlines are handed out with their kind, under keys
// of their own; a deadline handed over twice makes the same escalation
// (same id) and the same resolve; the escalation carries the alert's
// event, found by where it was kept.
func TestFireTimers(t *testing.T) {
	now := t0.Add(time.Hour) // the wall clock: the backlog is an hour old
	e := New(compile(t, timerRules), &MemStore{}, WithClock(func() time.Time { return now }))
	a := ev("a", "changed", "ann", 0)
	p := e.Plan(t.Context(), a, nil)
	p.Ref = 7
	res, err := e.Apply(t.Context(), p)
	if err != nil || len(res.Alerts) != 1 || len(res.Deadlines) != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	byKind := map[string]Deadline{}
	for _, d := range res.Deadlines {
		byKind[d.Kind] = d
	}
	rd, xd := byKind[KindResolve], byKind[KindEscalate]
	if !rd.Due.Equal(t0.Add(33*time.Minute)) || !xd.Due.Equal(now.Add(10*time.Minute)) || rd.Key() == xd.Key() || rd.Key() == StateKey(rd.Rule, rd.Group) {
		t.Fatalf("deadlines: %+v", res.Deadlines)
	}
	lookup := func(_ context.Context, en Entry) (*event.Event, error) {
		if en.Ref != 7 || en.ID != "a" {
			return nil, fmt.Errorf("entry %+v, want a at 7", en)
		}
		return a, nil
	}
	var ids []string
	for range 2 {
		res, err := e.Fire(t.Context(), xd, lookup)
		if err != nil || len(res.Escalations) != 1 {
			t.Fatalf("escalate: %+v %v", res, err)
		}
		x := res.Escalations[0]
		if x.Escalates != res.Escalations[0].Escalates || x.Escalation != 1 || x.Event.ID != "a" || x.Title != "ann changed a setting" || !x.Time.Equal(xd.Due) {
			t.Fatalf("escalation: %+v", x)
		}
		ids = append(ids, x.ID)
	}
	if ids[0] != ids[1] || ids[0] == res.Alerts[0].ID {
		t.Fatalf("escalation ids %v, alert %s", ids, res.Alerts[0].ID)
	}
	for range 2 {
		res, err := e.Fire(t.Context(), rd, lookup)
		if err != nil || len(res.Resolves) != 1 || res.Resolves[0].DedupKey != res.Resolves[0].Rule+":"+groupHash([]string{"ann"}) || res.Resolves[0].EventID != "" {
			t.Fatalf("resolve: %+v %v", res, err)
		}
	}
	// The alert resolved, the next match is a new alert, which hands out
	// both deadlines again.
	res, err = e.Process(t.Context(), ev("b", "changed", "ann", 40*time.Minute))
	if err != nil || len(res.Alerts) != 1 || len(res.Deadlines) != 2 {
		t.Fatalf("after the resolve: %+v %v", res, err)
	}
}

const digestRules = `
rules:
  - id: setting-changed
    severity: high
    when: event.action == "changed"
    dedup: {by: [event.actor.name], window: 1h}
    digest: 10m
    title: '{{ event.actor.name }} changed a setting'
`

// By the event clock, a digest sums up the group's suppressed matches of
// its period, at the first one's time plus the period, with examples
// found by where they were kept; live, a digest deadline handed over
// twice makes the same digest (same id).
func TestDigest(t *testing.T) {
	e := New(compile(t, digestRules), &MemStore{}, WithEventClock(), WithClock(func() time.Time { return t0 }))
	var digests []string
	for _, v := range []*event.Event{
		ev("a", "changed", "ann", 0),
		ev("b", "changed", "ann", time.Minute),
		ev("c", "changed", "ann", 3*time.Minute),
		ev("d", "other", "bob", 20*time.Minute), // moves time on
	} {
		res, err := e.Process(t.Context(), v)
		if err != nil || len(res.Errors) > 0 {
			t.Fatal(err, res.Errors)
		}
		for _, a := range res.Digests {
			digests = append(digests, fmt.Sprintf("%s %s %d %v\n%s", a.Time.Sub(t0), a.Title, a.Count, a.EventIDs, a.Text))
		}
		if len(res.Alerts) > 1 || len(res.Digests) > 0 && len(res.Alerts) > 0 {
			t.Fatalf("event %s: digests are no alerts: %+v", v.ID, res.Alerts)
		}
	}
	want := "11m0s Digest: 2 more of ann changed a setting between 2024-05-14T10:01:00Z and 2024-05-14T10:03:00Z 2 [b c]\n" +
		"2 matches of this alert's group were suppressed by its dedup window between 2024-05-14T10:01:00Z and 2024-05-14T10:03:00Z. The first of them:\n" +
		"- 2024-05-14T10:01:00Z changed by ANN\n" +
		"- 2024-05-14T10:03:00Z changed by ANN"
	if len(digests) != 1 || digests[0] != want {
		t.Fatalf("digests:\n%s\nwant:\n%s", strings.Join(digests, "\n"), want)
	}

	live := New(compile(t, digestRules), &MemStore{})
	var dl []Deadline
	for _, v := range []*event.Event{ev("a", "changed", "ann", 0), ev("b", "changed", "ann", time.Minute)} {
		res, err := live.Process(t.Context(), v)
		if err != nil {
			t.Fatal(err)
		}
		dl = append(dl, res.Deadlines...)
	}
	if len(dl) != 1 || dl[0].Kind != KindDigest || !dl[0].Due.Equal(t0.Add(11*time.Minute)) {
		t.Fatalf("deadlines: %+v", dl)
	}
	var ids []string
	for range 2 {
		res, err := live.Fire(t.Context(), dl[0], func(context.Context, Entry) (*event.Event, error) { return nil, nil })
		if err != nil || len(res.Digests) != 1 || res.Digests[0].Digest.Count != 1 || res.Digests[0].Digest.Examples[0].ID != "b" {
			t.Fatalf("fire: %+v %v", res, err)
		}
		ids = append(ids, res.Digests[0].ID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("a digest handed over twice has ids %v", ids)
	}
}

// A lifecycle deadline that is no longer its timer's hands out the one
// kept now, again when it is handed over twice (the first attempt may
// have died before keeping it); a redelivered suppressed match hands its
// digest period's deadline out again.
func TestFireTimersHandOver(t *testing.T) {
	e := New(compile(t, timerRules+"    digest: 5m\n"), &MemStore{}, WithClock(func() time.Time { return t0 }))
	process := func(v *event.Event) Result {
		t.Helper()
		res, err := e.Process(t.Context(), v)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var resolve Deadline
	for _, d := range process(ev("a", "changed", "ann", 0)).Deadlines {
		if d.Kind == KindResolve {
			resolve = d
		}
	}
	b := process(ev("b", "changed", "ann", 5*time.Minute))
	if len(b.Deadlines) != 1 || b.Deadlines[0].Kind != KindDigest || !b.Deadlines[0].Due.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("a suppressed match hands out %+v, want its digest period's end alone (the resolve moves without one)", b.Deadlines)
	}
	if again := process(ev("b", "changed", "ann", 5*time.Minute)); len(again.Deadlines) != 1 || again.Deadlines[0].Key() != b.Deadlines[0].Key() || !again.Deadlines[0].Due.Equal(b.Deadlines[0].Due) {
		t.Fatalf("redelivered, it hands out %+v", again.Deadlines)
	}
	for range 2 {
		res, err := e.Fire(t.Context(), resolve, nil)
		if err != nil || len(res.Resolves) != 0 || len(res.Deadlines) != 1 || res.Deadlines[0].Kind != KindResolve || !res.Deadlines[0].Due.Equal(t0.Add(38*time.Minute)) {
			t.Fatalf("the first resolve deadline: %+v %v, want the moved one handed out", res, err)
		}
	}
}

// Pending lists the lifecycle deadlines the event clock keeps, at the time
// each acts (resolve.after's moved on by a later match acts later than it
// was kept), and a group's Timers say the same of its state, with the next
// escalate: after step and the open digest period's count.
func TestPendingAndTimers(t *testing.T) {
	set := compile(t, `
rules:
  - id: setting-changed
    severity: high
    when: event.action == "changed"
    dedup: {by: [event.actor.name], window: 1h}
    resolve: {after: 32m}
    digest: 15m
    escalate:
      - {after_suppressed: 5}
      - {after: 10m, severity: critical}
`)
	store := &MemStore{}
	e := New(set, store, WithEventClock(), WithClock(func() time.Time { return t0 }))
	pending := func() string {
		t.Helper()
		dls, err := e.Pending(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range dls {
			out = append(out, fmt.Sprintf("%s@%s", d.Kind, d.Due.Sub(t0)))
		}
		return strings.Join(out, " ")
	}
	for _, v := range []*event.Event{ev("a", "changed", "ann", 0), ev("b", "changed", "ann", 5*time.Minute)} {
		if _, err := e.Process(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := pending(), "escalate@10m0s digest@20m0s resolve@38m0s"; got != want {
		t.Errorf("pending after two matches: %s, want %s", got, want)
	}
	st, _ := store.Get(StateKey("setting-changed", []string{"ann"}))
	tm := st.Timers(set.Rules[0])
	if got := fmt.Sprintf("r=%s x=%s/%d d=%s/%d %s-%s", tm.Resolve.Sub(t0), tm.Escalate.Sub(t0), tm.EscalateStep,
		tm.Digest.Sub(t0), tm.DigestCount, tm.DigestFirst.Sub(t0), tm.DigestLast.Sub(t0)); got != "r=38m0s x=10m0s/2 d=20m0s/1 5m0s-5m0s" {
		t.Errorf("timers: %s", got)
	}
	res, err := e.Until(t.Context(), t0.Add(15*time.Minute))
	if err != nil || len(res.Escalations) != 1 {
		t.Fatalf("until 15m: %+v, %v", res, err)
	}
	if got, want := pending(), "digest@20m0s resolve@38m0s"; got != want {
		t.Errorf("pending after the escalation: %s, want %s", got, want)
	}
	st, _ = store.Get(StateKey("setting-changed", []string{"ann"}))
	if tm := st.Timers(set.Rules[0]); !tm.Escalate.IsZero() || tm.EscalateStep != 0 {
		t.Errorf("timers after the last step: %+v", tm)
	}
	if dls, err := New(set, &MemStore{}).Pending(t.Context()); dls != nil || err != nil {
		t.Errorf("without the event clock: %v, %v", dls, err)
	}
}

// A group's state lasts until its escalate: after step is due, however
// short its dedup window: the state's expiry is what a store may drop it by.
func TestEscalateAfterOutlivesTheWindow(t *testing.T) {
	p := policy{dedupWindow: time.Minute.Nanoseconds(), escalate: []int64{0}, escalateAfter: []int64{30 * time.Minute.Nanoseconds()}}
	var st GroupState
	d := decide(&st, p, 0, "e1", "")
	st.timers(p, d, Entry{Time: 0, ID: "e1"}, 0)
	if st.EscalateAt.Due == 0 || st.Expires < st.EscalateAt.Due {
		t.Errorf("the state expires at %d, its escalation is due at %d", st.Expires, st.EscalateAt.Due)
	}
}
