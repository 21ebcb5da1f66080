package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/event"
)

type runner struct {
	s        Settings
	h        *harness
	rep      *Report
	fixtures []map[string]any
	out      io.Writer
	// actorBase keeps the actors of scenarios that want fresh groups apart.
	actorBase   uint64
	heapSamples int
	log         *slog.Logger
	classes     *classified
}

func (r *runner) logf(format string, args ...any) { fmt.Fprintf(r.out, format+"\n", args...) }

// freshActors reserves a range of actor numbers no other scenario uses.
func (r *runner) freshActors() uint64 {
	r.actorBase += 1 << 32
	return r.actorBase
}

// ---------------------------------------------------------------- post

// driveResult is what drive measured.
type driveResult struct {
	rate      float64 // events/s answered 202
	requests  int64
	events    int64
	errors    int64
	firstErr  string
	latencies []time.Duration // per request, sampled
	use       usage           // over the measured part
}

// drive runs conns workers POSTing what body makes (and how many events
// that is) to url, each waiting for gate first if it is not nil, for a
// warm-up and then for d, and returns what it measured over d.
func drive(ctx context.Context, client *http.Client, url string, conns int, d time.Duration,
	body func(dst []byte) ([]byte, int), gate func()) driveResult {
	warm := min(d/10, 500*time.Millisecond)
	var counting atomic.Bool
	var reqs, evs, errs atomic.Int64
	var firstErr atomic.Pointer[string]
	lat := make([][]time.Duration, conns)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			var buf []byte
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if gate != nil {
					gate()
				}
				var k int
				buf, k = body(buf[:0])
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(buf))
				if err != nil {
					panic(err)
				}
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				err = accepted(client, req)
				if !counting.Load() {
					continue
				}
				if err != nil {
					errs.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
					if ctx.Err() != nil {
						return
					}
					continue
				}
				reqs.Add(1)
				evs.Add(int64(k))
				if n%16 == 0 {
					lat[w] = append(lat[w], time.Since(t0))
				}
			}
		})
	}
	time.Sleep(warm)
	counting.Store(true)
	m := startMeter()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	counting.Store(false)
	use := m.stop()
	el := use.Wall
	res := driveResult{requests: reqs.Load(), events: evs.Load(), errors: errs.Load(), use: use}
	close(stop)
	wg.Wait()
	res.rate = float64(res.events) / el.Seconds()
	if p := firstErr.Load(); p != nil {
		res.firstErr = *p
	}
	for _, l := range lat {
		res.latencies = append(res.latencies, l...)
	}
	slices.Sort(res.latencies)
	return res
}

// floorServer answers every POST like the webhook does, without doing
// anything with the body but reading it and, if store is not nil, passing
// it to store before answering.
func floorServer(store func(ctx context.Context, body []byte) error) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	answer := []byte(`{"accepted":1,"duplicates":0}` + "\n")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil && store != nil {
			err = store(r.Context(), body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(answer)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/webhooks/load", func() { _ = srv.Close() }, nil
}

func (r *runner) post(ctx context.Context) error {
	floorGen, err := r.batchGenerator(r.s.Mixes[0])
	if err != nil {
		return err
	}
	floorURL, stopFloor, err := floorServer(nil)
	if err != nil {
		return err
	}
	client := newClient(r.s.Conns)
	defer client.CloseIdleConnections()
	r.logf("floor: bare net/http, %d connections, %s", r.s.Conns, r.s.FloorDuration)
	floor := drive(ctx, client, floorURL, r.s.Conns, r.s.FloorDuration, oneEvent(floorGen), nil)
	stopFloor()
	r.logf("  %.0f req/s", floor.rate)
	// The least "stored before 202" costs: the body published to a
	// JetStream stream, the answer after its ack, nothing else.
	stored, err := r.postStoreFloor(ctx, client, floorGen)
	if err != nil {
		return fmt.Errorf("store floor: %w", err)
	}
	r.logf("  net/http + JetStream publish: %.0f req/s", stored.rate)
	r.rep.add(Row{Scenario: "post", Metric: "floor: net/http POSTs, each published to JetStream before 202, nothing else", Result: stored.rate, Unit: "ev/s",
		Floor: floor.rate, FloorName: "bare net/http", Target: "≥ 50% of floor", Pass: pass(stored.rate >= 0.5*floor.rate && stored.errors == 0)})
	r.rep.detail("post", "store_floor_cpu_us_per_request", round2(stored.use.perEvent(float64(stored.events))))
	r.rep.detail("post", "conns", r.s.Conns)
	r.rep.detail("post", "floor_p99_ms", round2(ms(percentile(floor.latencies, 0.99))))
	r.rep.detail("post", "floor_cpu_us_per_request", round2(floor.use.perEvent(float64(floor.events))))
	// Each stream of -match: what evaluating the events costs meanwhile
	// takes from the same cores.
	for _, m := range r.s.Mixes {
		gen, err := r.batchGenerator(m)
		if err != nil {
			return err
		}
		if err := r.postMix(ctx, client, m, gen, floor); err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	return nil
}

func (r *runner) postStoreFloor(ctx context.Context, client *http.Client, gen *generator) (driveResult, error) {
	js := r.h.js
	const name = "LOADGEN_POST_FLOOR"
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"loadgen.post.>"}, Storage: jetstream.FileStorage}); err != nil {
		return driveResult{}, err
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), name) }()
	url, stop, err := floorServer(func(ctx context.Context, body []byte) error {
		_, err := js.Publish(ctx, "loadgen.post.x", body)
		return err
	})
	if err != nil {
		return driveResult{}, err
	}
	defer stop()
	return drive(ctx, client, url, r.s.Conns, r.s.FloorDuration, oneEvent(gen), nil), nil
}

// oneEvent makes single-event bodies from gen.
func oneEvent(gen *generator) func(dst []byte) ([]byte, int) {
	return func(dst []byte) ([]byte, int) {
		dst, _ = gen.next(dst)
		return dst, 1
	}
}

func (r *runner) postMix(ctx context.Context, client *http.Client, m mix, gen *generator, floor driveResult) error {
	key := func(k string) string { return mixKey(m, k) }
	a0 := r.h.acked.Load()
	r.logf("%s: alerter webhook, %d connections, %s", m, r.s.Conns, r.s.Duration)
	res := drive(ctx, client, r.h.url, r.s.Conns, r.s.Duration, oneEvent(gen), nil)
	r.logf("  %.0f req/s, %d errors %s", res.rate, res.errors, res.firstErr)
	drained, derr := r.h.drain(ctx, time.Minute)
	ok := res.rate >= 0.5*floor.rate && res.errors == 0
	r.rep.add(Row{Scenario: "post", Metric: "single-event POSTs stored before 202" + m.label(), Result: res.rate, Unit: "ev/s",
		Floor: floor.rate, FloorName: "bare net/http", Target: "≥ 50% of floor", Pass: pass(ok)})
	r.rep.detail("post", key("errors"), res.errors)
	if res.firstErr != "" {
		r.rep.detail("post", key("first_error"), res.firstErr)
	}
	r.rep.detail("post", key("post_p50_ms"), round2(ms(percentile(res.latencies, 0.5))))
	r.rep.detail("post", key("post_p99_ms"), round2(ms(percentile(res.latencies, 0.99))))
	r.rep.detail("post", key("evaluated_after_s"), round2(drained.Seconds()))
	r.rep.detail("post", key("cpu_us_per_event"), round2(res.use.perEvent(float64(res.events))))
	r.rep.detail("post", key("other_processes_cores"), round2(res.use.cores(res.use.Others)))
	r.rep.detail("post", key("events_evaluated"), r.h.acked.Load()-a0)
	return derr
}

// ---------------------------------------------------------------- batch

func (r *runner) batch(ctx context.Context) error {
	ts, err := templates(r.fixtures, nil)
	if err != nil {
		return err
	}
	var sample []byte
	sample, _ = newGenerator(ts, uint64(r.s.Actors), 0).next(sample)
	evs, err := event.Parse(sample, event.Options{Source: webhookSource})
	if err != nil || len(evs) != 1 {
		return fmt.Errorf("parsing a generated event: %v", err)
	}
	stored, err := json.Marshal(evs[0])
	if err != nil {
		return err
	}
	pubRate, consRate, err := r.jsFloors(ctx, stored)
	if err != nil {
		return fmt.Errorf("floors: %w", err)
	}
	pipeRate, err := r.jsPipelineFloor(ctx, stored)
	if err != nil {
		return fmt.Errorf("pipeline floor: %w", err)
	}
	floor := min(pubRate, consRate)
	r.logf("floors: JetStream async publish %.0f msg/s, pull consume+ack %.0f msg/s, both at once %.0f msg/s (%d-byte messages)", pubRate, consRate, pipeRate, len(stored))
	r.rep.add(Row{Scenario: "batch", Metric: "floor: JetStream publish, consume and ack at once, nothing else", Result: pipeRate, Unit: "msg/s",
		Floor: floor, FloorName: "min(JS publish, JS consume)", Target: "≥ 100,000 ev/s", Pass: pass(pipeRate >= 100_000)})
	r.rep.detail("batch", "floor_js_pipeline_msgs", round0(pipeRate))
	r.rep.detail("batch", "floor_js_publish_msgs", round0(pubRate))
	r.rep.detail("batch", "floor_js_consume_msgs", round0(consRate))
	r.rep.detail("batch", "stored_event_bytes", len(stored))
	for _, m := range r.s.Mixes {
		gen, err := r.batchGenerator(m)
		if err != nil {
			return err
		}
		if err := r.batchMix(ctx, m, gen, floor); err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	return nil
}

// mixKey prefixes the detail keys of a mix other than the security stream.
func mixKey(m mix, key string) string {
	if m.Frac < 0 {
		return key
	}
	return "match" + strconv.FormatFloat(100*m.Frac, 'f', -1, 64) + "pct_" + key
}

// batchMix measures the webhook, then the NATS publishers, sending the
// events of gen.
func (r *runner) batchMix(ctx context.Context, m mix, gen *generator, floor float64) error {
	if err := r.batchWebhook(ctx, m, gen, floor); err != nil {
		return err
	}
	return r.batchNATS(ctx, m, gen, floor)
}

// batchWebhook measures NDJSON batches POSTed to the webhook.
func (r *runner) batchWebhook(ctx context.Context, m mix, gen *generator, floor float64) error {
	key := func(k string) string { return mixKey(m, k) }
	client := newClient(r.s.BatchConns)
	defer client.CloseIdleConnections()
	var sent atomic.Int64
	a0 := r.h.acked.Load()
	gate := r.backlogGate(&sent, a0)
	body := func(dst []byte) ([]byte, int) {
		sent.Add(int64(r.s.Batch))
		return gen.batch(dst, r.s.Batch), r.s.Batch
	}
	al0, err := r.alertCount(ctx)
	if err != nil {
		return err
	}
	r.logf("%s: webhook NDJSON batches of %d, %d connections, %s", m, r.s.Batch, r.s.BatchConns, r.s.Duration)
	var res driveResult
	evalRate, webUse, err := r.measureEvaluated(ctx, func(d time.Duration) { res = drive(ctx, client, r.h.url, r.s.BatchConns, d, body, gate) })
	if err != nil {
		return err
	}
	drainedWebhook, err := r.h.drain(ctx, 2*time.Minute)
	if err != nil {
		return err
	}
	evaluated := float64(r.h.acked.Load() - a0)
	al1, err := r.alertCount(ctx)
	if err != nil {
		return err
	}
	r.logf("  accepted %.0f ev/s, evaluated %.0f ev/s, drained in %s", res.rate, evalRate, drainedWebhook.Round(time.Millisecond))
	r.rep.add(Row{Scenario: "batch", Metric: fmt.Sprintf("webhook NDJSON×%d: stored, evaluated, acked%s", r.s.Batch, m.label()), Result: evalRate, Unit: "ev/s",
		Floor: floor, FloorName: "min(JS publish, JS consume)", Target: "≥ 100,000 ev/s", Pass: pass(evalRate >= 100_000)})
	r.rep.detail("batch", key("webhook_accepted_evs"), round0(res.rate))
	r.rep.detail("batch", key("webhook_cpu_us_per_event"), round2(webUse.perEvent(webUse.events)))
	r.rep.detail("batch", key("webhook_other_processes_cores"), round2(webUse.cores(webUse.Others)))
	r.rep.detail("batch", key("webhook_errors"), res.errors)
	if evaluated > 0 {
		r.rep.detail("batch", key("alerts_per_event"), round3(float64(al1-al0)/evaluated))
	}
	if res.firstErr != "" {
		r.rep.detail("batch", key("webhook_first_error"), res.firstErr)
	}
	r.rep.detail("batch", key("drain_after_webhook_s"), round2(drainedWebhook.Seconds()))
	return nil
}

// batchNATS measures NATS publishers into the LOAD stream, which the
// source reads.
func (r *runner) batchNATS(ctx context.Context, m mix, gen *generator, floor float64) error {
	key := func(k string) string { return mixKey(m, k) }
	var sent, pubErrs atomic.Int64
	gate := r.backlogGate(&sent, r.h.acked.Load())
	r.logf("%s: NATS: %d publishers, %d event(s) per message, %s", m, r.s.Publishers, r.s.NATSBatch, r.s.Duration)
	natsRate, natsUse, err := r.measureEvaluated(ctx, func(d time.Duration) { r.publish(gen, d, gate, &sent, &pubErrs) })
	if err != nil {
		return err
	}
	drainedNATS, err := r.h.drain(ctx, 2*time.Minute)
	if err != nil {
		return err
	}
	r.logf("  evaluated %.0f ev/s, drained in %s", natsRate, drainedNATS.Round(time.Millisecond))
	r.rep.add(Row{Scenario: "batch", Metric: "NATS publishers: stored, evaluated, acked" + m.label(), Result: natsRate, Unit: "ev/s",
		Floor: floor, FloorName: "min(JS publish, JS consume)", Target: "≥ 100,000 ev/s", Pass: pass(natsRate >= 100_000)})
	r.rep.detail("batch", key("nats_publish_retries"), pubErrs.Load())
	r.rep.detail("batch", key("nats_cpu_us_per_event"), round2(natsUse.perEvent(natsUse.events)))
	r.rep.detail("batch", key("nats_other_processes_cores"), round2(natsUse.cores(natsUse.Others)))
	r.rep.detail("batch", key("drain_after_nats_s"), round2(drainedNATS.Seconds()))
	return nil
}

// publish runs the NATS publishers for d, flat out but for gate, counting
// the events sent and the publishes retried, then waits for the
// publishes still unacknowledged.
func (r *runner) publish(gen *generator, d time.Duration, gate func(), sent, retries *atomic.Int64) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := range r.s.Publishers {
		subj := "load.dc" + strconv.Itoa(p)
		wg.Go(func() {
			var buf []byte
			for {
				select {
				case <-stop:
					return
				default:
				}
				gate()
				if r.s.NATSBatch == 1 {
					buf, _ = gen.next(buf[:0])
				} else {
					buf = gen.batch(buf[:0], r.s.NATSBatch)
				}
				// PublishAsync keeps the data until acknowledged.
				data := bytes.Clone(buf)
				for {
					if _, err := r.h.js.PublishAsync(subj, data); err == nil {
						break
					}
					retries.Add(1)
					select {
					case <-r.h.js.PublishAsyncComplete():
					case <-time.After(10 * time.Millisecond):
					}
				}
				sent.Add(int64(r.s.NATSBatch))
			}
		})
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
	select {
	case <-r.h.js.PublishAsyncComplete():
	case <-time.After(time.Minute):
	}
}

// alertCount is how many alerts the ALERTS stream holds.
func (r *runner) alertCount(ctx context.Context) (uint64, error) {
	info, err := r.h.alerts.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// backlogGate holds senders while more than MaxBacklog of the events they
// sent are not yet evaluated, so that a sustained rate is measured rather
// than a queue filling up.
func (r *runner) backlogGate(sent *atomic.Int64, a0 uint64) func() {
	return func() {
		for {
			done := int64(r.h.acked.Load() - a0)
			if sent.Load()-done <= int64(r.s.MaxBacklog) {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// measureEvaluated runs load for a warm-up and the measured duration and
// returns the evaluator's acknowledged events per second in the measured
// part.
func (r *runner) measureEvaluated(ctx context.Context, load func(time.Duration)) (float64, usage, error) {
	warm := min(r.s.Duration/5, time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		load(warm + r.s.Duration)
	}()
	defer func() { <-done }()
	time.Sleep(warm)
	a1, err := r.h.ackedNow(ctx)
	if err != nil {
		return 0, usage{}, err
	}
	m := startMeter()
	time.Sleep(r.s.Duration)
	a2, err := r.h.ackedNow(ctx)
	if err != nil {
		return 0, usage{}, err
	}
	use := m.stop()
	use.events = float64(a2 - a1)
	return use.events / use.Wall.Seconds(), use, nil
}

// jsFloors measures JetStream alone on the embedded server: async publish
// of msg-sized messages into a file stream, then a durable pull consumer
// taking and acknowledging them.
// jsPipelineFloor is the least an event stored, evaluated and acked costs
// in JetStream alone: publishers (async, flat out) and a pull consumer
// acking each message, at once on the same server, the publishers pausing
// while maxBacklog messages wait, as batch's senders do. It returns the
// messages acked per second.
func (r *runner) jsPipelineFloor(ctx context.Context, msg []byte) (float64, error) {
	js := r.h.js
	const name = "LOADGEN_PIPELINE_FLOOR"
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"loadgen.pipeline.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		return 0, err
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), name) }()
	c, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "floor", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10_000})
	if err != nil {
		return 0, err
	}
	it, err := c.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return 0, err
	}
	var acked, sent atomic.Int64
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				return
			}
			_ = m.Ack()
			acked.Add(1)
		}
	}()
	defer it.Stop()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pubErr atomic.Pointer[error]
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			// The backlog bound counts consumer acks; publish acks have a
			// bound of their own (the client's 4,096), past which
			// PublishAsync stalls and fails on a loaded machine.
			if sent.Load()-acked.Load() > int64(r.s.MaxBacklog) || js.PublishAsyncPending() >= 4000 {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			if _, err := js.PublishAsync("loadgen.pipeline.x", msg); err != nil {
				pubErr.CompareAndSwap(nil, &err)
				return
			}
			sent.Add(1)
		}
	})
	warm := min(r.s.FloorDuration/4, 500*time.Millisecond)
	time.Sleep(warm)
	a0, t0 := acked.Load(), time.Now()
	time.Sleep(r.s.FloorDuration)
	rate := float64(acked.Load()-a0) / time.Since(t0).Seconds()
	close(stop)
	wg.Wait()
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
	}
	if p := pubErr.Load(); p != nil {
		return 0, *p
	}
	return rate, nil
}

func (r *runner) jsFloors(ctx context.Context, msg []byte) (pub, cons float64, err error) {
	js := r.h.js
	const name = "LOADGEN_FLOOR"
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"loadgen.floor.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), name) }()
	// Flat out, with up to 4,000 acks outstanding (the client's limit is
	// 4,096): past that, wait for the oldest.
	var pending []jetstream.PubAckFuture
	start := time.Now()
	n := 0
	for time.Since(start) < r.s.FloorDuration {
		for range 256 {
			if len(pending) >= 4000 {
				select {
				case <-pending[0].Ok():
				case err := <-pending[0].Err():
					return 0, 0, err
				case <-time.After(time.Minute):
					return 0, 0, errors.New("floor publish not acknowledged")
				}
				pending = pending[1:]
			}
			f, err := js.PublishAsync("loadgen.floor.x", msg)
			if err != nil {
				return 0, 0, err
			}
			pending = append(pending, f)
			n++
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return 0, 0, errors.New("floor publishes not acknowledged")
	}
	pub = float64(n) / time.Since(start).Seconds()

	c, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "floor", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10_000})
	if err != nil {
		return 0, 0, err
	}
	it, err := c.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return 0, 0, err
	}
	start = time.Now()
	got := 0
	for got < n && time.Since(start) < r.s.FloorDuration+time.Minute {
		m, err := it.Next()
		if err != nil {
			break
		}
		_ = m.Ack()
		got++
	}
	cons = float64(got) / time.Since(start).Seconds()
	it.Stop()
	return pub, cons, nil
}

// ---------------------------------------------------------------- latency

func (r *runner) latency(ctx context.Context) error {
	// Soteri "Global setting changed" by a new non-admin each time:
	// soteri-global-setting-changed-by-non-admin (dedup by actor) fires,
	// with a state update, and nothing else matches (see quietSetting).
	ts, err := templates(r.fixtures, quietSetting, "Global setting changed")
	if err != nil {
		return err
	}
	n := max(int(float64(r.s.Rate)*r.s.Duration.Seconds()), 1)
	size := len(ts[0].appendEvent(nil, time.Now(), 1))
	floor, err := r.jsLatencyFloor(ctx, n, size)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	r.logf("floor: JetStream publish → core subscriber, %d msgs at %d/s: p99 %.2f ms", n, r.s.Rate, ms(percentile(floor, 0.99)))
	for _, m := range r.s.Mixes {
		// The security stream is every event alerting; a mix is a fraction
		// of such events among ordinary ones, at the same event rate.
		gen := newGenerator(ts[:1], 0, r.freshActors())
		if m.Frac >= 0 {
			c, err := r.classified()
			if err != nil {
				return err
			}
			gen.mixed(c.ordinary, m.Frac)
		}
		if err := r.latencyMix(ctx, m, gen, n, floor); err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
	}
	return nil
}

// latencyMix sends n events of gen at the latency rate and measures, for
// each of its alerting ones, receipt (just before the POST) to the alert
// stored.
func (r *runner) latencyMix(ctx context.Context, m mix, gen *generator, n int, floor []time.Duration) error {
	bodies := make([][]byte, n)
	// index maps the id of each alerting event to its place in bodies.
	index := make(map[string]int, n)
	isAlerting := make([]bool, n)
	for i := range bodies {
		var seq uint64
		bodies[i], seq = gen.next(nil)
		if !gen.matching(seq) {
			continue
		}
		isAlerting[i] = true
		id, err := eventID(bodies[i])
		if err != nil {
			return err
		}
		index[id] = i
	}
	res := latencyResult{n: n, alerting: len(index)}
	fired, stopWatch, err := watchAlerts(r.h.svc.NATSURL(), index, n)
	if err != nil {
		return err
	}
	defer stopWatch()
	client := newClient(r.s.LatencyConns)
	defer client.CloseIdleConnections()
	var alertingErrs atomic.Int64
	r.logf("%s: %d events, %d alerting, at %d/s over %d connections", m, n, res.alerting, r.s.Rate, r.s.LatencyConns)
	meter := startMeter()
	res.posts = postPaced(ctx, client, r.h.url, bodies, r.s.Rate, r.s.LatencyConns, func(i int) {
		if isAlerting[i] {
			alertingErrs.Add(1)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for fired.got.Load() < int64(res.alerting)-alertingErrs.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	res.use = meter.stop()
	for _, i := range index {
		s, t := res.posts.sent[i].Load(), fired.recv[i].Load()
		if s != 0 && t != 0 {
			res.lat = append(res.lat, time.Duration(t-s))
		}
	}
	res.otherAlerts = fired.extra.Load()
	return r.reportLatency(m, res, floor)
}

// latencyResult is what latencyMix measured.
type latencyResult struct {
	n, alerting int
	lat         []time.Duration // receipt → alert stored, of the alerting events
	posts       *postLog
	otherAlerts int64 // event ids in alerts that are not of the run
	use         usage
}

// reportLatency adds the rows and details of one stream of latency; it
// fails the stream when alerts were not seen.
func (r *runner) reportLatency(m mix, res latencyResult, floor []time.Duration) error {
	key := func(k string) string { return mixKey(m, k) }
	slices.Sort(res.lat)
	slices.Sort(res.posts.took)
	missing := res.alerting - len(res.lat)
	p := func(q float64) float64 { return qms(res.lat, q) }
	r.logf("  p50 %.2f p90 %.2f p99 %.2f max %.2f ms; %d missing", p(0.5), p(0.9), p(0.99), p(1), missing)
	target := fmt.Sprintf("p99 ≤ 5 ms at %s/s", group(float64(r.s.Rate)))
	metric := "receipt → alert stored, "
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"max", 1}} {
		row := Row{Scenario: "latency", Metric: metric + q.name + m.label(), Result: p(q.q), Unit: "ms", Floor: qms(floor, q.q), FloorName: "JS publish→sub"}
		if q.name == "p99" {
			row.Target, row.Pass = target, pass(p(0.99) <= 5 && missing == 0)
		}
		r.rep.add(row)
	}
	r.rep.detail("latency", key("events"), res.n)
	r.rep.detail("latency", key("alerting_events"), res.alerting)
	r.rep.detail("latency", key("alerts_missing"), missing)
	r.rep.detail("latency", key("alerts_of_other_events"), res.otherAlerts)
	r.rep.detail("latency", key("post_errors"), res.posts.errs.Load())
	if e := res.posts.firstErr.Load(); e != nil {
		r.rep.detail("latency", key("first_error"), *e)
	}
	r.rep.detail("latency", key("post_202_p50_ms"), qms(res.posts.took, 0.5))
	r.rep.detail("latency", key("post_202_p99_ms"), qms(res.posts.took, 0.99))
	r.rep.detail("latency", key("sender_max_behind_ms"), round2(ms(res.posts.behind)))
	r.rep.detail("latency", key("cpu_us_per_event"), round2(res.use.perEvent(float64(res.n))))
	r.rep.detail("latency", key("other_processes_cores"), round2(res.use.cores(res.use.Others)))
	if missing > 0 {
		return fmt.Errorf("%d of %d alerts not seen", missing, res.alerting)
	}
	return nil
}

// postLog is what postPaced saw of each POST.
type postLog struct {
	sent     []atomic.Int64  // unix nanos each body was POSTed at
	took     []time.Duration // until each answer
	errs     atomic.Int64    // POSTs that failed or were not accepted
	firstErr atomic.Pointer[string]
	behind   time.Duration // how far behind schedule a POST started at most
}

// postPaced POSTs bodies to url at rate per second from conns goroutines
// sharing client; an event is accepted with 202, and failed is called
// with the index of each one that was not.
func postPaced(ctx context.Context, client *http.Client, url string, bodies [][]byte, rate, conns int, failed func(i int)) *postLog {
	l := &postLog{sent: make([]atomic.Int64, len(bodies)), took: make([]time.Duration, len(bodies))}
	l.behind = paced(ctx, len(bodies), rate, conns, func(i int) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bodies[i]))
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		l.sent[i].Store(t0.UnixNano())
		err := accepted(client, req)
		l.took[i] = time.Since(t0)
		if err != nil {
			l.errs.Add(1)
			if failed != nil {
				failed(i)
			}
			msg := err.Error()
			l.firstErr.CompareAndSwap(nil, &msg)
		}
	})
	return l
}

// accepted sends req with client and reads the answer to the end, so
// that the connection is reused; an answer other than 202 is an error.
func accepted(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// eventID is the id alerter gives the event in body, as the webhook
// source receives it.
func eventID(body []byte) (string, error) {
	evs, err := event.Parse(body, event.Options{Source: webhookSource})
	if err != nil || len(evs) != 1 {
		return "", fmt.Errorf("parsing a generated event: %v", err)
	}
	return evs[0].ID, nil
}

// paced calls send(i) for i in [0, n) at rate per second from conns
// goroutines, and returns how far behind schedule a call started at most.
func paced(ctx context.Context, n, rate, conns int, send func(int)) time.Duration {
	work := make(chan int, n)
	var behind atomic.Int64
	var wg sync.WaitGroup
	start := time.Now().Add(20 * time.Millisecond)
	due := func(i int) time.Time { return start.Add(time.Duration(int64(i) * int64(time.Second) / int64(rate))) }
	for range conns {
		wg.Go(func() {
			for i := range work {
				if late := time.Since(due(i)); late > time.Duration(behind.Load()) {
					behind.Store(int64(late))
				}
				send(i)
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; {
		now := time.Now()
		for ; i < n && !due(i).After(now); i++ {
			work <- i
		}
		if i < n {
			time.Sleep(time.Until(due(i)))
		}
	}
	close(work)
	wg.Wait()
	return time.Duration(behind.Load())
}

// jsLatencyFloor publishes n messages of size bytes into a stream at the
// latency rate and measures when a core subscriber on another connection
// sees each.
func (r *runner) jsLatencyFloor(ctx context.Context, n, size int) ([]time.Duration, error) {
	js := r.h.js
	const name = "LOADGEN_LATENCY"
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"loadgen.lat.>"}, Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), name) }()
	nc, err := nats.Connect(r.h.svc.NATSURL(), nats.Token(natsToken))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	sent := make([]atomic.Int64, n)
	recv := make([]atomic.Int64, n)
	var got atomic.Int64
	sub, err := nc.Subscribe("loadgen.lat.>", func(m *nats.Msg) {
		now := time.Now().UnixNano()
		if len(m.Data) < 8 {
			return
		}
		i := int(uint64(m.Data[0]) | uint64(m.Data[1])<<8 | uint64(m.Data[2])<<16 | uint64(m.Data[3])<<24)
		if i < n && recv[i].CompareAndSwap(0, now) {
			got.Add(1)
		}
	})
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		return nil, err
	}
	paced(ctx, n, r.s.Rate, r.s.LatencyConns, func(i int) {
		data := make([]byte, max(size, 8))
		data[0], data[1], data[2], data[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		sent[i].Store(time.Now().UnixNano())
		_, _ = js.Publish(ctx, "loadgen.lat.x", data)
	})
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var lat []time.Duration
	for i := range n {
		if s, t := sent[i].Load(), recv[i].Load(); s != 0 && t != 0 {
			lat = append(lat, time.Duration(t-s))
		}
	}
	slices.Sort(lat)
	return lat, nil
}

// ---------------------------------------------------------------- memory

type memSample struct {
	rss  uint64
	heap uint64
}

func (r *runner) sampleMemory(ctx context.Context) (memSample, error) {
	if _, err := r.h.drain(ctx, 5*time.Minute); err != nil {
		return memSample{}, err
	}
	if err := r.h.deliveredAll(ctx, 5*time.Minute); err != nil {
		return memSample{}, err
	}
	time.Sleep(r.s.Settle)
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if r.s.HeapProfile != "" {
		r.heapSamples++
		writeProfile("heap", fmt.Sprintf("%s.%d", r.s.HeapProfile, r.heapSamples))
	}
	return memSample{rss: rss(), heap: ms.HeapInuse}, nil
}

// memoryKind is what a memory scenario's keyed round makes: its rows
// and details go under scenario, its rows name the key, and each of its
// events makes perEvent new keys.
type memoryKind struct {
	scenario, key, what string
	perEvent            int
}

var dedupKeys = memoryKind{scenario: "memory", key: "dedup", what: "each a new dedup group", perEvent: 1}

func (r *runner) memory(ctx context.Context) error {
	return r.memoryOf(ctx, dedupKeys)
}

// memoryOf runs the memory rounds of k on the alerter started for it.
func (r *runner) memoryOf(ctx context.Context, k memoryKind) error {
	// Rounds of n events, each alerting once (see quietSetting):
	//   0. a warm-up of stateless alerts, so that pools and caches are grown;
	//   1. control: n "Custom scanning rule created", which
	//      soteri-custom-rule-created-by-non-admin alerts on without state;
	//   2. keys: n "Global setting changed" by new actors, each alerting
	//      once too and making k.perEvent new keys in the state bucket (in
	//      memory, soteri-global-setting-changed-by-non-admin, dedup by
	//      actor, alerts on each as a new group).
	// Round 2's growth beyond round 1's is what the groups themselves
	// cost: the headline. Each sample waits for -settle first, which must
	// outlast nats-server's per-block subject state (it drops that after 2
	// minutes without use; until then a block's subjects are in memory
	// twice).
	control, err := templates(r.fixtures, quietSetting, "Custom scanning rule created")
	if err != nil {
		return err
	}
	keyed, err := templates(r.fixtures, quietSetting, "Global setting changed")
	if err != nil {
		return err
	}
	n := r.s.Keys
	s0, err := r.memoryRound(ctx, "round 0, stateless alerting (warm-up)", control, max(n/4, 1))
	if err != nil {
		return err
	}
	s1, err := r.memoryRound(ctx, "round 1, stateless alerting", control, n)
	if err != nil {
		return err
	}
	s2, err := r.memoryRound(ctx, "round 2, "+k.what, keyed, n)
	if err != nil {
		return err
	}
	return r.reportMemory(k, n, s0, s1, s2)
}

// roundSample is what a round of memory left: the process's memory and
// the streams, and how long it took.
type roundSample struct {
	mem                memSample
	kvSubjects, kvMsgs uint64
	kvBytes, alerts    uint64
	took               time.Duration // sending and draining, not settling
}

// memoryRound sends n events of ts, each from a new actor, then samples
// the process's memory and the streams.
func (r *runner) memoryRound(ctx context.Context, what string, ts []*template, n int) (roundSample, error) {
	r.logf("%s: %d events", what, n)
	start := time.Now()
	if err := r.sendBatches(newGenerator(ts[:1], 0, r.freshActors()), n); err != nil {
		return roundSample{}, err
	}
	var sm roundSample
	var err error
	if sm.mem, err = r.sampleMemory(ctx); err != nil {
		return roundSample{}, err
	}
	sm.took = time.Since(start) - r.s.Settle
	kv, err := r.h.kv.Info(ctx)
	if err != nil {
		return roundSample{}, err
	}
	al, err := r.h.alerts.Info(ctx)
	if err != nil {
		return roundSample{}, err
	}
	sm.kvSubjects, sm.kvMsgs, sm.kvBytes, sm.alerts = kv.State.NumSubjects, kv.State.Msgs, kv.State.Bytes, al.State.Msgs
	return sm, nil
}

// sendBatches POSTs n events of gen to the webhook in NDJSON batches over
// four connections, holding back while MaxBacklog events wait.
func (r *runner) sendBatches(gen *generator, n int) error {
	client := newClient(4)
	defer client.CloseIdleConnections()
	work := make(chan int, n/max(r.s.Batch, 1)+1)
	for left := n; left > 0; left -= r.s.Batch {
		work <- min(left, r.s.Batch)
	}
	close(work)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for range 4 {
		wg.Go(func() {
			var buf []byte
			for k := range work {
				for r.h.backlog.Load() > uint64(r.s.MaxBacklog) {
					time.Sleep(time.Millisecond)
				}
				buf = gen.batch(buf[:0], k)
				req, err := http.NewRequest(http.MethodPost, r.h.url, bytes.NewReader(buf))
				if err == nil {
					req.Header.Set("Content-Type", "application/x-ndjson")
					err = accepted(client, req)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// reportMemory adds the rows and details of the memory scenario of k from
// the samples of its rounds of n events; it fails when round 2 made too
// few keys.
func (r *runner) reportMemory(k memoryKind, n int, s0, s1, s2 roundSample) error {
	m0, m1, m2 := s0.mem, s1.mem, s2.mem
	keys := float64(int64(s2.kvSubjects) - int64(s1.kvSubjects))
	var storedPerKey float64
	if m := int64(s2.kvMsgs) - int64(s1.kvMsgs); m > 0 {
		storedPerKey = float64(int64(s2.kvBytes)-int64(s1.kvBytes)) / float64(m)
	}
	delta := func(a, b uint64) float64 { return float64(b) - float64(a) }
	perKey := func(v float64) float64 {
		if keys <= 0 {
			return 0
		}
		return v / keys
	}
	rawRSS := perKey(delta(m1.rss, m2.rss))
	netRSS := perKey(delta(m1.rss, m2.rss) - delta(m0.rss, m1.rss))
	netHeap := perKey(delta(m1.heap, m2.heap) - delta(m0.heap, m1.heap))
	r.logf("  RSS +%.0f B per key with its event and alert; %.0f B beyond the control round's %+.0f B/event; heap %.0f B/key beyond; KV stores %.0f B/key; %.0f keys",
		rawRSS, netRSS, delta(m0.rss, m1.rss)/float64(n), netHeap, storedPerKey, keys)
	// The target is about the key: what the event and its alert add (their
	// history, the message ids of the dedup window) is the same in the
	// control round, so it cancels out. A growth below zero is noise (too
	// few keys for the differences to stand out), not a pass.
	r.rep.add(Row{Scenario: k.scenario, Metric: "RSS per live " + k.key + " key (growth beyond a stateless alert's)", Result: netRSS, Unit: "B",
		Floor: storedPerKey, FloorName: "KV stored/key", Target: "≤ 200 B", Pass: pass(netRSS > 0 && netRSS <= 200 && keys >= float64(n*k.perEvent)*0.99)})
	r.rep.add(Row{Scenario: k.scenario, Metric: "Go heap per live " + k.key + " key (growth beyond a stateless alert's)", Result: netHeap, Unit: "B"})
	r.rep.add(Row{Scenario: k.scenario, Metric: "RSS growth per new key, its alerting event and alert included", Result: rawRSS, Unit: "B"})
	r.rep.detail(k.scenario, "keys_created", keys)
	r.rep.detail(k.scenario, "keys_created_by_control", int64(s1.kvSubjects)-int64(s0.kvSubjects))
	r.rep.detail(k.scenario, "alerts_control", s1.alerts-s0.alerts)
	r.rep.detail(k.scenario, "alerts_keys", s2.alerts-s1.alerts)
	r.rep.detail(k.scenario, "control_rss_per_event_b", round0(delta(m0.rss, m1.rss)/float64(n)))
	r.rep.detail(k.scenario, "net_heap_per_key_b", round0(netHeap))
	r.rep.detail(k.scenario, "kv_stored_bytes_per_key", round0(storedPerKey))
	r.rep.detail(k.scenario, "rss_mb", round0(float64(m2.rss)/(1<<20)))
	r.rep.detail(k.scenario, "control_evs", round0(float64(n)/s1.took.Seconds()))
	r.rep.detail(k.scenario, "keys_evs", round0(float64(n)/s2.took.Seconds()))
	if keys < float64(n*k.perEvent)*0.99 {
		return fmt.Errorf("only %.0f of %d keys created", keys, n*k.perEvent)
	}
	return nil
}

// rss is the resident set size of this process, in bytes.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					kb, _ := strconv.ParseUint(f[0], 10, 64)
					return kb << 10
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Sys - ms.HeapReleased
}

func round0(v float64) float64 { return float64(int64(v + 0.5)) }
func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
