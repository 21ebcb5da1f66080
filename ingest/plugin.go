package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/config"
)

// Source is a source as the program runs it, whatever its type: it takes
// events in until it is stopped, and counts what it took and refused.
type Source interface {
	// Run takes events in until ctx is done. A source that only answers
	// requests (a Handler) has nothing to run and returns then.
	Run(ctx context.Context) error
	// Counters are what it counts, read by /metrics.
	Counters() Counters
}

// Readier is a Source that takes events only some time after Run starts
// (once subscribed): Ready is closed then. A Source that is not a Readier
// takes events from the start.
type Readier interface {
	Ready() <-chan struct{}
}

// Handler is a Source that takes its events over HTTP: the program serves
// it at Path, on the server's listener.
type Handler interface {
	Source
	http.Handler
	Path() string
}

// Plugin is a source type: its config (config.Plugin: its type name, its
// keys, their defaults and validation) and how to build a source from a
// validated entry. Each source package has one; a program knows the types
// of its Registry.
type Plugin interface {
	config.Plugin
	// New builds the source of entry src, whose Settings its Validate has
	// checked. It does not start it: the program calls Run.
	New(ctx context.Context, src config.Source, d Deps) (Source, error)
}

// Deps are what a source is built with besides its config entry: what
// the program made once and every source of a type shares. A type uses
// the ones it needs.
type Deps struct {
	// Sink stores the events (the EVENTS stream).
	Sink Sink
	// Checkpoints keep the positions of pollers and file tails.
	Checkpoints Checkpoints
	// Rejecter keeps aside the messages that are no event.
	Rejecter Rejecter
	// NATS and JetStream are the connection a source may subscribe on.
	NATS      *nats.Conn
	JetStream jetstream.JetStream
	// Replicas of what a source creates in JetStream (a durable consumer).
	Replicas int
	// Replays opens the memory of signed requests already taken; only a
	// source that checks signatures calls it, so that the bucket exists
	// only when one does.
	Replays func(ctx context.Context) (Replays, error)
	// MaxBody caps a request body in bytes (server.max_body_bytes).
	MaxBody int64
	// Limiter caps the bytes of the bodies the HTTP sources hold at once
	// (server.max_ingest_bytes); nil: no cap.
	Limiter *Limiter
	// Logger is for what the source logs.
	Logger *slog.Logger
}

// Rejecter keeps aside input that is no event, with the reason (the
// REJECTED stream), so that it can be looked at rather than lost.
type Rejecter interface {
	Reject(ctx context.Context, source string, data []byte, reason string) error
}

// Replays remembers signed requests whose events were all stored, by a key
// made from the source and the body's signature. The EVENTS stream drops an
// event id it has seen only within its dedup window (minutes); a signed
// request captured and sent again an hour later would be stored, evaluated
// and alerted on again without this.
type Replays interface {
	// Seen reports whether key was remembered.
	Seen(ctx context.Context, key string) (bool, error)
	// Remember records key.
	Remember(ctx context.Context, key string) error
}

// Registry are the source types of a program, in the order messages list
// them. It is built once, by the program (package builtin).
type Registry []Plugin

// Lookup returns the plug-in of type typ.
func (r Registry) Lookup(typ string) (Plugin, bool) { return config.Lookup(r, typ) }

// Config are the types as config reads them.
func (r Registry) Config() []config.Plugin { return config.AsPlugins(r) }

// New builds the source of entry src with the plug-in of its type.
func (r Registry) New(ctx context.Context, src config.Source, d Deps) (Source, error) {
	p, ok := r.Lookup(src.Type)
	if !ok {
		return nil, fmt.Errorf("type %q is not in this build", src.Type)
	}
	return p.New(ctx, src, d)
}
