package builtin_test

import (
	"context"
	"slices"
	"testing"

	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/ingest/confluence"
	"github.com/alerter/alerter/internal/natstest"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

// TestNotifiers checks every built-in notifier type as a plug-in: adding a
// type to Notifiers adds it here.
func TestNotifiers(t *testing.T) {
	notifiertest.Plugins(t, builtin.Notifiers())
}

// TestSources builds a source of every built-in type from a config file
// through the registry, and checks what the program asks of each: the
// counters /metrics reads, and the optional parts it uses (a webhook's
// handler and path, a NATS source's readiness, a poller's directory).
// Only a webhook with a secret opens the memory of signed requests, so
// that the bucket is made only when one needs it.
func TestSources(t *testing.T) {
	const yaml = `
sources:
  - {name: open, type: webhook}
  - {name: signed, type: webhook, path: /hooks/signed, secret: s3cret}
  - {name: bus, type: nats, subject: "audit.>"}
  - {name: dc, type: confluence-poll, base_url: "https://confluence.example.com", token: t0ken}
  - {name: log, type: file, path: /var/log/audit.log}
`
	cfg, err := config.Parse("alerter.yaml", []byte(yaml), nil, builtin.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		path      string // served at, "" for no Handler
		ready     bool   // a Readier
		directory bool
		replays   int // calls of Deps.Replays
	}
	wants := map[string]want{
		"open":   {path: "/webhooks/open"},
		"signed": {path: "/hooks/signed", replays: 1},
		"bus":    {ready: true},
		"dc":     {directory: true},
		"log":    {},
	}
	for _, p := range builtin.Sources() {
		if !slices.ContainsFunc(cfg.Sources, func(s config.Source) bool { return s.Type == p.Type() }) {
			t.Errorf("no source of type %s: add one to the test", p.Type())
		}
	}
	env := natstest.Start(t)
	cps, err := bus.NewCheckpoints(t.Context(), env.JS, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range cfg.Sources {
		t.Run(src.Type+"/"+src.Name, func(t *testing.T) {
			w := wants[src.Name]
			replays := 0
			d := ingest.Deps{Sink: env.Streams, Checkpoints: cps, Rejecter: env.Streams, NATS: env.Conn, JetStream: env.JS,
				MaxBody: 1 << 20, Replays: func(context.Context) (ingest.Replays, error) {
					replays++
					return nil, nil
				}}
			s, err := builtin.Sources().New(t.Context(), src, d)
			if err != nil {
				t.Fatal(err)
			}
			if c := s.Counters(); c.Received == nil {
				t.Error("Counters().Received is nil")
			}
			path := ""
			if h, ok := s.(ingest.Handler); ok {
				path = h.Path()
			}
			if path != w.path {
				t.Errorf("served at %q, want %q", path, w.path)
			}
			if r, ok := s.(ingest.Readier); ok != w.ready || ok && r.Ready() == nil {
				t.Errorf("a Readier: %v, want %v (with a channel)", ok, w.ready)
			}
			dir, ok := s.(interface{ Directory() *confluence.Directory })
			if ok != w.directory || ok && dir.Directory() == nil {
				t.Errorf("has a Directory: %v, want %v", ok, w.directory)
			}
			if replays != w.replays {
				t.Errorf("Deps.Replays called %d times, want %d", replays, w.replays)
			}
		})
	}
}
