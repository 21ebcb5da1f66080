package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultDeliveriesBucket records what became of each alert at each
// target.
const DefaultDeliveriesBucket = "ALERTER_DELIVERIES"

// Delivery outcomes.
const (
	Sent     = "sent"     // the target accepted it
	Silenced = "silenced" // a silence matched: recorded, not sent
	Dead     = "dead"     // given up on: in the dead letters
	Requeued = "requeued" // a dead letter handed back to be tried again
)

// ErrNotDead is what Requeue says of a delivery that is not a dead letter.
var ErrNotDead = errors.New("not a dead letter")

// Outcome is what became of one alert at one target.
type Outcome struct {
	Status   string    `json:"status"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
	Error    string    `json:"error,omitempty"`
	// Silences are the ids of the silences that matched.
	Silences []string `json:"silences,omitempty"`
}

// Deliveries record what became of each (alert, target) pair. A consumer's
// acknowledgements reach the disk some time after they are made, so after
// a crash JetStream hands out again alerts that were already delivered;
// this record, written with the delivery, is what keeps them from being
// sent twice. Entries expire after the bucket's TTL.
type Deliveries struct {
	kv jetstream.KeyValue
}

// NewDeliveries opens (creating it if needed) the deliveries bucket, whose
// entries live for ttl.
func NewDeliveries(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (*Deliveries, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      DefaultDeliveriesBucket,
		Description: "alerter: what became of each alert at each target",
		History:     1,
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("deliveries bucket: %w", err)
	}
	return &Deliveries{kv: kv}, nil
}

// Get returns the outcome recorded for the alert at target, if any.
func (d *Deliveries) Get(ctx context.Context, target, alertID string) (Outcome, bool, error) {
	e, err := d.kv.Get(ctx, key(target, alertID))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return Outcome{}, false, nil
	case err != nil:
		return Outcome{}, false, fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
	}
	var o Outcome
	if err := json.Unmarshal(e.Value(), &o); err != nil {
		// Written by an older version or by hand: it still says delivered.
		return Outcome{Status: Sent}, true, nil
	}
	return o, true, nil
}

// Put records the outcome for the alert at target.
func (d *Deliveries) Put(ctx context.Context, target, alertID string, o Outcome) error {
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
// redelivery they ask for. A delivery already requeued gives its revision
// again, with already set; any other is ErrNotDead.
func (d *Deliveries) Requeue(ctx context.Context, target, alertID string) (rev uint64, already bool, err error) {
	k := key(target, alertID)
	for {
		e, err := d.kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return 0, false, fmt.Errorf("%w: no outcome is recorded at %s yet", ErrNotDead, target)
		case err != nil:
			return 0, false, fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
		}
		var o Outcome
		if err := json.Unmarshal(e.Value(), &o); err != nil {
			o.Status = Sent // see Get
		}
		switch o.Status {
		case Requeued:
			return e.Revision(), true, nil
		case Dead:
		default:
			return 0, false, fmt.Errorf("%w: it was %s", ErrNotDead, o.Status)
		}
		b, err := json.Marshal(Outcome{Status: Requeued, Attempts: o.Attempts, At: time.Now().UTC(), Error: o.Error})
		if err != nil {
			return 0, false, err
		}
		rev, err := d.kv.Update(ctx, k, b, e.Revision())
		if err == nil {
			return rev, false, nil
		}
		if !isConflict(err) {
			return 0, false, fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
		}
		// Changed since it was read (another caller's mark): read again.
	}
}
