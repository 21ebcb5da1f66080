package delivery

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
)

// refTarget keeps a ref for each alert it takes, "msg-<id>", and records
// the ref it was handed with each.
type refTarget struct {
	mu  sync.Mutex
	got []string // "<id> with <ref>", in order
}

func (t *refTarget) Notify(context.Context, *alerter.Alert) error {
	panic("a RefNotifier is sent to with NotifyRef")
}

func (t *refTarget) NotifyRef(_ context.Context, a *alerter.Alert, ref string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.got = append(t.got, a.ID+" with "+ref)
	return "msg-" + a.ID, nil
}

func (t *refTarget) taken() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.got)
}

// The ref a target gives for an alert is recorded with its delivery and
// handed back with what follows the alert there: its resolve and
// acknowledgement notifications and its escalations. Alerts handed out again (the queue made anew) are
// not sent again.
func TestRefFollowsTheAlert(t *testing.T) {
	env, record := start(t)
	ctx := t.Context()
	tg := &refTarget{}
	// A queue made again right after it was deleted can hand a message
	// to the old queue's last pull request, which no one reads: it comes
	// again after the ack wait (Timeout + 2s), well within the waits below.
	d, err := New(ctx, env.JS, Options{Name: "t", Notifier: tg, Record: record, DeadLetters: env.Streams,
		Policy: Policy{Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	// b1 was given up on here: what follows it has no message to follow;
	// c2 was sent here.
	if err := record.Put(ctx, "t", "b1", alerter.Outcome{Status: alerter.Dead, Ref: "msg-b1"}); err != nil {
		t.Fatal(err)
	}
	if err := record.Put(ctx, "t", "c2", alerter.Outcome{Status: alerter.Sent, Ref: "msg-c2"}); err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	publish := func(a alerter.Alert) {
		t.Helper()
		data, _ := json.Marshal(a)
		if of := cmp.Or(a.Resolves, a.Acknowledges); of != "" {
			err = env.Streams.PublishNotice(ctx, a.Rule, a.ID, of, data)
		} else {
			_, err = env.Streams.PublishAlert(ctx, a.Rule, a.ID, data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	waitTaken := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(tg.taken()) < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the target took %q, want %d", tg.taken(), n)
			}
		}
	}
	// The alert first: what follows it is made once it was sent.
	publish(alerter.Alert{ID: "a1", Rule: "r", Notify: []string{"t"}})
	waitTaken(1)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		o, ok, err := record.Get(ctx, "t", "a1")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if o.Status != alerter.Sent || o.Ref != "msg-a1" {
				t.Fatalf("a1 recorded as %+v, want sent with its ref", o)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a1 not recorded")
		}
	}
	publish(alerter.Alert{ID: "a1-e1", Rule: "r", Notify: []string{"t"}, Escalation: 1, Escalates: "a1"})
	publish(alerter.Alert{ID: "a1-resolved", Rule: "r", Notify: []string{"t"}, Resolves: "a1", Status: "resolved"})
	publish(alerter.Alert{ID: "b1-resolved", Rule: "r", Notify: []string{"t"}, Resolves: "b1", Status: "resolved"})
	publish(alerter.Alert{ID: "c1-resolved", Rule: "r", Notify: []string{"t"}, Resolves: "c1", Status: "resolved"})
	waitTaken(5)
	want := []string{"a1 with ", "a1-e1 with msg-a1", "a1-resolved with msg-a1", "b1-resolved with ", "c1-resolved with "}
	if got := slices.Sorted(slices.Values(tg.taken())); !slices.Equal(got, want) {
		t.Errorf("the target took %q, want %q", got, want)
	}
	for _, id := range []string{"a1-e1", "a1-resolved"} {
		if o, _, _ := record.Get(ctx, "t", id); o.Status != alerter.Sent || o.Ref != "msg-"+id {
			t.Errorf("%s recorded as %+v", id, o)
		}
	}

	// The queue lost and made again hands every alert out again: each is
	// settled already, none is sent twice.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, err := d.Pending(ctx); err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue did not drain")
		}
	}
	if err := env.JS.DeleteConsumer(ctx, bus.AlertsStream, d.queue()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); d.Stats().Skipped.Load() < 5; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("skipped %d after the queue was made again, want 5 (queue lost %d times)", d.Stats().Skipped.Load(), d.Stats().QueueLost.Load())
		}
	}
	if got := tg.taken(); len(got) != 5 {
		t.Errorf("after the queue was made again the target took %q", got)
	}

	// An acknowledgement notification is handed its alert's ref too.
	publish(alerter.Alert{ID: "c2-acked", Rule: "r", Notify: []string{"t"}, Acknowledges: "c2", Status: "acknowledged"})
	waitTaken(6)
	if got := tg.taken()[5]; got != "c2-acked with msg-c2" {
		t.Errorf("the target took %q, want c2-acked with c2's ref", got)
	}
	stop()
	if s := fmt.Sprint(d.Stats().Sent.Load(), d.Stats().QueueLost.Load()); s != "6 1" {
		t.Errorf("sent, queue lost: %s, want 6 1", s)
	}
}
