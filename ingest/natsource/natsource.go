// Package natsource takes events that other programs publish on a NATS
// subject into alerter (a `type: nats` source).
//
// If a JetStream stream already captures the subject, the source reads it
// through a durable consumer of that stream and acknowledges each message
// once its events are stored: nothing published is lost, even across
// restarts. Otherwise it subscribes with core NATS (a queue group, so
// replicas share the messages), which is at most once: a message published
// while no alerter runs is gone. Publishers that need every event kept
// should publish into a stream (or use request/reply: a core NATS request
// gets its answer only once the events are stored).
//
// A message may hold one event, an array, a page or JSON lines, in the
// source's format. A message that is not that (not JSON, not an event) is
// kept aside in the REJECTED stream with the reason, counted, and never
// blocks the messages after it.
package natsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/internal/retry"
)

// Options tune a Source.
type Options struct {
	Logger *slog.Logger
	// Batch is how many messages are stored in one go; default 256.
	Batch int
	// Replicas of the durable consumer in JetStream mode; default 1.
	Replicas int
}

// Stats count what a source did.
type Stats struct {
	Messages atomic.Int64 // messages taken
	Events   atomic.Int64 // events stored (duplicates included)
	Rejected atomic.Int64 // messages kept aside as no event
	Retries  atomic.Int64 // failed stores, retried
	Dropped  atomic.Int64 // core NATS only: messages the server dropped because we were slow
}

// Source is a running nats source.
type Source struct {
	name    string
	subject string
	opts    event.Options
	nc      *nats.Conn
	js      jetstream.JetStream
	sink    ingest.Sink
	rej     ingest.Rejecter
	log     *slog.Logger
	batch   int
	repl    int
	stats   Stats
	ready   chan struct{}
}

// New returns the source; Run starts it.
func New(src config.Source, nc *nats.Conn, js jetstream.JetStream, sink ingest.Sink, rej ingest.Rejecter, opt Options) (*Source, error) {
	if err := event.CheckFormat(src.Format); err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	eo := event.Options{Format: src.Format, Source: src.Name}
	if len(src.Fields) > 0 {
		m, err := event.NewMapping(src.Fields)
		if err != nil {
			return nil, fmt.Errorf("source %s: fields: %w", src.Name, err)
		}
		eo.Mapping = m
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Batch <= 0 {
		opt.Batch = 256
	}
	return &Source{
		name: src.Name, subject: ConfigOf(src).Subject, opts: eo, nc: nc, js: js, sink: sink, rej: rej,
		log: opt.Logger.With("source", src.Name), batch: opt.Batch, repl: max(opt.Replicas, 1),
		ready: make(chan struct{}),
	}, nil
}

// Ready is closed once the source is subscribed or consuming.
func (s *Source) Ready() <-chan struct{} { return s.ready }

// Stats returns the source's counters.
func (s *Source) Stats() *Stats { return &s.stats }

// Counters are the source's counters in the shape every source shares.
func (s *Source) Counters() ingest.Counters {
	st := &s.stats
	return ingest.Counters{Received: &st.Events, Rejected: map[string]*atomic.Int64{
		ingest.NotAnEvent: &st.Rejected, ingest.Dropped: &st.Dropped,
	}}
}

// Run takes messages until ctx is done.
func (s *Source) Run(ctx context.Context) error {
	stream, err := s.js.StreamNameBySubject(ctx, s.subject)
	switch {
	case err == nil:
		return s.runStream(ctx, stream)
	case isStreamNotFound(err):
		return s.runCore(ctx)
	default:
		return fmt.Errorf("source %s: looking for a stream of %s: %w", s.name, s.subject, err)
	}
}

// isStreamNotFound: StreamNameBySubject's "no stream" does not match
// jetstream.ErrStreamNotFound with errors.Is, only by its API error code.
func isStreamNotFound(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamNotFound
}

// message is one NATS message on its way in: its data and how to settle
// it: ack once its events are stored, retry when storing failed, refuse
// when it is no event (it is then kept in REJECTED, so it is settled).
type message struct {
	data   []byte
	ack    func(ingest.Stored)
	retry  func(error)
	refuse func(error)
}

func streamMessage(m jetstream.Msg) message {
	return message{
		data:   m.Data(),
		ack:    func(ingest.Stored) { _ = m.Ack() },
		retry:  func(error) { _ = m.NakWithDelay(time.Second) },
		refuse: func(error) { _ = m.Ack() },
	}
}

// runStream reads a JetStream stream through a durable consumer.
func (s *Source) runStream(ctx context.Context, stream string) error {
	durable := "alerter-source-" + s.name
	cons, err := s.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   "alerter: takes events of source " + s.name,
		FilterSubject: s.subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 4 * s.batch,
		Replicas:      s.repl,
	})
	if err != nil {
		return fmt.Errorf("source %s: consumer %s on stream %s: %w", s.name, durable, stream, err)
	}
	s.log.Info("nats source reading a stream", "stream", stream, "subject", s.subject, "consumer", durable)
	close(s.ready)
	for ctx.Err() == nil {
		batch, err := cons.FetchNoWait(s.batch)
		if err != nil {
			s.log.Warn("fetching", "err", err)
			_ = retry.Sleep(ctx, time.Second)
			continue
		}
		var msgs []message
		for m := range batch.Messages() {
			msgs = append(msgs, streamMessage(m))
		}
		if len(msgs) == 0 {
			// Nothing waiting: block for the next message, briefly. (A
			// fetch of a whole batch would wait for all of it.)
			if b, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second)); err == nil {
				for m := range b.Messages() {
					msgs = append(msgs, streamMessage(m))
				}
			}
		}
		if len(msgs) > 0 {
			s.take(ctx, msgs, false)
		}
	}
	return nil
}

// runCore subscribes with core NATS.
func (s *Source) runCore(ctx context.Context) error {
	ch := make(chan *nats.Msg, 8*s.batch)
	sub, err := s.nc.ChanQueueSubscribe(s.subject, "alerter-source-"+s.name, ch)
	if err != nil {
		return fmt.Errorf("source %s: subscribe to %s: %w", s.name, s.subject, err)
	}
	// Messages beyond the channel wait in the client, up to these limits;
	// past them the server drops, which Dropped counts.
	_ = sub.SetPendingLimits(1<<20, 1<<30)
	defer func() { _ = sub.Unsubscribe() }()
	if err := s.nc.Flush(); err != nil {
		return fmt.Errorf("source %s: subscribe to %s: %w", s.name, s.subject, err)
	}
	close(s.ready)
	s.log.Info("nats source subscribed (core NATS: at most once; publish into a stream for at least once)", "subject", s.subject)
	for {
		var first *nats.Msg
		select {
		case <-ctx.Done():
			return nil
		case first = <-ch:
		}
		msgs := []message{s.coreMessage(first)}
	fill:
		for len(msgs) < s.batch {
			select {
			case m := <-ch:
				msgs = append(msgs, s.coreMessage(m))
			default:
				break fill
			}
		}
		if n, err := sub.Dropped(); err == nil && int64(n) > s.stats.Dropped.Load() {
			s.log.Error("messages dropped by NATS: alerter is slower than the publishers", "dropped", n)
			s.stats.Dropped.Store(int64(n))
		}
		s.take(ctx, msgs, true)
	}
}

func (s *Source) coreMessage(m *nats.Msg) message {
	msg := message{data: m.Data}
	if m.Reply == "" {
		msg.ack, msg.retry, msg.refuse = func(ingest.Stored) {}, func(error) {}, func(error) {}
		return msg
	}
	msg.ack = func(st ingest.Stored) {
		b, _ := json.Marshal(map[string]int{"accepted": st.Accepted, "duplicates": st.Duplicates})
		_ = m.Respond(b)
	}
	msg.retry = func(err error) {
		b, _ := json.Marshal(map[string]string{"error": "not stored, send again: " + err.Error()})
		_ = m.Respond(b)
	}
	msg.refuse = func(err error) {
		b, _ := json.Marshal(map[string]string{"error": err.Error()})
		_ = m.Respond(b)
	}
	return msg
}

// take parses a batch of messages, keeps aside those that are no events,
// and stores the events of the rest. With hold (core NATS, which cannot
// redeliver) a failed store is retried until it succeeds or ctx ends; else
// the messages are handed back to JetStream for redelivery.
func (s *Source) take(ctx context.Context, msgs []message, hold bool) {
	s.stats.Messages.Add(int64(len(msgs)))
	var events []event.Event
	var owners []int // message index of each event
	var good []int
	opt := s.opts
	opt.Received, opt.RequireFields = time.Now(), true
	for i, m := range msgs {
		evs, err := event.Parse(m.data, opt)
		if err != nil {
			s.reject(ctx, m, err)
			continue
		}
		good = append(good, i)
		for range evs {
			owners = append(owners, i)
		}
		events = append(events, evs...)
	}
	if len(good) == 0 {
		return
	}
	for try := 0; ; try++ {
		st, err := s.sink.Store(ctx, s.name, events)
		if err == nil {
			s.stats.Events.Add(int64(len(events)))
			for _, i := range good {
				msgs[i].ack(st)
			}
			return
		}
		s.stats.Retries.Add(1)
		s.log.Error("storing events failed", "events", len(events), "not_stored", len(st.Failed), "err", err)
		if !hold || ctx.Err() != nil {
			failed := map[int]bool{}
			for _, k := range st.Failed {
				failed[owners[k]] = true
			}
			for _, i := range good {
				if failed[i] {
					msgs[i].retry(err)
				} else {
					msgs[i].ack(st)
				}
			}
			return
		}
		_ = retry.Sleep(ctx, retry.Backoff(try+1, 100*time.Millisecond, 10*time.Second))
	}
}

func (s *Source) reject(ctx context.Context, m message, reason error) {
	s.stats.Rejected.Add(1)
	s.log.Warn("message is not an event; kept aside in REJECTED", "err", reason)
	if err := s.rej.Reject(ctx, s.name, m.data, reason.Error()); err != nil {
		s.log.Error("keeping a rejected message aside failed", "err", err)
		m.retry(fmt.Errorf("not an event (%v), and keeping it aside failed", reason))
		return
	}
	m.refuse(fmt.Errorf("not an event: %w", reason))
}
