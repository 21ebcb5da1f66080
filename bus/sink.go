package bus

import (
	"context"
	"errors"
	"fmt"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
)

// Store stores normalized events of one source in the EVENTS stream, each
// under its id as Nats-Msg-Id, and returns once JetStream acknowledged them.
// It implements ingest.Sink.
func (s *Streams) Store(ctx context.Context, source string, events []event.Event) (ingest.Stored, error) {
	var st ingest.Stored
	msgs := make([]Msg, len(events))
	for i := range events {
		data, err := json.Marshal(events[i])
		if err != nil {
			return ingest.Stored{Failed: allIndexes(len(events))}, fmt.Errorf("encoding event %s: %w", events[i].ID, err)
		}
		msgs[i] = Msg{ID: events[i].ID, Data: data}
	}
	res, err := s.PublishEvents(ctx, source, msgs)
	if res == nil {
		return ingest.Stored{Failed: allIndexes(len(events))}, err
	}
	var errs []error
	for i, r := range res {
		switch {
		case r.Err != nil:
			st.Failed = append(st.Failed, i)
			if len(errs) < 3 {
				errs = append(errs, r.Err)
			}
		case r.Dup:
			st.Duplicates++
		default:
			st.Accepted++
		}
	}
	if len(st.Failed) > 0 {
		if err == nil {
			err = fmt.Errorf("%d of %d events not stored: %w", len(st.Failed), len(events), errors.Join(errs...))
		}
		return st, err
	}
	return st, nil
}

func allIndexes(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
