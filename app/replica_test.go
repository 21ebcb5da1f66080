package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/internal/natscluster"
)

// docs/running.md, Replicas: several replicas on one NATS cluster send each alert once, and
// one replica dying under load loses nothing.
func TestReplicasAlertOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	c := natscluster.Start(t, 3)
	start := func(first int) (*App, *syncBuffer, func()) {
		yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
nats: {url: %q, replicas: 3}
rules: {paths: [testdata/rules.yaml]}
sources: [{name: hook, type: webhook}]
notifiers: [{name: console, type: console, timeout: 1s}, {name: quiet, type: console, timeout: 1s}]
routes: {default: [console]}
`, c.URLs(first))
		r := run(t, yaml, nil, Options{AckWait: time.Second})
		return r.svc, r.out, r.stop
	}
	a, outA, stopA := start(0)
	b, outB, _ := start(1)

	// 200 actors, each changing a setting twice within the dedup window:
	// 200 alerts, whichever replica takes which event.
	const actors = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	post := func(svc *App, body string) {
		resp, err := http.Post("http://"+svc.Addr()+"/webhooks/hook", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != http.StatusAccepted {
			mu.Lock()
			failed = append(failed, body)
			mu.Unlock()
		}
	}
	var killed bool
	for round := range 2 {
		for i := range actors {
			body := setting(fmt.Sprintf("e%d-%d", i, round), fmt.Sprintf("u%d", i), fmt.Sprintf("2024-05-14T10:%02d:00Z", round))
			target := b
			if i%2 == 0 && !killed {
				target = a
			}
			wg.Go(func() { post(target, body) })
			if round == 0 && i == actors/2 {
				// Replica a dies with events and alerts in hand: its
				// connection drops without acknowledging them.
				wg.Wait()
				waitFor(t, "replica a to evaluate events", func() bool { return a.eval.Stats().Events.Load() > 0 })
				killed = true
				a.nc.Close()
				stopA()
			}
		}
		wg.Wait()
	}
	for _, body := range failed {
		post(b, body) // a sender retries what was not accepted
	}

	if len(failed) > 0 {
		t.Logf("%d posts not accepted at first, sent again", len(failed))
	}
	// Up to a minute: what replica a held comes back after the ack wait,
	// and a race-enabled run on a busy machine is slow; only the outcome
	// is asserted.
	for deadline := time.Now().Add(time.Minute); len(consoleIDsOf(outA, outB)) < actors; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for every alert delivered: %d of %d", len(consoleIDsOf(outA, outB)), actors)
		}
	}
	// Let redeliveries settle, then count.
	time.Sleep(1500 * time.Millisecond)
	if info, err := b.streams.Events.Info(t.Context()); err != nil || info.State.Msgs != 2*actors {
		t.Errorf("EVENTS holds %v events (%v), want %d", info.State.Msgs, err, 2*actors)
	}
	alerts := storedAlerts(t, b)
	groups := map[string]int{}
	for _, al := range alerts {
		groups[al.Group["event.actor.name"]]++
	}
	if len(groups) != actors {
		t.Errorf("%d groups alerted, want %d", len(groups), actors)
	}
	for g, n := range groups {
		if n != 1 {
			t.Errorf("group %s alerted %d times", g, n)
		}
	}
	printed := consoleIDsOf(outA, outB)
	dups := 0
	for _, n := range printed {
		dups += n - 1
	}
	if dups > delivery.Workers { // only what replica a was sending as it died
		t.Errorf("%d alerts printed twice", dups)
	}
}

func consoleIDsOf(outs ...*syncBuffer) map[string]int {
	ids := map[string]int{}
	for _, o := range outs {
		for _, line := range o.lines() {
			if i := strings.LastIndex(line, " id="); i >= 0 {
				ids[line[i+4:]]++
			}
		}
	}
	return ids
}

func storedAlerts(t *testing.T, s *App) []alerter.Alert {
	t.Helper()
	ctx := t.Context()
	info, err := s.streams.Alerts.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []alerter.Alert
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.streams.Alerts.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var a alerter.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// Replicas started together with a new cluster (a Kubernetes Deployment
// next to a new NATS StatefulSet) wait for it, saying so on /readyz, and
// both start once it can place their replicated streams and buckets,
// instead of exiting on the first timeout.
func TestReplicasStartWithNewCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	// Two of three nodes: no stream with 3 replicas can be placed until the
	// third comes.
	c := natscluster.Launch(t, 3, 2)
	type started struct {
		svc *App
		err error
	}
	results := make(chan started, 2)
	var listens []string
	for i := range 2 {
		listen := fmt.Sprintf("127.0.0.1:%d", natscluster.FreePort(t))
		listens = append(listens, listen)
		cfg, err := config.Parse("alerter.yaml", []byte(fmt.Sprintf(`
server: {listen: %q}
nats: {url: %q, replicas: 3}
rules: {paths: [testdata/rules.yaml]}
sources: [{name: hook, type: webhook}]
notifiers: [{name: console, type: console}, {name: quiet, type: console}]
routes: {default: [console]}
`, listen, c.URLs(i))), nil, builtin.Plugins())
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			svc, err := New(t.Context(), cfg, Options{Stdout: io.Discard})
			results <- started{svc, err}
		}()
	}
	for _, listen := range listens {
		// The first attempt ends after its timeout.
		for deadline := time.Now().Add(30 * time.Second); ; {
			select {
			case r := <-results:
				t.Fatalf("alerter did not wait for the cluster: %v", r.err)
			default:
			}
			code, body := getReadyz(listen)
			if code == http.StatusServiceUnavailable && strings.Contains(body, "waiting for streams: ensure stream EVENTS") && strings.Contains(body, "attempt") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz does not say what alerter waits for: %d %s", code, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c.StartNode(t, 2)
	for range 2 {
		var r started
		select {
		case r = <-results:
		case <-time.After(60 * time.Second):
			t.Fatal("alerter did not start once the cluster was complete")
		}
		if r.err != nil {
			t.Fatalf("alerter exited: %v", r.err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.svc.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	for _, listen := range listens {
		waitFor(t, "both replicas ready", func() bool {
			code, _ := getReadyz(listen)
			return code == http.StatusOK
		})
	}
}

func getReadyz(listen string) (int, string) {
	resp, err := http.Get("http://" + listen + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
