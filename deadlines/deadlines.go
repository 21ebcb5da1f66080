package deadlines

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/internal/retry"
)

// Stream holds every set's deadlines, under Subject.<set>.
const (
	Stream  = "DEADLINES"
	Subject = "deadlines" // deadlines.<set>.sched.<key>, deadlines.<set>.due.<key>
)

// Bounds on what a deadline carries.
const (
	// MaxKeyLen bounds a key, whose encoding is a subject token: the server
	// keeps every schedule's subject in memory.
	MaxKeyLen = 512
	// MaxPayload bounds a deadline's payload: it is meant to say what to do
	// (a rule and a group), not to carry the data.
	MaxPayload = 64 << 10
)

// Defaults of Options.
const (
	DefaultAckWait    = 30 * time.Second
	DefaultRetryFirst = time.Second
	DefaultRetryLimit = 5 * time.Minute
	DefaultWorkers    = 8
	defaultTimeout    = 5 * time.Second
)

// Headers of a schedule. The Nats-Schedule ones are the server's (ADR-51);
// dueHeader is ours and is copied to the due message.
const (
	scheduleHeader = "Nats-Schedule"
	targetHeader   = "Nats-Schedule-Target"
	dueHeader      = "Alerter-Deadline-Due"
)

var setName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Deadline is a deadline whose time has come, as the callback gets it.
type Deadline struct {
	Key     string
	Due     time.Time // as scheduled, without the lateness
	Payload []byte
	// Attempt is 1 the first time the deadline is handed over, more after
	// a failed callback or a replica that died before acknowledging it.
	Attempt int
}

// ID identifies the deadline by its key and due time, the same on every
// attempt: the caller's idempotency key (see the package doc, Limits).
func (d Deadline) ID() string {
	h := sha256.New()
	h.Write([]byte(d.Due.UTC().Format(time.RFC3339Nano)))
	h.Write([]byte{0})
	h.Write([]byte(d.Key))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Handler is called with each deadline whose time has come. It returns nil
// when the deadline is dealt with; an error hands it over again later.
type Handler func(ctx context.Context, d Deadline) error

// Options configure a Store.
type Options struct {
	// Name names the set of deadlines (e.g. "correlation"): its keys, and
	// its consumer, which the replicas share. Letters, digits, '-', '_'.
	Name string
	// Lateness is added to every deadline's Due: the deadline fires after
	// Due + Lateness, and can be cancelled until then.
	Lateness time.Duration
	// Replicas of the stream and the consumer; default 1.
	Replicas int
	// AckWait is how long a replica that took a deadline and went silent
	// keeps it from the others; default 30s. A running callback keeps it
	// however long it runs.
	AckWait time.Duration
	// RetryFirst and RetryLimit bound the backoff between attempts of a
	// failing callback; defaults 1s and 5m.
	RetryFirst, RetryLimit time.Duration
	// Workers bounds the callbacks running at once; default 8.
	Workers int
	// Timeout bounds Schedule and Cancel when their context has no
	// deadline; default 5s.
	Timeout time.Duration
	Log     *slog.Logger
}

// Store schedules, moves and cancels the deadlines of one set, and hands
// over those whose time has come (see the package doc).
type Store struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	cons   jetstream.Consumer
	opt    Options
	log    *slog.Logger
}

// Open creates or updates the DEADLINES stream and the set's consumer, and
// returns the set's Store.
func Open(ctx context.Context, js jetstream.JetStream, opt Options) (*Store, error) {
	if !setName.MatchString(opt.Name) {
		return nil, fmt.Errorf("deadlines: set name %q: want 1 to 64 letters, digits, '-' or '_'", opt.Name)
	}
	opt = opt.withDefaults()
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "alerter: durable deadlines (schedules and the due deadlines not yet handled)",
		Subjects:    []string{Subject + ".>"},
		// A due message goes once it is handled; a schedule once it fires
		// or is cancelled. No MaxAge: it would delete far schedules.
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          opt.Replicas,
		AllowMsgSchedules: true,
		AllowRollup:       true, // the server rolls each key's schedules up
	})
	if err != nil {
		return nil, fmt.Errorf("deadlines: stream %s: %w", Stream, err)
	}
	durable := "deadlines_" + opt.Name
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   "alerter: hands over the due deadlines of set " + opt.Name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opt.AckWait,
		MaxAckPending: 10_000,
		FilterSubject: opt.subject("due", ">"),
		Replicas:      opt.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("deadlines: consumer %s on %s: %w", durable, Stream, err)
	}
	return &Store{js: js, stream: stream, cons: cons, opt: opt, log: opt.Log.With("deadlines", opt.Name)}, nil
}

func (o Options) withDefaults() Options {
	o.Replicas = max(o.Replicas, 1)
	o.Lateness = max(o.Lateness, 0)
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.RetryFirst <= 0 {
		o.RetryFirst = DefaultRetryFirst
	}
	if o.RetryLimit <= 0 {
		o.RetryLimit = DefaultRetryLimit
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// subject is deadlines.<set>.<kind>.<token>.
func (o Options) subject(kind, token string) string {
	return Subject + "." + o.Name + "." + kind + "." + token
}

// token encodes a key as a subject token.
func token(key string) (string, error) {
	if key == "" || len(key) > MaxKeyLen {
		return "", fmt.Errorf("deadlines: key of %d bytes: want 1 to %d", len(key), MaxKeyLen)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(key)), nil
}

// Schedule sets the deadline of key to due, replacing the one it had: it
// fires after due + Options.Lateness with payload, or, if due has passed
// already, Lateness after now: what could still cancel it (the rest of a
// backlog being caught up on) gets as long as a late event gets.
func (s *Store) Schedule(ctx context.Context, key string, due time.Time, payload []byte) error {
	tok, err := token(key)
	if err != nil {
		return err
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("deadlines: payload of %d bytes for key %q: the limit is %d", len(payload), key, MaxPayload)
	}
	if due.IsZero() {
		return fmt.Errorf("deadlines: key %q: no due time", key)
	}
	msg := nats.NewMsg(s.opt.subject("sched", tok))
	msg.Data = payload
	at := due
	if now := time.Now(); at.Before(now) {
		at = now
	}
	msg.Header.Set(scheduleHeader, "@at "+at.Add(s.opt.Lateness).UTC().Format(time.RFC3339Nano))
	msg.Header.Set(targetHeader, s.opt.subject("due", tok))
	msg.Header.Set(dueHeader, due.UTC().Format(time.RFC3339Nano))
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("deadlines: schedule key %q: %w", key, err)
	}
	return nil
}

// Cancel removes the deadline of key, if it has one that has not fired.
func (s *Store) Cancel(ctx context.Context, key string) error {
	tok, err := token(key)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.stream.Purge(ctx, jetstream.WithPurgeSubject(s.opt.subject("sched", tok))); err != nil {
		return fmt.Errorf("deadlines: cancel key %q: %w", key, err)
	}
	return nil
}

func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opt.Timeout)
}

// Run hands the deadlines whose time has come to h, Options.Workers at a
// time, until ctx is done; it then waits for the callbacks running.
// Deadlines taken but not started are handed back at once, for another
// replica.
func (s *Store) Run(ctx context.Context, h Handler) error {
	it, err := s.cons.Messages(jetstream.PullMaxMessages(2 * s.opt.Workers))
	if err != nil {
		return fmt.Errorf("deadlines: consume %s: %w", Stream, err)
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	var running sync.WaitGroup
	defer running.Wait()
	slots := make(chan struct{}, s.opt.Workers)
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			if ctx.Err() == nil {
				// The connection was closed under a running loop.
				return fmt.Errorf("deadlines: consume %s: %w", Stream, err)
			}
			return nil
		}
		if err != nil {
			s.log.Warn("reading due deadlines", "err", err)
			continue
		}
		// Kept from the moment it is taken, not only while its callback
		// runs: it may wait for a free worker longer than AckWait.
		stopKeeping := keepAlive(msg, s.opt.AckWait/3)
		slots <- struct{}{}
		running.Go(func() {
			defer func() { stopKeeping(); <-slots }()
			s.handle(ctx, msg, h)
		})
	}
}

// handle calls h with one due message and settles the message: ack on
// success, nak with a backoff on failure, nak at once when stopping.
func (s *Store) handle(ctx context.Context, msg jetstream.Msg, h Handler) {
	d, err := decode(msg)
	if err != nil {
		// Not written by Schedule: nothing can ever handle it.
		s.log.Error("dropping a malformed due deadline", "subject", msg.Subject(), "err", err)
		_ = msg.TermWithReason(err.Error())
		return
	}
	if ctx.Err() != nil {
		_ = msg.Nak()
		return
	}
	switch err := h(ctx, d); {
	case err == nil:
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.Timeout)
		defer cancel()
		if err := msg.DoubleAck(actx); err != nil {
			s.log.Warn("acknowledging a deadline; it will be handed over again", "key", d.Key, "due", d.Due, "err", err)
		}
	case ctx.Err() != nil:
		_ = msg.Nak()
	default:
		wait := retry.Backoff(d.Attempt, s.opt.RetryFirst, s.opt.RetryLimit)
		s.log.Warn("deadline callback failed; retrying", "key", d.Key, "due", d.Due, "attempt", d.Attempt, "retry_in", wait, "err", err)
		_ = msg.NakWithDelay(wait)
	}
}

// keepAlive tells the server every period that msg is still being worked
// on, until stop is called, so that no other replica is handed it.
func keepAlive(msg jetstream.Msg, period time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// decode reads a due message: the key from its subject, the due time from
// its header.
func decode(msg jetstream.Msg) (Deadline, error) {
	subj := msg.Subject()
	tok := subj[strings.LastIndexByte(subj, '.')+1:]
	key, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(key) == 0 {
		return Deadline{}, fmt.Errorf("subject %s: no key", subj)
	}
	due, err := time.Parse(time.RFC3339Nano, msg.Headers().Get(dueHeader))
	if err != nil {
		return Deadline{}, fmt.Errorf("subject %s: %s: %w", subj, dueHeader, err)
	}
	d := Deadline{Key: string(key), Due: due, Payload: msg.Data(), Attempt: 1}
	if md, err := msg.Metadata(); err == nil {
		d.Attempt = int(md.NumDelivered)
	}
	return d, nil
}
