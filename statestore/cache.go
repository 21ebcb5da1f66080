package statestore

import (
	"hash/maphash"
	"math"
	"sync/atomic"
	"time"
)

// DefaultCacheEntries is the default bound of Options.CacheEntries.
const DefaultCacheEntries = 65_536

// maxCachedState bounds the encoded state the cache keeps, so that its
// memory is bounded by its entries: larger states (long threshold windows)
// are not cached and take two round trips, as without the cache.
const maxCachedState = 1024

// stateCache remembers, per key, the last state this process wrote (or
// found absent) and its revision, so that the next Update of the key can
// compare-and-set on that revision without reading the key first: one round
// trip instead of two. It is only a guess: the server's compare-and-set
// rejects it when the key moved since (another replica wrote it, its TTL
// expired, it was purged), and the update then reads the key as before.
// A revision is a stream sequence, unique in the stream, so it names one
// message of one key: a cached (state, revision) either is the key's last
// message or fails the compare-and-set.
//
// It is sharded like Store.keyLocks, and a shard is only used while
// its stripe's lock is held (Update holds it throughout), so the cache
// needs no lock of its own. Each shard is a CLOCK (second-chance) cache of
// at most perShard entries.
type stateCache struct {
	seed     maphash.Seed
	epoch    time.Time // the cache's clock: whole seconds since epoch (monotonic)
	perShard int
	shards   []cacheShard
}

type cacheShard struct {
	// index is an open-addressing hash table (linear probing) of slot
	// numbers, -1 for none, at most half full: 8 bytes per entry where a
	// map[uint64]int32 takes about 35.
	index []int32
	slots []cacheSlot
	hand  int
}

// cacheSlot is one entry: 40 bytes, plus the encoded state's bytes and 8
// bytes of index. The key is kept only as its 64-bit seeded hash: were
// two keys to collide, the revision of one is never the last sequence of
// the other's subject (or, if 0, means "absent", which is then true of
// both), so the compare-and-set catches it.
type cacheSlot struct {
	state string // encoded GroupState; "" when the key is absent at rev
	hash  uint64
	rev   uint64
	until uint32 // cache clock second from which the entry is void
	flags uint8
}

const (
	slotRef       = 1 << iota // referenced since the clock hand last passed
	slotContended             // the last guess was wrong: read first
)

func newStateCache(entries, shards int) *stateCache {
	if entries < 0 {
		return nil
	}
	if entries == 0 {
		entries = DefaultCacheEntries
	}
	c := &stateCache{seed: maphash.MakeSeed(), epoch: time.Now(), perShard: max(1, (entries+shards-1)/shards)}
	c.shards = make([]cacheShard, shards)
	return c
}

// now is the cache clock, in whole seconds, rounded down.
func (c *stateCache) now() uint32 {
	return uint32(min(time.Since(c.epoch)/time.Second, math.MaxUint32-1))
}

// deadline is the clock second at which something that lives d from
// start ends, rounded down (so an entry ends no later than what it
// mirrors on the server); d <= 0: never.
func (c *stateCache) deadline(start time.Time, d time.Duration) uint32 {
	if d <= 0 {
		return math.MaxUint32
	}
	return uint32(min((start.Sub(c.epoch)+d)/time.Second, math.MaxUint32-1))
}

func (c *stateCache) hash(key string) uint64 { return maphash.String(c.seed, key) }

// get returns the live entry of h, marking it referenced. An expired one
// is dropped.
func (sh *cacheShard) get(h uint64, now uint32) (cacheSlot, bool) {
	p := sh.find(h)
	if p < 0 {
		return cacheSlot{}, false
	}
	i := sh.index[p]
	s := &sh.slots[i]
	if s.until <= now {
		sh.removeAt(p)
		return cacheSlot{}, false
	}
	s.flags |= slotRef
	return *s, true
}

// put stores e (its hash set), replacing the entry of its key or, when
// the shard is full, the first expired or unreferenced one the clock hand
// finds. It reports whether an entry was added (rather than replaced).
func (sh *cacheShard) put(e cacheSlot, capacity int, now uint32) bool {
	if sh.index == nil {
		n := 2
		for n < 2*capacity {
			n *= 2
		}
		sh.index = make([]int32, n)
		for i := range sh.index {
			sh.index[i] = -1
		}
	}
	if p := sh.find(e.hash); p >= 0 {
		s := &sh.slots[sh.index[p]]
		e.flags |= s.flags & slotRef
		*s = e
		return false
	}
	if len(sh.slots) < capacity {
		sh.slots = append(sh.slots, e)
		sh.insert(e.hash, int32(len(sh.slots)-1))
		return true
	}
	// Second chance: at most two turns, the first clearing every bit.
	for {
		if sh.hand >= len(sh.slots) {
			sh.hand = 0
		}
		v := &sh.slots[sh.hand]
		if v.flags&slotRef == 0 || v.until <= now {
			sh.unlink(sh.find(v.hash))
			*v = e
			sh.insert(e.hash, int32(sh.hand))
			sh.hand++
			return false
		}
		v.flags &^= slotRef
		sh.hand++
	}
}

// remove drops the entry of h; it reports whether there was one.
func (sh *cacheShard) remove(h uint64) bool {
	p := sh.find(h)
	if p >= 0 {
		sh.removeAt(p)
	}
	return p >= 0
}

// removeAt drops the entry at index position p: the last slot moves into
// its place.
func (sh *cacheShard) removeAt(p int) {
	i := int(sh.index[p])
	sh.unlink(p)
	last := len(sh.slots) - 1
	if i != last {
		sh.slots[i] = sh.slots[last]
		sh.index[sh.find(sh.slots[i].hash)] = int32(i)
	}
	sh.slots[last] = cacheSlot{}
	sh.slots = sh.slots[:last]
}

// find returns the index position of h, or -1.
func (sh *cacheShard) find(h uint64) int {
	if sh.index == nil {
		return -1
	}
	mask := len(sh.index) - 1
	for p := int(h) & mask; ; p = (p + 1) & mask {
		switch i := sh.index[p]; {
		case i < 0:
			return -1
		case sh.slots[i].hash == h:
			return p
		}
	}
}

// insert indexes slot i under h, which is not indexed.
func (sh *cacheShard) insert(h uint64, i int32) {
	mask := len(sh.index) - 1
	p := int(h) & mask
	for sh.index[p] >= 0 {
		p = (p + 1) & mask
	}
	sh.index[p] = i
}

// unlink empties index position p, moving back the entries after it that
// would no longer be found (deletion without tombstones).
func (sh *cacheShard) unlink(p int) {
	mask := len(sh.index) - 1
	sh.index[p] = -1
	for q := (p + 1) & mask; sh.index[q] >= 0; q = (q + 1) & mask {
		home := int(sh.slots[sh.index[q]].hash) & mask
		// The entry at q stays if its home lies cyclically in (p, q].
		if (p < q && p < home && home <= q) || (q < p && (p < home || home <= q)) {
			continue
		}
		sh.index[p], sh.index[q] = sh.index[q], -1
		p = q
	}
}

// cacheRef is one key's place in the cache, for one Update (which holds
// the key's stripe lock). The zero value, for a store without a cache,
// caches nothing.
type cacheRef struct {
	c  *stateCache
	sh *cacheShard
	h  uint64
	n  *atomic.Int64 // the store's count of entries
}

func (r cacheRef) get() (cacheSlot, bool) {
	if r.sh == nil {
		return cacheSlot{}, false
	}
	before := len(r.sh.slots)
	e, ok := r.sh.get(r.h, r.c.now())
	r.n.Add(int64(len(r.sh.slots) - before))
	return e, ok
}

// put caches state (encoded; "" for absent) at rev until start+d.
func (r cacheRef) put(state string, rev uint64, start time.Time, d time.Duration, contended bool) {
	if r.sh == nil {
		return
	}
	if len(state) > maxCachedState {
		r.remove()
		return
	}
	e := cacheSlot{state: state, hash: r.h, rev: rev, until: r.c.deadline(start, d)}
	if contended {
		e.flags |= slotContended
	}
	if r.sh.put(e, r.c.perShard, r.c.now()) {
		r.n.Add(1)
	}
}

func (r cacheRef) remove() {
	if r.sh != nil && r.sh.remove(r.h) {
		r.n.Add(-1)
	}
}
