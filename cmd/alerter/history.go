package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/busconfig"
)

// storedEvents reads the events the EVENTS stream stored in the last
// `since`: from the cluster at nats.url, or from a running alerter's
// embedded server when it listens, or else by starting the embedded
// server on its store (alerter must then be stopped: two servers on one
// store would corrupt it).
func storedEvents(ctx context.Context, cfg *config.Config, since time.Duration) ([]event.Event, error) {
	c, err := bus.Attach(ctx, busconfig.NATS(cfg.NATS, "alerter replay", nil))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var evs []event.Event
	err = bus.ReadEvents(ctx, c.JS, time.Now().Add(-since), func(m jetstream.Msg) error {
		ev, err := event.Decode(m.Data())
		if err != nil {
			return err
		}
		evs = append(evs, ev)
		return nil
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("no EVENTS stream there: alerter has not stored events yet")
	}
	return evs, err
}
