// Package retry holds what every retrying part of alerter shares: the
// backoff between attempts, waiting on a context, and reading Retry-After.
package retry

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// MaxAfter bounds a Retry-After, so that a garbled or hostile header
// cannot park a retry for days.
const MaxAfter = time.Hour

// Backoff is the wait before retry number attempt (1 for the first): first,
// doubled per attempt, capped at limit, jittered over its upper half so
// that parts that failed together do not retry together.
func Backoff(attempt int, first, limit time.Duration) time.Duration {
	d := first
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return Jitter(min(d, limit))
}

// Jitter is a random duration between d/2 and d.
func Jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d, or until ctx is done, and then returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// After reads a Retry-After value (RFC 9110 §10.2.3): delay-seconds or an
// HTTP date, relative to now. ok is false when it is missing or malformed.
// The wait is not negative and at most MaxAfter.
func After(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		const maxSeconds = int64(MaxAfter / time.Second)
		var n int64
		for _, c := range v {
			// Stop before a long run of digits overflows.
			if n = n*10 + int64(c-'0'); n > maxSeconds {
				n = maxSeconds
				break
			}
		}
		d = time.Duration(n) * time.Second
	} else {
		t, err := http.ParseTime(v)
		if err != nil {
			return 0, false
		}
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxAfter), true
}
