package silences

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/engine"
)

// Bucket is the KV bucket of silences.
const Bucket = "ALERTER_SILENCES"

// ErrNotFound is a silence id that is not there.
var ErrNotFound = errors.New("no such silence")

// Store keeps silences in the KV bucket and a copy in memory, which a watch
// keeps current; it is safe for concurrent use.
type Store struct {
	kv   jetstream.KeyValue
	log  *slog.Logger
	now  func() time.Time
	stop context.CancelFunc
	done chan struct{}

	mu  sync.RWMutex
	all map[string]*Silence
}

// Open opens (creating it if needed) the silences bucket and loads it; the
// copy in memory follows the bucket until Close.
func Open(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "alerter: silences",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("silences bucket: %w", err)
	}
	wctx, stop := context.WithCancel(context.Background())
	w, err := kv.WatchAll(wctx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("watching silences: %w", err)
	}
	s := &Store{kv: kv, log: log, now: time.Now, stop: stop, done: make(chan struct{}), all: map[string]*Silence{}}
	loaded := make(chan struct{})
	go s.follow(w, loaded)
	select {
	case <-loaded:
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("loading silences: %w", ctx.Err())
	}
	return s, nil
}

// follow applies the bucket's updates to the copy in memory; the watch
// sends the current values first, then nil, then changes.
func (s *Store) follow(w jetstream.KeyWatcher, loaded chan struct{}) {
	defer close(s.done)
	defer func() { _ = w.Stop() }()
	first := true
	for e := range w.Updates() {
		if e == nil {
			if first {
				close(loaded)
				first = false
			}
			continue
		}
		s.mu.Lock()
		if e.Operation() != jetstream.KeyValuePut {
			delete(s.all, e.Key())
		} else {
			var sl Silence
			if err := json.Unmarshal(e.Value(), &sl); err != nil {
				s.log.Error("unreadable silence in the bucket; ignored", "key", e.Key(), "err", err)
			} else if err := sl.compileMatchers(); err != nil {
				s.log.Error("invalid silence in the bucket; ignored", "key", e.Key(), "err", err)
			} else {
				s.all[e.Key()] = &sl
			}
		}
		s.mu.Unlock()
	}
}

// Close stops following the bucket.
func (s *Store) Close() {
	s.stop()
	<-s.done
}

// Add checks and stores a new silence, returning it with its id.
func (s *Store) Add(ctx context.Context, sl Silence) (Silence, error) {
	now := s.now().UTC()
	sl.ID = newID(now)
	sl.CreatedAt, sl.UpdatedAt = now, now
	if err := sl.Check(now); err != nil {
		return Silence{}, err
	}
	if !sl.EndsAt.After(now) {
		return Silence{}, fmt.Errorf("ends_at %s is in the past", sl.EndsAt.Format(time.RFC3339))
	}
	if err := s.put(ctx, &sl); err != nil {
		return Silence{}, err
	}
	return sl, nil
}

// Expire ends a silence now; an expired one stays listed.
func (s *Store) Expire(ctx context.Context, id string) (Silence, error) {
	sl, ok := s.Get(id)
	if !ok {
		return Silence{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	now := s.now().UTC()
	if sl.State(now) == Expired {
		return sl, nil
	}
	if sl.StartsAt.After(now) {
		sl.StartsAt = now
	}
	sl.EndsAt, sl.UpdatedAt = now, now
	if err := s.put(ctx, &sl); err != nil {
		return Silence{}, err
	}
	return sl, nil
}

func (s *Store) put(ctx context.Context, sl *Silence) error {
	b, err := json.Marshal(sl)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, sl.ID, b); err != nil {
		return fmt.Errorf("storing silence %s: %w", sl.ID, err)
	}
	// The watch brings it too; this makes it visible at once to the caller.
	s.mu.Lock()
	cp := *sl
	s.all[sl.ID] = &cp
	s.mu.Unlock()
	return nil
}

// Get returns the silence id.
func (s *Store) Get(id string) (Silence, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sl, ok := s.all[id]
	if !ok {
		return Silence{}, false
	}
	return *sl, true
}

// List returns every silence: active and pending first (soonest ending
// first), then expired (latest ended first).
func (s *Store) List() []Silence {
	s.mu.RLock()
	list := make([]Silence, 0, len(s.all))
	for _, k := range slices.Sorted(maps.Keys(s.all)) {
		list = append(list, *s.all[k])
	}
	s.mu.RUnlock()
	sortForList(list, s.now())
	return list
}

// Matching returns the ids of the silences that mute a at now.
func (s *Store) Matching(a *engine.Alert, now time.Time) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for id, sl := range s.all {
		if sl.Matches(a, now) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
