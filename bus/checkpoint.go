package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultCheckpointBucket is the KV bucket of source checkpoints.
const DefaultCheckpointBucket = "ALERTER_CHECKPOINTS"

// Checkpoints keep sources' positions (a poll window's end, a file offset)
// in a JetStream KV bucket, so that they survive restarts and are shared by
// replicas. It implements ingest.Checkpoints.
type Checkpoints struct {
	kv jetstream.KeyValue
}

// NewCheckpoints opens (creating it if needed) the checkpoint bucket; an
// empty bucket name means DefaultCheckpointBucket.
func NewCheckpoints(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*Checkpoints, error) {
	if bucket == "" {
		bucket = DefaultCheckpointBucket
	}
	kv, err := OpenBucket(ctx, js, bucket, "alerter source checkpoints", replicas, 0)
	if err != nil {
		return nil, fmt.Errorf("checkpoint bucket %s: %w", bucket, err)
	}
	return &Checkpoints{kv: kv}, nil
}

// Get returns the value stored under key, or nil if there is none.
func (c *Checkpoints) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := c.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", key, err)
	}
	return e.Value(), nil
}

// Put stores value under key.
func (c *Checkpoints) Put(ctx context.Context, key string, value []byte) error {
	if _, err := c.kv.Put(ctx, key, value); err != nil {
		return fmt.Errorf("checkpoint %s: %w", key, err)
	}
	return nil
}
