// Package natscluster starts a real JetStream cluster of nats-servers in
// the test's process, for tests of replicas and of node failures.
package natscluster

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a running cluster.
type Cluster struct {
	Servers []*server.Server
}

// Start forms a cluster of n nodes (every node is given the full route
// list, its own included, so the meta group expects n peers) and waits
// until JetStream has a meta leader that knows every node: before that an
// asset with n replicas fails with "no suitable peers for placement".
// The nodes stop when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = FreePort(t)
	}
	var routes []*url.URL
	for _, p := range ports {
		u, err := url.Parse(fmt.Sprintf("nats://127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, u)
	}
	c := &Cluster{}
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		c.Servers = append(c.Servers, s)
	}
	for i, s := range c.Servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %d not ready", i)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !c.hasLeader(n) {
		if time.Now().After(deadline) {
			t.Fatal("no JetStream meta leader with all peers")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
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
		u = append(u, c.Servers[(first+i)%len(c.Servers)].ClientURL())
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
