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
// ErrStop or ctx is done. There is no index by event id (one would cost a
// write per event): finding one is this scan, thousands of events a
// millisecond.
func ReadEvents(ctx context.Context, js jetstream.JetStream, since time.Time, fn func(m jetstream.Msg) error) error {
	_, err := readEvents(ctx, js, since, 0, fn)
	return err
}

// ReadNewestEvents is ReadEvents for only the newest n events stored since
// since: reading starts n messages before the end of the stream, so that
// older events are not read at all. truncated tells that some events
// stored since since were left out.
func ReadNewestEvents(ctx context.Context, js jetstream.JetStream, since time.Time, n int, fn func(m jetstream.Msg) error) (truncated bool, err error) {
	return readEvents(ctx, js, since, n, fn)
}

func readEvents(ctx context.Context, js jetstream.JetStream, since time.Time, newest int, fn func(m jetstream.Msg) error) (truncated bool, err error) {
	st, err := js.Stream(ctx, EventsStream)
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", EventsStream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", EventsStream, err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 {
		return false, nil
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since}
	if newest > 0 && last >= uint64(newest) && last-uint64(newest)+1 > first {
		start := last - uint64(newest) + 1
		if m, err := st.GetMsg(ctx, start-1); err == nil && !m.Time.Before(since) {
			truncated = true
		}
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start}
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", EventsStream, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return truncated, err
		}
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return truncated, fmt.Errorf("reading %s: %w", EventsStream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return truncated, err
			}
			if md.Sequence.Stream > last {
				return truncated, nil
			}
			if !md.Timestamp.Before(since) {
				if err := fn(m); err != nil {
					if errors.Is(err, ErrStop) {
						return truncated, nil
					}
					return truncated, err
				}
			}
			if md.Sequence.Stream == last || md.NumPending == 0 {
				return truncated, nil
			}
		}
		if err := batch.Error(); err != nil {
			return truncated, fmt.Errorf("reading %s: %w", EventsStream, err)
		}
		if n == 0 {
			return truncated, nil
		}
	}
}
