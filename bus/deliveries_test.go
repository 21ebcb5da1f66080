package bus

import (
	"errors"
	"testing"
	"time"

	"github.com/alerter/alerter"
)

// A dead delivery is requeued once however often it is asked for, and its
// first copy claims it; other copies, later reads and stale ones do not.
func TestRequeueAndClaim(t *testing.T) {
	_, js := newEnv(t)
	d, err := NewDeliveries(t.Context(), js, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, _, _, err := d.Requeue(ctx, "slack", "a1"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("no record: %v", err)
	}
	if err := d.Put(ctx, "slack", "a1", alerter.Outcome{Status: alerter.Sent}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := d.Requeue(ctx, "slack", "a1"); !errors.Is(err, ErrNotDead) {
		t.Errorf("a sent delivery: %v", err)
	}
	if err := d.Put(ctx, "slack", "a2", alerter.Outcome{Status: alerter.Dead, Attempts: 3, Error: "invalid_auth"}); err != nil {
		t.Fatal(err)
	}
	rev, already, claimed, err := d.Requeue(ctx, "slack", "a2")
	if err != nil || already || claimed {
		t.Fatalf("requeue: %d %v %v %v", rev, already, claimed, err)
	}
	if again, already, claimed, err := d.Requeue(ctx, "slack", "a2"); err != nil || again != rev || !already || claimed {
		t.Errorf("requeue again: %d %v %v %v, want %d already", again, already, claimed, err, rev)
	}
	// A read older than the requeue (a replica behind the leader) is an
	// error to retry, not a verdict.
	if ok, err := d.Claim(ctx, "slack", "a2", rev+100, 7); ok || err == nil {
		t.Errorf("a stale read: %v %v", ok, err)
	}
	if ok, err := d.Claim(ctx, "slack", "a2", rev, 7); err != nil || !ok {
		t.Fatalf("the first copy: %v %v", ok, err)
	}
	if ok, err := d.Claim(ctx, "slack", "a2", rev, 7); err != nil || !ok {
		t.Errorf("the first copy again: %v %v", ok, err)
	}
	if ok, err := d.Claim(ctx, "slack", "a2", rev, 8); err != nil || ok {
		t.Errorf("a second copy: %v %v", ok, err)
	}
	if _, already, claimed, err := d.Requeue(ctx, "slack", "a2"); err != nil || !already || !claimed {
		t.Errorf("requeue once claimed: %v %v %v", already, claimed, err)
	}
	if o, ok, err := d.Get(ctx, "slack", "a2"); err != nil || !ok || o.Status != alerter.Requeued || o.Copy != 7 || o.Attempts != 3 {
		t.Errorf("the record: %+v %v %v", o, ok, err)
	}
}
