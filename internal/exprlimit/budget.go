package exprlimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limits of one evaluation.
const (
	// MemoryBytes is how many bytes of strings and lists one evaluation
	// may build. expr's own budget (vm.VM.MemoryBudget) counts elements of
	// ranges and arrays but not the bytes of a string, so `a + a` doubled
	// twenty times, or replace(s, "", s), ran the process out of memory.
	MemoryBytes = 16 << 20
	// Timeout is how long one evaluation of a rule on an event may take by
	// default: a real rule takes microseconds.
	Timeout = 100 * time.Millisecond
)

// ErrMemory and ErrTime are what an evaluation over its budget fails with
// (wrapped, with the limit in the message); ErrStopped, one whose context
// ended.
var (
	ErrMemory  = errors.New("memory budget exceeded")
	ErrTime    = errors.New("time limit exceeded")
	ErrStopped = errors.New("evaluation stopped")
)

// checkEvery is how many loop iterations pass between two looks at the
// clock: reading it costs about as much as a few dozen iterations.
const checkEvery = 256

// Budget is what one evaluation may still spend. An environment holds one
// in a field tagged expr:"$budget" (see Field), and the patched program
// passes it to the counting functions. It has no exported methods, so an
// expression that names $budget can do nothing with it; the zero value has
// the default limits and no deadline until Begin is called.
type Budget struct {
	ctx     context.Context
	timeout time.Duration
	// deadline is set on the first loop iteration, so an evaluation
	// without loops never reads the clock.
	deadline time.Time
	ticks    uint32
	bytes    int
}

// Begin starts an evaluation (or several, such as one rule's condition,
// group-by and templates) on b: the counters start again, ctx's end stops
// it, and it may run for timeout (0: as long as ctx lets it).
func Begin(b *Budget, ctx context.Context, timeout time.Duration) {
	*b = Budget{ctx: ctx, timeout: timeout}
}

// tick is called on every iteration of a loop (the body of all, map,
// filter, ...): now and then it looks at the clock and the context.
func (b *Budget) tick() error {
	b.ticks++
	if b.ticks%checkEvery != 1 {
		return nil
	}
	return b.check()
}

func (b *Budget) check() error {
	if b.ctx != nil {
		if err := b.ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrStopped, context.Cause(b.ctx))
		}
	}
	if b.timeout <= 0 {
		return nil
	}
	now := time.Now()
	if b.deadline.IsZero() {
		b.deadline = now.Add(b.timeout)
		return nil
	}
	if now.After(b.deadline) {
		return fmt.Errorf("%w: an evaluation may run for %v (see Safety limits in docs/rules.md)", ErrTime, b.timeout)
	}
	return nil
}

// charge counts n bytes against the budget before they are allocated.
func (b *Budget) charge(n int) error {
	if n < 0 || n > MemoryBytes-b.bytes {
		return fmt.Errorf("%w: an evaluation may build %d MiB of strings and lists (see Safety limits in docs/rules.md)", ErrMemory, MemoryBytes>>20)
	}
	// No look at the clock here: what is built is bounded by the budget,
	// and an evaluation over it must fail on it, however slow the machine.
	b.bytes += n
	return nil
}

// remaining is how many bytes may still be charged.
func (b *Budget) remaining() int { return MemoryBytes - b.bytes }
