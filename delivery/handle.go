package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
)

// verdict is what becomes of a message of the queue.
type verdict struct {
	op    op
	delay time.Duration // of a nak
}

type op int

const (
	ack  op = iota // done with at this target
	nak            // handed back, to be tried again after delay
	term           // never deliverable: not an alert
)

var done = verdict{op: ack}

func later(d time.Duration) verdict { return verdict{op: nak, delay: d} }

// settle acknowledges, hands back or terminates msg: the one place that
// does. Its error is not acted on: a lost answer only lets the ack wait
// hand the alert out again, and the deliveries record keeps it from being
// sent twice.
func settle(msg jetstream.Msg, v verdict) {
	switch v.op {
	case ack:
		_ = msg.Ack()
	case nak:
		_ = msg.NakWithDelay(v.delay)
	case term:
		_ = msg.Term()
	}
}

// attempt is an alert of the queue being tried at the target.
type attempt struct {
	msg   jetstream.Msg
	a     alerter.Alert
	n     int       // which attempt at this target, 1 for the first
	since time.Time // what the tries and the age count from
	round string    // names a redelivery's dead letter; else ""
}

// Handle takes one message of the queue through delivery and settles it.
// Run calls it for each message; tests hand it messages of their own.
func (d *Deliverer) Handle(ctx context.Context, msg jetstream.Msg) {
	at, v, ok := d.take(ctx, msg)
	if ok {
		v = d.try(ctx, at)
	}
	settle(msg, v)
}

// take reads a message of the queue and tells whether its alert is to be
// tried at this target; if not, v is what becomes of the message.
func (d *Deliverer) take(ctx context.Context, msg jetstream.Msg) (at *attempt, v verdict, ok bool) {
	var a alerter.Alert
	if err := json.Unmarshal(msg.Data(), &a); err != nil {
		d.log.Error("not an alert in the ALERTS stream; skipped", "subject", msg.Subject(), "err", err)
		return nil, verdict{op: term}, false
	}
	// A dead letter handed back (POST /api/v1/alerts/{id}/redeliver) is a
	// copy for its one target; its tries and age count from the handing
	// back.
	redeliver, rev := false, uint64(0)
	if h := msg.Headers(); h != nil && h.Get(bus.RedeliverHeader) != "" {
		if h.Get(bus.RedeliverHeader) != d.opt.Name {
			return nil, done, false
		}
		redeliver = true
		rev, _ = strconv.ParseUint(h.Get(bus.RedeliverRevHeader), 10, 64)
	}
	if !slices.Contains(a.Notify, d.opt.Name) {
		return nil, done, false
	}
	md, err := msg.Metadata()
	if err != nil {
		d.log.Warn("reading an alert's delivery metadata; will retry", "alert", a.ID, "err", err)
		return nil, later(time.Second), false
	}
	at = &attempt{msg: msg, a: a, n: int(md.NumDelivered), since: a.FiredAt}
	// A notice is as old as the resolve or acknowledgement, not the alert.
	if a.Resolves != "" && a.ResolvedAt != nil {
		at.since = *a.ResolvedAt
	} else if a.Acknowledges != "" && a.AcknowledgedAt != nil {
		at.since = *a.AcknowledgedAt
	}
	if !redeliver {
		// After a crash, alerts already settled come again, and an alert id
		// can be stored again once the message-id window has passed (a
		// signed webhook replayed later, an event evaluated again): the
		// record stops them, whenever they were stored (a requeued one
		// too: its copy is the one to send). Only a crash between sending
		// and recording can send one twice.
		v, settled := d.settled(ctx, &a)
		return at, v, !settled
	}
	// Of the copies stored for one handing back (a request repeated after
	// the duplicate window), the first claims it; the others, and any copy
	// once the record moved on, are skipped.
	claimed, err := d.opt.Record.Claim(ctx, d.opt.Name, a.ID, rev, md.Sequence.Stream)
	if err != nil {
		d.log.Warn("claiming a redelivery; will retry", "alert", a.ID, "err", err)
		return nil, later(time.Second), false
	}
	if !claimed {
		d.stats.Skipped.Add(1)
		return nil, done, false
	}
	at.since, at.round = md.Timestamp, fmt.Sprintf("r%d", md.Sequence.Stream)
	return at, verdict{}, true
}

// settled tells whether the alert needs nothing more now: it was settled
// at this target already (it is acknowledged), or the record could not be
// read (it is handed back, to be tried again).
func (d *Deliverer) settled(ctx context.Context, a *alerter.Alert) (verdict, bool) {
	o, ok, err := d.opt.Record.Get(ctx, d.opt.Name, a.ID)
	switch {
	case err != nil:
		d.log.Error("reading the deliveries record; will retry", "alert", a.ID, "err", err)
		return later(time.Second), true
	case ok:
		d.stats.Skipped.Add(1)
		// Debug: a queue made anew passes over every alert of max_age
		// that was settled; the count is alerter_notifications_total
		// {outcome="skipped"}.
		d.log.Debug("alert already settled at this target; not sent again", "alert", a.ID, "status", o.Status)
		return done, true
	}
	return verdict{}, false
}

// try silences the alert or sends it, and records what came of it. A
// notice (a resolve or an acknowledgement notification) is never
// silenced: it goes only to targets that got the alert, which must hear
// that someone is on it, or that it is over (docs/notifications.md, The
// alert lifecycle).
func (d *Deliverer) try(ctx context.Context, at *attempt) verdict {
	notice := at.a.Resolves != "" || at.a.Acknowledges != ""
	if d.opt.Silencer != nil && !ownAction(&at.a) && !notice {
		if ids := d.opt.Silencer.Matching(&at.a, d.now()); len(ids) > 0 {
			d.stats.Silenced.Add(1)
			return d.record(ctx, &at.a, alerter.Outcome{Status: alerter.Silenced, Attempts: at.n - 1, Silences: ids})
		}
	}
	if v, stale := d.overtaken(ctx, &at.a); stale {
		return v
	}
	if err := d.waitTurn(ctx, at.msg); err != nil {
		return later(time.Second)
	}
	actx, cancel := context.WithTimeout(ctx, d.opt.Policy.Timeout)
	ref, err := d.send(actx, &at.a)
	cancel()
	if err == nil {
		d.stats.Sent.Add(1)
		return d.record(ctx, &at.a, alerter.Outcome{Status: alerter.Sent, Attempts: at.n, Ref: ref})
	}
	d.stats.Failed.Add(1)
	act, wait, why := d.opt.Policy.next(err, at.n, d.now().Sub(at.since))
	if act == giveUp {
		return d.dead(ctx, at, why, err)
	}
	d.stats.Retried.Add(1)
	d.log.Warn("notification failed; will retry", "alert", at.a.ID, "attempt", at.n, "retry_in", wait, "err", err)
	return later(wait)
}

// overtaken tells whether a is an acknowledgement notification whose
// alert's resolve notification was sent here already (the acknowledgement
// retried, or handed out late): sent now, it would show the alert as
// acknowledged again (a Slack message its Resolve button back). It is
// recorded as sent, without sending; a record that cannot be read is
// tried again later.
func (d *Deliverer) overtaken(ctx context.Context, a *alerter.Alert) (verdict, bool) {
	if a.Acknowledges == "" {
		return verdict{}, false
	}
	o, found, err := d.opt.Record.Get(ctx, d.opt.Name, a.Acknowledges+alerter.ResolvedSuffix)
	switch {
	case err != nil:
		d.log.Warn("reading the deliveries record; will retry", "alert", a.ID, "err", err)
		return later(time.Second), true
	case found && o.Status == alerter.Sent:
		d.stats.Skipped.Add(1)
		return d.record(ctx, a, alerter.Outcome{Status: alerter.Sent}), true
	}
	return verdict{}, false
}

// send sends a to the target. A RefNotifier is handed the ref recorded
// when the alert that a resolves, acknowledges or escalates was sent
// here, and gives the ref of a's message, to be recorded with it. A record that cannot be read
// is an attempt failed, tried again later: sent without its ref, a resolve
// would be a message of its own rather than the alert's message updated.
func (d *Deliverer) send(ctx context.Context, a *alerter.Alert) (string, error) {
	rn, ok := d.opt.Notifier.(RefNotifier)
	if !ok {
		return "", d.opt.Notifier.Notify(ctx, a)
	}
	var ref string
	if of := cmp.Or(a.Resolves, a.Acknowledges, a.Escalates); of != "" {
		o, found, err := d.opt.Record.Get(ctx, d.opt.Name, of)
		if err != nil {
			return "", fmt.Errorf("reading where alert %s was sent: %w", of, err)
		}
		if found && o.Status == alerter.Sent {
			ref = o.Ref
		}
	}
	return rn.NotifyRef(ctx, a, ref)
}

// ownAction tells an alert on one of alerter's own actions, which no
// silence mutes: a silence could otherwise mute the alert about itself
// (a silence of the rule that watches silences, created with it).
func ownAction(a *alerter.Alert) bool {
	return a.Event != nil && a.Event.Source == config.OwnSource
}

// waitTurn waits for the target's rate limit, telling JetStream meanwhile
// that the alert is in progress: a wait longer than the ack wait must not
// hand the alert to another worker, which would send it too. (The consumer
// hands out no more alerts than there are workers, so none waits for a
// worker unseen.)
func (d *Deliverer) waitTurn(ctx context.Context, msg jetstream.Msg) error {
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

// record writes the outcome; the alert is done with here, even if that
// fails.
func (d *Deliverer) record(ctx context.Context, a *alerter.Alert, o alerter.Outcome) verdict {
	o.At = d.now().UTC()
	if err := d.opt.Record.Put(ctx, d.opt.Name, a.ID, o); err != nil {
		d.log.Warn("recording a delivery", "alert", a.ID, "err", err)
	}
	return done
}

// dead stores a dead letter and records the outcome.
func (d *Deliverer) dead(ctx context.Context, at *attempt, why string, cause error) verdict {
	a := &at.a
	dl := alerter.DeadLetter{Notifier: d.opt.Name, Alert: a, Attempts: at.n, Reason: why, Error: cause.Error(), At: d.now().UTC()}
	b, err := json.Marshal(dl)
	if err == nil {
		err = d.opt.DeadLetters.PublishDeadLetter(ctx, d.opt.Name, a.ID, at.round, b)
	}
	if err != nil {
		// Not recorded as dead: try again later rather than lose it.
		d.log.Error("storing a dead letter; will retry", "alert", a.ID, "err", err)
		return later(5 * time.Second)
	}
	d.stats.Dead.Add(1)
	d.log.Error("notification given up: dead letter", "alert", a.ID, "rule", a.Rule, "attempts", at.n, "reason", why, "err", cause)
	return d.record(ctx, a, alerter.Outcome{Status: alerter.Dead, Attempts: at.n, Error: cause.Error()})
}
