package ingest

import "sync"

// Limiter caps the bytes of request bodies that the webhook sources of a
// process hold at once (server.max_ingest_bytes), from before a body is
// read until its events are stored. A body costs many times its size meanwhile (for 1 MiB of small
// JSON lines, about 18,000 decoded events, their encodings and the
// publishes awaiting their acks), so a dozen large bodies at once could
// exhaust the process's memory; past the cap a request is answered 503 with
// Retry-After, without reading its body.
type Limiter struct {
	mu        sync.Mutex
	max, used int64
}

// NewLimiter returns a Limiter of max bytes; max <= 0 means no cap.
func NewLimiter(max int64) *Limiter {
	if max <= 0 {
		return nil
	}
	return &Limiter{max: max}
}

// TryAcquire takes n bytes if they are free. A nil Limiter takes anything.
func (l *Limiter) TryAcquire(n int64) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// A body larger than the whole cap still gets in when nothing else is:
	// the cap bounds concurrency, it is not a second max_body_bytes.
	if l.used > 0 && l.used+n > l.max {
		return false
	}
	l.used += n
	return true
}

// Release gives back n bytes that TryAcquire took.
func (l *Limiter) Release(n int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.used -= n
	l.mu.Unlock()
}

// Max is the cap in bytes; 0: none.
func (l *Limiter) Max() int64 {
	if l == nil {
		return 0
	}
	return l.max
}
