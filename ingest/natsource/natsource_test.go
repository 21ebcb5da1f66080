package natsource

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/internal/natstest"
)

func run(t *testing.T, env *natstest.Env, sink ingest.Sink, subject string) (*Source, context.CancelFunc) {
	t.Helper()
	src, err := New(config.Source{Name: "bus", Type: "nats", Format: "auto", Settings: Config{Subject: subject}}, env.Conn, env.JS, sink, env.Streams, Options{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := src.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	select {
	case <-src.Ready():
	case <-done:
	}
	return src, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func storedIDs(t *testing.T, env *natstest.Env) []string {
	var ids []string
	for _, b := range env.Events(t) {
		e, err := event.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func TestCoreSubject(t *testing.T) {
	env := natstest.Start(t)
	src, _ := run(t, env, env.Streams, "audit.>")

	pub := func(subj, data string) {
		if err := env.Conn.Publish(subj, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	pub("audit.dc1", `{"id":"a","action":"x"}`)
	pub("audit.dc1", "{\"id\":\"b\"}\n{\"id\":\"c\"}")
	pub("audit.dc2", `not json at all`)
	pub("audit.dc2", `{"id":"d"}`)
	waitFor(t, "four events", func() bool { return len(env.Events(t)) == 4 })
	if got := strings.Join(storedIDs(t, env), ","); got != "a,b,c,d" {
		t.Errorf("stored %s", got)
	}
	waitFor(t, "the rejected message", func() bool { return src.Stats().Rejected.Load() == 1 })
	m, err := env.Streams.Rejected.GetLastMsgForSubject(t.Context(), "rejected.bus")
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "not json at all" || !strings.Contains(m.Header.Get(bus.ReasonHeader), "line 1, column 1") {
		t.Errorf("rejected message %q with reason %q", m.Data, m.Header.Get(bus.ReasonHeader))
	}

	// A request is answered once stored, or with the reason it was refused.
	for data, want := range map[string]string{`{"id":"e"}`: `"accepted":1`, `{"id":"a"}`: `"duplicates":1`, `[1,2]`: `"error":"not an event: object 1`} {
		resp, err := env.Conn.Request("audit.req", []byte(data), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(resp.Data), want) {
			t.Errorf("answer to %s: %s, want %s", data, resp.Data, want)
		}
	}
}

// A subject captured by a stream is read through a durable consumer: what
// was published before alerter started is taken, and nothing twice.
func TestStreamSubject(t *testing.T) {
	env := natstest.Start(t)
	ctx := t.Context()
	if _, err := env.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.>"}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{`{"id":"a"}`, `{"id":"b"}`, `garbage`, `{"id":"c"}`, `{"id":"d"}`, `{"id":"e"}`} {
		if _, err := env.JS.Publish(ctx, "audit.x", []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	src, stop := run(t, env, env.Streams, "audit.>")
	waitFor(t, "five events", func() bool { return len(env.Events(t)) == 5 })
	waitFor(t, "one rejected", func() bool { return src.Stats().Rejected.Load() == 1 })
	cons, err := env.JS.Consumer(ctx, "AUDIT", "alerter-source-bus")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every message acked", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	stop()

	if _, err := env.JS.Publish(ctx, "audit.x", []byte(`{"id":"f"}`)); err != nil {
		t.Fatal(err)
	}
	run(t, env, env.Streams, "audit.>")
	waitFor(t, "the event published while stopped", func() bool { return len(env.Events(t)) == 6 })
	if got := strings.Join(storedIDs(t, env), ","); got != "a,b,c,d,e,f" {
		t.Errorf("stored %s", got)
	}
}

// flakySink fails its first stores, as JetStream does when it is briefly
// unavailable.
type flakySink struct {
	ingest.Sink
	fail atomic.Int32
}

func (f *flakySink) Store(ctx context.Context, source string, evs []event.Event) (ingest.Stored, error) {
	if f.fail.Add(-1) >= 0 {
		all := make([]int, len(evs))
		for i := range all {
			all[i] = i
		}
		return ingest.Stored{Failed: all}, errors.New("jetstream unavailable")
	}
	return f.Sink.Store(ctx, source, evs)
}

func TestStoreFailuresLoseNothing(t *testing.T) {
	for _, mode := range []string{"stream", "core"} {
		t.Run(mode, func(t *testing.T) {
			env := natstest.Start(t)
			ctx := t.Context()
			if mode == "stream" {
				if _, err := env.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.>"}}); err != nil {
					t.Fatal(err)
				}
			}
			sink := &flakySink{Sink: env.Streams}
			sink.fail.Store(3)
			src, _ := run(t, env, sink, "audit.>")
			for i := range 10 {
				b, _ := json.Marshal(map[string]string{"id": string(rune('a' + i))})
				if err := env.Conn.Publish("audit.x", b); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "ten events", func() bool { return len(env.Events(t)) == 10 })
			if src.Stats().Retries.Load() < 3 {
				t.Errorf("%d retries, want at least 3", src.Stats().Retries.Load())
			}
			if got := strings.Join(storedIDs(t, env), ""); len(got) != 10 {
				t.Errorf("stored %q", got)
			}
		})
	}
}
