package order

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// Each step adds a job (its groups given) or finishes one (by name); what
// may run after it is checked.
func TestGroups(t *testing.T) {
	type step struct {
		add  string   // a job to add, or
		keys []uint64 // its groups
		done string   // a job that finished
		want []string // the jobs that may run now, in this order
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"no group runs at once", []step{
			{add: "a", want: []string{"a"}},
			{add: "b", want: []string{"b"}},
			{done: "a"},
		}},
		{"one group, in order", []step{
			{add: "a", keys: []uint64{1}, want: []string{"a"}},
			{add: "b", keys: []uint64{1}},
			{add: "c", keys: []uint64{1}},
			{done: "a", want: []string{"b"}},
			{done: "b", want: []string{"c"}},
			{done: "c"},
		}},
		{"another group overtakes", []step{
			{add: "a", keys: []uint64{1}, want: []string{"a"}},
			{add: "b", keys: []uint64{1}},
			{add: "c", keys: []uint64{2}, want: []string{"c"}},
			{done: "c"},
			{done: "a", want: []string{"b"}},
			{done: "b"},
		}},
		{"two groups: waits for both", []step{
			{add: "a", keys: []uint64{1}, want: []string{"a"}},
			{add: "b", keys: []uint64{2}, want: []string{"b"}},
			{add: "c", keys: []uint64{1, 2}},
			{done: "a"},
			{done: "b", want: []string{"c"}},
			{done: "c"},
		}},
		{"done releases the next of each group", []step{
			{add: "a", keys: []uint64{1, 2}, want: []string{"a"}},
			{add: "b", keys: []uint64{1}},
			{add: "c", keys: []uint64{2}},
			{add: "d", keys: []uint64{2}},
			{done: "a", want: []string{"b", "c"}},
			{done: "c", want: []string{"d"}},
			{done: "b"},
			{done: "d"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var g Groups[string]
			tickets := map[string]*Ticket[string]{}
			for i, s := range tt.steps {
				var got []string
				if s.add != "" {
					tk := &Ticket[string]{Job: s.add, Keys: s.keys}
					tickets[s.add] = tk
					if g.Add(tk) {
						got = append(got, s.add)
					}
				} else {
					for _, n := range g.Done(tickets[s.done]) {
						got = append(got, n.Job)
					}
				}
				if !slices.Equal(got, s.want) {
					t.Errorf("step %d (%+v): may run %v, want %v", i, s, got, s.want)
				}
			}
			if n := g.Len(); n != 0 {
				t.Errorf("%d groups left queued", n)
			}
		})
	}
}

// Jobs of a group run one at a time, in the order they were added, however
// many workers take them; jobs of other groups overtake.
func TestGroupsKeepOrderUnderLoad(t *testing.T) {
	const n, workers = 5000, 16
	var ord Groups[int]
	ready := make(chan *Ticket[int], n)
	var mu sync.Mutex
	ran := map[uint64][]int{} // group -> job numbers, in the order they ran
	running := map[uint64]bool{}
	var wg sync.WaitGroup
	var done sync.WaitGroup
	done.Add(n)
	for range workers {
		wg.Go(func() {
			for j := range ready {
				mu.Lock()
				for _, k := range j.Keys {
					if running[k] {
						t.Errorf("group %d: two jobs at once", k)
					}
					running[k] = true
					ran[k] = append(ran[k], j.Job)
				}
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(20)) * time.Microsecond)
				mu.Lock()
				for _, k := range j.Keys {
					running[k] = false
				}
				mu.Unlock()
				for _, next := range ord.Done(j) {
					ready <- next
				}
				done.Done()
			}
		})
	}
	want := map[uint64][]int{}
	for i := range n {
		j := &Ticket[int]{Job: i}
		// Up to three groups of twenty, some of them hot.
		for range rand.IntN(4) {
			k := uint64(rand.IntN(20))
			if !slices.Contains(j.Keys, k) {
				j.Keys = append(j.Keys, k)
			}
		}
		for _, k := range j.Keys {
			want[k] = append(want[k], i)
		}
		if ord.Add(j) {
			ready <- j
		}
	}
	done.Wait()
	close(ready)
	wg.Wait()
	for k, w := range want {
		if !slices.Equal(ran[k], w) {
			t.Errorf("group %d ran %v, want %v", k, ran[k], w)
		}
	}
	if n := ord.Len(); n != 0 {
		t.Errorf("%d groups left queued", n)
	}
}

// msg counts the times it was told to be in progress.
type msg struct{ extended int }

func (m *msg) InProgress() error { m.extended++; return nil }

// A message held past half the ack wait is extended, once per half ack
// wait; a message let go is not.
func TestInFlightExtends(t *testing.T) {
	const ackWait = 10 * time.Second
	f := NewInFlight(ackWait)
	slow, quick := &msg{}, &msg{}
	f.Add(slow)
	f.Add(quick)
	start := time.Now()
	for _, tt := range []struct {
		after       time.Duration // since start
		release     *msg          // let go before extending
		slow, quick int           // extensions so far
	}{
		{after: 0},
		{after: ackWait / 4},
		{after: ackWait/2 + time.Second, slow: 1, quick: 1},
		{after: ackWait/2 + 2*time.Second, slow: 1, quick: 1},
		{after: ackWait + 2*time.Second, release: quick, slow: 2, quick: 1},
		{after: 3 * ackWait, slow: 3, quick: 1},
	} {
		if tt.release != nil {
			f.Remove(tt.release)
		}
		f.extend(start.Add(tt.after))
		if slow.extended != tt.slow || quick.extended != tt.quick {
			t.Errorf("at %s: extended %d and %d times, want %d and %d", tt.after, slow.extended, quick.extended, tt.slow, tt.quick)
		}
	}
}

// Keep extends until it is stopped.
func TestInFlightKeepStops(t *testing.T) {
	f := NewInFlight(time.Millisecond)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { f.Keep(stop); close(done) }()
	close(stop)
	<-done
}

// A Queue hands items out in the order pushed, never blocks a Push, and
// lets every Pop go once closed and drained.
func TestQueue(t *testing.T) {
	var q Queue[int]
	for i := range 1000 {
		q.Push(i)
	}
	for i := range 1000 {
		got, ok := q.Pop()
		if !ok || got != i {
			t.Fatalf("pop %d: got %d, %v", i, got, ok)
		}
	}
	var got []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				n, ok := q.Pop()
				if !ok {
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		})
	}
	for i := range 500 {
		q.Push(i)
	}
	q.Close()
	wg.Wait()
	slices.Sort(got)
	if len(got) != 500 {
		t.Fatalf("after close: got %d items, want 500", len(got))
	}
	for i, n := range got {
		if n != i {
			t.Fatalf("after close: item %d is %d: lost or doubled", i, n)
		}
	}
	if _, ok := q.Pop(); ok {
		t.Fatal("a Pop of a closed, empty queue returned an item")
	}
}
