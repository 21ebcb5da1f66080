package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
)

// Bucket is the KV bucket of the groups' states.
const Bucket = "ALERTER_ALERT_STATES"

// tries bounds the compare-and-set attempts of one Update: people, not
// events, change these states, so a conflict is rare.
const tries = 32

// Store keeps the groups' states in a KV bucket shared by the replicas.
type Store struct {
	kv jetstream.KeyValue
}

// Open opens (creating or updating it) the bucket, whose entries live for
// ttl after their last change: as long as the alerts they speak of.
func Open(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (*Store, error) {
	kv, err := bus.OpenBucket(ctx, js, Bucket, "alerter: what became of each alert group (acknowledged, resolved)", replicas, ttl)
	if err != nil {
		return nil, fmt.Errorf("alert states bucket: %w", err)
	}
	return &Store{kv: kv}, nil
}

// Key is the bucket key of alert a's group: its dedup key ("rule:hash"),
// with the characters a key may not hold replaced.
func Key(a *alerter.Alert) string {
	return strings.NewReplacer(":", ".", " ", "_").Replace(a.DedupKey)
}

// Get returns the state of a's group, nil if nobody acted on it.
func (s *Store) Get(ctx context.Context, a *alerter.Alert) (*State, error) {
	st, _, err := s.get(ctx, Key(a))
	return st, err
}

func (s *Store) get(ctx context.Context, key string) (*State, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("alert state %s: %w", key, err)
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, 0, fmt.Errorf("alert state %s: %w", key, err)
	}
	return &st, e.Revision(), nil
}

// Update applies fn to the state of a's group (a new one if it has none)
// and stores it if fn reports a change, by compare-and-set: fn runs again
// on the newer state if another replica changed it meanwhile. It returns
// the state as stored, and fn's error.
func (s *Store) Update(ctx context.Context, a *alerter.Alert, fn func(*State) (bool, error)) (*State, error) {
	key := Key(a)
	for range tries {
		st, rev, err := s.get(ctx, key)
		if err != nil {
			return nil, err
		}
		if st == nil {
			st = &State{}
		}
		changed, err := fn(st)
		if err != nil || !changed {
			return st, err
		}
		b, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, b)
		} else {
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return st, nil
		}
		if !bus.IsConflict(err) {
			return nil, fmt.Errorf("alert state %s: %w", key, err)
		}
	}
	return nil, fmt.Errorf("alert state %s: changed %d times while being updated; try again", key, tries)
}
