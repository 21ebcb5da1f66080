// Package evaluator is the loop between the EVENTS and ALERTS streams
// (docs/running.md, The pipeline): a durable consumer of EVENTS that all
// replicas share takes each stored event, runs it through the engine, and
// stores the alerts it fires in ALERTS; only then is the event
// acknowledged. A crash before the ack redelivers the event, and evaluating
// it again is safe: the state store remembers which events it has counted,
// and a re-fired alert has the same id, which ALERTS deduplicates.
//
// Several events are evaluated at once, but each rule group's state (the
// key of its dedup, threshold or correlation state) is updated by the
// events in the order the stream holds them: before an event is handed to
// the workers, it is evaluated (engine.Engine.Plan: the rules' conditions
// and group-by expressions, once), which tells the groups it will touch.
// The plan is cut into one part per group, and each part waits only for
// the earlier events' parts of its own group (package order); once every
// part is applied, the event's alerts are stored and it is acknowledged.
// So a group that every event touches (a quiet rule over a whole source)
// orders only its own updates, not the rest of each event's work. This
// only orders; the state store's compare-and-set keeps every update atomic
// whatever the order, so a rule set swapped in between, or a list that
// changed, can at worst reorder two events of a group, as a redelivery
// does.
package evaluator

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
	"github.com/alerter/alerter/deadlines"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/evaluator/internal/order"
	"github.com/alerter/alerter/event"
)

// Consumer is the durable consumer of EVENTS that all replicas share, so
// that each event is evaluated by one of them.
const Consumer = "evaluator"

// Defaults of Options.
const (
	// DefaultWorkers evaluate events at once. Evaluating is mostly
	// waiting: a stateful match costs a round trip to the state bucket (two
	// when another replica wrote the group last), an alert one to ALERTS;
	// workers overlap those waits.
	DefaultWorkers = 64
	// DefaultInFlight bounds the events taken but not yet finished,
	// running or waiting for an earlier event of one of their groups.
	DefaultInFlight = 4096
)

// Alerts stores the alerts that fire (bus.Streams). dup reports an alert
// id stored already, which is not an error: a redelivered event fires its
// alert again.
type Alerts interface {
	PublishAlert(ctx context.Context, rule, id string, data []byte) (dup bool, err error)
}

// Deadlines keeps the deadlines of absences and quiet groups durably
// until their time comes (deadlines.Store), each under its group's key.
type Deadlines interface {
	Schedule(ctx context.Context, key string, due time.Time, payload []byte) error
	Cancel(ctx context.Context, key string) error
}

// Events finds a stored event again by where the EVENTS stream holds it
// (bus.Streams): nil if it is no longer there.
type Events interface {
	EventAt(ctx context.Context, seq uint64, id string) (*event.Event, error)
}

// Options are what an Evaluator works with. Engine, Alerts and Router are
// required.
type Options struct {
	Engine *engine.Engine
	Alerts Alerts
	// Router returns the router in force when an alert fires: rules and
	// routes reload.
	Router func() alerter.Router
	// Lists returns the lists rules see now (the rule set's own and those
	// loaded from elsewhere); nil: the rule set's own.
	Lists func() map[string][]string
	// Enrich fills in what an event lacks (actor groups) before rules see
	// it; nil: nothing.
	Enrich func(context.Context, *event.Event)
	// Observe receives how long each evaluation took (metrics); nil: none.
	Observe func(time.Duration)
	// Deadlines keeps the deadlines that events set, and Events finds the
	// event a deadline's alert carries (see Evaluator.Deadline). Without
	// Deadlines, absences and quiet rules never fire, nor resolve.after.
	// Lifecycle keeps the deadlines of escalate: after steps, which count
	// wall-clock time from the alert and so need not wait for late events
	// (a store without lateness); nil: they go to Deadlines.
	Deadlines Deadlines
	Lifecycle Deadlines
	Events    Events
	// Acked tells whether the alert an escalation escalates
	// (alerter.Alert.Escalates) was acknowledged or resolved: such an
	// escalation is not sent (docs/rules.md, Escalations). Nil: every
	// escalation is sent.
	Acked func(ctx context.Context, escalation *alerter.Alert) (bool, error)
	// Resolve resolves, by "rule", the open alert of a group whose
	// resolve.when an event met (docs/rules.md, Resolving), and queues
	// its resolve notifications; a group with no open alert is left
	// alone. Nil: resolves are dropped.
	Resolve func(ctx context.Context, r engine.Resolve) error
	// EventURL is a stored event's page in the web UI, which a digest
	// links its examples to (docs/rules.md, Digests); nil, or "" for an
	// event: no link.
	EventURL func(id string) string
	Log      *slog.Logger

	// AckWait is the consumer's ack wait (0: the server's default).
	AckWait  time.Duration
	Replicas int
	Workers  int // default DefaultWorkers
	InFlight int // default DefaultInFlight
}

// Evaluator takes events from the EVENTS stream, runs them through the
// engine and stores the alerts they cause in ALERTS (see the package doc).
type Evaluator struct {
	cons jetstream.Consumer
	opt  Options
	log  *slog.Logger
	// retry is how long an event that failed waits to be evaluated again.
	retry time.Duration
	seed  maphash.Seed // of the group hashes
	stats Stats
}

// Stats count what the evaluator did.
type Stats struct {
	Events      atomic.Int64 // evaluated and acknowledged
	Alerts      atomic.Int64 // stored in ALERTS (re-stored duplicates included)
	Redelivered atomic.Int64 // events seen more than once
	Retried     atomic.Int64 // events handed back for a later retry
	Poison      atomic.Int64 // stored messages that are no event, terminated
	RuleErrors  atomic.Int64
	Waited      atomic.Int64 // events that waited for an earlier one of their group
	Deadlines   atomic.Int64 // deadlines whose time came and were dealt with
}

// New creates or updates the evaluator's consumer of EVENTS and returns
// the evaluator, ready to Run.
func New(ctx context.Context, js jetstream.JetStream, opt Options) (*Evaluator, error) {
	if opt.Workers <= 0 {
		opt.Workers = DefaultWorkers
	}
	if opt.InFlight <= 0 {
		opt.InFlight = DefaultInFlight
	}
	opt.InFlight = max(opt.InFlight, opt.Workers)
	if opt.Engine == nil || opt.Alerts == nil || opt.Router == nil {
		return nil, errors.New("evaluator: an engine, an alert store and a router are required")
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.EventsStream, jetstream.ConsumerConfig{
		Durable:       Consumer,
		Description:   "alerter: evaluates events against the rules",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opt.AckWait,
		MaxAckPending: 10_000,
		FilterSubject: bus.EventsSubject + ".>",
		Replicas:      opt.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", Consumer, bus.EventsStream, err)
	}
	return &Evaluator{cons: cons, opt: opt, log: opt.Log, retry: time.Second, seed: maphash.MakeSeed()}, nil
}

// Stats returns the evaluator's counters.
func (v *Evaluator) Stats() *Stats { return &v.stats }

// Consumer is the evaluator's consumer of EVENTS: where it is in the
// stream, and what it has pending.
func (v *Evaluator) Consumer() jetstream.Consumer { return v.cons }

// Pending counts the events stored and not yet evaluated, or being
// evaluated.
func (v *Evaluator) Pending(ctx context.Context) (uint64, error) {
	info, err := v.cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// job is one event on its way through the evaluator.
type job struct {
	msg      jetstream.Msg
	seq      uint64 // where EVENTS holds the event
	ev       event.Event
	enriched chan struct{} // closed once enrich is done with ev
	plan     *engine.Plan  // ev evaluated: its matches and groups
	planned  time.Duration // how long evaluating it took
	parts    []*part
	left     atomic.Int32 // parts not yet applied
	applying atomic.Int64 // nanoseconds spent applying parts
}

// part is the share of a job's plan that touches one group (or, for its
// first part, none: stateless matches and rule errors), applied in the
// group's order.
type part struct {
	job  *job
	plan *engine.Plan
	res  engine.Result
	err  error
	turn order.Ticket[*part]
}

// pipeline is one run's machinery: the jobs in flight, in their groups'
// order, and the workers that apply them.
type pipeline struct {
	// work is the context of work under way: it finishes even when the
	// run's context ends (an event half evaluated would be evaluated again
	// anyway, but finishing it avoids the wait).
	work context.Context
	// slots bounds the jobs in flight, and so the parts in ready.
	slots   chan struct{}
	ready   order.Queue[*part]
	groups  order.Groups[*part]
	taken   *order.InFlight
	workers sync.WaitGroup
	sweep   chan struct{}
}

// Run evaluates events until ctx is done, then finishes the events already
// fetched and returns.
func (v *Evaluator) Run(ctx context.Context) error {
	it, err := v.cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("consume %s: %w", bus.EventsStream, err)
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	p := v.start(context.WithoutCancel(ctx))
	defer p.stop(v.opt.InFlight)
	var enriched chan *job
	if v.opt.Enrich != nil {
		// Enriching an event (actor groups from a directory) may wait for
		// the directory, so events are enriched at once, and taken on in
		// stream order as they are done: rules that group by what enrich
		// fills see it when the groups are found.
		enriched = make(chan *job, v.opt.InFlight)
		var sequenced sync.WaitGroup
		sequenced.Go(func() {
			for j := range enriched {
				<-j.enriched
				v.enqueue(p, j)
			}
		})
		defer func() { close(enriched); sequenced.Wait() }()
	}
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			v.log.Warn("reading events", "err", err)
			continue
		}
		p.slots <- struct{}{}
		j := v.prepare(msg)
		switch {
		case j == nil:
			<-p.slots
		case enriched == nil:
			v.enqueue(p, j)
		default:
			j.enriched = make(chan struct{})
			go func() {
				defer close(j.enriched)
				v.opt.Enrich(p.work, &j.ev)
			}()
			enriched <- j
		}
	}
}

// start starts the workers of a run.
func (v *Evaluator) start(work context.Context) *pipeline {
	p := &pipeline{work: work, slots: make(chan struct{}, v.opt.InFlight),
		taken: order.NewInFlight(v.opt.AckWait), sweep: make(chan struct{})}
	for range v.opt.Workers {
		p.workers.Go(func() {
			for {
				pt, ok := p.ready.Pop()
				if !ok {
					return
				}
				v.apply(work, pt)
				// The group's next event may go ahead now, while this one
				// stores its alerts. That is safe: if storing them fails,
				// the event is redelivered, and the state it left makes
				// it fire the same alerts again.
				for _, n := range p.groups.Done(&pt.turn) {
					p.ready.Push(n.Job)
				}
				if j := pt.job; j.left.Add(-1) == 0 {
					v.handle(work, j)
					p.taken.Remove(j.msg)
					<-p.slots
				}
			}
		})
	}
	if v.opt.AckWait > 0 {
		p.workers.Go(func() { p.taken.Keep(p.sweep) })
	}
	return p
}

// stop waits for every job in flight, then stops the workers.
func (p *pipeline) stop(inFlight int) {
	for range inFlight {
		p.slots <- struct{}{}
	}
	close(p.sweep)
	p.ready.Close()
	p.workers.Wait()
}

// enqueue finds a job's groups and queues it; one goroutine at a time.
func (v *Evaluator) enqueue(p *pipeline, j *job) {
	var lists map[string][]string
	if v.opt.Lists != nil {
		lists = v.opt.Lists()
	}
	began := time.Now()
	j.plan = v.opt.Engine.Plan(p.work, &j.ev, lists)
	j.plan.Ref = j.seq
	j.planned = time.Since(began)
	if len(j.plan.Matches) == 0 && len(j.plan.Errors) == 0 && len(j.plan.Resolves) == 0 {
		// Most events match nothing, and are done now: nothing to store, no
		// group to wait for, no hand-off to a worker.
		v.observe(j.planned)
		v.ack(j)
		<-p.slots
		return
	}
	j.parts = v.split(j)
	j.left.Store(int32(len(j.parts)))
	p.taken.Add(j.msg)
	waited := false
	for _, pt := range j.parts {
		if p.groups.Add(&pt.turn) {
			p.ready.Push(pt)
		} else {
			waited = true
		}
	}
	if waited {
		v.stats.Waited.Add(1)
	}
}

func (v *Evaluator) observe(d time.Duration) {
	if v.opt.Observe != nil {
		v.opt.Observe(d)
	}
}

// prepare decodes an event; nil if it is no event (then it is terminated).
func (v *Evaluator) prepare(msg jetstream.Msg) *job {
	var seq uint64
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
		if md.NumDelivered > 1 {
			v.stats.Redelivered.Add(1)
		}
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
	return &job{msg: msg, seq: seq, ev: ev}
}

// split cuts a job's plan into one part per state key (rule and group
// values) that applying it will update, or whose alerts it resolves: a
// resolve and the next match of its group stay in order. The first part
// has no key: the stateless matches and the rule errors, which wait for
// nothing. A collision of two keys' hashes only orders two updates that
// need not be.
func (v *Evaluator) split(j *job) []*part {
	// Most events that match touch one group, or none: their plan is one
	// part, taken whole (its stateless matches wait for the group's turn,
	// which is only its state update).
	keys := make([]uint64, 0, len(j.plan.Matches)+len(j.plan.Resolves))
	for _, m := range j.plan.Matches {
		if m.Rule.Stateful() {
			keys = append(keys, v.key(m.Rule.ID, m.Group))
		}
	}
	for _, r := range j.plan.Resolves {
		keys = append(keys, v.key(r.Rule, r.Values()))
	}
	if !slices.ContainsFunc(keys, func(k uint64) bool { return k != keys[0] }) {
		pt := &part{job: j, plan: j.plan}
		if len(keys) > 0 {
			pt.turn.Keys = keys[:1]
		}
		pt.turn.Job = pt
		return []*part{pt}
	}
	free := &part{job: j, plan: j.plan.Part(nil, nil)}
	free.plan.Errors = j.plan.Errors
	parts := []*part{free}
	byKey := map[uint64]*part{}
	of := func(k uint64) *part {
		pt, ok := byKey[k]
		if !ok {
			pt = &part{job: j, plan: j.plan.Part(nil, nil), turn: order.Ticket[*part]{Keys: []uint64{k}}}
			byKey[k] = pt
			parts = append(parts, pt)
		}
		return pt
	}
	n := 0
	for _, m := range j.plan.Matches {
		pt := free
		if m.Rule.Stateful() {
			pt = of(keys[n])
			n++
		}
		pt.plan.Matches = append(pt.plan.Matches, m)
	}
	for _, r := range j.plan.Resolves {
		pt := of(keys[n])
		n++
		pt.plan.Resolves = append(pt.plan.Resolves, r)
	}
	if len(free.plan.Matches) == 0 && len(free.plan.Errors) == 0 {
		parts = parts[1:]
	}
	for _, pt := range parts {
		pt.turn.Job = pt
	}
	return parts
}

// key is the hash of a state key: rule and group values.
func (v *Evaluator) key(rule string, group []string) uint64 {
	var h maphash.Hash
	h.SetSeed(v.seed)
	h.WriteString(rule)
	for _, g := range group {
		h.WriteByte(0)
		h.WriteString(g)
	}
	return h.Sum64()
}

// apply applies one part of a job's plan to its group's state.
func (v *Evaluator) apply(ctx context.Context, pt *part) {
	began := time.Now()
	pt.res, pt.err = v.opt.Engine.Apply(ctx, pt.plan)
	pt.job.applying.Add(int64(time.Since(began)))
}

// handle finishes an event whose parts are all applied: it resolves the
// groups it resolves, stores its alerts and escalations, keeps its
// deadlines and acknowledges it.
func (v *Evaluator) handle(ctx context.Context, j *job) {
	msg, ev := j.msg, &j.ev
	// Evaluating and applying, not the waits for earlier events of the
	// same groups.
	v.observe(j.planned + time.Duration(j.applying.Load()))
	var res engine.Result
	var errs []error
	for _, pt := range j.parts {
		res.Merge(pt.res)
		if pt.err != nil {
			errs = append(errs, pt.err)
		}
	}
	for _, re := range res.Errors {
		v.stats.RuleErrors.Add(1)
		v.log.Warn("rule failed", "rule", re.Rule, "event", ev.ID, "err", re.Err)
	}
	if err := errors.Join(errs...); err != nil {
		v.later(msg, ev.ID, "evaluating", err)
		return
	}
	// Resolves first: they resolve the alerts fired before the event, not
	// one the event fires itself.
	if err := v.resolve(ctx, res.Resolves); err != nil {
		v.later(msg, ev.ID, "resolving an alert", err)
		return
	}
	if err := v.store(ctx, res.Alerts); err != nil {
		v.later(msg, ev.ID, "storing an alert", err)
		return
	}
	if err := v.escalate(ctx, res.Escalations); err != nil {
		v.later(msg, ev.ID, "storing an escalation", err)
		return
	}
	if err := v.keep(ctx, res); err != nil {
		v.later(msg, ev.ID, "keeping a deadline", err)
		return
	}
	v.ack(j)
}

// store routes alerts and stores them in ALERTS.
func (v *Evaluator) store(ctx context.Context, alerts []*alerter.Alert) error {
	for _, a := range alerts {
		a.Notify = v.opt.Router().Route(a)
		data, err := json.Marshal(a)
		if err != nil {
			v.log.Error("encoding an alert", "rule", a.Rule, "event", a.Event.ID, "err", err)
			continue
		}
		if _, err := v.opt.Alerts.PublishAlert(ctx, a.Rule, a.ID, data); err != nil {
			return err
		}
		v.stats.Alerts.Add(1)
	}
	return nil
}

// escalate stores the escalations whose alert is still firing, unacknowledged,
// like alerts: an acknowledgement stops a group's escalations.
func (v *Evaluator) escalate(ctx context.Context, escalations []*alerter.Alert) error {
	for _, a := range escalations {
		if v.opt.Acked != nil {
			acked, err := v.opt.Acked(ctx, a)
			if err != nil {
				return fmt.Errorf("the state of alert %s: %w", a.Escalates, err)
			}
			if acked {
				v.log.Info("escalation not sent: its alert was acknowledged or resolved", "rule", a.Rule, "alert", a.Escalates, "escalation", a.Escalation)
				continue
			}
		}
		if err := v.store(ctx, []*alerter.Alert{a}); err != nil {
			return err
		}
	}
	return nil
}

// resolve resolves the groups of resolves. A redelivered event resolves
// again, which changes nothing and queues what was not queued.
func (v *Evaluator) resolve(ctx context.Context, resolves []engine.Resolve) error {
	if v.opt.Resolve == nil {
		return nil
	}
	for _, r := range resolves {
		if !r.Open {
			continue // no alert of the group to resolve: nothing to look up
		}
		if err := v.opt.Resolve(ctx, r); err != nil {
			return fmt.Errorf("rule %s, group %s: %w", r.Rule, r.DedupKey, err)
		}
	}
	return nil
}

// keep keeps the deadlines a result handed out, and drops those it
// cancelled. A cancel that fails only leaves a deadline that fires
// nothing (engine.Engine.Fire checks it is still its group's).
func (v *Evaluator) keep(ctx context.Context, res engine.Result) error {
	if v.opt.Deadlines == nil {
		return nil
	}
	for _, d := range res.Deadlines {
		payload, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if err := v.deadlines(d).Schedule(ctx, d.Key(), d.Due, payload); err != nil {
			return fmt.Errorf("rule %s: %w", d.Rule, err)
		}
	}
	for _, d := range res.Cancelled {
		if err := v.deadlines(d).Cancel(ctx, d.Key()); err != nil {
			v.log.Warn("dropping a cancelled deadline", "rule", d.Rule, "kind", d.Kind, "err", err)
		}
	}
	return nil
}

// deadlines is where a deadline of d's kind is kept.
func (v *Evaluator) deadlines(d engine.Deadline) Deadlines {
	if d.Kind == engine.KindEscalate && v.opt.Lifecycle != nil {
		return v.opt.Lifecycle
	}
	return v.opt.Deadlines
}

// Deadline deals with a deadline whose time has come: deadlines.Store
// calls it, once per deadline across replicas, and again if it fails or
// its replica dies first. The alert it fires is stored like an event's,
// with an id that is the same on every attempt, its resolve (resolve.after)
// goes to the Resolve port, its escalation (escalate: after) is stored
// unless Acked, and its digest is stored like an alert, with links to its
// examples; then the group's next deadline is kept. An error hands the
// deadline over again later.
func (v *Evaluator) Deadline(ctx context.Context, d deadlines.Deadline) error {
	var dl engine.Deadline
	if err := json.Unmarshal(d.Payload, &dl); err != nil || dl.Rule == "" {
		// Not something alerter kept: it can never succeed.
		v.log.Error("not a rule's deadline; dropped", "key", d.Key, "err", err)
		return nil
	}
	dl.Due = d.Due
	res, err := v.opt.Engine.Fire(ctx, dl, v.lookup)
	if err != nil {
		return err
	}
	for _, re := range res.Errors {
		v.stats.RuleErrors.Add(1)
		v.log.Warn("rule failed", "rule", re.Rule, "deadline", d.Due, "err", re.Err)
	}
	if err := v.resolve(ctx, res.Resolves); err != nil {
		return fmt.Errorf("resolving an alert: %w", err)
	}
	if err := v.store(ctx, res.Alerts); err != nil {
		return fmt.Errorf("storing an alert: %w", err)
	}
	if err := v.escalate(ctx, res.Escalations); err != nil {
		return fmt.Errorf("storing an escalation: %w", err)
	}
	v.link(res.Digests)
	if err := v.store(ctx, res.Digests); err != nil {
		return fmt.Errorf("storing a digest: %w", err)
	}
	if err := v.keep(ctx, res); err != nil {
		return fmt.Errorf("keeping the next deadline: %w", err)
	}
	v.stats.Deadlines.Add(1)
	return nil
}

// link links the examples of digests to their events' pages, and writes
// the digests' texts again with the links.
func (v *Evaluator) link(digests []*alerter.Alert) {
	if v.opt.EventURL == nil {
		return
	}
	for _, a := range digests {
		for i := range a.Digest.Examples {
			x := &a.Digest.Examples[i]
			x.URL = v.opt.EventURL(x.ID)
		}
		a.Text = engine.DigestText(a.Digest)
	}
}

// lookup finds the event a deadline's alert carries where the evaluator
// found it (Plan.Ref).
func (v *Evaluator) lookup(ctx context.Context, e engine.Entry) (*event.Event, error) {
	if v.opt.Events == nil || e.Ref == 0 {
		return nil, nil
	}
	return v.opt.Events.EventAt(ctx, e.Ref, e.ID)
}

// ack acknowledges an event that is done with. A lost ack only redelivers
// the event, which is safe (see the package doc).
func (v *Evaluator) ack(j *job) {
	if err := j.msg.Ack(); err != nil {
		v.log.Warn("acknowledging an event", "event", j.ev.ID, "err", err)
	}
	v.stats.Events.Add(1)
}

// later hands an event back to be evaluated again after a pause: the state
// store or the ALERTS stream is unavailable, which passes.
func (v *Evaluator) later(msg jetstream.Msg, id, what string, err error) {
	v.stats.Retried.Add(1)
	v.log.Error("event will be retried", "event", id, "while", what, "err", err)
	if nerr := msg.NakWithDelay(v.retry); nerr != nil {
		v.log.Warn("handing an event back", "event", id, "err", nerr)
	}
}
