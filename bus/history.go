package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrStop, returned by ReadEvents' fn, ends the reading without an error.
var ErrStop = errors.New("stop reading")

// ReadEvents calls fn with every message stored in the EVENTS stream since
// since, oldest first, until the end of the stream as it was when reading
// began (events stored meanwhile are not waited for), or until fn returns
// ErrStop. There is no index by event id (one would cost a write per
// event): finding one is this scan, thousands of events a millisecond.
func ReadEvents(ctx context.Context, js jetstream.JetStream, since time.Time, fn func(m jetstream.Msg) error) error {
	st, err := js.Stream(ctx, EventsStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", EventsStream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", EventsStream, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &since,
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", EventsStream, err)
	}
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("reading %s: %w", EventsStream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			if md.Sequence.Stream > last {
				return nil
			}
			if err := fn(m); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
			if md.Sequence.Stream == last || md.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("reading %s: %w", EventsStream, err)
		}
		if n == 0 {
			return nil
		}
	}
}
