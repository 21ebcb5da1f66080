package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultReplaysBucket remembers the signed webhook requests already taken.
const DefaultReplaysBucket = "ALERTER_SIGNED_REQUESTS"

// Replays remember the signed webhook requests whose events were stored,
// for as long as the events are kept: the EVENTS stream drops a repeated
// event id only within its dedup window, so a signed request captured and
// sent again later would otherwise be stored and alerted on again. It
// implements ingest.Replays.
type Replays struct {
	kv jetstream.KeyValue
}

// NewReplays opens (creating it if needed) the bucket, whose entries live
// for ttl.
func NewReplays(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (*Replays, error) {
	kv, err := OpenBucket(ctx, js, DefaultReplaysBucket, "alerter: signed webhook requests already taken, against replays", replicas, ttl)
	if err != nil {
		return nil, fmt.Errorf("signed requests bucket: %w", err)
	}
	return &Replays{kv: kv}, nil
}

// Seen reports whether key was remembered.
func (r *Replays) Seen(ctx context.Context, key string) (bool, error) {
	_, err := r.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("signed request %s: %w", key, err)
	}
	return true, nil
}

// Remember records key.
func (r *Replays) Remember(ctx context.Context, key string) error {
	if _, err := r.kv.Put(ctx, key, nil); err != nil {
		return fmt.Errorf("signed request %s: %w", key, err)
	}
	return nil
}

// Claim records key unless it is recorded already, in one step: of two
// copies of a request taken at once, one claims it (true), the other
// finds it claimed (false).
func (r *Replays) Claim(ctx context.Context, key string) (bool, error) {
	_, err := r.kv.Create(ctx, key, nil)
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("signed request %s: %w", key, err)
	}
	return true, nil
}
