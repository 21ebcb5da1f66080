// Package natscluster starts a real JetStream cluster of nats-servers in
// the test's process, for tests of replicas and of node failures.
package natscluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a cluster of nodes, each started or not.
type Cluster struct {
	// Servers are the nodes; one not started yet (see Launch) is not
	// running.
	Servers []*server.Server
}

// Start forms a cluster of n nodes and waits until it can place an asset
// with n replicas (see WaitReady). The nodes stop when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c := Launch(t, n, n)
	c.WaitReady(t)
	return c
}

// Launch makes a cluster of n nodes (every node is given the full route
// list, its own included, so the meta group expects n peers) and starts
// the first `running` of them, waiting only until they accept
// connections: JetStream is still forming, as it is when alerter's
// replicas start together with a new cluster. StartNode starts the
// others. The nodes stop when the test ends.
func Launch(t testing.TB, n, running int) *Cluster {
	t.Helper()
	routePorts := make([]int, n)
	for i := range routePorts {
		routePorts[i] = FreePort(t)
	}
	var routes []*url.URL
	for _, p := range routePorts {
		u, err := url.Parse(fmt.Sprintf("nats://127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, u)
	}
	c := &Cluster{}
	for i := range n {
		// Client ports are fixed, so that URLs lists nodes not started yet.
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: FreePort(t),
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  routes,
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		c.Servers = append(c.Servers, s)
	}
	for i := range running {
		c.StartNode(t, i)
	}
	return c
}

// StartNode starts node i and waits until it accepts connections.
func (c *Cluster) StartNode(t testing.TB, i int) {
	t.Helper()
	s := c.Servers[i]
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("node %d not ready", i)
	}
}

// WaitReady waits until JetStream has a meta leader that knows every node
// and a stream with one replica per node can be placed: before that such
// an asset fails with "no suitable peers for placement", also once the
// leader lists every peer (a peer's first statistics may not have come).
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	n := len(c.Servers)
	deadline := time.Now().Add(30 * time.Second)
	for !c.hasLeader(n) {
		if time.Now().After(deadline) {
			t.Fatal("no JetStream meta leader with all peers")
		}
		time.Sleep(20 * time.Millisecond)
	}
	nc, err := nats.Connect(c.URLs(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const probe = "NATSCLUSTER_PROBE"
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: probe, Subjects: []string{"natscluster.probe"}, Replicas: n, Storage: jetstream.MemoryStorage})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream with %d replicas can be placed: %v", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, probe); err != nil {
		t.Fatalf("delete the probe stream: %v", err)
	}
}

func (c *Cluster) hasLeader(n int) bool {
	for _, s := range c.Servers {
		if s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == n {
			return true
		}
	}
	return false
}

// URLs lists the client URLs starting with node first, so that a
// connection goes to that node and fails over to the others.
func (c *Cluster) URLs(first int) string {
	var u []string
	for i := range c.Servers {
		o := c.Servers[(first+i)%len(c.Servers)].ClientURL()
		u = append(u, o)
	}
	return strings.Join(u, ",")
}

// FreePort returns a TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
