package delivery

import (
	"fmt"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/retry"
	"github.com/alerter/alerter/notifiers"
)

// Policy is how hard a target is tried (docs/notifications.md).
type Policy struct {
	MaxAttempts int           // 0: no limit
	MaxAge      time.Duration // since the alert fired; 0: no limit
	MaxBackoff  time.Duration // 0: config.DefaultMaxBackoff
	Timeout     time.Duration // of one attempt; 0: config.DefaultNotifierTimeout
	Rate        float64       // sends per second; 0: no limit
}

// action is what follows a failed attempt.
type action int

const (
	// retryLater hands the alert back, to be tried again after a wait.
	retryLater action = iota
	// giveUp makes it a dead letter.
	giveUp
)

func (a action) String() string {
	if a == giveUp {
		return "give up"
	}
	return "retry"
}

// next decides what follows attempt number attempt (1 for the first)
// failing with err, the alert being age old: a retry after wait, or giving
// up, for reason. A target's refusal for good ends it at once; so do the
// policy's limits. A retry waits an exponential backoff capped at
// MaxBackoff, or what the target asked for (Retry-After) if that is longer.
func (p Policy) next(err error, attempt int, age time.Duration) (a action, wait time.Duration, reason string) {
	retryable, after := notifiers.Classify(err)
	switch {
	case !retryable:
		return giveUp, 0, "the target refused it for good"
	case p.MaxAttempts > 0 && attempt >= p.MaxAttempts:
		return giveUp, 0, fmt.Sprintf("%d attempts failed", attempt)
	case p.MaxAge > 0 && age >= p.MaxAge:
		return giveUp, 0, fmt.Sprintf("not delivered in %s", p.MaxAge)
	}
	limit := p.MaxBackoff
	if limit <= 0 {
		limit = config.DefaultMaxBackoff
	}
	return retryLater, max(after, retry.Backoff(attempt, time.Second, limit)), ""
}
