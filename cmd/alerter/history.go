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
)

// storedEvents reads the events the EVENTS stream stored in the last
// `since`: from the cluster at nats.url, or from a running alerter's
// embedded server when it listens, or else by starting the embedded
// server on its store (alerter must then be stopped: two servers on one
// store would corrupt it).
func storedEvents(ctx context.Context, cfg *config.Config, since time.Duration) ([]event.Event, error) {
	c, err := bus.Attach(ctx, natsOptions(cfg.NATS, "alerter replay"))
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

// natsOptions are the nats section of the config as bus takes it, for a
// connection named name.
func natsOptions(n config.NATS, name string) bus.NATS {
	var tls *bus.TLSFiles
	if n.TLS != (config.TLS{}) {
		tls = &bus.TLSFiles{CA: n.TLS.CA, Cert: n.TLS.Cert, Key: n.TLS.Key}
	}
	return bus.NATS{
		URL: n.URL,
		Connect: bus.ConnectOptions{CredsFile: n.Credentials, User: n.User, Password: n.Password.Value(),
			Token: n.Token.Value(), TLS: tls, Name: name},
		Embedded: bus.EmbeddedOptions{StoreDir: n.Embedded.StoreDir, Listen: n.Embedded.Listen,
			Token: n.Embedded.Token.Value(), SyncAlways: n.Sync == "always"},
	}
}
