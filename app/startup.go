package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/internal/retry"
)

// ensureAttemptTimeout bounds one attempt at creating a stream, consumer
// or bucket: a cluster that is still electing leaders leaves requests
// unanswered, and a stuck attempt must give way to the next.
const ensureAttemptTimeout = 5 * time.Second

// ensureMaxBackoff caps the wait between attempts.
const ensureMaxBackoff = 10 * time.Second

// startup is what New is waiting for, shown by /readyz while it waits.
type startup struct {
	mu      sync.Mutex
	waiting string // "": nothing
}

func (st *startup) set(what string) {
	st.mu.Lock()
	st.waiting = what
	st.mu.Unlock()
}

func (st *startup) get() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.waiting
}

// ensure runs create, which makes one of alerter's streams, consumers or
// buckets, until it succeeds. Replicas started together on a cluster that
// has just formed find it unable to place replicated assets for a while
// ("no suitable peers for placement", timeouts, no responders): such
// errors are retried with backoff, for as long as ctx lasts, and /readyz
// says what is awaited. Other errors (a config the server refuses) end the
// start at once.
func (s *App) ensure(ctx context.Context, what string, create func(context.Context) error) error {
	s.start.set("creating " + what)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, ensureAttemptTimeout)
		err := create(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				s.log.Info("NATS ready for alerter", "created", what, "attempts", attempt)
			}
			s.start.set("")
			return nil
		}
		if ctx.Err() != nil || !transient(err) {
			return err
		}
		wait := retry.Backoff(attempt, 250*time.Millisecond, ensureMaxBackoff)
		s.start.set(fmt.Sprintf("waiting for %s: %v (attempt %d)", what, err, attempt))
		s.log.Warn("NATS not ready for alerter yet; will retry", "waiting_for", what, "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
		if err := retry.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
}

// transient tells whether a JetStream error is one a cluster that is
// forming or electing leaders gives, which passes on its own.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		return true
	}
	var api *jetstream.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode {
	case 10005, // no suitable peers for placement (a peer not heard from yet)
		10008, // JetStream system temporarily unavailable
		10009, // JetStream cluster can not handle request (no meta leader)
		10023: // insufficient resources (as nodes join)
		return true
	}
	return api.Code == http.StatusServiceUnavailable
}

// startingWhat is what New waits for, as the starting answers say it.
func (s *App) startingWhat() string {
	if w := s.start.get(); w != "" {
		return w
	}
	return "creating streams, consumers and buckets"
}

// swapHandler serves the starting handler until New has built the real one.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (sw *swapHandler) set(h http.Handler) { sw.h.Store(&h) }

func (sw *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*sw.h.Load()).ServeHTTP(w, r)
}
