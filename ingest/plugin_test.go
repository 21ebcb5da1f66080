package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/internal/natstest"
)

// actionsPlugin is a source type made in the test, to show what a new type
// takes: its config with its own key, and a source that stores an event per
// action it lists, once, then waits to be stopped.
type actionsPlugin struct{}

type actionsConfig struct {
	Actions []string `yaml:"actions"`
}

func (c *actionsConfig) Validate(v *config.Checker) {
	if len(c.Actions) == 0 {
		v.Missing("actions", "%s: an actions source needs actions", v.Label())
	}
}

func (actionsPlugin) Type() string             { return "actions" }
func (actionsPlugin) Config() config.Validator { return new(actionsConfig) }

func (actionsPlugin) New(_ context.Context, src config.Source, d ingest.Deps) (ingest.Source, error) {
	return &actionsSource{name: src.Name, actions: src.Settings.(actionsConfig).Actions, sink: d.Sink}, nil
}

type actionsSource struct {
	name     string
	actions  []string
	sink     ingest.Sink
	received atomic.Int64
}

func (s *actionsSource) Run(ctx context.Context) error {
	events := make([]event.Event, len(s.actions))
	for i, a := range s.actions {
		events[i] = event.Event{ID: fmt.Sprintf("%s-%d", s.name, i), Time: time.Now(), Source: s.name, Action: a}
	}
	st, err := s.sink.Store(ctx, s.name, events)
	s.received.Add(int64(st.Accepted + st.Duplicates))
	if err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func (s *actionsSource) Counters() ingest.Counters {
	return ingest.Counters{Received: &s.received}
}

// TestNewType adds a source type to the built-in ones in a registry, and
// goes the way every source goes: the config file checks its keys through
// the plug-in, the registry builds it with the Deps the program shares, and
// it runs until it is stopped, its events in the EVENTS stream and its
// counters counting them. No other package knows the type.
func TestNewType(t *testing.T) {
	reg := append(builtin.Sources(), actionsPlugin{})
	plugins := config.Plugins{Notifiers: builtin.Notifiers().Config(), Sources: reg.Config()}

	_, err := config.Parse("alerter.yaml", []byte("sources:\n  - {name: tiny, type: actions}\n"), nil, plugins)
	if err == nil || !strings.Contains(err.Error(), "alerter.yaml:2:5: source tiny: an actions source needs actions") {
		t.Fatalf("a source without its type's key: %v", err)
	}
	_, err = config.Parse("alerter.yaml", []byte("sources:\n  - {name: tiny, type: actions, actions: [a]}\n"), nil, builtin.Plugins())
	if err == nil || !strings.Contains(err.Error(), "actions") {
		t.Fatalf("the type without its plug-in: %v, want it unknown", err)
	}
	cfg, err := config.Parse("alerter.yaml", []byte(`
sources:
  - {name: hook, type: webhook}
  - {name: tiny, type: actions, actions: [page_created, page_removed]}
`), nil, plugins)
	if err != nil {
		t.Fatal(err)
	}

	env := natstest.Start(t)
	ctx, stop := context.WithCancel(t.Context())
	deps := ingest.Deps{Sink: env.Streams, Rejecter: env.Streams, NATS: env.Conn, JetStream: env.JS, MaxBody: 1 << 20}
	var sources []ingest.Source
	done := make(chan error, len(cfg.Sources))
	for _, src := range cfg.Sources {
		s, err := reg.New(ctx, src, deps)
		if err != nil {
			t.Fatalf("source %s: %v", src.Name, err)
		}
		sources = append(sources, s)
		go func() { done <- s.Run(ctx) }()
	}
	tiny := sources[1].Counters()
	giveUp := time.After(30 * time.Second)
	for tiny.Received.Load() < 2 {
		select {
		case err := <-done:
			t.Fatalf("a source ended before it was stopped: %v", err)
		case <-giveUp:
			t.Fatalf("tiny counted %d events, want 2", tiny.Received.Load())
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	for range sources {
		if err := <-done; err != nil {
			t.Errorf("stopped: %v", err)
		}
	}
	stored := env.Events(t)
	if len(stored) != 2 || !strings.Contains(string(stored[0]), `"action":"page_created"`) || !strings.Contains(string(stored[0]), `"source":"tiny"`) {
		t.Errorf("stored %d events, want tiny's 2: %q", len(stored), stored)
	}

	if _, err := builtin.Sources().New(t.Context(), cfg.Sources[1], deps); err == nil || !strings.Contains(err.Error(), `type "actions" is not in this build`) {
		t.Errorf("a registry without the type built it: %v", err)
	}
}
