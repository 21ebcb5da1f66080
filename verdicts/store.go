package verdicts

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket of the verdicts.
const Bucket = "ALERTER_VERDICTS"

// cacheFor is how long Recent serves the entries it read: the rules page
// asks every few seconds, and a verdict given on another replica may show
// this much later.
const cacheFor = 30 * time.Second

// Store keeps the verdicts in a KV bucket shared by the replicas, one key
// per resolved cycle of an alert group, each living Window and a day
// after it was written, whatever nats.retention says.
type Store struct {
	kv  jetstream.KeyValue
	now func() time.Time

	mu     sync.Mutex
	cached []Entry
	read   time.Time // when cached was read; zero: not read
}

// Open opens (creating or updating it) the bucket.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       Bucket,
		Description:  "alerter: the verdicts of resolved alerts, for each rule's precision",
		History:      1,
		TTL:          Window + 24*time.Hour,
		MaxValueSize: 8 << 10,
		Storage:      jetstream.FileStorage,
		Replicas:     max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("verdicts bucket: %w", err)
	}
	return &Store{kv: kv, now: time.Now}, nil
}

// key names e's cycle: its group and the time it was resolved, so that a
// group resolved again after it fired again is another entry.
func key(e Entry) string {
	g := strings.NewReplacer(":", ".", " ", "_", "*", "_", ">", "_").Replace(e.Group)
	return g + "." + strconv.FormatInt(e.ResolvedAt.UnixNano(), 10)
}

// Record stores e; recording the same cycle again overwrites it.
func (s *Store) Record(ctx context.Context, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, key(e), b); err != nil {
		return fmt.Errorf("recording the verdict on alert %s: %w", e.Alert, err)
	}
	s.mu.Lock()
	s.read = time.Time{} // this replica sees its own verdicts at once
	s.mu.Unlock()
	return nil
}

// Recent returns the entries of the last Window, reading the whole bucket
// at most once per cacheFor: one entry per resolve with a verdict, a few
// thousand at most for a team.
func (s *Store) Recent(ctx context.Context) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.read.IsZero() && s.now().Sub(s.read) < cacheFor {
		return s.cached, nil
	}
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("reading the verdicts: %w", err)
	}
	defer func() { _ = w.Stop() }()
	since := s.now().Add(-Window)
	var out []Entry
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reading the verdicts: %w", ctx.Err())
		case kve := <-w.Updates():
			if kve == nil {
				s.cached, s.read = out, s.now()
				return out, nil
			}
			var e Entry
			if err := json.Unmarshal(kve.Value(), &e); err != nil || e.ResolvedAt.Before(since) {
				continue // not ours to fail the page over; expiring anyway
			}
			out = append(out, e)
		}
	}
}
