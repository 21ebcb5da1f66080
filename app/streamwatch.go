package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/bus"
)

// streamWatchEvery is how often the streams are looked at: often enough
// that a stream filling up is reported long before it drops anything.
const streamWatchEvery = 30 * time.Second

// fillWarn is the share of a stream's byte limit past which alerter warns:
// past the limit JetStream drops the oldest messages.
const fillWarn = 0.8

// streamWatch makes silent losses of alerter's streams loud: a stream
// close to its byte limit (it will drop its oldest messages), messages
// lost on disk (a corrupt block JetStream dropped on recovery), messages
// deleted from the middle of a stream (alerter never does that), and a
// stream that ends before what the evaluator had already read (its tail
// was lost). Each is logged once, counted in the metrics and shown by
// /readyz.
type streamWatch struct {
	streams []jetstream.Stream
	// evaluator is the consumer of EVENTS, whose position tells where the
	// stream ended before.
	evaluator jetstream.Consumer
	// marks keep where each stream ended at the last look, across
	// restarts: a stream that ends before its mark lost its end (the
	// server resets its consumers' positions to match, so they cannot
	// tell).
	marks *bus.Checkpoints
	log   *slog.Logger

	mu     sync.Mutex
	status map[string]*streamStatus
}

// streamStatus is what the last look at one stream found.
type streamStatus struct {
	bytes, maxBytes uint64 // maxBytes 0: no byte limit
	// missing are messages gone without having aged out or been pushed
	// out by a limit: lost on disk, deleted, or a lost tail.
	missing    uint64
	warnedFill bool
	checked    bool
	// mark is where the stream ended at the last look (from the marks at
	// the first); endLost what it lost from its end since alerter started.
	mark, endLost uint64
	markRead      bool
}

func newStreamWatch(s *bus.Streams, evaluator jetstream.Consumer, marks *bus.Checkpoints, log *slog.Logger) *streamWatch {
	return &streamWatch{
		streams:   []jetstream.Stream{s.Events, s.Alerts, s.Rejected, s.Dead},
		evaluator: evaluator,
		marks:     marks,
		log:       log,
		status:    map[string]*streamStatus{},
	}
}

func (w *streamWatch) run(ctx context.Context) error {
	t := time.NewTicker(streamWatchEvery)
	defer t.Stop()
	for {
		w.check(ctx)
		select {
		case <-ctx.Done():
			// A last look as alerter stops, so that the marks say where
			// the streams ended.
			w.check(context.WithoutCancel(ctx))
			return nil
		case <-t.C:
		}
	}
}

// markKey is the checkpoint key of a stream's end.
func markKey(stream string) string { return "stream-end." + stream }

// readMark returns the stream's end at the last look, 0 if unknown.
func (w *streamWatch) readMark(ctx context.Context, stream string) uint64 {
	if w.marks == nil {
		return 0
	}
	b, err := w.marks.Get(ctx, markKey(stream))
	if err != nil || b == nil {
		return 0
	}
	v, _ := strconv.ParseUint(string(b), 10, 64)
	return v
}

// check looks at every stream once.
func (w *streamWatch) check(ctx context.Context) {
	for _, st := range w.streams {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := st.Info(cctx)
		var delivered uint64
		if err == nil && w.evaluator != nil && info.Config.Name == bus.EventsStream {
			if ci, cerr := w.evaluator.Info(cctx); cerr == nil {
				delivered = ci.Delivered.Stream
			}
		}
		if err != nil {
			cancel()
			// readyz reports an unavailable stream; nothing to add here.
			continue
		}
		name := info.Config.Name
		w.mu.Lock()
		s := w.status[name]
		if s == nil {
			s = &streamStatus{}
			w.status[name] = s
		}
		read := s.markRead
		w.mu.Unlock()
		if !read {
			mark := w.readMark(cctx, name)
			w.mu.Lock()
			s.mark, s.markRead = mark, true
			w.mu.Unlock()
		}
		if w.observe(info, delivered) && w.marks != nil {
			if err := w.marks.Put(cctx, markKey(name), []byte(strconv.FormatUint(info.State.LastSeq, 10))); err != nil {
				w.log.Warn("recording where a stream ends", "stream", name, "err", err)
			}
		}
		cancel()
	}
}

// observe records one stream's state; delivered is the last sequence of
// it the evaluator was given (0: not known). It tells whether the
// stream's end moved, so that its mark is to be written.
func (w *streamWatch) observe(info *jetstream.StreamInfo, delivered uint64) (moved bool) {
	name, st := info.Config.Name, info.State
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status[name]
	if s == nil {
		s = &streamStatus{}
		w.status[name] = s
	}
	s.checked = true
	if s.mark > st.LastSeq {
		s.endLost += s.mark - st.LastSeq
	}
	moved = s.mark != st.LastSeq
	s.mark = st.LastSeq
	s.bytes = st.Bytes
	s.maxBytes = 0
	if info.Config.MaxBytes > 0 {
		s.maxBytes = uint64(info.Config.MaxBytes)
	}

	var lost uint64
	var why []string
	if st.Lost != nil && len(st.Lost.Msgs) > 0 {
		lost += uint64(len(st.Lost.Msgs))
		why = append(why, fmt.Sprintf("%d lost on disk (sequences %s)", len(st.Lost.Msgs), seqList(st.Lost.Msgs)))
	}
	if st.NumDeleted > 0 {
		lost += uint64(st.NumDeleted)
		why = append(why, fmt.Sprintf("%d deleted from within the stream", st.NumDeleted))
	}
	if delivered > st.LastSeq {
		lost += delivered - st.LastSeq
		why = append(why, fmt.Sprintf("%d lost from its end (the evaluator had read up to sequence %d, the stream now ends at %d)", delivered-st.LastSeq, delivered, st.LastSeq))
	}
	if s.endLost > 0 {
		lost += s.endLost
		why = append(why, fmt.Sprintf("%d lost from its end (it had reached sequence %d before, it now ends at %d)", s.endLost, st.LastSeq+s.endLost, st.LastSeq))
	}
	if lost > s.missing {
		w.log.Error("messages missing from a stream: they did not age out or pass its byte limit, they were lost on disk or deleted", "stream", name, "missing", lost, "detail", strings.Join(why, "; "))
	}
	s.missing = lost

	if s.maxBytes == 0 {
		return moved
	}
	fill := float64(s.bytes) / float64(s.maxBytes)
	switch {
	case fill >= fillWarn && !s.warnedFill:
		s.warnedFill = true
		w.log.Warn("a stream is close to its byte limit: past it, its oldest messages are dropped", "stream", name,
			"bytes", s.bytes, "max_bytes", s.maxBytes, "fill", fmt.Sprintf("%.0f%%", 100*fill),
			"hint", "raise nats.max_bytes."+configKey(name)+" or lower nats.retention")
	case fill < fillWarn-0.05:
		s.warnedFill = false // warn again when it fills again
	}
	return moved
}

// configKey is the nats.max_bytes key of a stream.
func configKey(stream string) string { return strings.ToLower(stream) }

// seqList shows a few sequences of a list.
func seqList(seqs []uint64) string {
	var b strings.Builder
	for i, q := range seqs {
		if i == 5 {
			fmt.Fprintf(&b, ", ... (%d more)", len(seqs)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d", q)
	}
	return b.String()
}

// problems are the findings /readyz shows, by stream, sorted; none when
// all is well. They do not make alerter unready: it goes on taking and
// evaluating events.
func (w *streamWatch) problems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for name, s := range w.status {
		if s.missing > 0 {
			out = append(out, fmt.Sprintf("%s: %d messages missing (lost on disk or deleted; see the log)", name, s.missing))
		}
		if s.maxBytes > 0 && float64(s.bytes) >= fillWarn*float64(s.maxBytes) {
			out = append(out, fmt.Sprintf("%s: %.0f%% of its byte limit; past it the oldest messages are dropped", name, 100*float64(s.bytes)/float64(s.maxBytes)))
		}
	}
	slices.Sort(out)
	return out
}

// snapshot copies the status of each stream, for the metrics.
func (w *streamWatch) snapshot() map[string]streamStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]streamStatus, len(w.status))
	for name, s := range w.status {
		out[name] = *s
	}
	return out
}
