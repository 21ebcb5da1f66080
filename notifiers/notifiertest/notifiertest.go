// Package notifiertest is the conformance test every notifier runs: it
// delivers, classifies failures as retryable or permanent, honours
// Retry-After and context cancellation, and never shows a secret.
package notifiertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/notifiers"
)

// Mode is how the target answers the next sends.
type Mode int

const (
	OK        Mode = iota // accept
	RateLimit             // 429 (or the target's equivalent) with Retry-After: 7
	Down                  // 5xx, or the connection refused
	Reject                // a permanent refusal: bad credentials, invalid payload
	Hang                  // accept the connection and never answer
)

func (m Mode) String() string {
	return [...]string{"OK", "RateLimit", "Down", "Reject", "Hang"}[m]
}

// Target is a notifier wired to a local server that follows the real
// target's contract.
type Target struct {
	Notify func(ctx context.Context, a *alerter.Alert) error
	// Set makes the server answer the following sends in mode m.
	Set func(m Mode)
	// Received is how many notifications the server accepted.
	Received func() int
	// Secrets must never appear in errors or logs.
	Secrets []string
	// Logs returns what the notifier logged.
	Logs func() string
	// NoRetryAfter: the target has no Retry-After (SMTP); RateLimit is then
	// only required to be retryable.
	NoRetryAfter bool
}

// Run runs the conformance test on a fresh target from newTarget.
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Run("delivers", func(t *testing.T) {
		tg := newTarget(t)
		tg.Set(OK)
		for _, sev := range []alerter.Severity{"info", "low", "medium", "high", "critical"} {
			if err := tg.Notify(t.Context(), notifiers.Sample(sev, time.Now())); err != nil {
				t.Fatalf("severity %s: %v", sev, err)
			}
		}
		if n := tg.Received(); n != 5 {
			t.Errorf("the target received %d notifications, want 5", n)
		}
	})
	for _, tc := range []struct {
		mode  Mode
		retry bool
	}{{RateLimit, true}, {Down, true}, {Reject, false}} {
		t.Run("classifies "+tc.mode.String(), func(t *testing.T) {
			tg := newTarget(t)
			tg.Set(tc.mode)
			err := tg.Notify(t.Context(), notifiers.Sample("high", time.Now()))
			if err == nil {
				t.Fatal("no error")
			}
			retry, after := notifiers.Classify(err)
			if retry != tc.retry {
				t.Errorf("%v: retryable = %v, want %v", err, retry, tc.retry)
			}
			if tc.mode == RateLimit && !tg.NoRetryAfter && after != 7*time.Second {
				t.Errorf("%v: Retry-After read as %v, want 7s", err, after)
			}
			checkSecrets(t, tg, err.Error())
			if tg.Received() != 0 {
				t.Errorf("a refused notification counts as received")
			}
		})
	}
	t.Run("respects cancellation", func(t *testing.T) {
		tg := newTarget(t)
		tg.Set(Hang)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- tg.Notify(ctx, notifiers.Sample("high", time.Now())) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a cancelled send reported success")
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%v does not wrap context.Canceled", err)
			}
			if retry, _ := notifiers.Classify(err); !retry {
				t.Errorf("a cancelled send is not retryable: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Notify ignored the cancelled context")
		}
	})
}

func checkSecrets(t *testing.T, tg Target, texts ...string) {
	t.Helper()
	if tg.Logs != nil {
		texts = append(texts, tg.Logs())
	}
	for _, s := range tg.Secrets {
		if s == "" {
			continue
		}
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("secret %q appears in %q", s, text)
			}
		}
	}
}
