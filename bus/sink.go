package bus

import (
	"bytes"
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
		data, err := encodeEvent(&events[i])
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

// encodeEvent is json.Marshal(ev) at about half the cost (BenchmarkEncodeEvent:
// 1.5 µs for a 1.3 KB audit event): called through json.Marshal, the
// event's MarshalJSON output is validated, compacted and copied once more.
// The only whitespace that output can hold is in event.raw, the payload as
// it came; one that came pretty-printed is compacted here, a space after a
// colon is left. What is stored decodes to the same event either way.
func encodeEvent(ev *event.Event) ([]byte, error) {
	data, err := ev.MarshalJSON()
	if err != nil {
		return nil, err
	}
	// Three IndexByte scans (vectorized) cost a tenth of one ContainsAny.
	if bytes.IndexByte(data, '\n') >= 0 || bytes.IndexByte(data, '\r') >= 0 || bytes.IndexByte(data, '\t') >= 0 {
		var b bytes.Buffer
		b.Grow(len(data))
		if err := json.Compact(&b, data); err != nil {
			return nil, err
		}
		data = b.Bytes()
	}
	return data, nil
}

func allIndexes(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
