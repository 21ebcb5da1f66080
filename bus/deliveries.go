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
)

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
