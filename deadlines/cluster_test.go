package deadlines_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/deadlines"
	"github.com/alerter/alerter/internal/natscluster"
)

// On a 3-node cluster, with a replica on each node, the node that leads
// the stream dies while deadlines are firing: every deadline still fires,
// once.
func TestClusterLeaderDies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	c := natscluster.Start(t, 3)
	jss := make([]jetstream.JetStream, len(c.Servers))
	var r recorder
	opt := deadlines.Options{Replicas: 3, AckWait: 2 * time.Second}
	for i := range c.Servers {
		nc, err := nats.Connect(c.URLs(i), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if jss[i], err = jetstream.New(nc); err != nil {
			t.Fatal(err)
		}
		run(t, open(t, jss[i], opt), r.handle)
	}
	s := open(t, jss[0], opt)
	const n = 100
	start := time.Now().Add(500 * time.Millisecond)
	for i := range n {
		schedule(t, s, fmt.Sprintf("k%03d", i), start.Add(time.Duration(i)*20*time.Millisecond), "")
	}
	eventually(t, "a third of the deadlines to fire", func() bool { return len(r.calls()) >= n/3 })

	stream, err := jss[0].Stream(t.Context(), deadlines.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	leader := slices.IndexFunc(c.Servers, func(s *server.Server) bool { return s.Name() == info.Cluster.Leader })
	if leader < 0 {
		t.Fatalf("stream leader %q is none of the nodes", info.Cluster.Leader)
	}
	c.Servers[leader].Shutdown()
	t.Logf("node %s, the stream's leader, stopped after %d deadlines fired", info.Cluster.Leader, len(r.calls()))

	drained(t, jss[(leader+1)%len(jss)])
	got := r.byKey()
	for i := range n {
		if k := fmt.Sprintf("k%03d", i); got[k] != 1 {
			t.Errorf("key %s fired %d times, want once", k, got[k])
		}
	}
}
