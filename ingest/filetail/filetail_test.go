package filetail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/internal/syncbuf"
)

// recordingSink records what it stores. reject, when set, makes a call
// fail: it returns the indexes of the events not stored, or outage to store
// none and say nothing about which.
type recordingSink struct {
	mu     sync.Mutex
	events []event.Event
	calls  int
	reject func(call int, events []event.Event) (failed []int, outage bool)
}

func (s *recordingSink) Store(_ context.Context, source string, events []event.Event) (ingest.Stored, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	for _, e := range events {
		if e.Source != source {
			return ingest.Stored{}, fmt.Errorf("event of source %q stored as %q", e.Source, source)
		}
	}
	var failed []int
	if s.reject != nil {
		var outage bool
		failed, outage = s.reject(s.calls, events)
		if outage {
			return ingest.Stored{}, errors.New("sink down")
		}
	}
	for i, e := range events {
		if !slices.Contains(failed, i) {
			s.events = append(s.events, e)
		}
	}
	if len(failed) > 0 {
		return ingest.Stored{Accepted: len(events) - len(failed), Failed: failed}, errors.New("some events not stored")
	}
	return ingest.Stored{Accepted: len(events)}, nil
}

func (s *recordingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func (s *recordingSink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *recordingSink) actions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.events))
	for i, e := range s.events {
		out[i] = e.Action
	}
	return out
}

func (s *recordingSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.events))
	for i, e := range s.events {
		out[i] = e.ID
	}
	return out
}

// memCheckpoints keep checkpoints in memory.
type memCheckpoints struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
}

func (c *memCheckpoints) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.m[key]), nil
}

func (c *memCheckpoints) Put(_ context.Context, key string, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	c.m[key] = bytes.Clone(value)
	c.puts++
	return nil
}

// get returns the tail's decoded checkpoint, or ok false if there is none.
func (c *memCheckpoints) get(t *testing.T) (checkpoint, bool) {
	t.Helper()
	c.mu.Lock()
	data := c.m["file."+sourceName]
	c.mu.Unlock()
	if data == nil {
		return checkpoint{}, false
	}
	cp, err := decodeCheckpoint(data)
	if err != nil {
		t.Fatalf("stored checkpoint %s: %v", data, err)
	}
	return cp, true
}

const sourceName = "audit-file"

// syncBuffer is a log destination tests read while the tail writes.
type syncBuffer struct{ syncbuf.Buffer }

// start runs a tail of path until the test ends or stop is called.
func start(t *testing.T, path string, sink ingest.Sink, cps ingest.Checkpoints, opt Options) (tail *Tail, stop func()) {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.PollInterval == 0 {
		opt.PollInterval = 2 * time.Millisecond
	}
	if opt.MinBackoff == 0 {
		opt.MinBackoff = time.Millisecond
		opt.MaxBackoff = 5 * time.Millisecond
	}
	src := config.Source{Name: sourceName, Type: Type, Format: config.FormatConfluenceAuditing, Settings: Config{Path: path}}
	tail, err := New(src, sink, cps, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tail.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return tail, stop
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (the tail polls every few milliseconds).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// auditLine is a line of the audit log file whose event's action is
// "Action n".
func auditLine(n int) string {
	return fmt.Sprintf(`{"affectedObjects":[],"auditType":{"action":"Action %d","actionI18nKey":"test.action","area":"AUDIT_LOG",`+
		`"category":"Test","categoryI18nKey":"test.category","level":"BASE"},"author":{"id":"u%d","name":"User %d","type":"user"},`+
		`"changedValues":[],"extraAttributes":[],"method":"Browser","node":"node-1","source":"192.0.2.1",`+
		`"system":"https://confluence.example.com","timestamp":{"epochSecond":%d,"nano":0},"version":"1.0"}`+"\n",
		n, n, n, 1715675700+n)
}

// auditLines are the lines of actions from to to, inclusive.
func auditLines(from, to int) string {
	var b strings.Builder
	for n := from; n <= to; n++ {
		b.WriteString(auditLine(n))
	}
	return b.String()
}

func actionRange(from, to int) []string {
	var out []string
	for n := from; n <= to; n++ {
		out = append(out, fmt.Sprintf("Action %d", n))
	}
	return out
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// waitActions waits until the sink holds as many events as want, then
// checks that they are want, in order: nothing lost, nothing twice.
func waitActions(t *testing.T, sink *recordingSink, want []string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events", len(want)), func() bool { return sink.count() >= len(want) })
	if got := sink.actions(); !slices.Equal(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
}

// waitCheckpoint waits until the checkpoint is at offset in path.
func waitCheckpoint(t *testing.T, cps *memCheckpoints, path string, offset int64) checkpoint {
	t.Helper()
	var cp checkpoint
	waitFor(t, fmt.Sprintf("checkpoint at %s:%d", path, offset), func() bool {
		var ok bool
		cp, ok = cps.get(t)
		return ok && cp.Path == path && cp.Offset == offset
	})
	return cp
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	for _, dir := range []string{"../../event/testdata"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			return data
		}
	}
	t.Fatalf("fixture %s not found", name)
	return nil
}

func TestReadsFixtures(t *testing.T) {
	for _, name := range []string{"audit-file-sample.log", "soteri-events.file.jsonl"} {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, name)
			want, err := event.Parse(bytes.Clone(data), event.Options{Format: event.FormatConfluenceAuditing, Source: sourceName})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "current.audit.log")
			writeFile(t, path, string(data))
			sink, cps := &recordingSink{}, &memCheckpoints{}
			tail, _ := start(t, path, sink, cps, Options{BatchSize: 4})
			waitFor(t, "all events", func() bool { return sink.count() >= len(want) })
			cp := waitCheckpoint(t, cps, path, int64(len(data)))

			wantIDs := make([]string, len(want))
			for i, e := range want {
				wantIDs[i] = e.ID
			}
			if got := sink.ids(); !slices.Equal(got, wantIDs) {
				t.Errorf("ids:\n got %q\nwant %q", got, wantIDs)
			}
			lines := int64(bytes.Count(data, []byte{'\n'}))
			if cp.Line != lines || cp.FPLen != min(int64(len(data)), fingerprintMax) || cp.Ino == 0 {
				t.Errorf("checkpoint %+v: want line %d, a fingerprint and an inode", cp, lines)
			}
			st := tail.Stats()
			if st.Lines.Load() != lines || st.Events.Load() != int64(len(want)) || st.Malformed.Load() != 0 {
				t.Errorf("stats: lines %d, events %d, malformed %d", st.Lines.Load(), st.Events.Load(), st.Malformed.Load())
			}
		})
	}
}

func TestFollowsAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.audit.log")
	writeFile(t, path, "")
	sink, cps := &recordingSink{}, &memCheckpoints{}
	start(t, path, sink, cps, Options{})
	for i := range 3 {
		appendFile(t, path, auditLines(3*i+1, 3*i+3))
		waitActions(t, sink, actionRange(1, 3*i+3))
	}
	waitCheckpoint(t, cps, path, fileSize(t, path))
}

func TestPartialLineWaitsForNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.audit.log")
	first, second := auditLine(1), auditLine(2)
	// One write, so that the read that finds the first line finds the
	// start of the second too.
	writeFile(t, path, first+second[:100])
	sink, cps := &recordingSink{}, &memCheckpoints{}
	tail, _ := start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 1))
	waitCheckpoint(t, cps, path, int64(len(first)))

	appendFile(t, path, second[100:200])
	appendFile(t, path, second[200:])
	waitActions(t, sink, actionRange(1, 2))
	waitCheckpoint(t, cps, path, int64(len(first+second)))
	if n := tail.Stats().Malformed.Load(); n != 0 {
		t.Errorf("%d malformed lines", n)
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "current.audit.log")
	writeFile(t, path, auditLines(1, 3))
	sink, cps := &recordingSink{}, &memCheckpoints{}
	tail, _ := start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 3))

	// Lines written just before the rename must be read from the old file.
	appendFile(t, path, auditLines(4, 5))
	if err := os.Rename(path, filepath.Join(dir, "20240514-00000.audit.log")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, auditLines(6, 8))
	waitActions(t, sink, actionRange(1, 8))

	appendFile(t, path, auditLines(9, 9))
	if err := os.Rename(path, filepath.Join(dir, "20240514-00001.audit.log")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, auditLines(10, 11))
	waitActions(t, sink, actionRange(1, 11))
	waitCheckpoint(t, cps, path, fileSize(t, path))
	if n := tail.Stats().Rotations.Load(); n != 2 {
		t.Errorf("%d rotations, want 2", n)
	}
}

func TestRotationWhileStopped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "current.audit.log")
	rotated := filepath.Join(dir, "20240514-00000.audit.log")
	writeFile(t, path, auditLines(1, 3))
	sink, cps := &recordingSink{}, &memCheckpoints{}
	_, stop := start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 3))
	waitCheckpoint(t, cps, path, fileSize(t, path))
	stop()

	appendFile(t, path, auditLines(4, 5))
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, auditLines(6, 8))
	// A file that is not the checkpointed one, to be passed over.
	writeFile(t, filepath.Join(dir, "other.log"), auditLines(100, 105))

	tail, _ := start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 8))
	waitCheckpoint(t, cps, path, fileSize(t, path))
	if n := tail.Stats().Rotations.Load(); n != 1 {
		t.Errorf("%d rotations, want 1", n)
	}
}

func TestPattern(t *testing.T) {
	dir := t.TempDir()
	pattern := filepath.Join(dir, "*.audit.log")
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("20240514-%05d.audit.log", i)) }
	// Without a checkpoint only the last file is read.
	writeFile(t, name(0), auditLines(90, 99))
	writeFile(t, name(1), auditLines(1, 3))
	sink, cps := &recordingSink{}, &memCheckpoints{}
	_, stop := start(t, pattern, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 3))

	// Confluence starts a new file without renaming the old one.
	appendFile(t, name(1), auditLines(4, 4))
	writeFile(t, name(2), auditLines(5, 6))
	waitActions(t, sink, actionRange(1, 6))
	waitCheckpoint(t, cps, name(2), fileSize(t, name(2)))
	stop()

	// Two new files while stopped: the rest of the checkpointed one, then
	// both, in name order.
	appendFile(t, name(2), auditLines(7, 7))
	writeFile(t, name(3), auditLines(8, 9))
	writeFile(t, name(4), auditLines(10, 10))
	tail, _ := start(t, pattern, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 10))
	waitCheckpoint(t, cps, name(4), fileSize(t, name(4)))
	if n := tail.Stats().Rotations.Load(); n != 2 {
		t.Errorf("%d rotations, want 2", n)
	}
}

func TestPatternCheckpointedFileDeleted(t *testing.T) {
	dir := t.TempDir()
	pattern := filepath.Join(dir, "*.audit.log")
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("20240514-%05d.audit.log", i)) }
	writeFile(t, name(0), auditLines(1, 2))
	sink, cps := &recordingSink{}, &memCheckpoints{}
	_, stop := start(t, pattern, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 2))
	waitCheckpoint(t, cps, name(0), fileSize(t, name(0)))
	stop()

	writeFile(t, name(1), auditLines(3, 4))
	writeFile(t, name(2), auditLines(5, 5))
	if err := os.Remove(name(0)); err != nil {
		t.Fatal(err)
	}
	start(t, pattern, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 5))
}

func TestTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.audit.log")
	writeFile(t, path, auditLines(1, 5))
	sink, cps := &recordingSink{}, &memCheckpoints{}
	tail, _ := start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 5))

	// Shorter than before, so that the truncation shows whenever the tail
	// looks.
	writeFile(t, path, auditLines(6, 7))
	waitActions(t, sink, actionRange(1, 7))
	waitCheckpoint(t, cps, path, fileSize(t, path))
	if n := tail.Stats().Truncations.Load(); n != 1 {
		t.Errorf("%d truncations, want 1", n)
	}
}

func TestTruncatedWhileStopped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.audit.log")
	writeFile(t, path, auditLines(1, 5))
	sink, cps := &recordingSink{}, &memCheckpoints{}
	_, stop := start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 5))
	waitCheckpoint(t, cps, path, fileSize(t, path))
	stop()

	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, auditLines(6, 6))
	tail, _ := start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 6))
	if n := tail.Stats().Truncations.Load(); n != 1 {
		t.Errorf("%d truncations, want 1", n)
	}
}

func TestSkipsMalformedAndOversizedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.audit.log")
	long := `{"pad":"` + strings.Repeat("x", 1500) + `"}` + "\n"
	huge := `{"pad":"` + strings.Repeat("y", 200<<10) + `"}` + "\n"
	content := auditLine(1) + // line 1
		"{not json\n" + // 2
		auditLine(2) + // 3
		long + // 4
		auditLine(3) + // 5
		"[1, 2]\n" + // 6
		huge + // 7
		"\n" + // 8
		auditLine(4) // 9
	writeFile(t, path, content)
	logs := &syncBuffer{}
	sink, cps := &recordingSink{}, &memCheckpoints{}
	opt := Options{MaxLineBytes: 1000, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	tail, _ := start(t, path, sink, cps, opt)
	waitActions(t, sink, actionRange(1, 4))
	waitCheckpoint(t, cps, path, int64(len(content)))

	// A long line that arrives in pieces, the first one with a good line.
	appendFile(t, path, auditLine(5)+huge[:150<<10])
	waitActions(t, sink, actionRange(1, 5))
	appendFile(t, path, huge[150<<10:]+auditLine(6))
	waitActions(t, sink, actionRange(1, 6))
	waitCheckpoint(t, cps, path, fileSize(t, path))

	st := tail.Stats()
	if st.Lines.Load() != 12 || st.Malformed.Load() != 2 || st.Oversized.Load() != 3 {
		t.Errorf("stats: lines %d (want 12), malformed %d (want 2), oversized %d (want 3)",
			st.Lines.Load(), st.Malformed.Load(), st.Oversized.Load())
	}
	for _, at := range []string{":2 ", ":4 ", ":6 ", ":7 ", ":11 "} {
		if !strings.Contains(logs.String(), "current.audit.log"+at) {
			t.Errorf("no log of line %s in:\n%s", at, logs)
		}
	}
}

func TestStoreFailureRetries(t *testing.T) {
	t.Run("outage", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "current.audit.log")
		writeFile(t, path, auditLines(1, 5))
		var mu sync.Mutex
		down := true
		sink := &recordingSink{reject: func(int, []event.Event) ([]int, bool) {
			mu.Lock()
			defer mu.Unlock()
			return nil, down
		}}
		cps := &memCheckpoints{}
		tail, _ := start(t, path, sink, cps, Options{BatchSize: 2})
		waitFor(t, "retries", func() bool { return sink.callCount() >= 5 })
		if n := sink.count(); n != 0 {
			t.Fatalf("%d events stored while the sink is down", n)
		}
		if cp, ok := cps.get(t); ok {
			t.Fatalf("checkpoint %+v moved while the sink is down", cp)
		}
		mu.Lock()
		down = false
		mu.Unlock()
		waitActions(t, sink, actionRange(1, 5))
		waitCheckpoint(t, cps, path, fileSize(t, path))
		if st := tail.Stats(); st.StoreRetries.Load() < 4 || st.Events.Load() != 5 {
			t.Errorf("stats: %d retries, %d events", st.StoreRetries.Load(), st.Events.Load())
		}
	})
	t.Run("partial", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "current.audit.log")
		writeFile(t, path, auditLines(1, 5))
		sink := &recordingSink{reject: func(call int, events []event.Event) ([]int, bool) {
			if call > 1 {
				return nil, false
			}
			return []int{1, 3}, false
		}}
		cps := &memCheckpoints{}
		start(t, path, sink, cps, Options{})
		waitCheckpoint(t, cps, path, fileSize(t, path))
		got := sink.actions()
		want := []string{"Action 1", "Action 3", "Action 5", "Action 2", "Action 4"}
		if !slices.Equal(got, want) || sink.callCount() != 2 {
			t.Errorf("%d calls stored %q, want 2 calls storing %q", sink.callCount(), got, want)
		}
	})
}

func TestRestartFromCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.audit.log")
	writeFile(t, path, auditLines(1, 5))
	sink, cps := &recordingSink{}, &memCheckpoints{}
	_, stop := start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 5))
	waitCheckpoint(t, cps, path, fileSize(t, path))
	stop()

	appendFile(t, path, auditLines(6, 7))
	tail, _ := start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 7))
	waitCheckpoint(t, cps, path, fileSize(t, path))
	if n := tail.Stats().Events.Load(); n != 2 {
		t.Errorf("the restarted tail sent %d events, want 2", n)
	}
}

func TestReplacedFileReadFromStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.audit.log")
	writeFile(t, path, auditLines(1, 3))
	sink, cps := &recordingSink{}, &memCheckpoints{}
	_, stop := start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 3))
	waitCheckpoint(t, cps, path, fileSize(t, path))
	stop()

	// Another file, longer than the checkpoint's offset, perhaps with the
	// old inode: the fingerprint tells it apart.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, auditLines(4, 9))
	start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 9))
}

func TestWaitsForMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log", "current.audit.log")
	logs := &syncBuffer{}
	sink, cps := &recordingSink{}, &memCheckpoints{}
	start(t, path, sink, cps, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	waitFor(t, "the waiting message", func() bool { return strings.Contains(logs.String(), "waiting for the file") })
	// Let it poll a few more times while the file is missing.
	time.Sleep(20 * time.Millisecond)
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, auditLines(1, 2))
	waitActions(t, sink, actionRange(1, 2))
	if n := strings.Count(logs.String(), "waiting for the file"); n != 1 {
		t.Errorf("the wait was logged %d times, want once:\n%s", n, logs)
	}
}

func TestUndecodableCheckpointIsIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "current.audit.log")
	writeFile(t, path, auditLines(1, 2))
	sink := &recordingSink{}
	bad := `{"v":1,"offset":-5}`
	cps := &memCheckpoints{m: map[string][]byte{"file." + sourceName: []byte(bad)}}
	start(t, path, sink, cps, Options{})
	waitActions(t, sink, actionRange(1, 2))
	// The checkpoint is written after the events are stored: until then
	// the undecodable one is still there.
	waitFor(t, "a new checkpoint", func() bool {
		cps.mu.Lock()
		defer cps.mu.Unlock()
		return string(cps.m["file."+sourceName]) != bad
	})
	waitCheckpoint(t, cps, path, fileSize(t, path))
}

func TestNewRejects(t *testing.T) {
	sink, cps := &recordingSink{}, &memCheckpoints{}
	for _, src := range []config.Source{
		{Name: "f", Settings: Config{Path: ""}},
		{Name: "", Settings: Config{Path: "/tmp/x.log"}},
		{Name: "f", Type: "webhook", Settings: Config{Path: "/tmp/x.log"}},
		{Name: "f", Settings: Config{Path: "/tmp/x.log"}, Format: "xml"},
		{Name: "f", Settings: Config{Path: "/tmp/[x.log"}},
	} {
		if _, err := New(src, sink, cps, Options{}); err == nil {
			t.Errorf("New(%+v) gave no error", src)
		}
	}
	if _, err := New(config.Source{Name: "f", Settings: Config{Path: "/tmp/x.log"}}, sink, cps, Options{BatchSize: -1}); err == nil {
		t.Error("a negative batch size gave no error")
	}
}
