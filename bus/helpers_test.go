package bus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
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

func newStore(t testing.TB, js jetstream.JetStream, opt StateOptions) *StateStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := NewStateStore(ctx, js, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cluster is a 3-node JetStream cluster in this process.
type cluster struct {
	servers []*server.Server
}

// startCluster forms a cluster as libs.md §2 describes: every node gets the
// full route list, its own included, so the meta group expects 3 peers.
func startCluster(t testing.TB, n int) *cluster {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	var routes []*url.URL
	for _, p := range ports {
		u, err := url.Parse(fmt.Sprintf("nats://127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, u)
	}
	// Nodes log every failed route dial once one is down: noise here.
	log := slog.New(slog.DiscardHandler)
	c := &cluster{}
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
			Cluster: server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		s.SetLogger(newServerLogger(log.With("node", i)), false, false)
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		c.servers = append(c.servers, s)
	}
	for i, s := range c.servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %d not ready", i)
		}
	}
	// Ready when a meta leader knows all nodes with their stats: before
	// that an R3 asset fails with "no suitable peers for placement".
	eventually(t, 30*time.Second, "JetStream meta leader with all peers", func() bool {
		for _, s := range c.servers {
			if s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == n {
				return true
			}
		}
		return false
	})
	return c
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

// urls lists the client URLs starting with node first, so that a
// connection goes to that node and fails over to the others.
func (c *cluster) urls(first int) string {
	var u []string
	for i := range c.servers {
		u = append(u, c.servers[(first+i)%len(c.servers)].ClientURL())
	}
	return strings.Join(u, ",")
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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
