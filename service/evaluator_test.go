package service

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Jobs of a group run one at a time, in the order they were added, however
// many workers take them; jobs of other groups overtake.
func TestOrderingKeepsGroupOrder(t *testing.T) {
	const n, workers = 5000, 16
	ord := ordering{queues: map[uint64][]*job{}}
	ready := make(chan *job, n)
	var mu sync.Mutex
	ran := map[uint64][]int{} // group -> job numbers, in the order they ran
	running := map[uint64]bool{}
	number := map[*job]int{}
	var wg sync.WaitGroup
	var done sync.WaitGroup
	done.Add(n)
	for range workers {
		wg.Go(func() {
			for j := range ready {
				mu.Lock()
				for _, k := range j.keys {
					if running[k] {
						t.Errorf("group %d: two jobs at once", k)
					}
					running[k] = true
					ran[k] = append(ran[k], number[j])
				}
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(20)) * time.Microsecond)
				mu.Lock()
				for _, k := range j.keys {
					running[k] = false
				}
				mu.Unlock()
				for _, next := range ord.done(j) {
					ready <- next
				}
				done.Done()
			}
		})
	}
	want := map[uint64][]int{}
	for i := range n {
		j := &job{}
		// Up to three groups of twenty, some of them hot.
		for range rand.IntN(4) {
			k := uint64(rand.IntN(20))
			if !slices.Contains(j.keys, k) {
				j.keys = append(j.keys, k)
			}
		}
		mu.Lock()
		number[j] = i
		mu.Unlock()
		for _, k := range j.keys {
			want[k] = append(want[k], i)
		}
		if ord.add(j) {
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
	if len(ord.queues) != 0 {
		t.Errorf("%d groups left queued", len(ord.queues))
	}
}

// Events of one group arriving together are decided in stream order even
// though the evaluator works on many at once: the first event of each
// actor fires, the others are suppressed.
func TestEvaluatorOrderWithinGroup(t *testing.T) {
	r := start(t, t.TempDir())
	actors := []string{"ann", "bob", "cy", "dee", "eve"}
	var body strings.Builder
	n := 0
	for i := range 20 {
		for _, a := range actors {
			at := time.Date(2024, 5, 14, 10, 0, i, 0, time.UTC).Format(time.RFC3339)
			body.WriteString(setting(fmt.Sprintf("%s-%d", a, i), a, at))
			body.WriteByte('\n')
			n++
		}
	}
	if code, resp := r.post(t, "/in", body.String()); code != 202 {
		t.Fatalf("POST: %d %v", code, resp)
	}
	waitFor(t, "all events evaluated", func() bool { return r.svc.eval.stats.Events.Load() == int64(n) })
	r.drained(t)
	lines := r.out.lines()
	if len(lines) != len(actors) {
		t.Fatalf("%d alerts, want %d:\n%s", len(lines), len(actors), r.out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "2024-05-14T10:00:00Z ") {
			t.Errorf("an alert not fired by its group's first event: %s", l)
		}
	}
}
