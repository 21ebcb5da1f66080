// Package testlog gives tests a logger that writes into the test's output
// for as long as the test runs.
package testlog

import (
	"io"
	"log/slog"
	"sync"
	"testing"
)

// New logs warnings and errors into t's output, until t ends: nats-server
// goroutines may still log during shutdown, and writing to a finished
// test panics.
func New(t testing.TB) *slog.Logger {
	w := &guardedWriter{w: t.Output()}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type guardedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *guardedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *guardedWriter) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
