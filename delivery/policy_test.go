package delivery

import (
	"errors"
	"testing"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

func TestPolicyNext(t *testing.T) {
	refused := notifiers.Permanent(errors.New("invalid_auth"))
	busy := errors.New("connection refused") // unknown errors are retried
	slowDown := notifiers.Retry(errors.New("429"), 10*time.Minute)
	for _, tt := range []struct {
		name    string
		p       Policy
		err     error
		attempt int
		age     time.Duration
		// want is the action; a retry waits within [min, max].
		want     action
		min, max time.Duration
		reason   string
	}{
		{name: "a refusal for good is dead at once", p: Policy{MaxAttempts: 5}, err: refused, attempt: 1,
			want: giveUp, reason: "the target refused it for good"},
		{name: "a failure is retried after a second or so", err: busy, attempt: 1,
			want: retryLater, min: 500 * time.Millisecond, max: time.Second},
		{name: "the backoff doubles", err: busy, attempt: 4,
			want: retryLater, min: 4 * time.Second, max: 8 * time.Second},
		{name: "the backoff is capped at max_backoff", p: Policy{MaxBackoff: 3 * time.Second}, err: busy, attempt: 10,
			want: retryLater, min: 1500 * time.Millisecond, max: 3 * time.Second},
		{name: "without max_backoff, the default caps it", err: busy, attempt: 30,
			want: retryLater, min: config.DefaultMaxBackoff / 2, max: config.DefaultMaxBackoff},
		{name: "Retry-After is honoured over the backoff", p: Policy{MaxBackoff: time.Minute}, err: slowDown, attempt: 1,
			want: retryLater, min: 10 * time.Minute, max: 10 * time.Minute},
		{name: "the backoff when longer than Retry-After", err: notifiers.Retry(errors.New("503"), time.Millisecond), attempt: 3,
			want: retryLater, min: 2 * time.Second, max: 4 * time.Second},
		{name: "below max_attempts: retried", p: Policy{MaxAttempts: 3}, err: busy, attempt: 2,
			want: retryLater, min: time.Second, max: 2 * time.Second},
		{name: "max_attempts reached: dead", p: Policy{MaxAttempts: 3}, err: busy, attempt: 3,
			want: giveUp, reason: "3 attempts failed"},
		{name: "max_attempts ends a Retry-After too", p: Policy{MaxAttempts: 1}, err: slowDown, attempt: 1,
			want: giveUp, reason: "1 attempts failed"},
		{name: "younger than max_age: retried", p: Policy{MaxAge: time.Hour}, err: busy, attempt: 1, age: 59 * time.Minute,
			want: retryLater, min: 500 * time.Millisecond, max: time.Second},
		{name: "max_age reached: dead", p: Policy{MaxAge: time.Hour}, err: busy, attempt: 1, age: time.Hour,
			want: giveUp, reason: "not delivered in 1h0m0s"},
		{name: "no limits: retried for ever", err: busy, attempt: 1000, age: 1000 * time.Hour,
			want: retryLater, min: config.DefaultMaxBackoff / 2, max: config.DefaultMaxBackoff},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 { // the backoff is jittered
				got, wait, reason := tt.p.next(tt.err, tt.attempt, tt.age)
				if got != tt.want || reason != tt.reason {
					t.Fatalf("next: %v %q, want %v %q", got, reason, tt.want, tt.reason)
				}
				if got == retryLater && (wait < tt.min || wait > tt.max) {
					t.Fatalf("retry in %s, want within [%s, %s]", wait, tt.min, tt.max)
				}
				if got == giveUp && wait != 0 {
					t.Fatalf("a dead letter waits %s", wait)
				}
			}
		})
	}
}
