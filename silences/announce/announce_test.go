package announce

import (
	"context"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/deadlines"
	"github.com/alerter/alerter/internal/natstest"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/silences"
)

// world is an Announcer on real parts: the silences, the counts, the
// deadlines of the set silences (not run: the tests hand Fire its
// deadlines) and ALERTS.
type world struct {
	env   *natstest.Env
	store *silences.Store
	tally *silences.Tally
	dl    *deadlines.Store
	an    *Announcer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	env := natstest.Start(t)
	ctx := t.Context()
	set := &rules.Set{Rules: []*rules.Rule{
		{ID: "export-burst", Severity: alerter.High, Enabled: true, Notify: []string{"slack"}},
		{ID: "page-created", Severity: alerter.Info, Enabled: true},
	}}
	store, err := silences.Open(ctx, env.JS, silences.Options{Policy: silences.Policy{Rules: func() *rules.Set { return set }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	tally, err := silences.OpenTally(ctx, env.JS, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dl, err := deadlines.Open(ctx, env.JS, deadlines.Options{Name: "silences"})
	if err != nil {
		t.Fatal(err)
	}
	an := New(Options{Silences: store, Counts: tally, Deadlines: dl, Alerts: env.Streams,
		Rules:       func() *rules.Set { return set },
		Routes:      func() alerter.Routes { return alerter.Routes{"default": {"chat"}} },
		ExternalURL: func() string { return "" }})
	return &world{env: env, store: store, tally: tally, dl: dl, an: an}
}

func (w *world) add(t *testing.T, d time.Duration) silences.Silence {
	t.Helper()
	m, _ := silences.ParseMatcher("rule=export-burst")
	sl, err := w.store.Add(t.Context(), silences.Silence{Matchers: []silences.Matcher{m}, EndsAt: time.Now().Add(d), CreatedBy: "oncall", Comment: "migration"})
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

// announced are the alerts stored in ALERTS, by rule.
func (w *world) announced(t *testing.T) map[string][]alerter.Alert {
	t.Helper()
	out := map[string][]alerter.Alert{}
	for _, b := range w.env.Alerts(t) {
		var a alerter.Alert
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		out[a.Rule] = append(out[a.Rule], a)
	}
	return out
}

// scheduled are the keys of the set's schedules waiting in DEADLINES.
func (w *world) scheduled(t *testing.T) int {
	t.Helper()
	st, err := w.env.JS.Stream(t.Context(), deadlines.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(deadlines.Subject+".silences.sched.>"))
	if err != nil {
		t.Fatal(err)
	}
	return len(info.State.Subjects)
}

// written is the last sequence of the deadlines stream: what was written.
func (w *world) written(t *testing.T) uint64 {
	t.Helper()
	st, err := w.env.JS.Stream(t.Context(), deadlines.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// A silence longer than the lead gets both deadlines, a shorter one only
// its end; expiring one early cancels its warning; Reconcile schedules
// the same again, for the silences that have not ended.
func TestSchedule(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	long, short := w.add(t, 3*time.Hour), w.add(t, 30*time.Minute)
	for _, sl := range []silences.Silence{long, short} {
		if err := w.an.Schedule(ctx, sl); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.scheduled(t); n != 3 {
		t.Fatalf("%d schedules, want the end of both and the warning of the long one", n)
	}
	if err := w.an.Reconcile(ctx); err != nil || w.scheduled(t) != 3 {
		t.Fatalf("after Reconcile: %d schedules, %v", w.scheduled(t), err)
	}
	// Run again, Reconcile writes nothing for silences it scheduled as
	// they stand.
	written := w.written(t)
	if err := w.an.Reconcile(ctx); err != nil || w.written(t) != written {
		t.Fatalf("a second Reconcile wrote %d messages, %v", w.written(t)-written, err)
	}
	ended, err := w.store.Expire(ctx, long.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.an.Schedule(ctx, ended); err != nil {
		t.Fatal(err)
	}
	// The early end is due at once (its schedule fires); the warning is
	// gone.
	waitFor(t, "the warning cancelled", func() bool { return w.scheduled(t) == 1 })
}

// Fire announces what is due and nothing else: a warning of a silence
// still running to its end, the end of one that suppressed alerts (once:
// its count is then forgotten); not the warning of one expired early, nor
// the end of one that suppressed nothing. A silence whose copy here has
// not ended yet is tried again, a few times.
func TestFire(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	lead := DefaultLead
	running, quiet, early := w.add(t, 3*time.Hour), w.add(t, 2*time.Hour), w.add(t, 2*time.Hour)
	a := &alerter.Alert{ID: "a1", Rule: "export-burst", Notify: []string{"slack"}}
	if err := w.tally.Count(ctx, []string{running.ID, early.ID}, a, time.Now()); err != nil {
		t.Fatal(err)
	}
	due := func(k Kind, sl silences.Silence, attempt int) deadlines.Deadline {
		at := sl.EndsAt
		if k == Expiring {
			at = at.Add(-lead)
		}
		return deadlines.Deadline{Key: key(k, sl.ID), Due: at, Attempt: attempt}
	}
	mustFire := func(d deadlines.Deadline) {
		t.Helper()
		if err := w.an.Fire(ctx, d); err != nil {
			t.Fatalf("%s: %v", d.Key, err)
		}
	}
	mustFire(due(Expiring, running, 1))
	mustFire(due(Expiring, quiet, 1))
	earlyWarning := due(Expiring, early, 1)
	ended, err := w.store.Expire(ctx, early.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustFire(earlyWarning)
	mustFire(due(Expired, ended, 1))
	mustFire(due(Expired, ended, 2)) // handed over again after a crash
	mustFire(deadlines.Deadline{Key: "bogus/" + running.ID, Due: time.Now()})
	mustFire(deadlines.Deadline{Key: key(Expired, "gone"), Due: time.Now()})
	// Not ended here: the early expiry of another replica not seen yet.
	if err := w.an.Fire(ctx, due(Expired, running, 1)); err == nil {
		t.Error("an end not reached yet was taken as done")
	}
	mustFire(due(Expired, running, staleTries))

	got := w.announced(t)
	if warned := got[ExpiringRule]; len(warned) != 2 || !strings.Contains(warned[0].Title, running.ID) || !strings.Contains(warned[1].Title, quiet.ID) {
		t.Errorf("warnings %+v, want those of %s and %s", warned, running.ID, quiet.ID)
	}
	if warned := got[ExpiringRule]; len(warned) == 2 && (warned[0].Notify[0] != "slack" || warned[1].Notify[0] != "slack") {
		t.Errorf("warnings went to %v and %v, want slack: the silenced alert's target, the covered rule's", warned[0].Notify, warned[1].Notify)
	}
	if ends := got[ExpiredRule]; len(ends) != 1 || !strings.Contains(ends[0].Title, early.ID) || !strings.Contains(ends[0].Text, "suppressed 1 alert of rule export-burst") {
		t.Errorf("ends announced %+v, want one of %s", ends, early.ID)
	}
	if _, ok, err := w.tally.Get(ctx, early.ID); ok || err != nil {
		t.Errorf("the count of an announced end is kept: %v %v", ok, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
