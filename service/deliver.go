package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/retry"
	"github.com/alerter/alerter/notifiers"
)

// silencer tells which silences match an alert now.
type silencer interface {
	Matching(a *alerter.Alert, now time.Time) []string
}

// deliveryPolicy is how hard a target is tried.
type deliveryPolicy struct {
	maxAttempts int           // 0: no limit
	maxAge      time.Duration // since the alert fired
	maxBackoff  time.Duration
	timeout     time.Duration // of one attempt
	rate        float64       // sends per second; 0: no limit
}

// deliverer sends the alerts routed to one target: a durable consumer of
// ALERTS per target, so that a slow or failing target does not hold the
// others up. An alert is acknowledged only once the target took it, was
// silenced, or was given up on (a dead letter); a failed attempt is
// handed back to JetStream with a delay that grows exponentially, with
// jitter, or is what the target asked for (Retry-After).
type deliverer struct {
	name string
	cons jetstream.Consumer
	// js, replicas and ackWait make the queue again if it is deleted.
	js       jetstream.JetStream
	replicas int
	ackWait  time.Duration
	n        Notifier
	done     *bus.Deliveries
	streams  *bus.Streams
	silence  silencer
	policy   deliveryPolicy
	limit    *rate.Limiter
	now      func() time.Time
	log      *slog.Logger
	stats    DeliveryStats
}

// DeliveryStats count what a deliverer did.
type DeliveryStats struct {
	Sent, Failed, Retried, Dead, Silenced, Skipped counter
	// QueueLost counts the times the target's queue was deleted under it
	// (and made again).
	QueueLost counter
}

func newDeliverer(ctx context.Context, js jetstream.JetStream, name string, n Notifier, p deliveryPolicy, replicas int, ackWait time.Duration, log *slog.Logger) (*deliverer, error) {
	d := &deliverer{name: name, js: js, replicas: replicas, ackWait: ackWait, n: n, policy: p, now: time.Now, log: log.With("notifier", name)}
	if err := d.ensureConsumer(ctx); err != nil {
		return nil, err
	}
	if p.rate > 0 {
		d.limit = rate.NewLimiter(rate.Limit(p.rate), 1)
	}
	return d, nil
}

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
func (d *deliverer) ensureConsumer(ctx context.Context) error {
	durable := "notify-" + d.name
	// An attempt must end before its alert is handed out again.
	ackWait := max(d.ackWait, d.policy.timeout+2*time.Second)
	cfg := jetstream.ConsumerConfig{
		Durable:     durable,
		Description: "alerter: delivers alerts to notifier " + d.name,
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     ackWait,
		// No more alerts out than workers to take them: one that waited in
		// the client's buffer past the ack wait would be handed out again.
		MaxAckPending: deliveryWorkers,
		FilterSubject: bus.AlertsSubject + ".>",
		Replicas:      d.replicas,
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
			d.cons = cons
			return nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("consumer %s on %s: %w", durable, bus.AlertsStream, err)
		}
		window := d.policy.maxAge
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
		d.cons = cons
		return nil
	}
}

// deliveryWorkers send to one target at once: a send is mostly waiting
// (the target's answer, the deliveries record), and one at a time caps a
// target at a few thousand alerts a second. The rate limit, if any, still
// holds across them.
const deliveryWorkers = 16

func (d *deliverer) run(ctx context.Context) error {
	// A send under way when the service stops is finished (bounded by the
	// attempt timeout): cutting it off could send it twice.
	work := context.WithoutCancel(ctx)
	msgs := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range deliveryWorkers {
		wg.Go(func() {
			for msg := range msgs {
				d.handle(work, msg)
			}
		})
	}
	defer wg.Wait()
	defer close(msgs)
	for {
		it, err := d.cons.Messages(jetstream.PullMaxMessages(64))
		if err != nil {
			return fmt.Errorf("consume %s for %s: %w", bus.AlertsStream, d.name, err)
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
		d.log.Error("the notifier's queue was deleted; making it again, from the alerts of the last max_age that this target has not settled", "queue", "notify-"+d.name)
		for attempt := 1; ; attempt++ {
			err := d.ensureConsumer(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			d.log.Error("making the notifier's queue again; will retry", "attempt", attempt, "err", err)
			if retry.Sleep(ctx, retry.Backoff(attempt, time.Second, time.Minute)) != nil {
				return nil
			}
		}
	}
}

// consume hands the queue's alerts to the workers until ctx is done
// (false) or the queue is deleted (true).
func (d *deliverer) consume(ctx context.Context, it jetstream.MessagesContext, msgs chan<- jetstream.Msg) bool {
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

func (d *deliverer) handle(ctx context.Context, msg jetstream.Msg) {
	var a alerter.Alert
	if err := json.Unmarshal(msg.Data(), &a); err != nil {
		d.log.Error("not an alert in the ALERTS stream; skipped", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	// A dead letter handed back (POST /api/v1/alerts/{id}/redeliver) is a
	// copy for its one target; its tries and age count from the handing
	// back.
	redeliver, rev := false, uint64(0)
	if h := msg.Headers(); h != nil && h.Get(bus.RedeliverHeader) != "" {
		if h.Get(bus.RedeliverHeader) != d.name {
			_ = msg.Ack()
			return
		}
		redeliver = true
		rev, _ = strconv.ParseUint(h.Get(bus.RedeliverRevHeader), 10, 64)
	}
	if !slices.Contains(a.Notify, d.name) {
		_ = msg.Ack()
		return
	}
	md, err := msg.Metadata()
	if err != nil {
		d.log.Warn("reading an alert's delivery metadata; will retry", "alert", a.ID, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	attempt, since, round := int(md.NumDelivered), a.FiredAt, ""
	switch {
	case redeliver:
		// Of the copies stored for one handing back (a request repeated
		// after the duplicate window), the first claims it; the others,
		// and any copy once the record moved on, are skipped.
		claimed, err := d.done.Claim(ctx, d.name, a.ID, rev, md.Sequence.Stream)
		if err != nil {
			d.log.Warn("claiming a redelivery; will retry", "alert", a.ID, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		if !claimed {
			d.stats.Skipped.Add(1)
			_ = msg.Ack()
			return
		}
		since, round = md.Timestamp, fmt.Sprintf("r%d", md.Sequence.Stream)
	case d.settled(ctx, msg, &a):
		// After a crash, alerts already settled come again, and an alert id
		// can be stored again once the message-id window has passed (a
		// signed webhook replayed later, an event evaluated again): the
		// record stops them, whenever they were stored (a requeued one
		// too: its copy is the one to send). Only a crash between sending
		// and recording can send one twice.
		return
	}
	if d.silence != nil && !ownAction(&a) {
		if ids := d.silence.Matching(&a, d.now()); len(ids) > 0 {
			d.stats.Silenced.Add(1)
			d.record(ctx, msg, &a, alerter.Outcome{Status: alerter.Silenced, Attempts: attempt - 1, Silences: ids})
			return
		}
	}
	if err := d.waitTurn(ctx, msg); err != nil {
		_ = msg.NakWithDelay(time.Second)
		return
	}
	actx, cancel := context.WithTimeout(ctx, d.policy.timeout)
	err = d.n.Notify(actx, &a)
	cancel()
	if err == nil {
		d.stats.Sent.Add(1)
		d.record(ctx, msg, &a, alerter.Outcome{Status: alerter.Sent, Attempts: attempt})
		return
	}
	d.stats.Failed.Add(1)
	retryable, after := notifiers.Classify(err)
	age := d.now().Sub(since)
	var why string
	switch {
	case !retryable:
		why = "the target refused it for good"
	case d.policy.maxAttempts > 0 && attempt >= d.policy.maxAttempts:
		why = fmt.Sprintf("%d attempts failed", attempt)
	case d.policy.maxAge > 0 && age >= d.policy.maxAge:
		why = fmt.Sprintf("not delivered in %s", d.policy.maxAge)
	}
	if why != "" {
		d.dead(ctx, msg, &a, attempt, round, why, err)
		return
	}
	limit := d.policy.maxBackoff
	if limit <= 0 {
		limit = config.DefaultMaxBackoff
	}
	wait := max(after, retry.Backoff(attempt, time.Second, limit))
	d.stats.Retried.Add(1)
	d.log.Warn("notification failed; will retry", "alert", a.ID, "attempt", attempt, "retry_in", wait, "err", err)
	_ = msg.NakWithDelay(wait)
}

// waitTurn waits for the target's rate limit, telling JetStream meanwhile
// that the alert is in progress: a wait longer than the ack wait must not
// hand the alert to another worker, which would send it too. (The consumer
// hands out no more alerts than there are workers, so none waits for a
// worker unseen.)
func (d *deliverer) waitTurn(ctx context.Context, msg jetstream.Msg) error {
	if d.limit == nil {
		return nil
	}
	r := d.limit.Reserve()
	if !r.OK() {
		return errors.New("the rate limit cannot be met")
	}
	if r.Delay() == 0 {
		return nil
	}
	turn := time.NewTimer(r.Delay())
	defer turn.Stop()
	alive := time.NewTicker(time.Second)
	defer alive.Stop()
	for {
		select {
		case <-turn.C:
			return nil
		case <-alive.C:
			_ = msg.InProgress()
		case <-ctx.Done():
			r.Cancel()
			return ctx.Err()
		}
	}
}

// settled tells whether the alert needs nothing more now: it was settled
// at this target already (it is acknowledged), or the
// record could not be read (it is handed back, to be tried again).
func (d *deliverer) settled(ctx context.Context, msg jetstream.Msg, a *alerter.Alert) bool {
	o, ok, err := d.done.Get(ctx, d.name, a.ID)
	switch {
	case err != nil:
		d.log.Error("reading the deliveries record; will retry", "alert", a.ID, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return true
	case ok:
		d.stats.Skipped.Add(1)
		// Debug: a queue made anew passes over every alert of max_age
		// that was settled; the count is alerter_notifications_total
		// {outcome="skipped"}.
		d.log.Debug("alert already settled at this target; not sent again", "alert", a.ID, "status", o.Status)
		_ = msg.Ack()
		return true
	}
	return false
}

// record writes the outcome, then acknowledges the alert.
func (d *deliverer) record(ctx context.Context, msg jetstream.Msg, a *alerter.Alert, o alerter.Outcome) {
	o.At = d.now().UTC()
	if err := d.done.Put(ctx, d.name, a.ID, o); err != nil {
		d.log.Warn("recording a delivery", "alert", a.ID, "err", err)
	}
	_ = msg.Ack()
}

// dead records a dead letter; round names a redelivery's (else "").
func (d *deliverer) dead(ctx context.Context, msg jetstream.Msg, a *alerter.Alert, attempt int, round, why string, cause error) {
	dl := alerter.DeadLetter{Notifier: d.name, Alert: a, Attempts: attempt, Reason: why, Error: cause.Error(), At: d.now().UTC()}
	b, err := json.Marshal(dl)
	if err == nil {
		err = d.streams.PublishDeadLetter(ctx, d.name, a.ID, round, b)
	}
	if err != nil {
		// Not recorded as dead: try again later rather than lose it.
		d.log.Error("storing a dead letter; will retry", "alert", a.ID, "err", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	d.stats.Dead.Add(1)
	d.log.Error("notification given up: dead letter", "alert", a.ID, "rule", a.Rule, "attempts", attempt, "reason", why, "err", cause)
	d.record(ctx, msg, a, alerter.Outcome{Status: alerter.Dead, Attempts: attempt, Error: cause.Error()})
}
