package bus

import (
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testLog logs warnings and errors into the test's output, until the test
// ends: nats-server goroutines may still log during shutdown, and writing
// to a finished test panics.
func testLog(t testing.TB) *slog.Logger {
	w := &guardedWriter{w: t.Output()}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type guardedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *guardedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *guardedWriter) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// startEmbedded starts an embedded server on dir and stops it at the end
// of the test (Shutdown twice is harmless, so tests may stop it earlier).
func startEmbedded(t testing.TB, opt EmbeddedOptions) *Embedded {
	t.Helper()
	e, err := StartEmbedded(t.Context(), opt, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// connectJS opens an in-process connection and a JetStream on it.
func connectJS(t testing.TB, e *Embedded) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := e.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// newEnv is one embedded server with a connection and JetStream.
func newEnv(t testing.TB) (*Embedded, jetstream.JetStream) {
	t.Helper()
	e := startEmbedded(t, EmbeddedOptions{StoreDir: t.TempDir()})
	_, js := connectJS(t, e)
	return e, js
}
