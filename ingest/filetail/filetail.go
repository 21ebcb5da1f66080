package filetail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/internal/retry"
)

// Defaults of Options.
const (
	DefaultPollInterval = 500 * time.Millisecond
	DefaultBatchSize    = 500
	DefaultMaxLineBytes = 1 << 20
	DefaultMinBackoff   = 500 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
)

const (
	// readSize is how much one read takes from the file.
	readSize = 64 << 10
	// maxBatchBytes flushes a batch early, so that long lines cannot make a
	// batch of BatchSize events hold hundreds of megabytes.
	maxBatchBytes = 8 << 20
	// putTimeout bounds a checkpoint write. Writes do not follow Run's
	// context, so that the position reached is still saved when Run is
	// being stopped.
	putTimeout = 5 * time.Second
	// maxSkipLogs is how many skipped lines of one file are logged one by
	// one; later ones are only counted.
	maxSkipLogs = 100
)

// Options tune a Tail; the zero value takes the defaults.
type Options struct {
	// Logger receives the tail's messages; default slog.Default().
	Logger *slog.Logger
	// PollInterval is how often the file is checked for new lines,
	// rotation and truncation; default 500ms.
	PollInterval time.Duration
	// BatchSize is the most events given to one Store; default 500.
	BatchSize int
	// MaxLineBytes is the longest line read, newline excluded; longer ones
	// are skipped and counted. Default 1 MiB.
	MaxLineBytes int
	// MinBackoff and MaxBackoff bound the wait between attempts of a Store
	// that fails (doubling from MinBackoff, with jitter); default 500ms and
	// 30s.
	MinBackoff, MaxBackoff time.Duration
	// CheckpointKey is where the position is kept; default
	// "file.<source name>". Replicas that tail files of their own (one per
	// Confluence node) under one source name need a key each.
	CheckpointKey string
}

// Stats count what a Tail did, for metrics. The fields are read atomically
// while the tail runs.
type Stats struct {
	Lines        atomic.Int64 // complete lines read (blank, malformed and long ones included)
	Events       atomic.Int64 // events the sink stored (or found to be duplicates)
	Malformed    atomic.Int64 // lines skipped because they did not parse
	Oversized    atomic.Int64 // lines skipped because they were longer than MaxLineBytes
	Rotations    atomic.Int64 // switches to a new file
	Truncations  atomic.Int64 // files found shorter than what was read, and read again from 0
	StoreRetries atomic.Int64 // Store calls that failed and were retried
}

// Tail follows one file source. Create it with New and call Run once.
type Tail struct {
	name    string // the source's name
	path    string // absolute Path, maybe a pattern
	pattern bool   // whether path is a glob pattern
	key     string
	sink    ingest.Sink
	cps     ingest.Checkpoints
	opt     Options
	log     *slog.Logger
	parse   event.Options
	stats   Stats
	running atomic.Bool

	// The state below belongs to Run's goroutine.
	cur      *file       // the file being read; nil while waiting for one
	resume   *checkpoint // the stored position, until the first file is opened
	searched bool        // whether the rotated file of resume was searched for
	batch    batch
	buf      []byte
	saved    checkpoint // the position to store
	dirty    bool       // saved is not stored yet
	// Problems reported by the last poll and by this one: a problem that
	// lasts over many polls is logged once.
	reportedLast, reportedNow map[string]bool
}

// file is an open file being read.
type file struct {
	f    *os.File
	path string
	info os.FileInfo // at open, for os.SameFile
	dev  uint64
	ino  uint64 // 0: unknown

	offset  int64  // after the last complete line handed on
	readPos int64  // next byte to read: offset plus the partial line
	line    int64  // number of the last complete line
	partial []byte // the line being written, without its newline
	// skipping is set inside a line already longer than MaxLineBytes,
	// whose bytes are dropped until its newline.
	skipping bool
	skipLogs int // skipped lines logged

	fp    string // fingerprint of the first fpLen bytes, for checkpoints
	fpLen int64
}

// batch holds the events of lines read but not yet stored.
type batch struct {
	events  []event.Event
	bytes   int
	pending bool  // lines were read since the last checkpoint
	end     int64 // offset after the last line
	line    int64 // number of the last line
}

// New returns a tail of its path (a file or a glob pattern) that stores
// events through sink and keeps its position in cps.
func New(src config.Source, sink ingest.Sink, cps ingest.Checkpoints, opt Options) (*Tail, error) {
	if src.Type != "" && src.Type != Type {
		return nil, fmt.Errorf("source %s: type %s is not %s", src.Name, src.Type, Type)
	}
	if src.Name == "" {
		return nil, errors.New("file source without a name")
	}
	file := ConfigOf(src).Path
	if file == "" {
		return nil, fmt.Errorf("source %s: no path", src.Name)
	}
	if sink == nil || cps == nil {
		return nil, fmt.Errorf("source %s: a sink and checkpoints are required", src.Name)
	}
	format := src.Format
	if format == "" {
		format = config.FormatConfluenceAuditing
	}
	if err := event.CheckFormat(format); err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	path, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("source %s: path %s: %w", src.Name, file, err)
	}
	pattern := strings.ContainsAny(path, "*?[")
	if pattern {
		if _, err := filepath.Match(path, ""); err != nil {
			return nil, fmt.Errorf("source %s: path %s: %w", src.Name, file, err)
		}
	}
	if opt.PollInterval < 0 || opt.BatchSize < 0 || opt.MaxLineBytes < 0 || opt.MinBackoff < 0 || opt.MaxBackoff < 0 {
		return nil, fmt.Errorf("source %s: negative option", src.Name)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.PollInterval == 0 {
		opt.PollInterval = DefaultPollInterval
	}
	if opt.BatchSize == 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.MaxLineBytes == 0 {
		opt.MaxLineBytes = DefaultMaxLineBytes
	}
	if opt.MinBackoff == 0 {
		opt.MinBackoff = DefaultMinBackoff
	}
	if opt.MaxBackoff == 0 {
		opt.MaxBackoff = DefaultMaxBackoff
	}
	opt.MaxBackoff = max(opt.MaxBackoff, opt.MinBackoff)
	if opt.CheckpointKey == "" {
		opt.CheckpointKey = "file." + src.Name
	}
	return &Tail{
		name:    src.Name,
		path:    path,
		pattern: pattern,
		key:     opt.CheckpointKey,
		sink:    sink,
		cps:     cps,
		opt:     opt,
		log:     opt.Logger.With("source", src.Name),
		parse:   event.Options{Format: format, Source: src.Name},
	}, nil
}

// Stats returns the tail's counters.
func (t *Tail) Stats() *Stats { return &t.stats }

// Counters are the tail's counters in the shape every source shares.
func (t *Tail) Counters() ingest.Counters {
	st := &t.stats
	return ingest.Counters{Received: &st.Events, Rejected: map[string]*atomic.Int64{
		ingest.Malformed: &st.Malformed, ingest.TooLarge: &st.Oversized,
	}}
}

// Run tails the file until ctx is done, then returns nil. Problems along the
// way (a missing file, a read error, a failing sink or checkpoint store) are
// logged and retried, never returned: a source that gives up loses events.
func (t *Tail) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return fmt.Errorf("source %s: the tail is already running", t.name)
	}
	defer t.running.Store(false)
	defer t.close()

	if !t.loadCheckpoint(ctx) {
		return nil
	}
	t.buf = make([]byte, readSize)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		t.poll(ctx)
		timer.Reset(t.opt.PollInterval)
	}
}

// loadCheckpoint reads the stored position, retrying until it can; it
// reports false when ctx is done first.
func (t *Tail) loadCheckpoint(ctx context.Context) bool {
	backoff := t.opt.MinBackoff
	for {
		data, err := t.cps.Get(ctx, t.key)
		if err == nil {
			if data == nil {
				t.log.Info("no checkpoint: reading from the start of the file", "path", t.path)
				return true
			}
			cp, err := decodeCheckpoint(data)
			if err != nil {
				t.log.Error("ignoring the checkpoint: reading from the start of the file", "key", t.key, "err", err)
				return true
			}
			t.resume = &cp
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		t.log.Warn("reading the checkpoint failed; retrying", "key", t.key, "err", err, "retry_in", backoff)
		if retry.Sleep(ctx, retry.Jitter(backoff)) != nil {
			return false
		}
		backoff = min(2*backoff, t.opt.MaxBackoff)
	}
}

// poll reads what was added since the last poll, following rotations.
func (t *Tail) poll(ctx context.Context) {
	defer func() {
		t.reportedLast, t.reportedNow = t.reportedNow, nil
	}()
	if t.cur == nil && !t.openFirst() {
		t.saveCheckpoint(ctx)
		return
	}
	for ctx.Err() == nil {
		if err := t.checkTruncation(); err != nil {
			t.report("cannot stat the file", "path", t.cur.path, "err", err)
			return
		}
		if err := t.readToEnd(ctx); err != nil {
			if ctx.Err() == nil {
				t.report("reading the file failed; retrying", "path", t.cur.path, "err", err)
			}
			return
		}
		next := t.successor()
		if next == nil {
			break
		}
		// The writer has moved to next, so what it wrote to the old file
		// before is there now: read it before leaving the file.
		if err := t.readToEnd(ctx); err != nil {
			next.f.Close()
			if ctx.Err() == nil {
				t.report("reading the file failed; retrying", "path", t.cur.path, "err", err)
			}
			return
		}
		if err := t.finishPartial(ctx); err != nil {
			next.f.Close()
			return
		}
		t.stats.Rotations.Add(1)
		t.log.Info("file rotated: continuing with the next file", "from", t.cur.path, "from_offset", t.cur.offset, "to", next.path)
		t.cur.f.Close()
		t.cur = next
		t.setCheckpoint(next, 0, 0)
	}
	t.saveCheckpoint(ctx)
}

// close closes the file being read.
func (t *Tail) close() {
	if t.cur != nil {
		t.cur.f.Close()
		t.cur = nil
	}
}

// report logs a problem once while it lasts: until a poll goes without it.
func (t *Tail) report(msg string, args ...any) {
	key := msg + fmt.Sprint(args...)
	if t.reportedNow == nil {
		t.reportedNow = map[string]bool{}
	}
	t.reportedNow[key] = true
	if !t.reportedLast[key] {
		t.log.Warn(msg, args...)
	}
}
