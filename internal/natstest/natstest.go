// Package natstest starts the real, embedded nats-server with JetStream for
// the tests of packages that build on the bus.
package natstest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/bus"
)

// Env is a running embedded server with alerter's streams.
type Env struct {
	Server  *bus.Embedded
	Conn    *nats.Conn
	JS      jetstream.JetStream
	Streams *bus.Streams
	Dir     string
}

// Start starts a server storing in a temporary folder, connects to it and
// creates the streams. Everything stops when the test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn is Start with the store in dir, so that a test can restart a
// server on the same files.
func StartIn(t testing.TB, dir string) *Env {
	t.Helper()
	ctx := t.Context()
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect(nats.ReconnectWait(10 * time.Millisecond))
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := bus.EnsureStreams(ctx, js, bus.StreamOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Server: srv, Conn: nc, JS: js, Streams: st, Dir: dir}
	t.Cleanup(env.Stop)
	return env
}

// Stop closes the connection and shuts the server down; it is safe to call
// more than once.
func (e *Env) Stop() {
	e.Conn.Close()
	e.Server.Shutdown()
}

// Events returns the events stored in the EVENTS stream, oldest first.
func (e *Env) Events(t testing.TB) [][]byte {
	t.Helper()
	return messages(t, e.Streams.Events)
}

// Alerts returns the alerts stored in the ALERTS stream, oldest first.
func (e *Env) Alerts(t testing.TB) [][]byte {
	t.Helper()
	return messages(t, e.Streams.Alerts)
}

func messages(t testing.TB, s jetstream.Stream) [][]byte {
	t.Helper()
	ctx := t.Context()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		out = append(out, m.Data)
	}
	return out
}
