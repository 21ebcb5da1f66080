package statestore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
)

// statsSince is what s did since before.
func statsSince(s *Store, before Stats) Stats {
	now := s.Stats()
	return Stats{
		Updates: now.Updates - before.Updates, Reads: now.Reads - before.Reads, Writes: now.Writes - before.Writes,
		CacheHits: now.CacheHits - before.CacheHits, CacheMisses: now.CacheMisses - before.CacheMisses,
		CacheEntries: now.CacheEntries,
	}
}

// incr adds one to key's Suppressed and checks that fn saw want first.
func incr(t *testing.T, s *Store, key string, ttl time.Duration, want int64) {
	t.Helper()
	var saw int64 = -1
	if err := s.Update(testCtx(t), key, ttl, func(g *engine.GroupState) error {
		saw = g.Suppressed
		g.Suppressed++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if saw != want {
		t.Fatalf("%s: fn saw Suppressed=%d, want %d", key, saw, want)
	}
}

// cached returns the cache entry of key, under the key's lock.
func cached(s *Store, key string) (cacheSlot, bool) {
	stripe := keyHash(key) % uint32(len(s.keyLocks))
	s.keyLocks[stripe] <- struct{}{}
	defer func() { <-s.keyLocks[stripe] }()
	sh := &s.cache.shards[stripe]
	p := sh.find(s.cache.hash(key))
	if p < 0 {
		return cacheSlot{}, false
	}
	return sh.slots[sh.index[p]], true
}

// keepCached makes key's cache entry live forever, as if the local clock
// had not seen its TTL pass: what the compare-and-set then does is what
// guards against a cached state resurrecting an expired key.
func keepCached(t *testing.T, s *Store, key string) {
	t.Helper()
	stripe := keyHash(key) % uint32(len(s.keyLocks))
	s.keyLocks[stripe] <- struct{}{}
	defer func() { <-s.keyLocks[stripe] }()
	sh := &s.cache.shards[stripe]
	p := sh.find(s.cache.hash(key))
	if p < 0 {
		t.Fatalf("%s not cached", key)
	}
	sh.slots[sh.index[p]].until = math.MaxUint32
}

// The common case: updates of a key this store wrote last take one round
// trip, the compare-and-set, and fn sees what the last one left.
func TestStateCacheOneRoundTrip(t *testing.T) {
	_, js := newEnv(t)
	s := newStore(t, js, Options{})
	const key = "rule-a.00000000000000aa"
	before := s.Stats()
	for i := range int64(10) {
		incr(t, s, key, time.Hour, i)
	}
	st := statsSince(s, before)
	// The first update reads (the key is unknown), the others do not.
	if st.Updates != 10 || st.Reads != 1 || st.Writes != 10 || st.CacheHits != 9 || st.CacheMisses != 0 || st.CacheEntries != 1 {
		t.Fatalf("stats %+v", st)
	}
	if g, ok := get(t, s, key); !ok || g.Suppressed != 10 {
		t.Fatalf("stored %+v ok=%v", g, ok)
	}
	// A state is cached as it was stored; what fn does on failing is not.
	if err := s.Update(testCtx(t), key, time.Hour, func(g *engine.GroupState) error {
		g.Suppressed = 99
		return context.Canceled
	}); err != context.Canceled {
		t.Fatalf("err = %v", err)
	}
	incr(t, s, key, time.Hour, 10)

	// Without a cache every update reads.
	u := newStore(t, js, Options{CacheEntries: -1})
	before = u.Stats()
	for i := range int64(3) {
		incr(t, u, key, time.Hour, 11+i)
	}
	if st := statsSince(u, before); st.Reads != 3 || st.Writes != 3 || st.CacheHits != 0 || st.CacheEntries != 0 {
		t.Fatalf("without cache: stats %+v", st)
	}
	// The first store's guess is now wrong: the server rejects it, and the
	// update reads the key and sees the other store's updates.
	before = s.Stats()
	incr(t, s, key, time.Hour, 14)
	if st := statsSince(s, before); st.CacheMisses != 1 || st.Reads != 1 || st.Writes != 2 {
		t.Fatalf("after another writer: stats %+v", st)
	}
}

// Two stores, as two replicas, take turns on one key: each update sees the
// other's. A store whose guess was wrong reads first from then on (two
// round trips, not three) until a read finds the key as it left it.
func TestStateCacheReplicasTakeTurns(t *testing.T) {
	e, js := newEnv(t)
	a := newStore(t, js, Options{})
	_, js2 := connectJS(t, e)
	b := newStore(t, js2, Options{})
	const key = "rule-a.00000000000000bb"
	step := func(s *Store, want int64, reads, misses int64) {
		t.Helper()
		before := s.Stats()
		incr(t, s, key, time.Hour, want)
		if st := statsSince(s, before); st.Reads != reads || st.CacheMisses != misses {
			t.Fatalf("update %d: reads=%d misses=%d, want %d and %d", want, st.Reads, st.CacheMisses, reads, misses)
		}
	}
	step(a, 0, 1, 0) // unknown: read
	step(b, 1, 1, 0) // unknown: read
	step(a, 2, 1, 1) // guessed wrong, read
	step(b, 3, 1, 1) // guessed wrong, read
	step(a, 4, 1, 0) // contended: read first (and found b's write)
	step(a, 5, 1, 0) // contended: the read finds a's own write, so...
	step(a, 6, 0, 0) // ...a guesses again
	step(b, 7, 1, 0) // contended: read first
	step(b, 8, 1, 0)
	step(b, 9, 0, 0)

	// b empties the key; a's cached state must not come back.
	if err := b.Update(testCtx(t), key, time.Hour, func(g *engine.GroupState) error {
		*g = engine.GroupState{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	step(a, 0, 1, 1)
	step(b, 1, 1, 1)
	if g, _ := get(t, a, key); g.Suppressed != 2 {
		t.Fatalf("stored %+v", g)
	}
}

// Many concurrent updates of one key through two stores (replicas), each
// with several workers: none is lost.
func TestStateCacheReplicasConcurrent(t *testing.T) {
	e, js := newEnv(t)
	_, js2 := connectJS(t, e)
	opt := Options{MaxTries: 64}
	stores := []*Store{newStore(t, js, opt), newStore(t, js2, opt)}
	const workers, incs, key = 4, 150, "counter.cached"
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for _, s := range stores {
		for range workers {
			wg.Go(func() {
				for range incs {
					if err := s.Update(ctx, key, time.Minute, func(g *engine.GroupState) error {
						g.Suppressed++
						return nil
					}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if g, _ := get(t, stores[0], key); g.Suppressed != 2*workers*incs {
		t.Fatalf("counter = %d, want %d", g.Suppressed, 2*workers*incs)
	}
	for i, s := range stores {
		st := s.Stats()
		t.Logf("store %d: %+v, %.2f round trips/update", i, st, float64(st.Reads+st.Writes)/float64(st.Updates))
	}
}

// The server side of a cached state whose key expired (libs.md §2, TTL):
// the expiry replaces the message by a delete marker, which expires in
// turn, and a compare-and-set on the expired message's revision fails in
// both cases, so a cached state cannot resurrect the key. Then the store
// itself: with its local clock held back (keepCached), the update is
// rejected, reads the key and starts from a zero state; with the clock
// running, the entry expires with the key and the update reads at once.
func TestStateCacheExpiredKey(t *testing.T) {
	t.Parallel()
	_, js := newEnv(t)
	s := newStore(t, js, Options{MarkerTTL: time.Second})
	ctx := testCtx(t)
	lastMsg := func(key string) (*jetstream.RawStreamMsg, error) {
		return s.stream.GetLastMsgForSubject(ctx, s.prefix+key)
	}
	markerOnly := func(key string) func() bool {
		return func() bool {
			m, err := lastMsg(key)
			return err == nil && m.Header.Get(jetstream.MarkerReasonHeader) != ""
		}
	}
	noMsg := func(key string) func() bool {
		return func() bool {
			_, err := lastMsg(key)
			return err == jetstream.ErrMsgNotFound
		}
	}
	casFails := func(key string, rev uint64) {
		t.Helper()
		m := &nats.Msg{Subject: s.putPre + key, Data: []byte{codecV3, 0, 0, 2, 0, 0, 0, 0, 0}, Header: nats.Header{
			jetstream.ExpectedLastSubjSeqHeader: {strconv.FormatUint(rev, 10)},
		}}
		if _, err := s.js.PublishMsg(ctx, m); !bus.IsConflict(err) {
			t.Fatalf("%s: CAS on the expired revision %d: err = %v, want wrong last sequence", key, rev, err)
		}
	}

	for _, tc := range []struct {
		key     string
		expired func(string) func() bool
		what    string
	}{
		{"r.marked", markerOnly, "key replaced by its expiry marker"},
		{"r.gone", noMsg, "expiry marker expired"},
	} {
		incr(t, s, tc.key, time.Second, 0)
		e, ok := cached(s, tc.key)
		if !ok || e.state == "" {
			t.Fatalf("%s: not cached: %+v", tc.key, e)
		}
		eventually(t, 10*time.Second, tc.what, tc.expired(tc.key))
		casFails(tc.key, e.rev)
		keepCached(t, s, tc.key)
		before := s.Stats()
		incr(t, s, tc.key, time.Minute, 0) // from a zero state, not the cached 1
		if st := statsSince(s, before); st.CacheMisses != 1 || st.Reads != 1 {
			t.Fatalf("%s: stats %+v, want the cached state rejected and the key read", tc.key, st)
		}
		if g, ok := get(t, s, tc.key); !ok || g.Suppressed != 1 {
			t.Fatalf("%s: stored %+v ok=%v", tc.key, g, ok)
		}
	}

	// The local clock: once the key expired on the server, its entry has
	// expired too (it ends no later), and the update reads without trying
	// the cached state.
	incr(t, s, "r.local", time.Second, 0)
	eventually(t, 10*time.Second, "key expires", func() bool { _, ok := get(t, s, "r.local"); return !ok })
	before := s.Stats()
	incr(t, s, "r.local", time.Minute, 0)
	if st := statsSince(s, before); st.CacheMisses != 0 || st.Reads != 1 || st.Writes != 1 {
		t.Fatalf("expired entry: stats %+v, want a read and a write", st)
	}
}

// An emptied key is cached as absent at its purge marker's revision: the
// state created next is one round trip, and another store sees both.
func TestStateCachePurge(t *testing.T) {
	e, js := newEnv(t)
	s := newStore(t, js, Options{})
	_, js2 := connectJS(t, e)
	other := newStore(t, js2, Options{})
	const key = "rule-a.00000000000000cc"
	incr(t, s, key, time.Hour, 0)
	empty := func(g *engine.GroupState) error { *g = engine.GroupState{}; return nil }
	if err := s.Update(testCtx(t), key, time.Hour, empty); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, other, key); ok {
		t.Fatal("emptied state still stored")
	}
	if e, ok := cached(s, key); !ok || e.state != "" || e.rev == 0 {
		t.Fatalf("purge not cached: %+v ok=%v", e, ok)
	}
	before := s.Stats()
	incr(t, s, key, time.Hour, 0)
	if st := statsSince(s, before); st.Reads != 0 || st.Writes != 1 || st.CacheHits != 1 {
		t.Fatalf("create after purge: stats %+v", st)
	}
	incr(t, other, key, time.Hour, 1)

	// An absent key that fn leaves Empty is no proof of absence: the
	// cached absence is not trusted for it, the key is read.
	if err := s.Update(testCtx(t), "rule-a.00000000000000cd", time.Hour, func(*engine.GroupState) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := other.Update(testCtx(t), "rule-a.00000000000000cd", time.Hour, func(g *engine.GroupState) error {
		g.Alerted = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	saw := false
	if err := s.Update(testCtx(t), "rule-a.00000000000000cd", time.Hour, func(g *engine.GroupState) error {
		saw = g.Alerted
		return nil
	}); err != nil || !saw {
		t.Fatalf("cached absence trusted: saw=%v err=%v", saw, err)
	}
}

// The CLOCK: bounded, expired entries go first, then unreferenced ones;
// a referenced entry gets a second chance.
func TestStateCacheClock(t *testing.T) {
	c := newStateCache(4, 1)
	sh := &c.shards[0]
	put := func(h uint64, until uint32) {
		sh.put(cacheSlot{hash: h, rev: h, until: until, state: "x"}, c.perShard, 10)
	}
	has := func(h uint64) bool { return sh.find(h) >= 0 }
	for h := range uint64(4) {
		put(h+1, 100)
	}
	if _, ok := sh.get(1, 10); !ok {
		t.Fatal("entry 1 missing")
	}
	sh.get(3, 10)
	put(5, 100) // 2 is the first unreferenced
	if has(2) || !has(1) || !has(3) || !has(4) || !has(5) || len(sh.slots) != 4 {
		t.Fatalf("after evicting: %+v", sh.slots)
	}
	sh.slots[sh.index[sh.find(3)]].until = 10 // expired at 10
	put(6, 100)
	if has(3) || !has(6) {
		t.Fatalf("the expired entry was not the one evicted: %+v", sh.slots)
	}
	if _, ok := sh.get(4, 100); ok || has(4) {
		t.Fatal("expired entry returned")
	}
	if !sh.remove(5) || sh.remove(5) || has(5) || len(sh.slots) != 2 {
		t.Fatalf("after remove: %+v %v", sh.slots, sh.index)
	}
	for _, h := range []uint64{1, 6} {
		if e, ok := sh.get(h, 10); !ok || e.rev != h {
			t.Fatalf("entry %d: %+v ok=%v", h, e, ok)
		}
	}
	// Updating an entry in place keeps one entry.
	put(6, 200)
	if e, _ := sh.get(6, 10); e.until != 200 || len(sh.slots) != 2 {
		t.Fatalf("update in place: %+v", sh.slots)
	}

	// The bound is per shard, rounded up; a store's shards match its locks.
	if c := newStateCache(0, 256); c.perShard*256 != DefaultCacheEntries {
		t.Fatalf("default per shard %d", c.perShard)
	}
	if c := newStateCache(1000, 256); c.perShard != 4 {
		t.Fatalf("1000 entries: per shard %d", c.perShard)
	}
	if newStateCache(-1, 256) != nil {
		t.Fatal("negative: want no cache")
	}
}

// The shard against a map, with colliding hashes (few distinct low bits)
// so that the index's probing and deletion are exercised.
func TestStateCacheShardModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const capacity = 64
	var sh cacheShard
	type entry struct {
		rev   uint64
		until uint32
	}
	model := map[uint64]entry{}
	const now = 1 // entries until 1 have expired
	for step := range 50_000 {
		h := rng.Uint64N(200) << 3 // index of 128 positions: many collisions
		if rng.Uint64N(16) == 0 {
			h |= 1 << 40 // same low bits, other key
		}
		switch rng.IntN(3) {
		case 0:
			e := entry{rev: uint64(step) + 1, until: 1 + uint32(rng.IntN(8))/7}
			if sh.put(cacheSlot{hash: h, rev: e.rev, until: e.until}, capacity, now) {
				if _, ok := model[h]; ok {
					t.Fatalf("step %d: put of a cached hash added", step)
				}
			}
			model[h] = e
		case 1:
			_, want := model[h]
			if got := sh.remove(h); got != want {
				t.Fatalf("step %d: remove %x = %v, want %v", step, h, got, want)
			}
			delete(model, h)
		case 2:
			e, ok := sh.get(h, now)
			m, in := model[h]
			if ok != (in && m.until > now) || ok && e.rev != m.rev {
				t.Fatalf("step %d: get %x = %+v %v, model %+v %v", step, h, e, ok, m, in)
			}
			if !ok {
				delete(model, h)
			}
		}
		// Evictions drop entries from the cache, never add or alter one.
		for i, e := range sh.slots {
			if m, ok := model[e.hash]; !ok || m.rev != e.rev || m.until != e.until {
				t.Fatalf("step %d: slot %d %+v not in the model", step, i, e)
			}
			if p := sh.find(e.hash); p < 0 || sh.index[p] != int32(i) {
				t.Fatalf("step %d: slot %d not indexed", step, i)
			}
		}
		for h := range model {
			if sh.find(h) < 0 {
				delete(model, h) // evicted
			}
		}
		if len(sh.slots) > capacity || len(model) != len(sh.slots) {
			t.Fatalf("step %d: %d slots, model %d", step, len(sh.slots), len(model))
		}
		var n int
		for _, i := range sh.index {
			if i >= 0 {
				n++
			}
		}
		if n != len(sh.slots) {
			t.Fatalf("step %d: %d indexed, %d slots", step, n, len(sh.slots))
		}
	}
}

// The store's cache is bounded by CacheEntries.
func TestStateCacheBound(t *testing.T) {
	_, js := newEnv(t)
	s := newStore(t, js, Options{CacheEntries: 256})
	ctx := testCtx(t)
	for k := range 2000 {
		if err := s.Update(ctx, benchKey(k), time.Hour, func(g *engine.GroupState) error { g.Alerted = true; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Stats().CacheEntries; n != 256 {
		t.Fatalf("%d entries cached, want 256", n)
	}
	var n int
	for i := range s.cache.shards {
		n += len(s.cache.shards[i].slots)
	}
	if n != 256 {
		t.Fatalf("%d slots", n)
	}
}

// BenchmarkStateCacheMemory reports the heap one cache entry takes, for
// the typical dedup state of BenchmarkStateMemoryPerKey, at the default
// bound, filled:
//
//	go test -run '^$' -bench StateCacheMemory ./statestore
func BenchmarkStateCacheMemory(b *testing.B) {
	now := time.Now().UnixNano()
	st := engine.GroupState{Alerted: true, LastAlert: now, Expires: now + int64(30*time.Minute), Suppressed: 2}
	enc := string(encodeState(nil, &st))
	for range b.N {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c := newStateCache(DefaultCacheEntries, 256)
		var entries atomic.Int64
		for k := range DefaultCacheEntries {
			key := benchKey(k)
			stripe := keyHash(key) % 256
			r := cacheRef{c: c, sh: &c.shards[stripe], h: c.hash(key), n: &entries}
			r.put(string([]byte(enc)), uint64(k+1), time.Now(), time.Hour, false)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(entries.Load()), "heap-B/entry")
		b.ReportMetric(float64(entries.Load()), "entries")
		b.ReportMetric(float64(len(enc)), "state-B")
		runtime.KeepAlive(c)
	}
}

// BenchmarkStateUpdateCache is BenchmarkStateUpdate without and with the
// cache, in one run, with the round trips each update took.
func BenchmarkStateUpdateCache(b *testing.B) {
	for _, workers := range []int{1, 8} {
		for _, entries := range []int{-1, 0} {
			b.Run(fmt.Sprintf("workers=%d/cache=%v", workers, entries >= 0), func(b *testing.B) {
				benchStateUpdate(b, workers, Options{CacheEntries: entries})
			})
		}
	}
}
