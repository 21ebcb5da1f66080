package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
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
	nc, stop, err := historyConn(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer stop()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	var evs []event.Event
	err = bus.ReadEvents(ctx, js, time.Now().Add(-since), func(m jetstream.Msg) error {
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

func historyConn(ctx context.Context, cfg *config.Config) (*nats.Conn, func(), error) {
	n := cfg.NATS
	if n.URL != "" {
		var tls *bus.TLSFiles
		if n.TLS != (config.TLS{}) {
			tls = &bus.TLSFiles{CA: n.TLS.CA, Cert: n.TLS.Cert, Key: n.TLS.Key}
		}
		nc, err := bus.Connect(ctx, n.URL, bus.ConnectOptions{CredsFile: n.Credentials, User: n.User,
			Password: n.Password.Value(), Token: n.Token.Value(), TLS: tls, Name: "alerter replay"})
		if err != nil {
			return nil, nil, err
		}
		return nc, nc.Close, nil
	}
	if n.Embedded.Listen != "" {
		// The running server requires its token: the configured one, or
		// the one it keeps in its store dir.
		token := n.Embedded.Token.Value()
		if token == "" {
			token, _ = bus.ReadTokenFile(n.Embedded.StoreDir)
		}
		nc, err := nats.Connect("nats://"+n.Embedded.Listen, nats.Name("alerter replay"), nats.Timeout(2*time.Second), nats.Token(token))
		switch {
		case err == nil:
			return nc, nc.Close, nil
		case errors.Is(err, nats.ErrAuthorization):
			return nil, nil, fmt.Errorf("connect to the embedded nats at %s: the token was refused (nats.embedded.token, or %s)", n.Embedded.Listen, bus.TokenFile(n.Embedded.StoreDir))
		}
	}
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: n.Embedded.StoreDir}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s (is alerter running? set nats.embedded.listen to replay from it): %w", n.Embedded.StoreDir, err)
	}
	nc, err := srv.Connect()
	if err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	return nc, func() { nc.Close(); srv.Shutdown() }, nil
}
