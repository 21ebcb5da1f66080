// Package delivery sends the alerts stored in ALERTS to their targets
// (docs/running.md, The pipeline; docs/notifications.md): one Deliverer per
// notifier, each a durable consumer of ALERTS, so that a slow or failing
// target does not hold the others up. An alert is acknowledged only once
// the target took it, was silenced, or was given up on (a dead letter); a
// failed attempt is handed back to JetStream with a delay that grows
// exponentially, with jitter, or is what the target asked for
// (Retry-After). Policy.next decides which; settle alone acknowledges or
// hands back. A target that says where it put an alert (a RefNotifier)
// has that recorded with the delivery and handed back with the alert's
// resolve notification and escalations.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/retry"
)

// Notifier sends one alert to one target (the notifiers packages).
type Notifier interface {
	Notify(ctx context.Context, a *alerter.Alert) error
}

// RefNotifier is a Notifier that keeps where it put each alert (a ref,
// the target's own name for its message, which delivery only stores and
// hands back) so that what follows an alert reaches the same message: its
// resolve notification updates it, its escalations answer it (the slack
// notifier with a bot token; docs/notifications.md, The alert lifecycle).
type RefNotifier interface {
	// NotifyRef sends a, given the ref of the message of the alert that a
	// resolves or escalates at this target ("" if none is known), and
	// returns the ref of the message it made ("" for none).
	NotifyRef(ctx context.Context, a *alerter.Alert, ref string) (string, error)
}

// Record is the deliveries record: what became of each alert at each
// target (bus.Deliveries).
type Record interface {
	Get(ctx context.Context, target, alertID string) (alerter.Outcome, bool, error)
	Put(ctx context.Context, target, alertID string, o alerter.Outcome) error
	// Claim takes a dead letter handed back (see bus.Deliveries.Claim).
	Claim(ctx context.Context, target, alertID string, rev, seq uint64) (bool, error)
}

// DeadLetters stores the alerts given up on (bus.Streams).
type DeadLetters interface {
	PublishDeadLetter(ctx context.Context, target, alertID, round string, data []byte) error
}

// Silencer tells which silences match an alert now (silences.Store).
type Silencer interface {
	Matching(a *alerter.Alert, now time.Time) []string
}

// Options are what a Deliverer works with. Name, Notifier, Record and
// DeadLetters are required.
type Options struct {
	Name        string // the notifier's
	Notifier    Notifier
	Policy      Policy
	Record      Record
	DeadLetters DeadLetters
	Silencer    Silencer // nil: nothing is silenced
	Log         *slog.Logger
	// Replicas and AckWait are the queue's (its consumer's).
	Replicas int
	AckWait  time.Duration
}

// Deliverer sends the alerts routed to one target (see the package doc).
type Deliverer struct {
	opt  Options
	js   jetstream.JetStream // makes the queue again if it is deleted
	cons atomic.Pointer[jetstream.Consumer]
	// limit is the target's rate limit; nil: none.
	limit *rate.Limiter
	now   func() time.Time
	log   *slog.Logger
	stats Stats
}

// Stats count what a deliverer did.
type Stats struct {
	Sent, Failed, Retried, Dead, Silenced, Skipped atomic.Int64
	// QueueLost counts the times the target's queue was deleted under it
	// (and made again).
	QueueLost atomic.Int64
}

// New creates or updates the target's queue and returns its deliverer,
// ready to Run.
func New(ctx context.Context, js jetstream.JetStream, opt Options) (*Deliverer, error) {
	if opt.Notifier == nil || opt.Record == nil || opt.DeadLetters == nil {
		return nil, fmt.Errorf("notifier %s: a notifier, a deliveries record and a dead letter store are required", opt.Name)
	}
	if opt.Policy.Timeout <= 0 {
		opt.Policy.Timeout = config.DefaultNotifierTimeout
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	d := &Deliverer{opt: opt, js: js, now: time.Now, log: opt.Log.With("notifier", opt.Name)}
	if err := d.ensureConsumer(ctx); err != nil {
		return nil, err
	}
	if opt.Policy.Rate > 0 {
		d.limit = rate.NewLimiter(rate.Limit(opt.Policy.Rate), 1)
	}
	return d, nil
}

// Name is the target's.
func (d *Deliverer) Name() string { return d.opt.Name }

// Stats returns the deliverer's counters.
func (d *Deliverer) Stats() *Stats { return &d.stats }

// Pending counts the alerts in the target's queue, waiting or being tried.
func (d *Deliverer) Pending(ctx context.Context) (uint64, error) {
	info, err := (*d.cons.Load()).Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// queue is the name of the target's durable consumer.
func (d *Deliverer) queue() string { return "notify-" + d.opt.Name }

// ensureConsumer creates the target's queue, a durable consumer of ALERTS,
// or updates it to the config.
//
// A queue that is created starts with the alerts fired in the last
// max_age, not with new ones only: the queue of a target that existed may
// have been lost (its state deleted or corrupt) with alerts pending, which
// would otherwise never be sent. Of those alerts, the ones settled already
// are skipped by the deliveries record (kept longer than max_age), and
// the ones not routed to this target (all of them, for a target that is
// new) are passed over: a new target gets no old alerts.
func (d *Deliverer) ensureConsumer(ctx context.Context) error {
	durable := d.queue()
	cfg := jetstream.ConsumerConfig{
		Durable:     durable,
		Description: "alerter: delivers alerts to notifier " + d.opt.Name,
		AckPolicy:   jetstream.AckExplicitPolicy,
		// An attempt must end before its alert is handed out again.
		AckWait: max(d.opt.AckWait, d.opt.Policy.Timeout+2*time.Second),
		// No more alerts out than workers to take them: one that waited in
		// the client's buffer past the ack wait would be handed out again.
		MaxAckPending: Workers,
		FilterSubject: bus.AlertsSubject + ".>",
		Replicas:      d.opt.Replicas,
	}
	for {
		cons, err := d.js.Consumer(ctx, bus.AlertsStream, durable)
		if err == nil {
			// Where a queue starts cannot change once it is made.
			old := cons.CachedInfo().Config
			cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
			if cons, err = d.js.UpdateConsumer(ctx, bus.AlertsStream, cfg); err != nil {
				return fmt.Errorf("consumer %s on %s: %w", durable, bus.AlertsStream, err)
			}
			d.cons.Store(&cons)
			return nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("consumer %s on %s: %w", durable, bus.AlertsStream, err)
		}
		window := d.opt.Policy.MaxAge
		if window <= 0 {
			window = config.DefaultNotifierMaxAge
		}
		from := d.now().Add(-window).UTC()
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
		cons, err = d.js.CreateConsumer(ctx, bus.AlertsStream, cfg)
		if errors.Is(err, jetstream.ErrConsumerExists) {
			continue // another replica made it meanwhile: take theirs
		}
		if err != nil {
			return fmt.Errorf("consumer %s on %s: %w", durable, bus.AlertsStream, err)
		}
		d.log.Info("notifier queue created: it starts with the alerts of the last max_age that this target has not settled (none for a new target)",
			"queue", durable, "from", from)
		d.cons.Store(&cons)
		return nil
	}
}

// Workers send to one target at once: a send is mostly waiting (the
// target's answer, the deliveries record), and one at a time caps a target
// at a few thousand alerts a second. The rate limit, if any, still holds
// across them.
const Workers = 16

// Run delivers until ctx is done. A send under way then is finished
// (bounded by the attempt timeout): cutting it off could send it twice.
func (d *Deliverer) Run(ctx context.Context) error {
	work := context.WithoutCancel(ctx)
	msgs := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range Workers {
		wg.Go(func() {
			for msg := range msgs {
				d.Handle(work, msg)
			}
		})
	}
	defer wg.Wait()
	defer close(msgs)
	for {
		it, err := (*d.cons.Load()).Messages(jetstream.PullMaxMessages(64))
		if err != nil {
			return fmt.Errorf("consume %s for %s: %w", bus.AlertsStream, d.opt.Name, err)
		}
		stop := context.AfterFunc(ctx, it.Drain)
		deleted := d.consume(ctx, it, msgs)
		stop()
		it.Stop()
		if !deleted {
			return nil
		}
		// Its pending alerts would otherwise never be sent, and no other
		// alert either.
		d.stats.QueueLost.Add(1)
		d.log.Error("the notifier's queue was deleted; making it again, from the alerts of the last max_age that this target has not settled", "queue", d.queue())
		if !d.remake(ctx) {
			return nil
		}
	}
}

// remake makes the queue again, retrying until it is made (true) or ctx
// is done (false).
func (d *Deliverer) remake(ctx context.Context) bool {
	for attempt := 1; ; attempt++ {
		err := d.ensureConsumer(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.log.Error("making the notifier's queue again; will retry", "attempt", attempt, "err", err)
		if retry.Sleep(ctx, retry.Backoff(attempt, time.Second, time.Minute)) != nil {
			return false
		}
	}
}

// consume hands the queue's alerts to the workers until ctx is done
// (false) or the queue is deleted (true).
func (d *Deliverer) consume(ctx context.Context, it jetstream.MessagesContext, msgs chan<- jetstream.Msg) bool {
	for {
		msg, err := it.Next()
		switch {
		case err == nil:
			msgs <- msg
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
			return ctx.Err() == nil
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return false
		default:
			d.log.Warn("reading alerts", "err", err)
		}
	}
}

// Send sends a to the target at once, outside its queue (a test
// notification), within the attempt timeout and counting against the
// target's rate limit, so that a test cannot earn the alerts a 429. An
// error wrapping ErrRateLimit is the limit's: a sent nothing.
func (d *Deliverer) Send(ctx context.Context, a *alerter.Alert) error {
	ctx, cancel := context.WithTimeout(ctx, d.opt.Policy.Timeout)
	defer cancel()
	if d.limit != nil {
		if err := d.limit.Wait(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrRateLimit, err)
		}
	}
	return d.opt.Notifier.Notify(ctx, a)
}

// ErrRateLimit is a send that the target's rate limit did not let through.
var ErrRateLimit = errors.New("the target's rate limit")
