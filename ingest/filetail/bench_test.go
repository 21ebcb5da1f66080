package filetail

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
)

type countingSink struct{ n atomic.Int64 }

func (s *countingSink) Store(_ context.Context, _ string, events []event.Event) (ingest.Stored, error) {
	s.n.Add(int64(len(events)))
	return ingest.Stored{Accepted: len(events)}, nil
}

// BenchmarkTail reads a file of 28,000 fixture lines from the start.
func BenchmarkTail(b *testing.B) {
	var data []byte
	for _, dir := range []string{"../../event/testdata"} {
		if d, err := os.ReadFile(filepath.Join(dir, "soteri-events.file.jsonl")); err == nil {
			data = d
			break
		}
	}
	if data == nil {
		b.Skip("no fixture")
	}
	lines := int64(bytes.Count(data, []byte{'\n'}))
	path := filepath.Join(b.TempDir(), "current.audit.log")
	if err := os.WriteFile(path, bytes.Repeat(data, 1000), 0o644); err != nil {
		b.Fatal(err)
	}
	want := 1000 * lines
	src := config.Source{Name: sourceName, Settings: Config{Path: path}}
	opt := Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PollInterval: time.Millisecond}
	b.SetBytes(int64(len(data)) * 1000)
	runs := 0
	for b.Loop() {
		runs++
		sink := &countingSink{}
		tail, err := New(src, sink, &memCheckpoints{}, opt)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { tail.Run(ctx); close(done) }()
		for sink.n.Load() < want {
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(want*int64(runs))/b.Elapsed().Seconds(), "lines/s")
}
