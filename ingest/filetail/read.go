package filetail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/retry"
)

// checkTruncation starts the file again from 0 when it has become shorter
// than what was read.
func (t *Tail) checkTruncation() error {
	c := t.cur
	fi, err := c.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= c.readPos {
		return nil
	}
	t.stats.Truncations.Add(1)
	t.log.Warn("file truncated: reading it again from the start", "path", c.path, "size", fi.Size(), "offset", c.readPos)
	c.offset, c.readPos, c.line = 0, 0, 0
	c.partial, c.skipping = nil, false
	c.fp, c.fpLen = "", 0
	t.batch = batch{}
	t.setCheckpoint(c, 0, 0)
	return nil
}

// readToEnd reads the current file to its end, storing the events of its
// complete lines.
func (t *Tail) readToEnd(ctx context.Context) error {
	c := t.cur
	for {
		n, err := c.f.ReadAt(t.buf, c.readPos)
		if n > 0 {
			if err := t.consume(ctx, t.buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s at %d: %w", c.path, c.readPos, err)
		}
	}
	return t.flush(ctx)
}

// consume takes data, read at the current file's readPos, into lines. The
// read buffer is reused, so the complete lines are copied once, together,
// and handed on as parts of that copy, which nothing writes to again: the
// events keep referring to it.
func (t *Tail) consume(ctx context.Context, data []byte) error {
	c := t.cur
	at := c.readPos
	c.readPos += int64(len(data))
	last := bytes.LastIndexByte(data, '\n')
	if last < 0 {
		t.keepPartial(data)
		return nil
	}
	complete := bytes.Clone(data[:last+1])
	for len(complete) > 0 {
		i := bytes.IndexByte(complete, '\n')
		seg := complete[:i]
		end := at + int64(i) + 1
		var line []byte
		oversize := false
		switch {
		case c.skipping:
			oversize = true
		case len(c.partial) > 0:
			if len(c.partial)+len(seg) > t.opt.MaxLineBytes {
				oversize = true
			} else {
				// partial is not used again after this.
				line = append(c.partial, seg...)
			}
		case len(seg) > t.opt.MaxLineBytes:
			oversize = true
		default:
			line = seg
		}
		c.partial, c.skipping = nil, false
		if err := t.handleLine(ctx, line, oversize, end); err != nil {
			return err
		}
		complete = complete[i+1:]
		at = end
	}
	t.keepPartial(data[last+1:])
	return nil
}

// keepPartial keeps the start of a line whose newline is not read yet, or
// drops it once the line is too long to be read.
func (t *Tail) keepPartial(data []byte) {
	c := t.cur
	switch {
	case len(data) == 0 || c.skipping:
	case len(c.partial)+len(data) > t.opt.MaxLineBytes:
		c.partial, c.skipping = nil, true
	default:
		c.partial = append(c.partial, data...)
	}
}

// finishPartial takes a last line without a newline as a line: it is called
// when the writer has moved to another file and will not finish it.
func (t *Tail) finishPartial(ctx context.Context) error {
	c := t.cur
	switch {
	case c.skipping:
		c.skipping = false
		if err := t.handleLine(ctx, nil, true, c.readPos); err != nil {
			return err
		}
	case len(c.partial) > 0:
		line := c.partial
		c.partial = nil
		if err := t.handleLine(ctx, line, false, c.readPos); err != nil {
			return err
		}
	}
	return t.flush(ctx)
}

// handleLine parses one complete line (nil when oversize) that ends at
// offset end into the batch, storing the batch when it is full.
func (t *Tail) handleLine(ctx context.Context, line []byte, oversize bool, end int64) error {
	c := t.cur
	c.line++
	c.offset = end
	t.stats.Lines.Add(1)
	b := &t.batch
	b.pending, b.end, b.line = true, end, c.line
	switch {
	case oversize:
		t.stats.Oversized.Add(1)
		t.skipped(fmt.Errorf("line longer than %d bytes", t.opt.MaxLineBytes))
	case len(bytes.TrimSpace(line)) == 0:
		// A blank line holds no event; it is not an error either.
	default:
		opt := t.parse
		opt.Received, opt.RequireFields = time.Now(), true
		events, err := event.Parse(line, opt)
		if err != nil {
			t.stats.Malformed.Add(1)
			t.skipped(err)
			break
		}
		b.events = append(b.events, events...)
		b.bytes += len(line)
	}
	if len(b.events) >= t.opt.BatchSize || b.bytes >= maxBatchBytes {
		return t.flush(ctx)
	}
	return nil
}

// skipped logs a line that is skipped, up to maxSkipLogs a file.
func (t *Tail) skipped(err error) {
	c := t.cur
	c.skipLogs++
	switch {
	case c.skipLogs <= maxSkipLogs:
		t.log.Warn("skipping a line that is not an event", "at", fmt.Sprintf("%s:%d", c.path, c.line), "err", err)
	case c.skipLogs == maxSkipLogs+1:
		t.log.Warn("more lines of this file are skipped: counting them without logging each", "path", c.path, "line", c.line)
	}
}

// flush stores the batch and then moves the checkpoint after its last line.
// It fails only when ctx is done before the sink stored the batch.
func (t *Tail) flush(ctx context.Context) error {
	b := t.batch
	if !b.pending {
		return nil
	}
	if len(b.events) > 0 {
		if err := t.store(ctx, b.events); err != nil {
			return err
		}
		t.stats.Events.Add(int64(len(b.events)))
	}
	// A new slice each batch: the sink may still refer to the old one.
	t.batch = batch{}
	t.setCheckpoint(t.cur, b.end, b.line)
	t.saveCheckpoint(ctx)
	return nil
}

// store hands events to the sink, retrying with backoff until it stored
// them all or ctx is done.
func (t *Tail) store(ctx context.Context, events []event.Event) error {
	backoff := t.opt.MinBackoff
	for attempt := 1; ; attempt++ {
		res, err := t.sink.Store(ctx, t.name, events)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t.stats.StoreRetries.Add(1)
		// Retrying only those the sink could not store saves work; without
		// a usable list the whole batch goes again, which ids make safe.
		if failed := pick(events, res.Failed); failed != nil {
			events = failed
		}
		t.log.Warn("storing events failed; retrying", "path", t.cur.path, "line", t.batch.line,
			"events", len(events), "attempt", attempt, "err", err, "retry_in", backoff)
		if err := retry.Sleep(ctx, retry.Jitter(backoff)); err != nil {
			return err
		}
		backoff = min(2*backoff, t.opt.MaxBackoff)
	}
}

// pick returns the events at the indexes idx, or nil if idx is empty or not
// a set of valid indexes.
func pick(events []event.Event, idx []int) []event.Event {
	if len(idx) == 0 || len(idx) > len(events) {
		return nil
	}
	seen := make(map[int]bool, len(idx))
	out := make([]event.Event, 0, len(idx))
	for _, i := range idx {
		if i < 0 || i >= len(events) || seen[i] {
			return nil
		}
		seen[i] = true
		out = append(out, events[i])
	}
	return out
}

// setCheckpoint records the position to store next: offset (after line)
// in c.
func (t *Tail) setCheckpoint(c *file, offset, line int64) {
	if n := min(offset, fingerprintMax); n != c.fpLen {
		c.fp, c.fpLen = "", 0
		if n > 0 {
			fp, err := fingerprint(c.f, n)
			if err != nil {
				// The file shrank under us; the next poll sees the
				// truncation. The inode alone identifies it until then.
				t.log.Warn("cannot fingerprint the file", "path", c.path, "err", err)
			} else {
				c.fp, c.fpLen = fp, n
			}
		}
	}
	t.saved = checkpoint{
		Version: checkpointVersion, Path: c.path, Offset: offset, Line: line,
		Dev: c.dev, Ino: c.ino, FP: c.fp, FPLen: c.fpLen,
	}
	t.dirty = true
}

// saveCheckpoint stores the recorded position, if it is not stored yet. A
// failure is logged and retried at the next poll: the events are stored, so
// it can only cause re-sends after a restart.
func (t *Tail) saveCheckpoint(ctx context.Context) {
	if !t.dirty {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), putTimeout)
	defer cancel()
	if err := t.cps.Put(pctx, t.key, t.saved.encode()); err != nil {
		t.report("storing the checkpoint failed; retrying at the next poll", "key", t.key, "err", err)
		return
	}
	t.dirty = false
}
