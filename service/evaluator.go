package service

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
)

// EvaluatorConsumer is the durable consumer of EVENTS that all replicas
// share, so that each event is evaluated by one of them.
const EvaluatorConsumer = "evaluator"

// Defaults of evaluatorOptions.
const (
	// defaultEvalWorkers evaluate events at once. Evaluating is mostly
	// waiting: a stateful match costs a round trip to the state bucket (two
	// when another replica wrote the group last), an alert one to ALERTS;
	// workers overlap those waits.
	defaultEvalWorkers = 64
	// defaultEvalInFlight bounds the events taken but not yet finished,
	// running or waiting for an earlier event of one of their groups.
	defaultEvalInFlight = 4096
)

// evaluator takes events from the EVENTS stream, runs them through the
// engine and stores the alerts they cause in ALERTS; only then is the event
// acknowledged. A crash before the ack redelivers the event, and evaluating
// it again is safe: the state store remembers which events it has counted,
// and a re-fired alert has the same id, which ALERTS deduplicates.
//
// Several events are evaluated at once, but the events of one rule group
// (the key of its dedup and threshold state) in the order the stream holds
// them: before an event is handed to a worker, it is evaluated
// (Engine.Plan: the rules' conditions and group-by expressions, once), which
// tells the groups it will touch, and it waits for the earlier events of
// any of those groups; the worker then applies the plan. This
// only orders; the state store's compare-and-set keeps every update atomic
// whatever the order, so a rule set swapped in between, or a list that
// changed, can at worst reorder two events of a group, as a redelivery
// does.
type evaluator struct {
	cons    jetstream.Consumer
	streams *bus.Streams
	eng     *engine.Engine
	route   func(*alerter.Alert) []string
	lists   func() map[string][]string
	log     *slog.Logger
	retry   time.Duration
	// observe receives how long each evaluation took (metrics).
	observe func(time.Duration)
	// enrich fills in what the event lacks (actor groups) before rules see it.
	enrich func(context.Context, *event.Event)

	workers  int
	inFlight int
	ackWait  time.Duration

	seed maphash.Seed // of the group hashes

	stats EvaluatorStats
}

// EvaluatorStats count what the evaluator did.
type EvaluatorStats struct {
	Events      atomic.Int64 // evaluated and acknowledged
	Alerts      atomic.Int64 // stored in ALERTS (re-stored duplicates included)
	Redelivered atomic.Int64 // events seen more than once
	Retried     atomic.Int64 // events handed back for a later retry
	Poison      atomic.Int64 // stored messages that are no event, terminated
	RuleErrors  atomic.Int64
	Waited      atomic.Int64 // events that waited for an earlier one of their group
}

type evaluatorOptions struct {
	ackWait  time.Duration
	replicas int
	workers  int // default defaultEvalWorkers
	inFlight int // default defaultEvalInFlight
}

func newEvaluator(ctx context.Context, js jetstream.JetStream, streams *bus.Streams, eng *engine.Engine, opt evaluatorOptions, log *slog.Logger) (*evaluator, error) {
	if opt.workers <= 0 {
		opt.workers = defaultEvalWorkers
	}
	if opt.inFlight <= 0 {
		opt.inFlight = defaultEvalInFlight
	}
	opt.inFlight = max(opt.inFlight, opt.workers)
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.EventsStream, jetstream.ConsumerConfig{
		Durable:       EvaluatorConsumer,
		Description:   "alerter: evaluates events against the rules",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opt.ackWait,
		MaxAckPending: 10_000,
		FilterSubject: bus.EventsSubject + ".>",
		Replicas:      opt.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", EvaluatorConsumer, bus.EventsStream, err)
	}
	return &evaluator{cons: cons, streams: streams, eng: eng, log: log, retry: time.Second,
		workers: opt.workers, inFlight: opt.inFlight, ackWait: opt.ackWait, seed: maphash.MakeSeed()}, nil
}

// job is one event on its way through the evaluator.
type job struct {
	msg      jetstream.Msg
	ev       event.Event
	enriched chan struct{} // closed once enrich is done with ev
	plan     *engine.Plan  // ev evaluated: its matches and groups
	keys     []uint64      // the groups it touches, see evaluator.groups
	planned  time.Duration // how long evaluating it took
	waits    int           // groups in which an earlier event is not finished; under ordering.mu
}

// run evaluates events until ctx is done, then finishes the events already
// fetched and returns.
func (v *evaluator) run(ctx context.Context) error {
	it, err := v.cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("consume %s: %w", bus.EventsStream, err)
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	// Work under way finishes even when ctx ends: an event half evaluated
	// would be evaluated again anyway, but finishing it avoids the wait.
	work := context.WithoutCancel(ctx)

	// slots bounds the jobs in flight, so ready (which holds only jobs in
	// flight) never blocks a worker handing on the jobs it unblocked.
	slots := make(chan struct{}, v.inFlight)
	ready := make(chan *job, v.inFlight)
	ord := ordering{queues: map[uint64][]*job{}}
	taken := inFlight{jobs: map[*job]time.Time{}}
	var wg sync.WaitGroup
	for range v.workers {
		wg.Go(func() {
			for j := range ready {
				v.handle(work, j, func() {
					for _, n := range ord.done(j) {
						ready <- n
					}
				})
				taken.remove(j)
				<-slots
			}
		})
	}
	sweep := make(chan struct{})
	if v.ackWait > 0 {
		wg.Go(func() { taken.extend(sweep, v.ackWait) })
	}
	// enqueue finds a job's groups and queues it; one goroutine at a time.
	enqueue := func(j *job) {
		var lists map[string][]string
		if v.lists != nil {
			lists = v.lists()
		}
		began := time.Now()
		j.plan = v.eng.Plan(work, &j.ev, lists)
		j.planned = time.Since(began)
		if len(j.plan.Matches) == 0 && len(j.plan.Errors) == 0 {
			// Most events match nothing, and are done now: nothing to
			// store, no group to wait for, no hand-off to a worker.
			if v.observe != nil {
				v.observe(j.planned)
			}
			v.ack(j)
			<-slots
			return
		}
		j.keys = v.groups(j.plan)
		taken.add(j)
		if ord.add(j) {
			ready <- j
		} else {
			v.stats.Waited.Add(1)
		}
	}
	// Enriching an event (actor groups from a directory) may wait for the
	// directory, so events are enriched at once, and taken on in stream
	// order as they are done: rules that group by what enrich fills see it
	// when the groups are found.
	enrich := v.enrich
	var enriched chan *job
	var sequenced sync.WaitGroup
	if enrich != nil {
		enriched = make(chan *job, v.inFlight)
		sequenced.Go(func() {
			for j := range enriched {
				<-j.enriched
				enqueue(j)
			}
		})
	}
	defer func() {
		if enriched != nil {
			close(enriched)
			sequenced.Wait()
		}
		// Wait for every job in flight, then stop the workers.
		for range v.inFlight {
			slots <- struct{}{}
		}
		close(sweep)
		close(ready)
		wg.Wait()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			v.log.Warn("reading events", "err", err)
			continue
		}
		slots <- struct{}{}
		j := v.prepare(msg)
		if j == nil {
			<-slots
			continue
		}
		if enrich == nil {
			enqueue(j)
			continue
		}
		j.enriched = make(chan struct{})
		go func() {
			defer close(j.enriched)
			enrich(work, &j.ev)
		}()
		enriched <- j
	}
}

// prepare decodes an event; nil if it is no event (then it is terminated).
func (v *evaluator) prepare(msg jetstream.Msg) *job {
	if md, err := msg.Metadata(); err == nil && md.NumDelivered > 1 {
		v.stats.Redelivered.Add(1)
	}
	ev, err := event.Decode(msg.Data())
	if err != nil {
		// Not something alerter stored; someone else published on our
		// subjects. It can never succeed, so it must not block the stream.
		v.stats.Poison.Add(1)
		v.log.Error("not an event in the EVENTS stream; dropped", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return nil
	}
	return &job{msg: msg, ev: ev}
}

// groups returns hashes of the state keys (rule and group values) that
// applying the plan will update. A collision of two hashes only orders two
// events that need not be.
func (v *evaluator) groups(p *engine.Plan) []uint64 {
	var keys []uint64
	for _, m := range p.Matches {
		if !m.Rule.Stateful() {
			continue
		}
		var h maphash.Hash
		h.SetSeed(v.seed)
		h.WriteString(m.Rule.ID)
		for _, g := range m.Group {
			h.WriteByte(0)
			h.WriteString(g)
		}
		k := h.Sum64()
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// inFlight are the jobs taken and not finished. One that waits long, behind
// the earlier events of a busy group, gets its ack wait extended, so that
// it is not redelivered while it is still here.
type inFlight struct {
	mu   sync.Mutex
	jobs map[*job]time.Time // when taken, or last extended
}

func (f *inFlight) add(j *job) {
	f.mu.Lock()
	f.jobs[j] = time.Now()
	f.mu.Unlock()
}

func (f *inFlight) remove(j *job) {
	f.mu.Lock()
	delete(f.jobs, j)
	f.mu.Unlock()
}

// extend tells the server "in progress" for the jobs held longer than half
// the ack wait, until stop is closed.
func (f *inFlight) extend(stop <-chan struct{}, ackWait time.Duration) {
	t := time.NewTicker(max(ackWait/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		f.mu.Lock()
		for j, since := range f.jobs {
			if now.Sub(since) > ackWait/2 {
				_ = j.msg.InProgress()
				f.jobs[j] = now
			}
		}
		f.mu.Unlock()
	}
}

// ordering keeps, per group, the jobs touching it in the order they were
// taken; a job runs once it is first in all of its groups.
type ordering struct {
	mu     sync.Mutex
	queues map[uint64][]*job
}

// add queues j and reports whether it can run at once.
func (o *ordering) add(j *job) bool {
	if len(j.keys) == 0 {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, k := range j.keys {
		q := o.queues[k]
		if len(q) > 0 {
			j.waits++
		}
		o.queues[k] = append(q, j)
	}
	return j.waits == 0
}

// done removes the finished job j, first in each of its groups, and
// returns the jobs that can run now.
func (o *ordering) done(j *job) []*job {
	if len(j.keys) == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var next []*job
	for _, k := range j.keys {
		q := o.queues[k]
		if len(q) <= 1 {
			delete(o.queues, k)
			continue
		}
		q[0] = nil
		q = q[1:]
		o.queues[k] = q
		h := q[0]
		h.waits--
		if h.waits == 0 {
			next = append(next, h)
		}
	}
	return next
}

// handle evaluates one event, stores its alerts and acknowledges it.
// applied is called once the event's group states are updated (or failed
// to be): the next event of its groups may go ahead then, while this one
// stores its alerts. That is safe: if storing them fails, this event is
// redelivered, and the state it left makes it fire the same alert again.
func (v *evaluator) handle(ctx context.Context, j *job, applied func()) {
	msg, ev := j.msg, &j.ev
	began := time.Now()
	res, err := v.eng.Apply(ctx, j.plan)
	applied()
	if v.observe != nil {
		// Evaluating and applying, not the wait in between for earlier
		// events of the same groups.
		v.observe(j.planned + time.Since(began))
	}
	for _, re := range res.Errors {
		v.stats.RuleErrors.Add(1)
		v.log.Warn("rule failed", "rule", re.Rule, "event", ev.ID, "err", re.Err)
	}
	if err != nil {
		v.later(msg, ev.ID, "evaluating", err)
		return
	}
	for _, a := range res.Alerts {
		if v.route != nil {
			a.Notify = v.route(a)
		}
		data, err := json.Marshal(a)
		if err != nil {
			v.log.Error("encoding an alert", "rule", a.Rule, "event", ev.ID, "err", err)
			continue
		}
		if _, err := v.streams.PublishAlert(ctx, a.Rule, a.ID, data); err != nil {
			v.later(msg, ev.ID, "storing an alert", err)
			return
		}
		v.stats.Alerts.Add(1)
	}
	v.ack(j)
}

// ack acknowledges an event that is done with. A lost ack only redelivers
// the event, which is safe (see evaluator).
func (v *evaluator) ack(j *job) {
	if err := j.msg.Ack(); err != nil {
		v.log.Warn("acknowledging an event", "event", j.ev.ID, "err", err)
	}
	v.stats.Events.Add(1)
}

// later hands an event back to be evaluated again after a pause: the state
// store or the ALERTS stream is unavailable, which passes.
func (v *evaluator) later(msg jetstream.Msg, id, what string, err error) {
	v.stats.Retried.Add(1)
	v.log.Error("event will be retried", "event", id, "while", what, "err", err)
	if nerr := msg.NakWithDelay(v.retry); nerr != nil {
		v.log.Warn("handing an event back", "event", id, "err", nerr)
	}
}
