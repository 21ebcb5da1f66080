package deadlines_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/deadlines"
	"github.com/alerter/alerter/internal/natstest"
)

var (
	benchDeadlines = flag.Int("deadlines", 100_000, "BenchmarkDueDeadlines: how many deadlines")
	benchSpread    = flag.Duration("deadlines-spread", 30*time.Second, "BenchmarkDueDeadlines: the span their due times cover")
)

// BenchmarkDueDeadlines schedules -deadlines deadlines (100,000) due over
// -deadlines-spread (30s), handled by two replicas, one of which is killed
// (its connection closed, unacknowledged work and all) once half have
// fired. It reports how late each deadline's first call came after its
// due time (p50, p99, max), how many came more than 1s late, and how
// many deadlines were called more than once or never. Run it alone:
//
//	go test -run '^$' -bench DueDeadlines -benchtime 1x ./deadlines/
func BenchmarkDueDeadlines(b *testing.B) {
	for range b.N {
		dueDeadlines(b, *benchDeadlines, *benchSpread)
	}
}

func dueDeadlines(b *testing.B, n int, spread time.Duration) {
	env := natstest.Start(b)
	opt := deadlines.Options{Name: "bench", AckWait: 2 * time.Second, Log: slog.New(slog.DiscardHandler)}
	replica := func() (*deadlines.Store, func()) {
		nc, err := env.Server.Connect()
		if err != nil {
			b.Fatal(err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			b.Fatal(err)
		}
		s, err := deadlines.Open(b.Context(), js, opt)
		if err != nil {
			b.Fatal(err)
		}
		return s, nc.Close
	}
	a, closeA := replica()
	defer closeA()
	killed, kill := replica()

	// Schedule them all before the first is due.
	lead := 5*time.Second + time.Duration(n)*50*time.Microsecond
	t0 := time.Now().Add(lead)
	due := func(i int) time.Time { return t0.Add(time.Duration(i) * spread / time.Duration(n)) }
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if err := a.Schedule(b.Context(), fmt.Sprint("k", i), due(i), []byte(fmt.Sprint(i))); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 || time.Now().After(t0) {
		b.Fatalf("%d schedules failed; scheduling took past the first due time (%s)", failed.Load(), lead)
	}

	first := make([]time.Time, n)
	calls := make([]int, n)
	var mu sync.Mutex
	var fired atomic.Int64
	handler := func(_ context.Context, d deadlines.Deadline) error {
		var i int
		fmt.Sscan(string(d.Payload), &i)
		mu.Lock()
		if calls[i] == 0 {
			first[i] = time.Now()
			fired.Add(1)
		}
		calls[i]++
		mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	killCtx, killRun := context.WithCancel(ctx)
	var runs sync.WaitGroup
	runs.Go(func() { _ = a.Run(ctx, handler) })
	runs.Go(func() { _ = killed.Run(killCtx, handler) })
	b.ResetTimer()
	for fired.Load() < int64(n/2) {
		time.Sleep(5 * time.Millisecond)
	}
	kill()
	killRun()
	end := due(n - 1).Add(30 * time.Second)
	for fired.Load() < int64(n) && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // a second call of anything would come by now
	b.StopTimer()
	cancel()
	runs.Wait()

	mu.Lock()
	defer mu.Unlock()
	var late []time.Duration
	var over1s, dups, never, early int
	for i := range n {
		switch {
		case calls[i] == 0:
			never++
			continue
		case calls[i] > 1:
			dups++
		}
		d := first[i].Sub(due(i))
		if d < 0 {
			early++
		}
		if d > time.Second {
			over1s++
		}
		late = append(late, d)
	}
	slices.Sort(late)
	q := func(p float64) float64 {
		if len(late) == 0 {
			return 0
		}
		return float64(late[int(p*float64(len(late)-1))].Milliseconds())
	}
	b.ReportMetric(float64(n), "deadlines")
	b.ReportMetric(q(0.5), "p50-late-ms")
	b.ReportMetric(q(0.99), "p99-late-ms")
	b.ReportMetric(q(1), "max-late-ms")
	b.ReportMetric(float64(over1s), "over-1s")
	b.ReportMetric(float64(dups), "called-twice")
	b.ReportMetric(float64(never), "never")
	b.ReportMetric(float64(early), "early")
}
