package statestore

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/internal/syncbuf"
	"github.com/alerter/alerter/internal/testlog"
)

// logBuffer collects log lines for assertions.
type logBuffer struct{ syncbuf.Buffer }

func (l *logBuffer) count(s string) int {
	return strings.Count(l.String(), s)
}

func newStore(t testing.TB, js jetstream.JetStream, opt Options) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A cluster that has just formed may answer "no response from stream"
	// while it places the bucket's stream; that passes.
	for {
		s, err := New(ctx, js, opt)
		if err == nil {
			return s
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		t.Logf("creating the state store: %v; trying again", err)
		time.Sleep(200 * time.Millisecond)
	}
}

// waitStreamCurrent waits until stream has a leader and all its replicas
// are current, so that a test starts on a settled cluster.
func waitStreamCurrent(t testing.TB, s jetstream.Stream, replicas int) {
	t.Helper()
	eventually(t, 30*time.Second, "stream leader and current replicas", func() bool {
		info, err := s.Info(testCtx(t))
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != replicas-1 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current {
				return false
			}
		}
		return true
	})
}

// testCtx has a generous deadline, which Update then uses instead of the
// store's timeout: on a busy test machine a write can stall for seconds,
// and tests about semantics must not fail on that.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testLog logs warnings and errors into the test's output.
func testLog(t testing.TB) *slog.Logger { return testlog.New(t) }

// startEmbedded starts an embedded server on dir and stops it at the end
// of the test (Shutdown twice is harmless, so tests may stop it earlier).
func startEmbedded(t testing.TB, opt bus.EmbeddedOptions) *bus.Embedded {
	t.Helper()
	e, err := bus.StartEmbedded(t.Context(), opt, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// connectJS opens an in-process connection and a JetStream on it.
func connectJS(t testing.TB, e *bus.Embedded) (*nats.Conn, jetstream.JetStream) {
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
func newEnv(t testing.TB) (*bus.Embedded, jetstream.JetStream) {
	t.Helper()
	e := startEmbedded(t, bus.EmbeddedOptions{StoreDir: t.TempDir()})
	_, js := connectJS(t, e)
	return e, js
}
