package statestore

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

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
)

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

// A dedup update of an existing key: read, decide, CAS write.
func BenchmarkStateUpdate(b *testing.B) {
	benchStateUpdate(b, 1, Options{})
}

// The same from 8 goroutines on distinct keys, as concurrent event
// workers would.
func BenchmarkStateUpdateParallel8(b *testing.B) {
	benchStateUpdate(b, 8, Options{})
}

// benchStateUpdate reports updates per second and the round trips each
// took.
func benchStateUpdate(b *testing.B, workers int, opt Options) {
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
//	go test -run '^$' -bench StateMemory -benchtime 100000x ./statestore
func BenchmarkStateMemoryPerKey(b *testing.B) {
	dir := b.TempDir()
	e := startEmbedded(b, bus.EmbeddedOptions{StoreDir: dir})
	_, js := connectJS(b, e)
	s := newStore(b, js, Options{})
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
