// Package ingest takes events in from the sources of docs/running.md (webhook,
// NATS subject, Confluence audit poller, audit log file) and hands them,
// normalized, to a Sink that stores them durably in the EVENTS stream.
//
// A source reports an event as taken only after the Sink has stored it: a
// webhook answers 202, a poller or a file tail advances its checkpoint, a
// NATS message is acknowledged. What the Sink refused is retried or
// reported, never dropped silently.
//
// Each source type is a package with a Plugin: its config keys and how it
// builds a Source from a config entry and the Deps the program shares.
// The program lists the types once (package builtin) and runs whatever
// Source a plug-in builds, so adding a type touches no other package.
package ingest

import (
	"context"
	"sync/atomic"

	"github.com/alerter/alerter/event"
)

// Counters are what every source counts, in the one shape /metrics reads
// (docs/api.md, Metrics): alerter_events_received_total{source,type} and
// alerter_events_rejected_total{source,reason}. They point at the source's
// own Stats, which keep more detail.
type Counters struct {
	// Received are the events taken in and stored, duplicates included.
	Received *atomic.Int64
	// Rejected are the requests, messages or lines refused, by reason.
	Rejected map[string]*atomic.Int64
}

// Reasons a source refuses input, the reason label of
// alerter_events_rejected_total.
const (
	Malformed    = "malformed"    // did not parse as events
	Unauthorized = "unauthorized" // a signature or token did not check
	TooLarge     = "too_large"    // a body or line past its limit
	Refused      = "refused"      // the wrong method or content type
	Unavailable  = "unavailable"  // could not be stored now (503)
	NotAnEvent   = "not_an_event" // a message kept aside as no event
	Dropped      = "dropped"      // messages the server dropped as we were slow
)

// Sink stores normalized events of one source. Store returns once every
// event it counts is durably stored; a stored event whose id was already
// stored (within the stream's duplicate window) counts as a duplicate.
//
// On error, Stored still counts the events that were stored, and Failed
// lists the indexes of those that were not (a caller may retry them; ids
// make the retry safe).
type Sink interface {
	Store(ctx context.Context, source string, events []event.Event) (Stored, error)
}

// Stored counts the outcome of a Store.
type Stored struct {
	Accepted   int // newly stored
	Duplicates int // already stored under the same id
	// Failed are the indexes, into the events given, of those not stored;
	// set only with an error.
	Failed []int
}

// Checkpoints keep a source's position (a poll window's end, a file offset)
// across restarts and replicas.
type Checkpoints interface {
	// Get returns the value stored under key, or nil (and no error) if
	// there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores value under key.
	Put(ctx context.Context, key string, value []byte) error
}
