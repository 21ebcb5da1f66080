// Package order holds what the evaluator needs to work on many events at
// once and still apply the events of one rule group in the order the
// EVENTS stream holds them: per-group queues of the events in flight, and
// keeping an event that waits its turn from being redelivered meanwhile.
// Neither knows NATS, so both are tested without it.
package order

import (
	"sync"
	"time"
)

// Groups keeps, per group, the jobs touching it in the order they were
// added; a job may run once it is first in all of its groups. Jobs of other
// groups overtake it. The zero value is ready to use.
type Groups[T any] struct {
	mu     sync.Mutex
	queues map[uint64][]*Ticket[T]
}

// Ticket is a job's place in the queues of its groups.
type Ticket[T any] struct {
	Job T
	// Keys are hashes of the groups the job touches; none: it runs at
	// once and waits for nothing.
	Keys  []uint64
	waits int // groups in which an earlier job is not done; under Groups.mu
}

// Add queues t and reports whether its job can run at once.
func (g *Groups[T]) Add(t *Ticket[T]) bool {
	if len(t.Keys) == 0 {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.queues == nil {
		g.queues = map[uint64][]*Ticket[T]{}
	}
	for _, k := range t.Keys {
		q := g.queues[k]
		if len(q) > 0 {
			t.waits++
		}
		g.queues[k] = append(q, t)
	}
	return t.waits == 0
}

// Done removes the finished t, first in each of its groups, and returns
// the tickets whose jobs can run now.
func (g *Groups[T]) Done(t *Ticket[T]) []*Ticket[T] {
	if len(t.Keys) == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var next []*Ticket[T]
	for _, k := range t.Keys {
		q := g.queues[k]
		if len(q) <= 1 {
			delete(g.queues, k)
			continue
		}
		q[0] = nil
		q = q[1:]
		g.queues[k] = q
		h := q[0]
		h.waits--
		if h.waits == 0 {
			next = append(next, h)
		}
	}
	return next
}

// Len is the number of groups with a job queued.
func (g *Groups[T]) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queues)
}

// Msg is a message that the server hands out again unless it is finished
// within the ack wait or told that it is still in progress.
type Msg interface {
	InProgress() error
}

// InFlight are the messages taken and not finished. One that waits long,
// behind the earlier events of a busy group, gets its ack wait extended,
// so that it is not redelivered while it is still here.
type InFlight struct {
	ackWait time.Duration
	mu      sync.Mutex
	held    map[Msg]time.Time // when taken, or last extended
}

// NewInFlight tracks messages of a consumer whose ack wait is ackWait.
func NewInFlight(ackWait time.Duration) *InFlight {
	return &InFlight{ackWait: ackWait, held: map[Msg]time.Time{}}
}

// Add holds m from now.
func (f *InFlight) Add(m Msg) {
	f.mu.Lock()
	f.held[m] = time.Now()
	f.mu.Unlock()
}

// Remove lets m go: it is finished.
func (f *InFlight) Remove(m Msg) {
	f.mu.Lock()
	delete(f.held, m)
	f.mu.Unlock()
}

// Keep extends the ack wait of the messages held long, often enough that
// none reaches it, until stop is closed.
func (f *InFlight) Keep(stop <-chan struct{}) {
	t := time.NewTicker(max(f.ackWait/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			f.extend(now)
		}
	}
}

// extend tells the server "in progress" for the messages held longer than
// half the ack wait at now.
func (f *InFlight) extend(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for m, since := range f.held {
		if now.Sub(since) > f.ackWait/2 {
			_ = m.InProgress()
			f.held[m] = now
		}
	}
}
