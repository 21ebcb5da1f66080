package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
)

// DefaultDeliveriesBucket records what became of each alert at each
// target.
const DefaultDeliveriesBucket = "ALERTER_DELIVERIES"

// Errors of Requeue.
var (
	// ErrNotDead: the delivery is not a dead letter (sent, silenced,
	// pending).
	ErrNotDead = errors.New("not a dead letter")
	// ErrNoRecord: no outcome is recorded: the alert is still being tried
	// at the target, or its record expired (the bucket keeps them for the
	// longest max_age and an hour).
	ErrNoRecord = errors.New("no outcome is recorded")
	// errStale: a read older than what is known to be written.
	errStale = errors.New("read a stale record; will read again")
)

// Deliveries record what became of each (alert, target) pair. A consumer's
// acknowledgements reach the disk some time after they are made, so after
// a crash JetStream hands out again alerts that were already delivered;
// this record, written with the delivery, is what keeps them from being
// sent twice. It also keeps where a target put an alert (Outcome.Ref), for
// the alert's resolve and escalations to find its message there. Entries
// expire after the bucket's TTL.
type Deliveries struct {
	kv jetstream.KeyValue
}

// NewDeliveries opens (creating it if needed) the deliveries bucket, whose
// entries live for ttl.
func NewDeliveries(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (*Deliveries, error) {
	kv, err := OpenBucket(ctx, js, DefaultDeliveriesBucket, "alerter: what became of each alert at each target", replicas, ttl)
	if err != nil {
		return nil, fmt.Errorf("deliveries bucket: %w", err)
	}
	return &Deliveries{kv: kv}, nil
}

// Get returns the outcome recorded for the alert at target, if any.
func (d *Deliveries) Get(ctx context.Context, target, alertID string) (alerter.Outcome, bool, error) {
	e, err := d.kv.Get(ctx, key(target, alertID))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return alerter.Outcome{}, false, nil
	case err != nil:
		return alerter.Outcome{}, false, fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
	}
	var o alerter.Outcome
	if err := json.Unmarshal(e.Value(), &o); err != nil {
		// Written by an older version or by hand: it still says delivered.
		return alerter.Outcome{Status: alerter.Sent}, true, nil
	}
	return o, true, nil
}

// Put records the outcome for the alert at target.
func (d *Deliveries) Put(ctx context.Context, target, alertID string, o alerter.Outcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if _, err := d.kv.Put(ctx, key(target, alertID), b); err != nil {
		return fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
	}
	return nil
}

func key(target, alertID string) string { return target + "." + alertID }

// Requeue marks the dead delivery of an alert to target to be tried again,
// by compare-and-set, and returns the revision of that mark: of several
// callers at once, all get the same revision, which names the one
// redelivery they ask for (the copy stored for it carries it, see Claim).
// A delivery requeued already gives its revision again with already set,
// and claimed when a copy has taken it (nothing more is to be stored). A
// delivery that is not dead is ErrNotDead; one whose record has expired is
// ErrNoRecord.
func (d *Deliveries) Requeue(ctx context.Context, target, alertID string) (rev uint64, already, claimed bool, err error) {
	k := key(target, alertID)
	for {
		e, err := d.kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return 0, false, false, ErrNoRecord
		case err != nil:
			return 0, false, false, fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
		}
		var o alerter.Outcome
		if err := json.Unmarshal(e.Value(), &o); err != nil {
			o.Status = alerter.Sent // see Get
		}
		switch o.Status {
		case alerter.Requeued:
			return e.Revision(), true, o.Copy != 0, nil
		case alerter.Dead:
		default:
			return 0, false, false, fmt.Errorf("%w: it was %s", ErrNotDead, o.Status)
		}
		b, err := json.Marshal(alerter.Outcome{Status: alerter.Requeued, Attempts: o.Attempts, At: time.Now().UTC(), Error: o.Error})
		if err != nil {
			return 0, false, false, err
		}
		rev, err := d.kv.Update(ctx, k, b, e.Revision())
		if err == nil {
			return rev, false, false, nil
		}
		if !IsConflict(err) {
			return 0, false, false, fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
		}
		// Changed since it was read (another caller's mark): read again.
	}
}

// Claim tells whether the copy of an alert at stream sequence seq, stored
// for the requeue of revision rev, is the one to send to target: the
// first such copy claims the requeued record (by compare-and-set) and is
// the one from then on, also when it is handed out again; any other copy,
// or a record no longer requeued at that revision, is not.
func (d *Deliveries) Claim(ctx context.Context, target, alertID string, rev, seq uint64) (bool, error) {
	k := key(target, alertID)
	for {
		e, err := d.kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
		}
		if e.Revision() < rev {
			// A replica behind the leader answered (a direct get): the
			// requeue this copy was stored for is not there yet.
			return false, fmt.Errorf("deliveries %s %s: %w", target, alertID, errStale)
		}
		var o alerter.Outcome
		if json.Unmarshal(e.Value(), &o) != nil || o.Status != alerter.Requeued {
			return false, nil
		}
		switch {
		case o.Copy == seq:
			return true, nil
		case o.Copy != 0 || e.Revision() != rev:
			return false, nil
		}
		o.Copy = seq
		b, err := json.Marshal(o)
		if err != nil {
			return false, err
		}
		if _, err := d.kv.Update(ctx, k, b, rev); err == nil {
			return true, nil
		} else if !IsConflict(err) {
			return false, fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
		}
		// Another copy claimed it meanwhile: read again.
	}
}
