package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
)

// EvaluatorConsumer is the durable consumer of EVENTS that all replicas
// share, so that each event is evaluated by one of them.
const EvaluatorConsumer = "evaluator"

// evaluator takes events from the EVENTS stream, runs them through the
// engine and stores the alerts they cause in ALERTS; only then is the event
// acknowledged. A crash before the ack redelivers the event, and evaluating
// it again is safe: the state store remembers which events it has counted,
// and a re-fired alert has the same id, which ALERTS deduplicates.
type evaluator struct {
	cons    jetstream.Consumer
	streams *bus.Streams
	eng     *engine.Engine
	route   func(*engine.Alert) []string
	lists   func() map[string][]string
	log     *slog.Logger
	retry   time.Duration

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
}

type evaluatorOptions struct {
	ackWait  time.Duration
	replicas int
}

func newEvaluator(ctx context.Context, js jetstream.JetStream, streams *bus.Streams, eng *engine.Engine, opt evaluatorOptions, log *slog.Logger) (*evaluator, error) {
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
	return &evaluator{cons: cons, streams: streams, eng: eng, log: log, retry: time.Second}, nil
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
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			v.log.Warn("reading events", "err", err)
			continue
		}
		v.handle(work, msg)
	}
}

func (v *evaluator) handle(ctx context.Context, msg jetstream.Msg) {
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
		return
	}
	var lists map[string][]string
	if v.lists != nil {
		lists = v.lists()
	}
	res, err := v.eng.ProcessWithLists(ctx, &ev, lists)
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
	// A lost ack only redelivers the event, which is safe (see evaluator).
	if err := msg.Ack(); err != nil {
		v.log.Warn("acknowledging an event", "event", ev.ID, "err", err)
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
