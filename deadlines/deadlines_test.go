package deadlines_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/deadlines"
	"github.com/alerter/alerter/internal/natstest"
	"github.com/alerter/alerter/internal/testlog"
)

// wait bounds every wait for something to happen; it is generous because
// the machine running the tests may be busy, and no test waits it out
// unless it fails.
const wait = 30 * time.Second

// fired is one call of the callback, and when it came.
type fired struct {
	deadlines.Deadline
	at time.Time
}

// recorder is a callback that records the deadlines it is handed.
type recorder struct {
	mu  sync.Mutex
	got []fired
	// fail, if set, decides whether a call fails (set before use).
	fail func(deadlines.Deadline) error
}

func (r *recorder) handle(_ context.Context, d deadlines.Deadline) error {
	r.mu.Lock()
	r.got = append(r.got, fired{Deadline: d, at: time.Now()})
	r.mu.Unlock()
	if r.fail != nil {
		return r.fail(d)
	}
	return nil
}

func (r *recorder) calls() []fired {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fired(nil), r.got...)
}

// byKey counts the calls per key.
func (r *recorder) byKey() map[string]int {
	n := map[string]int{}
	for _, f := range r.calls() {
		n[f.Key]++
	}
	return n
}

func open(t *testing.T, js jetstream.JetStream, opt deadlines.Options) *deadlines.Store {
	t.Helper()
	if opt.Name == "" {
		opt.Name = "test"
	}
	opt.Log = testlog.New(t)
	s, err := deadlines.Open(t.Context(), js, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// connect opens another client of env's server, as another replica would.
func connect(t *testing.T, env *natstest.Env) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := env.Server.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// run runs s with h until the test ends.
func run(t *testing.T, s *deadlines.Store, h deadlines.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// eventually polls cond until it holds, failing the test after wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drained waits until the stream holds nothing: every schedule has fired
// or been cancelled and every due deadline has been acknowledged. From
// then on nothing more can fire, so what the callback has got is final.
func drained(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	eventually(t, "the DEADLINES stream to be empty", func() bool {
		s, err := js.Stream(t.Context(), deadlines.Stream)
		if err != nil {
			return false
		}
		info, err := s.Info(t.Context())
		return err == nil && info.State.Msgs == 0
	})
}

func schedule(t *testing.T, s *deadlines.Store, key string, due time.Time, payload string) {
	t.Helper()
	if err := s.Schedule(t.Context(), key, due, []byte(payload)); err != nil {
		t.Fatal(err)
	}
}

func TestFiresOnceNotBeforeDue(t *testing.T) {
	env := natstest.Start(t)
	const lateness = 200 * time.Millisecond
	s := open(t, env.JS, deadlines.Options{Lateness: lateness})
	var r recorder
	run(t, s, r.handle)

	due := time.Now().Add(300 * time.Millisecond)
	schedule(t, s, "absence/rule-1/alice", due, "p1")
	drained(t, env.JS)

	got := r.calls()
	if len(got) != 1 {
		t.Fatalf("fired %d times, want once: %+v", len(got), got)
	}
	f := got[0]
	if f.Key != "absence/rule-1/alice" || string(f.Payload) != "p1" || !f.Due.Equal(due) || f.Attempt != 1 {
		t.Errorf("got %+v, want key absence/rule-1/alice, payload p1, due %v, attempt 1", f.Deadline, due)
	}
	if f.at.Before(due.Add(lateness)) {
		t.Errorf("fired at %v, before due+lateness %v", f.at, due.Add(lateness))
	}
}

// A deadline already past when it is scheduled (a backlog being caught
// up on) fires Lateness after it was scheduled, not at once, and can be
// cancelled until then; its Due is still the one given.
func TestPastDueWaitsTheLateness(t *testing.T) {
	env := natstest.Start(t)
	const lateness = 700 * time.Millisecond
	s := open(t, env.JS, deadlines.Options{Lateness: lateness})
	var r recorder
	run(t, s, r.handle)

	due := time.Now().Add(-time.Hour)
	scheduled := time.Now()
	schedule(t, s, "past", due, "p")
	schedule(t, s, "past-cancelled", due, "c")
	time.Sleep(lateness / 2)
	if err := s.Cancel(t.Context(), "past-cancelled"); err != nil {
		t.Fatal(err)
	}
	drained(t, env.JS)
	got := r.calls()
	if len(got) != 1 || got[0].Key != "past" || !got[0].Due.Equal(due) {
		t.Fatalf("fired %+v, want only past, due %v", got, due)
	}
	if got[0].at.Before(scheduled.Add(lateness)) {
		t.Errorf("fired %v after it was scheduled, before the lateness (%v)", got[0].at.Sub(scheduled), lateness)
	}
}

func TestScheduleAgainReplaces(t *testing.T) {
	env := natstest.Start(t)
	s := open(t, env.JS, deadlines.Options{})
	var r recorder
	run(t, s, r.handle)

	schedule(t, s, "k", time.Now().Add(time.Hour), "old")
	due := time.Now().Add(300 * time.Millisecond)
	schedule(t, s, "k", due, "new")
	// The old schedule, had it stayed, would keep the stream from draining.
	drained(t, env.JS)

	got := r.calls()
	if len(got) != 1 || string(got[0].Payload) != "new" || !got[0].Due.Equal(due) {
		t.Fatalf("got %+v, want one call with the new payload and due %v", got, due)
	}
	if got[0].at.Before(due) {
		t.Errorf("fired at %v, before its due %v", got[0].at, due)
	}
}

func TestCancel(t *testing.T) {
	tests := []struct {
		name string
		// sleep before cancelling, relative to due.
		after time.Duration
	}{
		{"before due", -time.Hour},
		// After the wall-clock deadline, but within the lateness: a late
		// event still cancels it.
		{"after due within lateness", 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := natstest.Start(t)
			s := open(t, env.JS, deadlines.Options{Lateness: 3 * time.Second})
			var r recorder
			run(t, s, r.handle)

			due := time.Now().Add(200 * time.Millisecond)
			schedule(t, s, "cancelled", due, "")
			time.Sleep(time.Until(due.Add(tt.after)))
			if err := s.Cancel(t.Context(), "cancelled"); err != nil {
				t.Fatal(err)
			}
			// A deadline due after the cancelled one's time: once it has
			// fired and the stream is empty, the cancelled one is gone.
			schedule(t, s, "witness", due.Add(100*time.Millisecond), "")
			drained(t, env.JS)
			if n := r.byKey(); n["cancelled"] != 0 || n["witness"] != 1 {
				t.Fatalf("calls per key %v, want only the witness, once", n)
			}
		})
	}
}

func TestCancelWithoutDeadline(t *testing.T) {
	env := natstest.Start(t)
	s := open(t, env.JS, deadlines.Options{})
	if err := s.Cancel(t.Context(), "never-scheduled"); err != nil {
		t.Fatalf("Cancel of a key without a deadline: %v", err)
	}
}

// A deadline that comes due while the server and alerter are down fires
// once both are back.
func TestFiresAfterRestart(t *testing.T) {
	dir := t.TempDir()
	env := natstest.StartIn(t, dir)
	s := open(t, env.JS, deadlines.Options{})
	due := time.Now().Add(time.Second)
	schedule(t, s, "while-down", due, "p")
	env.Stop()
	if time.Now().After(due) {
		t.Fatal("the server took longer to stop than the deadline to come due: the test proves nothing")
	}
	time.Sleep(time.Until(due.Add(300 * time.Millisecond)))

	env = natstest.StartIn(t, dir)
	s = open(t, env.JS, deadlines.Options{})
	var r recorder
	run(t, s, r.handle)
	drained(t, env.JS)
	got := r.calls()
	if len(got) != 1 || got[0].Key != "while-down" || string(got[0].Payload) != "p" || !got[0].Due.Equal(due) {
		t.Fatalf("got %+v, want the deadline scheduled before the restart, once", got)
	}
}

// Two replicas share one set: each of many deadlines fires once in all.
func TestReplicasFireEachOnce(t *testing.T) {
	env := natstest.Start(t)
	var r recorder
	for range 2 {
		_, js := connect(t, env)
		run(t, open(t, js, deadlines.Options{Workers: 4}), r.handle)
	}
	s := open(t, env.JS, deadlines.Options{})
	const n = 300
	start := time.Now().Add(300 * time.Millisecond)
	for i := range n {
		schedule(t, s, "k"+string(rune('a'+i%26))+strings.Repeat("x", i/26), start.Add(time.Duration(i)*time.Millisecond), "")
	}
	drained(t, env.JS)
	got := r.byKey()
	if len(got) != n {
		t.Errorf("%d keys fired, want %d", len(got), n)
	}
	for k, c := range got {
		if c != 1 {
			t.Errorf("key %s fired %d times", k, c)
		}
	}
}

// A replica that dies while its callback runs (nothing acknowledged) hands
// the deadline to another, with the same ID and a later attempt.
func TestReplicaDiesInCallback(t *testing.T) {
	env := natstest.Start(t)
	opt := deadlines.Options{AckWait: time.Second}

	nc, js := connect(t, env)
	taken := make(chan deadlines.Deadline, 1)
	dying := open(t, js, opt)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() {
		stopped <- dying.Run(ctx, func(ctx context.Context, d deadlines.Deadline) error {
			taken <- d
			nc.Close() // the process dies: no ack, no nak, no keep-alive
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	t.Cleanup(func() { cancel(); <-stopped })

	s := open(t, env.JS, opt)
	schedule(t, s, "k", time.Now().Add(200*time.Millisecond), "p")
	var first deadlines.Deadline
	select {
	case first = <-taken:
	case <-time.After(wait):
		t.Fatal("the first replica never got the deadline")
	}
	var r recorder
	run(t, s, r.handle)
	drained(t, env.JS)
	got := r.calls()
	if len(got) != 1 || got[0].ID() != first.ID() || got[0].Attempt < 2 {
		t.Fatalf("second replica got %+v, want the deadline %s once, attempt > 1", got, first.ID())
	}
}

func TestFailedCallbackIsRetried(t *testing.T) {
	env := natstest.Start(t)
	s := open(t, env.JS, deadlines.Options{RetryFirst: 50 * time.Millisecond, RetryLimit: 100 * time.Millisecond})
	r := recorder{fail: func(d deadlines.Deadline) error {
		if d.Attempt < 3 {
			return errors.New("target unavailable")
		}
		return nil
	}}
	run(t, s, r.handle)
	schedule(t, s, "k", time.Now().Add(200*time.Millisecond), "p")
	drained(t, env.JS)
	got := r.calls()
	if len(got) != 3 {
		t.Fatalf("called %d times, want 3 (two failures, then success): %+v", len(got), got)
	}
	for i, f := range got {
		if f.Attempt != i+1 || f.ID() != got[0].ID() || string(f.Payload) != "p" {
			t.Errorf("call %d: %+v, want attempt %d of the same deadline", i, f.Deadline, i+1)
		}
	}
}

// Keys are arbitrary strings: none reaches another key's subject, and each
// comes back as it was given.
func TestKeys(t *testing.T) {
	env := natstest.Start(t)
	s := open(t, env.JS, deadlines.Options{})
	var r recorder
	run(t, s, r.handle)
	keys := []string{"a.b", "a", "*", ">", "a.>", "with space", "tab\tnew\nline", "ü/∆/🙂", strings.Repeat("z", deadlines.MaxKeyLen)}
	due := time.Now().Add(200 * time.Millisecond)
	for _, k := range keys {
		schedule(t, s, k, due, k)
	}
	if err := s.Cancel(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	drained(t, env.JS)
	got := r.byKey()
	for _, k := range keys {
		if want := map[bool]int{true: 0, false: 1}[k == "a"]; got[k] != want {
			t.Errorf("key %q fired %d times, want %d", k, got[k], want)
		}
	}
	for _, f := range r.calls() {
		if string(f.Payload) != f.Key {
			t.Errorf("key %q came with the payload of %q", f.Key, f.Payload)
		}
	}
}

func TestRejects(t *testing.T) {
	env := natstest.Start(t)
	s := open(t, env.JS, deadlines.Options{})
	now := time.Now()
	tests := []struct {
		name    string
		key     string
		due     time.Time
		payload []byte
		want    string
	}{
		{"empty key", "", now, nil, "key of 0 bytes"},
		{"long key", strings.Repeat("k", deadlines.MaxKeyLen+1), now, nil, "key of 513 bytes"},
		{"large payload", "k", now, make([]byte, deadlines.MaxPayload+1), "payload of 65537 bytes"},
		{"no due time", "k", time.Time{}, nil, "no due time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Schedule(t.Context(), tt.key, tt.due, tt.payload)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Schedule: %v, want an error with %q", err, tt.want)
			}
		})
	}
	if err := s.Cancel(t.Context(), ""); err == nil {
		t.Error("Cancel of an empty key: no error")
	}
	for _, name := range []string{"", "a.b", "a*", "with space", strings.Repeat("n", 65)} {
		if _, err := deadlines.Open(t.Context(), env.JS, deadlines.Options{Name: name}); err == nil {
			t.Errorf("Open with set name %q: no error", name)
		}
	}
}

// Two sets share the stream but not their deadlines.
func TestSetsAreSeparate(t *testing.T) {
	env := natstest.Start(t)
	a := open(t, env.JS, deadlines.Options{Name: "a"})
	b := open(t, env.JS, deadlines.Options{Name: "b"})
	var ra, rb recorder
	run(t, a, ra.handle)
	run(t, b, rb.handle)
	due := time.Now().Add(200 * time.Millisecond)
	schedule(t, a, "k", due, "a")
	schedule(t, b, "k", due, "b")
	drained(t, env.JS)
	ga, gb := ra.calls(), rb.calls()
	if len(ga) != 1 || string(ga[0].Payload) != "a" || len(gb) != 1 || string(gb[0].Payload) != "b" {
		t.Fatalf("set a got %+v, set b got %+v; want each its own deadline once", ga, gb)
	}
}

// A loop whose connection is closed under it says so, rather than
// stopping as if asked to.
func TestRunReportsClosedConnection(t *testing.T) {
	env := natstest.Start(t)
	nc, js := connect(t, env)
	s := open(t, js, deadlines.Options{})
	done := make(chan error, 1)
	go func() {
		done <- s.Run(context.Background(), func(context.Context, deadlines.Deadline) error { return nil })
	}()
	nc.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run returned nil after its connection was closed")
		}
	case <-time.After(wait):
		t.Fatal("Run still running after its connection was closed")
	}
}

// A callback that runs longer than AckWait keeps its deadline: no other
// replica is handed it meanwhile.
func TestLongCallbackKeepsDeadline(t *testing.T) {
	env := natstest.Start(t)
	opt := deadlines.Options{AckWait: time.Second}
	r := recorder{fail: func(deadlines.Deadline) error {
		time.Sleep(3 * opt.AckWait)
		return nil
	}}
	for range 2 {
		_, js := connect(t, env)
		run(t, open(t, js, opt), r.handle)
	}
	s := open(t, env.JS, opt)
	schedule(t, s, "slow", time.Now().Add(200*time.Millisecond), "")
	drained(t, env.JS)
	if got := r.calls(); len(got) != 1 {
		t.Fatalf("called %d times, want once: %+v", len(got), got)
	}
}
