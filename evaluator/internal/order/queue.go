package order

import "sync"

// Queue is a first-in first-out queue of work that may run now, without
// bound: a worker that finishes a job hands on the jobs it unblocked
// without ever waiting, so workers cannot all wait on each other. What it
// holds is bounded by what the caller lets be in flight.
type Queue[T any] struct {
	mu     sync.Mutex
	cond   sync.Cond
	items  []T
	head   int
	closed bool
}

// Push queues t.
func (q *Queue[T]) Push(t T) {
	q.mu.Lock()
	q.init()
	q.items = append(q.items, t)
	q.mu.Unlock()
	q.cond.Signal()
}

// Pop takes the first item, waiting for one; ok is false once the queue is
// closed and empty.
func (q *Queue[T]) Pop() (t T, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.init()
	for q.head == len(q.items) && !q.closed {
		q.cond.Wait()
	}
	if q.head == len(q.items) {
		return t, false
	}
	t = q.items[q.head]
	var zero T
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		// Empty: reuse the array from its start.
		q.items, q.head = q.items[:0], 0
	}
	return t, true
}

// Close wakes the waiting Pops: they return what is left, then false.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	q.init()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// init makes the zero Queue usable; under q.mu.
func (q *Queue[T]) init() {
	if q.cond.L == nil {
		q.cond.L = &q.mu
	}
}
