package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/event"
)

// StoredEvent is an event as the EVENTS stream holds it.
type StoredEvent struct {
	Data   []byte    // the event, encoded (event.Decode reads it)
	Stored time.Time // when the stream stored it
}

// FindEvents reads the events stored from start until end (zero: until
// now) for those whose ids are given, and stops once it found them all.
// An id not found is not in the map. There is no index by id (see
// ReadEvents): this is a scan, so the range should be narrow.
func FindEvents(ctx context.Context, js jetstream.JetStream, ids []string, start, end time.Time) (map[string]StoredEvent, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	found := map[string]StoredEvent{}
	err := ReadEvents(ctx, js, start, func(m jetstream.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if !end.IsZero() && md.Timestamp.After(end) {
			return ErrStop
		}
		if id := m.Headers().Get(nats.MsgIdHdr); want[id] {
			found[id] = StoredEvent{Data: m.Data(), Stored: md.Timestamp}
			if len(found) == len(want) {
				return ErrStop
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", EventsStream, err)
	}
	return found, nil
}

// EventAt is the event the EVENTS stream holds at seq if its id is id, or
// nil if the stream no longer holds it there (it expired) or holds
// another: where an absence or a quiet source finds the event its alert
// carries (engine.Lookup).
func (s *Streams) EventAt(ctx context.Context, seq uint64, id string) (*event.Event, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	m, err := s.Events.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s at %d: %w", EventsStream, seq, err)
	}
	if m.Header.Get(nats.MsgIdHdr) != id {
		return nil, nil
	}
	ev, err := event.Decode(m.Data)
	if err != nil {
		return nil, nil
	}
	return &ev, nil
}
