package statestore

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/internal/natscluster"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/engine"
)

func get(t *testing.T, s *Store, key string) (engine.GroupState, bool) {
	t.Helper()
	g, ok, err := s.Get(testCtx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	return g, ok
}

func TestStateStoreSemantics(t *testing.T) {
	ctx := testCtx(t)
	_, js := newEnv(t)
	s := newStore(t, js, Options{})
	const key = "rule-a.0123456789abcdef"

	// Absent: fn sees a zero state; an Empty result stores nothing.
	calls := 0
	if err := s.Update(ctx, key, time.Hour, func(g *engine.GroupState) error {
		calls++
		if g.Alerted || g.Suppressed != 0 || g.Window != nil {
			t.Errorf("absent key: fn got %+v", g)
		}
		return nil
	}); err != nil || calls != 1 {
		t.Fatalf("update absent: calls=%d err=%v", calls, err)
	}
	if _, ok := get(t, s, key); ok {
		t.Fatal("empty state was stored")
	}

	// Create.
	want := engine.GroupState{Alerted: true, LastAlert: 1_715_681_280_000_000_000, Expires: 1_715_683_080_000_000_000,
		Window: []engine.Entry{{Time: 1_715_681_279_000_000_000, ID: "e1"}, {Time: 1_715_681_281_000_000_000, ID: "e2"}}}
	if err := s.Update(ctx, key, time.Hour, func(g *engine.GroupState) error {
		*g = want
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if g, ok := get(t, s, key); !ok || !equalState(g, want) {
		t.Fatalf("after create: %+v ok=%v, want %+v", g, ok, want)
	}

	// Update sees the stored state; changes to the window stick.
	if err := s.Update(ctx, key, time.Hour, func(g *engine.GroupState) error {
		if !equalState(*g, want) {
			t.Errorf("fn got %+v, want %+v", *g, want)
		}
		g.Suppressed++
		g.Window = g.Window[:1]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want.Suppressed, want.Window = 1, want.Window[:1]
	if g, _ := get(t, s, key); !equalState(g, want) {
		t.Fatalf("after update: %+v, want %+v", g, want)
	}

	// A failing fn leaves the state untouched and its error comes back as is.
	boom := errors.New("boom")
	if err := s.Update(ctx, key, time.Hour, func(g *engine.GroupState) error {
		g.Suppressed = 99
		g.Window = nil
		return boom
	}); err != boom {
		t.Fatalf("err = %v, want boom", err)
	}
	if g, _ := get(t, s, key); !equalState(g, want) {
		t.Fatalf("after failing fn: %+v, want %+v", g, want)
	}

	// Empty deletes; the key can then be created again.
	if err := s.Update(ctx, key, time.Hour, func(g *engine.GroupState) error {
		*g = engine.GroupState{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, s, key); ok {
		t.Fatal("emptied state still there")
	}
	if err := s.Update(ctx, key, time.Hour, func(g *engine.GroupState) error {
		if g.Suppressed != 0 {
			t.Errorf("after delete fn got %+v", g)
		}
		g.Suppressed = 5
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if g, ok := get(t, s, key); !ok || g.Suppressed != 5 {
		t.Fatalf("re-created: %+v ok=%v", g, ok)
	}

	// The stored message is compact.
	m, err := s.stream.GetLastMsgForSubject(ctx, s.prefix+key)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stored value %d bytes, headers %v", len(m.Data), m.Header)
}

func equalState(a, b engine.GroupState) bool {
	if a.Alerted != b.Alerted || a.LastAlert != b.LastAlert || a.Suppressed != b.Suppressed ||
		a.Expires != b.Expires || len(a.Window) != len(b.Window) ||
		a.FiredSuppressed != b.FiredSuppressed || a.FiredDistinct != b.FiredDistinct || !slices.Equal(a.Seen, b.Seen) || !slices.Equal(a.Fired, b.Fired) ||
		a.Since != b.Since || !slices.Equal(a.Values, b.Values) ||
		!slices.EqualFunc(a.Chains, b.Chains, slices.Equal) ||
		a.Due != b.Due || a.SchedAt != b.SchedAt || a.SchedBy != b.SchedBy || a.FiredDue != b.FiredDue || a.FiredRef != b.FiredRef ||
		!slices.Equal(a.Pending, b.Pending) || !slices.Equal(a.Next, b.Next) ||
		a.Escalated != b.Escalated || a.EscalatedStep != b.EscalatedStep || a.EscalatedBy != b.EscalatedBy ||
		a.ResolveAt != b.ResolveAt || a.EscalateAt != b.EscalateAt || a.EscalateFrom != b.EscalateFrom ||
		a.DigestAt != b.DigestAt || a.DigestCount != b.DigestCount || a.DigestFirst != b.DigestFirst || a.DigestLast != b.DigestLast ||
		!slices.Equal(a.DigestOf, b.DigestOf) ||
		a.Sent.Count != b.Sent.Count || a.Sent.First != b.Sent.First || a.Sent.Last != b.Sent.Last || !slices.Equal(a.Sent.Of, b.Sent.Of) {
		return false
	}
	for i := range a.Window {
		if a.Window[i] != b.Window[i] {
			return false
		}
	}
	return true
}

func TestStateStoreInvalidKeys(t *testing.T) {
	_, js := newEnv(t)
	s := newStore(t, js, Options{})
	for _, k := range []string{"", "a..b", ".a", "a.", "a b", "a*", "a.>", "ä", strings.Repeat("a", 2000)} {
		err := s.Update(testCtx(t), k, time.Minute, func(*engine.GroupState) error {
			t.Errorf("fn called for invalid key %q", k)
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "invalid state key") {
			t.Errorf("key %q: err = %v", k, err)
		}
	}
	if err := checkKey("soteri-exports-burst.3f2a9c0011aabbcc"); err != nil {
		t.Error(err)
	}
}

func TestStateStoreTTL(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, js := newEnv(t)
	s := newStore(t, js, Options{MarkerTTL: time.Second})
	set := func(key string, ttl time.Duration) {
		t.Helper()
		if err := s.Update(ctx, key, ttl, func(g *engine.GroupState) error {
			g.Suppressed++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(key string) func() bool {
		return func() bool { _, ok := get(t, s, key); return !ok }
	}
	start := time.Now()
	set("r.emptied", time.Hour)
	if err := s.Update(ctx, "r.emptied", time.Hour, func(g *engine.GroupState) error {
		*g = engine.GroupState{}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	set("r.created", time.Second)
	set("r.updated", time.Second)
	set("r.updated", time.Second) // the trap: kv.Update would drop the TTL here
	set("r.forever", 0)
	eventually(t, 5*time.Second, "created key expires", gone("r.created"))
	eventually(t, 5*time.Second, "updated key expires", gone("r.updated"))
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("keys expired after %s, before their 1s TTL", d)
	}
	// An emptied key leaves a purge marker that expires too, so that it
	// costs nothing after MarkerTTL.
	eventually(t, 5*time.Second, "purge marker expires", func() bool {
		_, err := s.stream.GetLastMsgForSubject(ctx, s.prefix+"r.emptied")
		return errors.Is(err, jetstream.ErrMsgNotFound)
	})
	if _, ok := get(t, s, "r.forever"); !ok {
		t.Error("key without TTL expired")
	}
	// An expired key is created afresh, from its expiry marker's revision.
	set("r.updated", time.Minute)
	if g, ok := get(t, s, "r.updated"); !ok || g.Suppressed != 1 {
		t.Errorf("re-created after expiry: %+v ok=%v", g, ok)
	}
}

// Each update restarts the key's TTL: the state lives ttl after its last
// update, not after its creation.
func TestStateStoreTTLRestartsOnUpdate(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, js := newEnv(t)
	s := newStore(t, js, Options{MarkerTTL: time.Second})
	inc := func(ttl time.Duration) {
		t.Helper()
		if err := s.Update(ctx, "r.k", ttl, func(g *engine.GroupState) error {
			g.Suppressed++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	inc(2 * time.Second)
	time.Sleep(1500 * time.Millisecond)
	inc(3 * time.Second) // now expires at ~4.5s instead of ~2s
	time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))
	if g, ok := get(t, s, "r.k"); !ok || g.Suppressed != 2 {
		t.Fatalf("at 3.5s: %+v ok=%v, want the updated state alive", g, ok)
	}
	eventually(t, 5*time.Second, "updated key expires", func() bool { _, ok := get(t, s, "r.k"); return !ok })
}

// 8 goroutines increment one counter 200 times each: through one store
// (local writers queue on the key's lock) and through 8 stores on their
// own connections, as 8 replicas would (only CAS keeps them exact).
func TestStateStoreConcurrentCAS(t *testing.T) {
	const workers, incs = 8, 200
	for _, shared := range []bool{true, false} {
		t.Run(map[bool]string{true: "one store", false: "store per writer"}[shared], func(t *testing.T) {
			ctx := testCtx(t)
			e, js := newEnv(t)
			// Eight replicas hammering one key is harsher than production
			// (a few replicas, rarely one key at once), so more tries.
			opt := Options{MaxTries: 64}
			stores := make([]*Store, workers)
			for i := range stores {
				if shared {
					if i == 0 {
						stores[0] = newStore(t, js, opt)
					}
					stores[i] = stores[0]
					continue
				}
				_, js := connectJS(t, e)
				stores[i] = newStore(t, js, opt)
			}
			var wg sync.WaitGroup
			for w, s := range stores {
				wg.Go(func() {
					for i := range incs {
						// Idempotent per increment, as the engine's updates
						// are per event (engine.Store): a write that landed
						// but timed out is tried again on a loaded machine.
						// Seen[w] is how many of writer w's are applied.
						if err := s.Update(ctx, "counter.01", time.Minute, func(g *engine.GroupState) error {
							if len(g.Seen) < workers {
								g.Seen = append(g.Seen, make([]uint64, workers-len(g.Seen))...)
							}
							if g.Seen[w] > uint64(i) {
								return nil
							}
							g.Seen[w] = uint64(i) + 1
							g.Suppressed++
							return nil
						}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if g, _ := get(t, stores[0], "counter.01"); g.Suppressed != workers*incs {
				t.Fatalf("counter = %d, want %d", g.Suppressed, workers*incs)
			}
		})
	}
}

// The store on a 3-node cluster: two stores on different nodes increment
// one key concurrently, then a node dies and the store goes on.
func TestStateStoreCluster(t *testing.T) {
	start := time.Now()
	c := natscluster.Start(t, 3)
	t.Logf("cluster formed in %s", time.Since(start))
	stores := make([]*Store, 2)
	for i := range stores {
		nc, err := nats.Connect(c.URLs(i), nats.DontRandomize(), nats.MaxReconnects(-1),
			nats.ReconnectWait(100*time.Millisecond), nats.Timeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = newStore(t, js, Options{Replicas: 3, Timeout: 3 * time.Second})
		waitStreamCurrent(t, stores[i].stream, 3)
	}
	if u0, u1 := stores[0].js.Conn().ConnectedUrl(), stores[1].js.Conn().ConnectedUrl(); u0 == u1 {
		t.Fatalf("both stores on %s", u0)
	}
	const key, perStore = "cluster.0a", 150
	// Each update counts once, like the engine's: an update whose write
	// timed out may have been stored, and then its retry must not count
	// again.
	var ids atomic.Uint64
	inc := func() func(*engine.GroupState) error {
		id := ids.Add(1)
		return func(g *engine.GroupState) error {
			if !slices.Contains(g.Seen, id) {
				g.Seen = append(g.Seen, id)
				g.Suppressed++
			}
			return nil
		}
	}
	ctx := testCtx(t)
	var (
		wg       sync.WaitGroup
		done     atomic.Int64
		finished = make(chan struct{})
	)
	for _, s := range stores {
		wg.Go(func() {
			for range perStore {
				if err := s.Update(ctx, key, time.Minute, inc()); err != nil {
					t.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	go func() { wg.Wait(); close(finished) }()
	// Midway the bucket's stream changes leader: updates wait for the new
	// one instead of failing, and none is lost or counted twice.
	wg.Go(func() {
		for done.Load() < perStore/2 {
			select {
			case <-finished:
				t.Error("updates ended before the leader stepdown")
				return
			case <-time.After(time.Millisecond):
			}
		}
		subj := "$JS.API.STREAM.LEADER.STEPDOWN." + stores[0].stream.CachedInfo().Config.Name
		if _, err := stores[0].js.Conn().Request(subj, nil, 5*time.Second); err != nil {
			t.Errorf("leader stepdown: %v", err)
		}
	})
	wg.Wait()
	if g, _ := get(t, stores[1], key); g.Suppressed != 2*perStore {
		t.Fatalf("counter = %d, want %d", g.Suppressed, 2*perStore)
	}

	t.Logf("%d concurrent updates done at %s", 2*perStore, time.Since(start))
	for i, s := range stores {
		st := s.Stats()
		t.Logf("store %d: %+v, %.2f round trips/update", i, st, float64(st.Reads+st.Writes)/float64(st.Updates))
	}
	// Kill the node store 0 is connected to; with the other two the bucket
	// keeps its quorum. While the client reconnects and, if the dead node
	// led the stream, a new leader is elected, each update waits within
	// its deadline instead of failing.
	c.Servers[0].Shutdown()
	for i, s := range stores {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		err := s.Update(ctx, key, time.Minute, inc())
		cancel()
		if err != nil {
			t.Fatalf("store %d after node loss: %v", i, err)
		}
	}
	t.Logf("updates after node loss done at %s", time.Since(start))
	for i, s := range stores {
		t.Logf("store %d: retries %d", i, s.Stats().Retries)
	}
	if g, _ := get(t, stores[0], key); g.Suppressed != 2*perStore+2 {
		t.Fatalf("counter = %d after node loss, want %d", g.Suppressed, 2*perStore+2)
	}
}

func TestStateStoreFailOpen(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(map[bool]string{false: "closed", true: "open"}[failOpen], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			e := startEmbedded(t, bus.EmbeddedOptions{StoreDir: dir, Listen: addr, Token: "t"})
			nc, err := nats.Connect(e.ClientURL(), nats.Token("t"), nats.MaxReconnects(-1),
				nats.ReconnectWait(50*time.Millisecond), nats.Timeout(10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			var logs logBuffer
			s := newStore(t, js, Options{FailOpen: failOpen, Timeout: 300 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			const key = "rule-a.ff"
			// Calls while the server runs get a generous deadline; during
			// the outage none, so the store's 300ms timeout applies.
			up, down := testCtx(t), t.Context()
			alert := func(ctx context.Context) (fired bool, err error) {
				err = s.Update(ctx, key, time.Hour, func(g *engine.GroupState) error {
					fired = !g.Alerted
					g.Alerted = true
					return nil
				})
				return fired, err
			}
			if fired, err := alert(up); err != nil || !fired {
				t.Fatalf("first alert: fired=%v err=%v", fired, err)
			}
			if fired, err := alert(up); err != nil || fired {
				t.Fatalf("deduped alert: fired=%v err=%v", fired, err)
			}

			e.Shutdown()
			for range 3 {
				fired, err := alert(down)
				if failOpen {
					if err != nil || !fired {
						t.Fatalf("fail open: fired=%v err=%v, want a fired alert", fired, err)
					}
				} else if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("fail closed: err = %v, want ErrUnavailable", err)
				}
			}
			if n := logs.count("state store unreachable"); n != 1 {
				t.Errorf("outage logged %d times, want once:\n%s", n, logs.String())
			}

			// Back on the same store dir and port: the client reconnects and
			// the state is what it was before the outage.
			startEmbedded(t, bus.EmbeddedOptions{StoreDir: dir, Listen: addr, Token: "t"})
			eventually(t, 10*time.Second, "reconnect", nc.IsConnected)
			if fired, err := alert(up); err != nil || fired {
				t.Fatalf("after outage: fired=%v err=%v, want deduped", fired, err)
			}
			if n := logs.count("state store reachable again"); n != 1 {
				t.Errorf("recovery logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

// The trap Store.put avoids (libs.md §2): KeyValue.Update publishes
// without a TTL, so a key created with KeyTTL and then updated never
// expires. Should this fail, nats.go changed, and put may be replaceable
// by KeyValue calls.
func TestKVUpdateDropsTTL(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, js := newEnv(t)
	s := newStore(t, js, Options{MarkerTTL: time.Second})
	rev, err := s.kv.Create(ctx, "trap.k", []byte{1, 0, 0, 0, 0, 0}, jetstream.KeyTTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.kv.Update(ctx, "trap.k", []byte{1, 0, 2, 0, 0, 0}, rev); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := s.kv.Get(ctx, "trap.k"); err != nil {
		t.Fatalf("after 2.5s: %v; KeyValue.Update kept the TTL", err)
	}
}

// A state survives a restart of the server on the same store.
func TestStateSurvivesRestart(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	e := startEmbedded(t, bus.EmbeddedOptions{StoreDir: filepath.Join(dir, "nested", "nats")})
	_, js := connectJS(t, e)
	st := newStore(t, js, Options{})
	if err := st.Update(ctx, "rule-a.00ff", time.Hour, func(g *engine.GroupState) error {
		g.Alerted, g.LastAlert, g.Suppressed = true, 42, 7
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	e.Shutdown()
	e2 := startEmbedded(t, bus.EmbeddedOptions{StoreDir: filepath.Join(dir, "nested", "nats")})
	_, js2 := connectJS(t, e2)
	st2 := newStore(t, js2, Options{})
	g, ok, err := st2.Get(ctx, "rule-a.00ff")
	if err != nil || !ok || !g.Alerted || g.LastAlert != 42 || g.Suppressed != 7 {
		t.Errorf("state after restart: %+v ok=%v err=%v", g, ok, err)
	}
}
