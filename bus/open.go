package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is where alerter's NATS is and how to reach it: the nats section of
// the configuration (docs/configuration.md), its secrets revealed.
type NATS struct {
	// URL joins an existing cluster; "" means the embedded server.
	URL string
	// Connect authenticates and names the connection to URL, and to a
	// running alerter's embedded server (Attach).
	Connect ConnectOptions
	// Embedded is the embedded server's store dir, listener and token.
	// A listening server without a token uses the one kept in its store
	// dir (EmbeddedToken).
	Embedded EmbeddedOptions
}

// Conn is a connection to alerter's NATS, and the embedded server this
// process runs, if any.
type Conn struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Embedded *Embedded // nil when this process runs no server
}

// Close closes the connection and stops the server this process runs.
func (c *Conn) Close() {
	c.NC.Close()
	if c.Embedded != nil {
		c.Embedded.Shutdown()
	}
}

// Open connects alerter to its NATS: the cluster at n.URL, or else an
// embedded server it starts on n.Embedded.
func Open(ctx context.Context, n NATS, log *slog.Logger) (*Conn, error) {
	if n.URL != "" {
		return dial(ctx, n)
	}
	e := n.Embedded
	if e.Token == "" && e.Listen != "" {
		var err error
		if e.Token, err = EmbeddedToken(e.StoreDir); err != nil {
			return nil, err
		}
	}
	srv, err := StartEmbedded(ctx, e, log)
	if err != nil {
		return nil, err
	}
	return withServer(srv)
}

// Attach connects one of alerter's commands to what a running alerter
// stored: the cluster at n.URL; else the running alerter's embedded
// server, when it listens; else its store, opened by a server of the
// command's own, which fails while alerter runs on it (two servers on one
// store would corrupt it).
func Attach(ctx context.Context, n NATS) (*Conn, error) {
	if n.URL != "" {
		return dial(ctx, n)
	}
	e := n.Embedded
	if e.Listen != "" {
		// The running server requires its token: the configured one, or
		// the one it keeps in its store dir.
		token := e.Token
		if token == "" {
			token, _ = ReadTokenFile(e.StoreDir)
		}
		nc, err := nats.Connect("nats://"+e.Listen, nats.Name(n.Connect.Name), nats.Timeout(2*time.Second), nats.Token(token))
		switch {
		case err == nil:
			return withJetStream(&Conn{NC: nc})
		case errors.Is(err, nats.ErrAuthorization):
			return nil, fmt.Errorf("connect to the embedded nats at %s: the token was refused (nats.embedded.token, or %s)", e.Listen, TokenFile(e.StoreDir))
		}
	}
	srv, err := StartEmbedded(ctx, EmbeddedOptions{StoreDir: e.StoreDir}, nil)
	if err != nil {
		return nil, fmt.Errorf("opening %s (is alerter running? set nats.embedded.listen to replay from it): %w", e.StoreDir, err)
	}
	return withServer(srv)
}

// dial connects to the cluster at n.URL.
func dial(ctx context.Context, n NATS) (*Conn, error) {
	nc, err := Connect(ctx, n.URL, n.Connect)
	if err != nil {
		return nil, err
	}
	return withJetStream(&Conn{NC: nc})
}

// withServer connects in-process to srv, which the Conn then owns.
func withServer(srv *Embedded) (*Conn, error) {
	nc, err := srv.Connect()
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	return withJetStream(&Conn{NC: nc, Embedded: srv})
}

func withJetStream(c *Conn) (*Conn, error) {
	js, err := jetstream.New(c.NC)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c.JS = js
	return c, nil
}
