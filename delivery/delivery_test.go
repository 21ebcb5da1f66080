package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/internal/natstest"
	"github.com/alerter/alerter/notifiers"
)

// target fails the alerts it is told to, as told; it records the attempts.
type target struct {
	mu       sync.Mutex
	fail     map[string]func(attempt int) error
	attempts map[string]int
	got      []string
}

func (t *target) Notify(_ context.Context, a *alerter.Alert) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempts[a.ID]++
	if f := t.fail[a.ID]; f != nil {
		if err := f(t.attempts[a.ID]); err != nil {
			return err
		}
	}
	t.got = append(t.got, a.ID)
	return nil
}

// silencer silences the alerts of one rule.
type silencer string

func (s silencer) Matching(a *alerter.Alert, _ time.Time) []string {
	if a.Rule == string(s) {
		return []string{"s1"}
	}
	return nil
}

// Every way an alert can go ends in one settled state: recorded, sent,
// dead-lettered, passed over, or dropped, and the queue empty.
func TestDelivererSettlesEveryAlert(t *testing.T) {
	env, record := start(t)
	ctx := t.Context()
	tg := &target{attempts: map[string]int{}, fail: map[string]func(int) error{
		"refused": func(int) error { return notifiers.Permanent(errors.New("invalid_auth")) },
		"flaky": func(n int) error {
			if n < 3 {
				return notifiers.Retry(errors.New("503"), 0)
			}
			return nil
		},
		"tired": func(int) error { return errors.New("connection refused") },
	}}
	d, err := New(ctx, env.JS, Options{Name: "t", Notifier: tg, Record: record, DeadLetters: env.Streams, Silencer: silencer("muted"),
		Policy: Policy{MaxAttempts: 4, MaxBackoff: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := record.Put(ctx, "t", "settled", alerter.Outcome{Status: alerter.Sent, Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []alerter.Alert{
		{ID: "sent", Rule: "r", Notify: []string{"t"}},
		{ID: "elsewhere", Rule: "r", Notify: []string{"other"}},
		{ID: "silenced", Rule: "muted", Notify: []string{"t"}},
		{ID: "settled", Rule: "r", Notify: []string{"t"}},
		{ID: "refused", Rule: "r", Notify: []string{"t"}},
		{ID: "flaky", Rule: "r", Notify: []string{"t"}},
		{ID: "tired", Rule: "r", Notify: []string{"t"}},
	} {
		data, _ := json.Marshal(a)
		if _, err := env.Streams.PublishAlert(ctx, a.Rule, a.ID, data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.JS.Publish(ctx, bus.AlertsSubject+".r.garbage", []byte("not an alert")); err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	want := map[string]string{
		"sent": "sent after 1", "silenced": "silenced after 0", "settled": "sent after 1",
		"refused": "dead after 1", "flaky": "sent after 3", "tired": "dead after 4", "elsewhere": "none",
	}
	outcomes := func() map[string]string {
		got := map[string]string{}
		for id := range want {
			o, ok, err := record.Get(ctx, "t", id)
			switch {
			case err != nil:
				t.Fatal(err)
			case ok:
				got[id] = fmt.Sprintf("%s after %d", o.Status, o.Attempts)
			default:
				got[id] = "none"
			}
		}
		return got
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n, err := d.Pending(ctx)
		if err == nil && n == 0 && fmt.Sprint(outcomes()) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending %d (%v), outcomes %v, want %v", n, err, outcomes(), want)
		}
	}
	stop()
	tg.mu.Lock()
	got := slices.Sorted(slices.Values(tg.got))
	tg.mu.Unlock()
	if !slices.Equal(got, []string{"flaky", "sent"}) {
		t.Errorf("the target took %v, want flaky and sent", got)
	}
	var dead []string
	for _, data := range messages(t, env) {
		var dl alerter.DeadLetter
		if err := json.Unmarshal(data, &dl); err != nil {
			t.Fatal(err)
		}
		dead = append(dead, fmt.Sprintf("%s: %s", dl.Alert.ID, dl.Reason))
	}
	slices.Sort(dead)
	if want := []string{"refused: the target refused it for good", "tired: 4 attempts failed"}; !slices.Equal(dead, want) {
		t.Errorf("dead letters %q, want %q", dead, want)
	}
	st := d.Stats()
	if s := fmt.Sprint(st.Sent.Load(), st.Failed.Load(), st.Retried.Load(), st.Dead.Load(), st.Silenced.Load(), st.Skipped.Load()); s != "2 7 5 2 1 1" {
		t.Errorf("sent, failed, retried, dead, silenced, skipped: %s, want 2 7 5 2 1 1", s)
	}
}

// start is a JetStream of the test's own, and its deliveries record.
func start(t *testing.T) (*natstest.Env, *bus.Deliveries) {
	t.Helper()
	env := natstest.Start(t)
	record, err := bus.NewDeliveries(t.Context(), env.JS, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return env, record
}

// run runs d until stop is called, which fails the test if Run failed.
func run(t *testing.T, d *Deliverer) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
}

// messages are the dead letters stored, oldest first.
func messages(t *testing.T, env *natstest.Env) [][]byte {
	t.Helper()
	info, err := env.Streams.Dead.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := env.Streams.Dead.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Data)
	}
	return out
}

// A resolve notification is never silenced, and its tries count from the
// resolve, not from the alert, which may have fired long before max_age.
func TestResolveNoticeNotSilenced(t *testing.T) {
	env, record := start(t)
	ctx := t.Context()
	tg := &target{attempts: map[string]int{}, fail: map[string]func(int) error{
		"a1-resolved": func(n int) error {
			if n < 2 {
				return notifiers.Retry(errors.New("503"), 0)
			}
			return nil
		},
	}}
	d, err := New(ctx, env.JS, Options{Name: "t", Notifier: tg, Record: record, DeadLetters: env.Streams, Silencer: silencer("muted"),
		Policy: Policy{MaxAttempts: 4, MaxAge: time.Hour, MaxBackoff: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	fired, resolved := time.Now().Add(-48*time.Hour), time.Now()
	a := alerter.Alert{ID: "a1", Rule: "muted", Notify: []string{"t"}, FiredAt: fired}
	n := a
	n.ID, n.Resolves, n.Status, n.ResolvedBy, n.ResolvedAt = "a1-resolved", "a1", "resolved", "ann", &resolved
	data, _ := json.Marshal(a)
	if _, err := env.Streams.PublishAlert(ctx, a.Rule, a.ID, data); err != nil {
		t.Fatal(err)
	}
	data, _ = json.Marshal(n)
	if err := env.Streams.PublishNotice(ctx, n.Rule, n.ID, a.ID, data); err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	waitOutcomes(t, record, "a1: silenced after 0, a1-resolved: sent after 2")
	stop()
}

// waitOutcomes waits for the outcomes at target t to be want, as
// "<id>: <status> after <attempts>, ...".
func waitOutcomes(t *testing.T, record *bus.Deliveries, want string) {
	t.Helper()
	var ids []string
	for part := range strings.SplitSeq(want, ", ") {
		id, _, _ := strings.Cut(part, ":")
		ids = append(ids, id)
	}
	var got string
	for deadline := time.Now().Add(10 * time.Second); got != want; time.Sleep(10 * time.Millisecond) {
		var parts []string
		for _, id := range ids {
			o, ok, err := record.Get(t.Context(), "t", id)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				o.Status = "none"
			}
			parts = append(parts, fmt.Sprintf("%s: %s after %d", id, o.Status, o.Attempts))
		}
		got = strings.Join(parts, ", ")
		if time.Now().After(deadline) {
			t.Fatalf("outcomes %q, want %q", got, want)
		}
	}
}

// An acknowledgement notification is never silenced and counts its tries
// from the acknowledgement; one whose alert's resolve notification was
// sent here already is recorded as sent without being sent, so that it
// does not show the alert acknowledged again after its resolve.
func TestAckNotice(t *testing.T) {
	env, record := start(t)
	ctx := t.Context()
	tg := &target{attempts: map[string]int{}}
	d, err := New(ctx, env.JS, Options{Name: "t", Notifier: tg, Record: record, DeadLetters: env.Streams, Silencer: silencer("muted"),
		Policy: Policy{MaxAttempts: 4, MaxAge: time.Hour, MaxBackoff: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := record.Put(ctx, "t", "b1-resolved", alerter.Outcome{Status: alerter.Sent, Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	fired, acked := time.Now().Add(-48*time.Hour), time.Now()
	for _, a := range []alerter.Alert{
		{ID: "a1", Rule: "muted", Notify: []string{"t"}, FiredAt: fired},
		{ID: "a1-acked", Acknowledges: "a1", Rule: "muted", Notify: []string{"t"}, FiredAt: fired, Status: "acknowledged", AcknowledgedAt: &acked},
		{ID: "b1-acked", Acknowledges: "b1", Rule: "r", Notify: []string{"t"}, FiredAt: fired, Status: "acknowledged", AcknowledgedAt: &acked},
	} {
		data, _ := json.Marshal(a)
		if a.Acknowledges != "" {
			err = env.Streams.PublishNotice(ctx, a.Rule, a.ID, a.Acknowledges, data)
		} else {
			_, err = env.Streams.PublishAlert(ctx, a.Rule, a.ID, data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	stop := run(t, d)
	waitOutcomes(t, record, "a1: silenced after 0, a1-acked: sent after 1, b1-acked: sent after 0")
	stop()
	if tg.mu.Lock(); !slices.Equal(tg.got, []string{"a1-acked"}) {
		t.Errorf("the target got %q, want only a1-acked", tg.got)
	}
	tg.mu.Unlock()
}
