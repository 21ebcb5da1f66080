package app

import "sync"

// teardown undoes what New built, the last built first: each step of New
// pushes what stops it, so that a New that fails half way stops exactly
// what it started, and Close everything, in the order that lets each part
// finish with what it stands on still there.
type teardown struct {
	mu    sync.Mutex
	steps []func()
}

// push adds f to be run before everything pushed earlier.
func (t *teardown) push(f func()) {
	t.mu.Lock()
	t.steps = append(t.steps, f)
	t.mu.Unlock()
}

// run runs the steps, the last pushed first; a second run does nothing.
func (t *teardown) run() {
	t.mu.Lock()
	steps := t.steps
	t.steps = nil
	t.mu.Unlock()
	for i := len(steps) - 1; i >= 0; i-- {
		steps[i]()
	}
}
