package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
)

// notifier sends one alert to one target.
type notifier interface {
	Notify(ctx context.Context, a *engine.Alert) error
}

// deliverer sends the alerts routed to one target, each once: a durable
// consumer of ALERTS per target, so that a slow or failing target does not
// hold the others up, and an alert is acknowledged only once the target
// took it.
type deliverer struct {
	name  string
	cons  jetstream.Consumer
	n     notifier
	done  *bus.Deliveries
	log   *slog.Logger
	retry time.Duration
}

func newDeliverer(ctx context.Context, js jetstream.JetStream, name string, n notifier, done *bus.Deliveries, replicas int, ackWait time.Duration, log *slog.Logger) (*deliverer, error) {
	durable := "notify-" + name
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.AlertsStream, jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   "alerter: delivers alerts to notifier " + name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: 1000,
		FilterSubject: bus.AlertsSubject + ".>",
		// A new target starts with the alerts that fire from now on, not
		// with the whole history.
		DeliverPolicy: jetstream.DeliverNewPolicy,
		Replicas:      replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", durable, bus.AlertsStream, err)
	}
	return &deliverer{name: name, cons: cons, n: n, done: done, log: log.With("notifier", name), retry: 5 * time.Second}, nil
}

func (d *deliverer) run(ctx context.Context) error {
	it, err := d.cons.Messages(jetstream.PullMaxMessages(64))
	if err != nil {
		return fmt.Errorf("consume %s for %s: %w", bus.AlertsStream, d.name, err)
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	work := context.WithoutCancel(ctx)
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			d.log.Warn("reading alerts", "err", err)
			continue
		}
		d.handle(work, msg)
	}
}

func (d *deliverer) handle(ctx context.Context, msg jetstream.Msg) {
	var a engine.Alert
	if err := json.Unmarshal(msg.Data(), &a); err != nil {
		d.log.Error("not an alert in the ALERTS stream; skipped", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	if !slices.Contains(a.Notify, d.name) {
		_ = msg.Ack()
		return
	}
	// After a crash, alerts already delivered come again: the record of
	// deliveries stops them. Only a crash between sending and recording
	// can still send one twice.
	if sent, err := d.done.Delivered(ctx, d.name, a.ID); err != nil {
		d.log.Error("reading the deliveries record; will retry", "alert", a.ID, "err", err)
		_ = msg.NakWithDelay(d.retry)
		return
	} else if sent {
		d.log.Info("alert already delivered before a restart; not sent again", "alert", a.ID)
		_ = msg.Ack()
		return
	}
	if err := d.n.Notify(ctx, &a); err != nil {
		d.log.Error("notification failed; will retry", "alert", a.ID, "err", err)
		_ = msg.NakWithDelay(d.retry)
		return
	}
	if err := d.done.Mark(ctx, d.name, a.ID); err != nil {
		d.log.Warn("recording a delivery", "alert", a.ID, "err", err)
	}
	_ = msg.Ack()
}
