package statestore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/internal/retry"
)

// Defaults of Options.
const (
	DefaultBucket = "ALERTER_STATE"
	// DefaultMarkerTTL is how long the marker of an expired or deleted key
	// stays: long enough for watchers to see the removal, short enough that
	// dead keys stop costing memory soon.
	DefaultMarkerTTL      = 10 * time.Second
	defaultTimeout        = 5 * time.Second
	defaultRequestTimeout = time.Second
	defaultMaxTries       = 16
	maxKeyLen             = 1024
	headerKVOperation     = "KV-Operation"
	kvOpDelete, kvOpPurge = "DEL", "PURGE"
)

// ErrConflict is returned when an update lost the race for a key more
// times than Options.MaxTries.
var ErrConflict = errors.New("state update: too many concurrent updates of one key")

// ErrUnavailable marks errors that mean the state store could not be
// reached (timeout, no responders, connection closed, JetStream
// unavailable); the update may be retried later.
var ErrUnavailable = errors.New("state store unavailable")

// Options configure a Store.
type Options struct {
	// Bucket is the KV bucket; default ALERTER_STATE.
	Bucket string
	// Replicas of the bucket; default 1. Use 3 on a 3-node cluster.
	Replicas int
	// MarkerTTL is the bucket's LimitMarkerTTL, which enables per-key TTLs;
	// default 10s, at least 1s.
	MarkerTTL time.Duration
	// FailOpen: when the store is unreachable, Update runs fn on a zero
	// state and returns nil, so alerts fire (possibly twice) rather than
	// wait. Without it Update returns an error wrapping ErrUnavailable and
	// the caller naks the event for a later retry.
	FailOpen bool
	// Timeout bounds one Update whose context has no deadline; default 5s.
	// It is also how long an outage takes to be noticed.
	Timeout time.Duration
	// RequestTimeout bounds each request to the server within an Update,
	// which tries again while Timeout allows; default 1s. A write sent to
	// a stream leader that steps down is never answered: without it, the
	// update would wait out all of Timeout.
	RequestTimeout time.Duration
	// MaxTries bounds the compare-and-set attempts of one Update; default 16.
	MaxTries int
	// Logger receives outage reports, once per outage; nil discards them.
	Logger *slog.Logger
	// CacheEntries bounds the keys whose last state and revision the store
	// remembers, so that their next update is one round trip (a
	// compare-and-set on the remembered revision) instead of two (read,
	// then compare-and-set). An entry takes about 60 bytes plus the
	// encoded state (82 bytes for a typical 22-byte dedup state; states
	// over 1 KiB are not cached). Default DefaultCacheEntries (about
	// 5 MB); rounded up to a multiple of 256, bounded per 256th of the
	// keys; negative: no cache.
	CacheEntries int
}

// Stats count what a Store did since it was created. Round
// trips per update are (Reads+Writes)/Updates.
type Stats struct {
	Updates int64 // Update calls with a valid key
	Reads   int64 // requests reading a key from the server (Get's too)
	Writes  int64 // compare-and-set writes (states and purges), failed ones included
	// CacheHits are updates done on the cached state in one round trip;
	// CacheMisses cached states the server rejected, because another
	// replica, an expiry or a purge moved the key: those updates read the
	// key and tried again.
	CacheHits, CacheMisses int64
	CacheEntries           int64 // keys cached now
	// Retries are requests the server left unanswered (no stream leader,
	// a timeout, a reconnect) and that were sent again.
	Retries int64
}

// Store is an engine.Store in a JetStream KV bucket, shared by all
// replicas. Every write is a compare-and-set on the key's last revision and
// carries the key's TTL, so that concurrent updates from any replica are
// serialized and a state expires ttl after its last update.
type Store struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	stream jetstream.Stream
	bucket string
	prefix string // "$KV.<bucket>.", the keys' subjects in the stream
	putPre string // prefix to publish to: the API prefix goes first when not the default
	msgGet string // the leader's get API subject
	opt    Options
	log    *slog.Logger
	bufs   sync.Pool
	// keyLocks serialize the updates of one key within this process, so
	// that CAS conflicts only arise between replicas: concurrent local
	// writers would otherwise keep failing each other's CAS, and a writer
	// that backs off loses again to fresh ones. Striped by key hash, a
	// fixed cost however many keys there are. A channel, unlike a mutex,
	// lets a waiter give up with its context.
	keyLocks [256]chan struct{}
	// cache is sharded like keyLocks, each shard used under its lock; nil
	// without a cache.
	cache    *stateCache
	stats    counters
	down     atomic.Bool
	failures atomic.Int64
	downMu   sync.Mutex
	downAt   time.Time
}

var _ engine.Store = (*Store)(nil)

type counters struct {
	updates, reads, writes, hits, misses, entries, retries atomic.Int64
}

// New creates the bucket if needed (or updates its replicas and
// marker TTL) and returns a store on it.
func New(ctx context.Context, js jetstream.JetStream, opt Options) (*Store, error) {
	if opt.Bucket == "" {
		opt.Bucket = DefaultBucket
	}
	if opt.Replicas <= 0 {
		opt.Replicas = 1
	}
	if opt.MarkerTTL <= 0 {
		opt.MarkerTTL = DefaultMarkerTTL
	}
	opt.MarkerTTL = ceilSecond(opt.MarkerTTL)
	if opt.Timeout <= 0 {
		opt.Timeout = defaultTimeout
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = defaultRequestTimeout
	}
	if opt.MaxTries <= 0 {
		opt.MaxTries = defaultMaxTries
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      opt.Bucket,
		Description: "alerter: dedup and threshold state per rule group",
		History:     1,
		// No bucket TTL: every key carries its own (see Update).
		LimitMarkerTTL: opt.MarkerTTL,
		Storage:        jetstream.FileStorage,
		Replicas:       opt.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", opt.Bucket, err)
	}
	stream, err := js.Stream(ctx, "KV_"+opt.Bucket)
	if err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", opt.Bucket, err)
	}
	s := &Store{
		js:     js,
		kv:     kv,
		stream: stream,
		bucket: opt.Bucket,
		prefix: "$KV." + opt.Bucket + ".",
		putPre: "$KV." + opt.Bucket + ".",
		msgGet: apiPrefix(js) + "STREAM.MSG.GET.KV_" + opt.Bucket,
		opt:    opt,
		log:    log.With("bucket", opt.Bucket),
		bufs:   sync.Pool{New: func() any { return new([]byte) }},
	}
	s.cache = newStateCache(opt.CacheEntries, len(s.keyLocks))
	if p := apiPrefix(js); p != jetstream.DefaultAPIPrefix {
		s.putPre = p + s.putPre // as KeyValue does, for imported JetStream
	}
	for i := range s.keyLocks {
		s.keyLocks[i] = make(chan struct{}, 1)
	}
	return s, nil
}

// Update implements engine.Store. It runs fn on the key's state and
// writes the result only if the key did not change in between; if it did,
// it reads the key and starts over (fn may thus run several times and must
// not have effects beyond the state and its own variables). A state left
// Empty is purged. Each write carries ttl, rounded up to whole seconds
// (the server's unit); ttl <= 0 keeps the state until it is emptied.
//
// The state fn starts from is the one this process last wrote, if it
// remembers it (see Options.CacheEntries), without reading it: the
// compare-and-set on its revision proves it current, in one round trip.
// Otherwise, or when the server rejects it, the key is read first.
func (s *Store) Update(ctx context.Context, key string, ttl time.Duration, fn func(*engine.GroupState) error) error {
	if err := checkKey(key); err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	stripe := keyHash(key) % uint32(len(s.keyLocks))
	lock := s.keyLocks[stripe]
	select {
	case lock <- struct{}{}:
		defer func() { <-lock }()
	case <-ctx.Done():
		return s.failed(parent, key, fn, ctx.Err())
	}
	s.stats.updates.Add(1)
	c := s.cacheRef(stripe, key)
	for wait := 1; ; wait++ {
		err := s.update(ctx, c, key, ttl, fn)
		var se storeError
		if !errors.As(err, &se) {
			return err // nil, fn's, or too many conflicts
		}
		// The server did not answer: no stream leader (a replicated bucket
		// has none for a moment while it elects one, after a node is lost
		// or a leader steps down: writes sent to the old one go
		// unanswered), or no connection while the client reconnects. Try
		// again within the deadline rather than fail events that a second
		// later would succeed. A write that timed out may have been stored:
		// the next try reads the key again, and fn, which must be
		// idempotent for what it records (see engine.Store), sees it.
		if transient(se.err) && ctx.Err() == nil &&
			retry.Sleep(ctx, retry.Backoff(wait, 20*time.Millisecond, 500*time.Millisecond)) == nil {
			s.stats.retries.Add(1)
			continue
		}
		return s.failed(parent, key, fn, se.err)
	}
}

// storeError marks an error of the server, as opposed to fn's.
type storeError struct{ err error }

func (e storeError) Error() string { return e.err.Error() }
func (e storeError) Unwrap() error { return e.err }

// update is one Update on the locked key; the server's errors come back
// as storeError.
func (s *Store) update(ctx context.Context, c cacheRef, key string, ttl time.Duration, fn func(*engine.GroupState) error) error {
	cached, ok := c.get()
	// contended: another replica or an expiry moved the key since this
	// process last wrote it, so guessing costs a round trip more. It stays
	// so until a read finds the key as this process left it.
	contended := ok && cached.flags&slotContended != 0
	leader := false
	if ok && !contended {
		done, err := s.updateCached(ctx, c, key, ttl, fn, cached)
		switch {
		case done && err == nil:
			s.reachable()
			return nil
		case done && bus.IsConflict(err):
			// Read the key from the leader: a direct get may be served by
			// a replica that has not seen what moved it yet.
			s.stats.misses.Add(1)
			contended, leader = true, true
		case done:
			return storeError{err}
		case err != nil:
			return err // fn's
		}
	}
	subj := s.prefix + key
	for try := range s.opt.MaxTries {
		if try > 0 {
			if err := backoff(ctx, try); err != nil {
				return storeError{err}
			}
		}
		// The first read is a direct get, which any replica answers, so it
		// may be stale; after a conflict ask the leader, or a lagging
		// replica could fail every try.
		start := time.Now()
		st, rev, live, err := s.load(ctx, subj, leader || try > 0)
		if err != nil {
			return storeError{err}
		}
		if ok && rev == cached.rev {
			contended = false
		}
		if err := fn(&st); err != nil {
			return err
		}
		if st.Empty() && !live {
			// Nothing stored, nothing to store. The absence is cached, for
			// a while, so that a state created next is one round trip.
			c.put("", rev, start, s.opt.MarkerTTL, contended)
			s.reachable()
			return nil
		}
		err = s.write(ctx, c, key, rev, live, ttl, &st, contended)
		if err == nil {
			s.reachable()
			return nil
		}
		if !bus.IsConflict(err) {
			return storeError{err}
		}
	}
	c.remove()
	return fmt.Errorf("update %s: %w (%d tries)", key, ErrConflict, s.opt.MaxTries)
}

// updateCached is Update's first try, on the cached state: done reports
// that it wrote or tried to, with err the write's outcome; otherwise err
// is fn's, or nil when the key must be read (an absent state fn left
// Empty: the absence is not proven by a write).
func (s *Store) updateCached(ctx context.Context, c cacheRef, key string, ttl time.Duration, fn func(*engine.GroupState) error, e cacheSlot) (done bool, err error) {
	var st engine.GroupState
	live := e.state != ""
	if live {
		if st, err = decodeState([]byte(e.state)); err != nil {
			c.remove() // cannot be: the store encoded it
			return false, nil
		}
	}
	if err := fn(&st); err != nil {
		return false, err
	}
	if st.Empty() && !live {
		return false, nil
	}
	err = s.write(ctx, c, key, e.rev, live, ttl, &st, false)
	if err == nil {
		s.stats.hits.Add(1)
	}
	return true, err
}

// write stores st, or purges the key if st is Empty, provided the key's
// last revision is still rev, and caches what it stored.
func (s *Store) write(ctx context.Context, c cacheRef, key string, rev uint64, live bool, ttl time.Duration, st *engine.GroupState, contended bool) error {
	// The entry ends no later than what it mirrors on the server: the
	// message is stored, and its TTL starts, after start.
	start := time.Now()
	s.stats.writes.Add(1)
	var err error
	if st.Empty() {
		var seq uint64
		if seq, err = s.purge(ctx, key, rev); err == nil {
			// The purge marker is the key's last message until it expires.
			c.put("", seq, start, s.opt.MarkerTTL, contended)
			return nil
		}
	} else {
		bp := s.bufs.Get().(*[]byte)
		defer s.bufs.Put(bp)
		*bp = encodeState((*bp)[:0], st)
		var seq uint64
		if seq, err = s.put(ctx, s.putPre+key, rev, ttl, *bp); err == nil {
			if c.sh != nil && len(*bp) <= maxCachedState {
				c.put(string(*bp), seq, start, ceilTTL(ttl), contended)
			} else {
				c.remove()
			}
			return nil
		}
	}
	if !bus.IsConflict(err) {
		// It may have been stored all the same (a timeout): the cached
		// revision is unknown.
		c.remove()
	}
	return err
}

// Get returns the stored state of key and whether there is one. It reads
// through the stream leader, so it sees every acknowledged update (a
// direct get may be served by a lagging replica).
func (s *Store) Get(ctx context.Context, key string) (engine.GroupState, bool, error) {
	if err := checkKey(key); err != nil {
		return engine.GroupState{}, false, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	st, _, live, err := s.load(ctx, s.prefix+key, true)
	if err != nil {
		return engine.GroupState{}, false, fmt.Errorf("get %s: %w", key, err)
	}
	return st, live, nil
}

// Bucket is the name of the KV bucket.
func (s *Store) Bucket() string { return s.bucket }

// load reads the last message of the key's subject: rev is its sequence
// (0 if none) and live whether it holds a state rather than a delete,
// purge or expiry marker. CAS needs the marker's revision too, which
// KeyValue.Get hides, hence the read of the stream itself.
func (s *Store) load(ctx context.Context, subj string, leader bool) (st engine.GroupState, rev uint64, live bool, err error) {
	var m *jetstream.RawStreamMsg
	if !leader {
		s.stats.reads.Add(1)
		rctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
		m, err = s.stream.GetLastMsgForSubject(rctx, subj)
		cancel()
		// No replica answers direct gets while the stream starts up or
		// its replicas catch up; the leader may already.
		leader = errors.Is(err, nats.ErrNoResponders)
	}
	if leader {
		s.stats.reads.Add(1)
		m, err = s.leaderGet(ctx, subj)
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return st, 0, false, nil
	}
	if err != nil {
		return st, 0, false, err
	}
	if m.Header.Get(headerKVOperation) != "" || m.Header.Get(jetstream.MarkerReasonHeader) != "" {
		return st, m.Sequence, false, nil
	}
	st, err = decodeState(m.Data)
	if err != nil {
		// A state that cannot be read must not block its group forever:
		// overwrite it, and say so.
		s.log.Error("dropping unreadable group state", "subject", subj, "revision", m.Sequence, "err", err)
		return engine.GroupState{}, m.Sequence, true, nil
	}
	return st, m.Sequence, true, nil
}

// leaderGet reads the last message of subj through the stream leader. The
// jetstream package always uses direct gets on a bucket that allows them,
// so this is the plain API request.
func (s *Store) leaderGet(ctx context.Context, subj string) (*jetstream.RawStreamMsg, error) {
	req, err := json.Marshal(struct {
		LastBySubj string `json:"last_by_subj"`
	}{subj})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
	defer cancel()
	resp, err := s.js.Conn().RequestWithContext(ctx, s.msgGet, req)
	if err != nil {
		return nil, err
	}
	var r struct {
		Error   *jetstream.APIError `json:"error"`
		Message *struct {
			Subject  string    `json:"subject"`
			Sequence uint64    `json:"seq"`
			Header   []byte    `json:"hdrs"`
			Data     []byte    `json:"data"`
			Time     time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("stream msg get: %w", err)
	}
	if r.Error != nil {
		if r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, jetstream.ErrMsgNotFound
		}
		return nil, r.Error
	}
	if r.Message == nil {
		return nil, jetstream.ErrInvalidJetStreamResponse
	}
	m := &jetstream.RawStreamMsg{Subject: r.Message.Subject, Sequence: r.Message.Sequence, Data: r.Message.Data, Time: r.Message.Time}
	if len(r.Message.Header) > 0 {
		if m.Header, err = nats.DecodeHeadersMsg(r.Message.Header); err != nil {
			return nil, fmt.Errorf("stream msg get: %w", err)
		}
	}
	return m, nil
}

// apiPrefix is the JetStream API prefix js sends requests to.
func apiPrefix(js jetstream.JetStream) string {
	o := js.Options()
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	}
	return jetstream.DefaultAPIPrefix
}

// put writes the encoded state data if the subject's last sequence is
// still rev, with the TTL in the same message, and returns the message's
// sequence. KeyValue.Update cannot do this (it drops the TTL, so an
// updated key would never expire), but the KV is a stream, and a publish
// with Nats-Expected-Last-Subject-Sequence and Nats-TTL headers is exactly
// what KeyValue.Create sends, with any revision.
func (s *Store) put(ctx context.Context, subj string, rev uint64, ttl time.Duration, data []byte) (uint64, error) {
	m := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{
		jetstream.ExpectedLastSubjSeqHeader: {strconv.FormatUint(rev, 10)},
	}}
	if ttl > 0 {
		// Whole seconds: the server's unit; the short form saves bytes in
		// every stored message.
		m.Header[jetstream.MsgTTLHeader] = []string{strconv.FormatInt(int64(ceilTTL(ttl)/time.Second), 10)}
	}
	return s.publish(ctx, m)
}

// purge replaces the key's state (revision rev) by a purge marker that
// expires after MarkerTTL, and returns the marker's sequence. It sends
// what KeyValue.Purge with LastRevision and PurgeTTL does, which does not
// tell the marker's revision.
func (s *Store) purge(ctx context.Context, key string, rev uint64) (uint64, error) {
	m := &nats.Msg{Subject: s.putPre + key, Header: nats.Header{
		headerKVOperation:                   {kvOpPurge},
		jetstream.MsgRollup:                 {jetstream.MsgRollupSubject},
		jetstream.ExpectedLastSubjSeqHeader: {strconv.FormatUint(rev, 10)},
		jetstream.MsgTTLHeader:              {strconv.FormatInt(int64(s.opt.MarkerTTL/time.Second), 10)},
	}}
	return s.publish(ctx, m)
}

// publish stores m, within RequestTimeout, and returns its sequence.
func (s *Store) publish(ctx context.Context, m *nats.Msg) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
	defer cancel()
	ack, err := s.js.PublishMsg(ctx, m)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// Stats returns the store's counts.
func (s *Store) Stats() Stats {
	return Stats{
		Updates:      s.stats.updates.Load(),
		Reads:        s.stats.reads.Load(),
		Writes:       s.stats.writes.Load(),
		CacheHits:    s.stats.hits.Load(),
		CacheMisses:  s.stats.misses.Load(),
		CacheEntries: s.stats.entries.Load(),
		Retries:      s.stats.retries.Load(),
	}
}

// cacheRef is key's place in the cache, stripe that of its lock.
func (s *Store) cacheRef(stripe uint32, key string) cacheRef {
	if s.cache == nil {
		return cacheRef{}
	}
	return cacheRef{c: s.cache, sh: &s.cache.shards[stripe], h: s.cache.hash(key), n: &s.stats.entries}
}

// failed handles an error from the store: with FailOpen and an outage, fn
// runs on a zero state and the update counts as done.
func (s *Store) failed(parent context.Context, key string, fn func(*engine.GroupState) error, err error) error {
	if parent.Err() != nil || !isUnavailable(err) {
		// The caller gave up, or the store answered with a real error.
		return fmt.Errorf("update %s: %w", key, err)
	}
	s.unreachable(err)
	if !s.opt.FailOpen {
		return fmt.Errorf("update %s: %w: %w", key, ErrUnavailable, err)
	}
	var zero engine.GroupState
	return fn(&zero)
}

// unreachable and reachable log an outage once at its start and once at
// its end, not per call: during an outage every event fails the same way.
func (s *Store) unreachable(err error) {
	s.failures.Add(1)
	if s.down.Load() {
		return
	}
	s.downMu.Lock()
	defer s.downMu.Unlock()
	if s.down.Load() {
		return
	}
	s.downAt = time.Now()
	s.down.Store(true)
	if s.opt.FailOpen {
		s.log.Warn("state store unreachable: failing open, alerts may repeat until it is back", "err", err)
	} else {
		s.log.Warn("state store unreachable: updates fail until it is back", "err", err)
	}
}

func (s *Store) reachable() {
	if !s.down.Load() {
		return
	}
	s.downMu.Lock()
	defer s.downMu.Unlock()
	if !s.down.Load() {
		return
	}
	s.down.Store(false)
	s.log.Info("state store reachable again", "outage", time.Since(s.downAt).Round(time.Millisecond),
		"failed_updates", s.failures.Swap(0), "fail_open", s.opt.FailOpen)
}

func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opt.Timeout)
}

// backoff waits a little, randomly, before a CAS retry, so that writers
// colliding on one key spread out instead of colliding again. It grows to
// 200ms, so that 16 tries span about a second: on a replicated bucket the
// leader rejects a CAS while an earlier write of the key is still being
// replicated, which under load takes longer than a few quick retries.
func backoff(ctx context.Context, try int) error {
	d := time.Duration(rand.Int64N(min(int64(100*time.Microsecond)<<min(try, 11), int64(200*time.Millisecond))))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transient reports an unavailable store that may be back in a moment.
func transient(err error) bool {
	return isUnavailable(err) && !errors.Is(err, nats.ErrConnectionClosed) &&
		!errors.Is(err, jetstream.ErrConnectionClosed) && !errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// isUnavailable reports errors that say nothing about the key but that the
// store could not be reached.
func isUnavailable(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, jetstream.ErrConnectionClosed),
		errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return true
	}
	var apiErr *jetstream.APIError
	// 503: JetStream or the stream's cluster group is not available.
	return errors.As(err, &apiErr) && apiErr.Code == 503
}

// checkKey accepts KV keys: letters, digits, '-', '_', '=', '/' and '.',
// without empty tokens. Engine keys are "<rule id>.<hex hash>".
func checkKey(key string) error {
	if key == "" {
		return errors.New("invalid state key: empty")
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("invalid state key %.40q...: %d bytes, at most %d", key, len(key), maxKeyLen)
	}
	prevDot := true // a leading dot is an empty token
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '.':
			if prevDot {
				return fmt.Errorf("invalid state key %q: empty token", key)
			}
			prevDot = true
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '=', c == '/':
		default:
			return fmt.Errorf("invalid state key %q: character %q not allowed (letters, digits, - _ = / and . only)", key, c)
		}
		prevDot = false
	}
	if prevDot {
		return fmt.Errorf("invalid state key %q: empty token", key)
	}
	return nil
}

// keyHash is FNV-1a, inline to avoid an allocation per update.
func keyHash(key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h
}

// ceilTTL is the TTL a write of ttl carries: whole seconds, at least
// one; ttl <= 0 (none) stays.
func ceilTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return ceilSecond(ttl)
}

func ceilSecond(d time.Duration) time.Duration {
	return max(time.Second, (d+time.Second-1)/time.Second*time.Second)
}
