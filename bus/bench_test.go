package bus

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alerter/alerter"
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
