package bus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
)

// benchEvent is a real 1.3 KB Confluence audit event.
func benchEvent(b *testing.B) []byte {
	data, err := os.ReadFile("../engine/testdata/bench-event.json")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func benchStreams(b *testing.B) *Streams {
	return benchStreamsWith(b, EmbeddedOptions{StoreDir: b.TempDir()})
}

func benchStreamsWith(b *testing.B, opt EmbeddedOptions) *Streams {
	_, js := connectJS(b, startEmbedded(b, opt))
	s, err := EnsureStreams(b.Context(), js, StreamOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchCtx has a generous deadline: benchmarks measure throughput, and on
// a busy machine a store's default 5s timeout could fail them.
func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

func perSecond(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit)
}

// One event per round trip: the single-event webhook path.
func BenchmarkPublishEventSync(b *testing.B) {
	benchPublishSync(b, benchStreams(b))
}

// The same with nats.sync: always, each write fsynced before it is
// acknowledged: what surviving a crash of the machine costs.
func BenchmarkPublishEventSyncAlways(b *testing.B) {
	benchPublishSync(b, benchStreamsWith(b, EmbeddedOptions{StoreDir: b.TempDir(), SyncAlways: true}))
}

func benchPublishSync(b *testing.B, s *Streams) {
	data := benchEvent(b)
	ctx := benchCtx(b)
	i := 0
	for b.Loop() {
		i++
		if _, err := s.PublishEvent(ctx, "bench", "ev-"+strconv.Itoa(i), data); err != nil {
			b.Fatal(err)
		}
	}
	perSecond(b, i, "events/s")
}

// Batches of 100 events, one after the other (b.N counts events).
func BenchmarkPublishEventsBatch100(b *testing.B) {
	benchBatches(b, benchStreams(b), 1)
}

// Batches of 100 from 4 concurrent publishers, as concurrent NDJSON
// webhook requests would send them.
func BenchmarkPublishEventsBatch100Parallel4(b *testing.B) {
	benchBatches(b, benchStreams(b), 4)
}

// The same with nats.sync: always.
func BenchmarkPublishEventsBatch100Parallel4SyncAlways(b *testing.B) {
	benchBatches(b, benchStreamsWith(b, EmbeddedOptions{StoreDir: b.TempDir(), SyncAlways: true}), 4)
}

func benchBatches(b *testing.B, s *Streams, publishers int) {
	data := benchEvent(b)
	ctx := benchCtx(b)
	const size = 100
	batches := (b.N + size - 1) / size
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			msgs := make([]Msg, size)
			for {
				n := next.Add(1) - 1
				if n >= int64(batches) {
					return
				}
				for i := range msgs {
					msgs[i] = Msg{ID: fmt.Sprintf("ev-%d-%d-%d", p, n, i), Data: data}
				}
				res, err := s.PublishEvents(ctx, "bench", msgs)
				if err != nil {
					b.Error(err)
					return
				}
				for _, r := range res {
					if r.Err != nil || r.Dup {
						b.Errorf("%+v", r)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	perSecond(b, batches*size, "events/s")
}

// A dedup update of an existing key: read, decide, CAS write.
func BenchmarkStateUpdate(b *testing.B) {
	benchStateUpdate(b, 1, StateOptions{})
}

// The same from 8 goroutines on distinct keys, as concurrent event
// workers would.
func BenchmarkStateUpdateParallel8(b *testing.B) {
	benchStateUpdate(b, 8, StateOptions{})
}

// benchStateUpdate reports updates per second and the round trips each
// took.
func benchStateUpdate(b *testing.B, workers int, opt StateOptions) {
	_, js := newEnv(b)
	s := newStore(b, js, opt)
	ctx := benchCtx(b)
	const keys = 1000
	fn := func(g *engine.GroupState) error {
		g.Alerted, g.LastAlert, g.Expires = true, time.Now().UnixNano(), time.Now().Add(30*time.Minute).UnixNano()
		g.Suppressed++
		return nil
	}
	for k := range keys {
		if err := s.Update(ctx, benchKey(k), 30*time.Minute, fn); err != nil {
			b.Fatal(err)
		}
	}
	before := s.Stats()
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				n := next.Add(1) - 1
				if n >= int64(b.N) {
					return
				}
				if err := s.Update(ctx, benchKey(int(n)%keys), 30*time.Minute, fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	perSecond(b, b.N, "updates/s")
	st := statsSince(s, before)
	b.ReportMetric(float64(st.Reads+st.Writes)/float64(st.Updates), "rt/update")
}

// benchKey looks like an engine key: a rule id and a 16-hex group hash.
func benchKey(i int) string {
	return fmt.Sprintf("rule-%d.%016x", i%50, uint64(i)*0x9e3779b97f4a7c15)
}

// BenchmarkStateMemoryPerKey creates b.N keys, each holding a typical dedup
// state with a 30m TTL, and reports what one key costs: in the state
// stream (stream-B/key: the server's own count of stored bytes), on disk
// (disk-B/key), in the Go heap (heap-B/key; server and client both run in
// this process) and in RSS (rss-B/key). With b.N ≥ 10,000 it measures
// again once the server's block caches have expired (the idle-* metrics),
// which is the steady state of keys that wait out their dedup window.
// BUS_MEM_PROFILE=file writes a heap profile at the end.
//
//	go test -run '^$' -bench StateMemory -benchtime 100000x ./bus
func BenchmarkStateMemoryPerKey(b *testing.B) {
	dir := b.TempDir()
	e := startEmbedded(b, EmbeddedOptions{StoreDir: dir})
	_, js := connectJS(b, e)
	s := newStore(b, js, StateOptions{})
	ctx := benchCtx(b)
	now := time.Now().UnixNano()
	fn := func(g *engine.GroupState) error {
		g.Alerted, g.LastAlert, g.Expires, g.Suppressed = true, now, now+int64(30*time.Minute), 2
		return nil
	}
	heap0, rss0 := memNow()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				n := next.Add(1) - 1
				if n >= int64(b.N) {
					return
				}
				if err := s.Update(ctx, benchKey(int(n)), 30*time.Minute, fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	perSecond(b, b.N, "creates/s")

	report := func(prefix string) {
		heap, rss := memNow()
		info, err := s.stream.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n := float64(b.N)
		b.ReportMetric(float64(info.State.Bytes)/n, "stream-B/key")
		b.ReportMetric(float64(dirSize(b, dir))/n, "disk-B/key")
		b.ReportMetric(float64(heap-heap0)/n, prefix+"heap-B/key")
		b.ReportMetric(float64(rss-rss0)/n, prefix+"rss-B/key")
		b.Logf("%d keys (%d msgs): stream %d B, %sheap +%d B, %srss +%d B",
			b.N, info.State.Msgs, info.State.Bytes, prefix, heap-heap0, prefix, rss-rss0)
	}
	report("")
	if b.N >= 10_000 {
		// The file store drops a block's cache after 10s idle and its
		// per-block subject index after 2m; BUS_MEM_SETTLE=130s waits for
		// both.
		settle := 12 * time.Second
		if d, err := time.ParseDuration(os.Getenv("BUS_MEM_SETTLE")); err == nil {
			settle = d
		}
		time.Sleep(settle)
		report("idle-")
	}
	if f := os.Getenv("BUS_MEM_PROFILE"); f != "" {
		w, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		if err := pprof.WriteHeapProfile(w); err != nil {
			b.Fatal(err)
		}
	}
}

// memNow returns the live heap and RSS after a full GC.
func memNow() (heap, rss int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range strings.Lines(string(status)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				rss = kb * 1024
			}
		}
	}
	return int64(ms.HeapAlloc), rss
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// What storing writes for one event: its normalized JSON, raw included.
func BenchmarkEncodeEvent(b *testing.B) {
	evs, err := event.Parse(benchEvent(b), event.Options{Source: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeEvent(&evs[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// The deliveries record per delivered alert: the write every delivery
// makes (Put), and the read every delivery now makes before sending (Get
// of an alert not settled yet), which was skipped for alerts stored since
// the embedded server started. Their ratio is what that read adds.
func BenchmarkDeliveriesPut(b *testing.B) {
	d := benchDeliveries(b)
	ctx := benchCtx(b)
	o := alerter.Outcome{Status: alerter.Sent, Attempts: 1, At: time.Now()}
	i := 0
	for b.Loop() {
		if err := d.Put(ctx, "console", fmt.Sprintf("01HXV8VQSY8NHHNRHYCW%06d", i), o); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkDeliveriesGetUnsettled(b *testing.B) {
	d := benchDeliveries(b)
	ctx := benchCtx(b)
	i := 0
	for b.Loop() {
		if _, ok, err := d.Get(ctx, "console", fmt.Sprintf("01HXV8VQSY8NHHNRHYCW%06d", i)); err != nil || ok {
			b.Fatal(ok, err)
		}
		i++
	}
}

func benchDeliveries(b *testing.B) *Deliveries {
	_, js := connectJS(b, startEmbedded(b, EmbeddedOptions{StoreDir: b.TempDir()}))
	d, err := NewDeliveries(b.Context(), js, 1, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return d
}
