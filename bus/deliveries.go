package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultDeliveriesBucket records which alert was delivered to which
// target.
const DefaultDeliveriesBucket = "ALERTER_DELIVERIES"

// Deliveries record the (alert, target) pairs that were delivered. A
// consumer's acknowledgements reach the disk some time after they are
// made, so after a crash JetStream hands out again alerts that were
// already delivered; this record, written with the delivery, is what keeps
// them from being sent twice. Entries expire after the bucket's TTL.
type Deliveries struct {
	kv jetstream.KeyValue
}

// NewDeliveries opens (creating it if needed) the deliveries bucket, whose
// entries live for ttl.
func NewDeliveries(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (*Deliveries, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      DefaultDeliveriesBucket,
		Description: "alerter: alerts delivered, per target",
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

// Delivered tells whether the alert was delivered to target.
func (d *Deliveries) Delivered(ctx context.Context, target, alertID string) (bool, error) {
	_, err := d.kv.Get(ctx, target+"."+alertID)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
}

// Mark records that the alert was delivered to target.
func (d *Deliveries) Mark(ctx context.Context, target, alertID string) error {
	if _, err := d.kv.Put(ctx, target+"."+alertID, nil); err != nil {
		return fmt.Errorf("deliveries %s %s: %w", target, alertID, err)
	}
	return nil
}
