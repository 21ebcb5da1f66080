package silences

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
)

// Bucket is the KV bucket of silences.
const Bucket = "ALERTER_SILENCES"

// ErrNotFound is a silence id that is not there.
var ErrNotFound = errors.New("no such silence")

// Store keeps silences in the KV bucket and a copy in memory, which a watch
// keeps current; it is safe for concurrent use.
type Store struct {
	kv  jetstream.KeyValue
	log *slog.Logger
	// policy is swapped by SetPolicy when the config reloads.
	policy atomic.Pointer[Policy]
	now    func() time.Time
	stop   context.CancelFunc
	done   chan struct{}

	mu  sync.RWMutex
	all map[string]*Silence
	// refused are the silences in the bucket that are not applied, by key,
	// with the reason: written past the API (the bucket is reachable on
	// the NATS port) or by a version without today's policy.
	refused map[string]string
}

// Options configure a Store.
type Options struct {
	// Replicas of the bucket; default 1.
	Replicas int
	// Policy refuses silences, from Add and when read from the bucket.
	Policy Policy
	Logger *slog.Logger
}

// Open opens (creating it if needed) the silences bucket and loads it; the
// copy in memory follows the bucket until Close.
func Open(ctx context.Context, js jetstream.JetStream, opt Options) (*Store, error) {
	log, replicas := opt.Logger, opt.Replicas
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
	s := &Store{kv: kv, log: log, now: time.Now, stop: stop, done: make(chan struct{}),
		all: map[string]*Silence{}, refused: map[string]string{}}
	s.SetPolicy(opt.Policy)
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
		var sl *Silence
		var err error
		if e.Operation() == jetstream.KeyValuePut {
			sl, err = s.admit(e.Value())
		}
		s.mu.Lock()
		delete(s.all, e.Key())
		delete(s.refused, e.Key())
		switch {
		case err != nil:
			s.refused[e.Key()] = err.Error()
		case sl != nil:
			s.all[e.Key()] = sl
		}
		s.mu.Unlock()
		if err != nil {
			s.log.Error("silence in the bucket refused; not applied", "key", e.Key(), "err", err)
		}
	}
}

// admit reads a silence from the bucket and checks it as Add would: the
// bucket can be written past the API, and a silence that mutes every alert
// or lasts past the cap must not apply however it got there. An expired
// one applies to nothing and is kept for the list as it is.
func (s *Store) admit(b []byte) (*Silence, error) {
	var sl Silence
	if err := json.Unmarshal(b, &sl); err != nil {
		return nil, fmt.Errorf("unreadable: %w", err)
	}
	now := s.now()
	if sl.State(now) == Expired {
		if err := sl.compileMatchers(); err != nil {
			return nil, err
		}
		return &sl, nil
	}
	if err := sl.CheckMatchers(); err != nil {
		return nil, err
	}
	if err := s.policy.Load().Check(&sl, now); err != nil {
		return nil, err
	}
	return &sl, nil
}

// Refused returns the silences in the bucket that are not applied, by id,
// with the reason.
func (s *Store) Refused() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.refused)
}

// CheckMatchers checks the matchers of sl as Add does (compiling them),
// without the rest: for a preview of what it would mute.
func (s *Store) CheckMatchers(sl *Silence) error {
	if err := sl.CheckMatchers(); err != nil {
		return err
	}
	return s.policy.Load().CheckScope(sl)
}

// SetPolicy puts p in force for the silences added and read from then on
// (a reloaded config); the silences applied already stay.
func (s *Store) SetPolicy(p Policy) { s.policy.Store(&p) }

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
	if err := s.policy.Load().Check(&sl, now); err != nil {
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
func (s *Store) Matching(a *alerter.Alert, now time.Time) []string {
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
