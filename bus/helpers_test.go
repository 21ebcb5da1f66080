package bus

import (
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/internal/testlog"
)

// testLog logs warnings and errors into the test's output.
func testLog(t testing.TB) *slog.Logger { return testlog.New(t) }

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
