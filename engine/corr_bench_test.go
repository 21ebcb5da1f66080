package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// corrBenchRules is BenchmarkRawToDecisions's 1,000 rules with 20
// candidates (benchRules(tb, n, 0, 50)), where corr of the rules that are
// not candidates are correlation rules instead, a third of each kind
// (distinct threshold, new_value, sequence), shaped like the example
// rules: grouped by actor, each about an action of its own, so that each
// matches a small share of events. One in 20 of them is about the
// benchmark event's action too (5 of 100), so the event has 20 plain
// candidates and 5 correlation ones (docs/benchmarks.md).
func corrBenchRules(tb testing.TB, n, corr int) *rules.Set {
	var b strings.Builder
	b.WriteString("lists:\n  admins: [jdoe, mchen]\n")
	b.WriteString("macros:\n  soteri: event.category == \"Soteri Security for Confluence\"\n")
	b.WriteString("rules:\n")
	j := 0
	for i := range n {
		switch {
		case i%50 == 0:
			fmt.Fprintf(&b, "  - {id: r%d, severity: high, when: 'soteri && event.action == \"Global setting changed\" && event.actor.name != \"user%d\"'}\n", i, i)
		case j < corr && i%(n/corr) == n/corr/2:
			b.WriteString(corrRule(i, j))
			j++
		default:
			fmt.Fprintf(&b, "  - {id: r%d, severity: high, when: 'soteri && event.action == \"Action %d\" && !(event.actor.name in lists.admins)'}\n", i, i)
		}
	}
	set, err := rules.Compile([]rules.File{{Name: "bench.yaml", Data: []byte(b.String())}}, rules.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

// corrRule is the j-th correlation rule, with id ri.
func corrRule(i, j int) string {
	action := fmt.Sprintf("Action %d", i)
	if j%20 == 0 {
		action = "Global setting changed"
	}
	when := fmt.Sprintf(`soteri && event.action == "%s" && !(event.actor.name in lists.admins)`, action)
	switch j % 3 {
	case 0:
		return fmt.Sprintf("  - {id: r%d, severity: high, when: '%s', threshold: {count: 5, within: 1h, by: [event.actor.id], distinct: [event.ip]}, dedup: {window: 4h}}\n", i, when)
	case 1:
		return fmt.Sprintf("  - {id: r%d, severity: medium, when: '%s', new_value: {of: [event.ip], by: [event.actor.id], history: 30d, learning: 7d}, dedup: {window: 1h}}\n", i, when)
	}
	// The benchmark event's action is the first step of one sequence
	// and the last of the other.
	first, then := fmt.Sprintf("Action %d step 1", i), fmt.Sprintf("Action %d step 2", i)
	if j%40 == 0 {
		first = action
	} else {
		then = action
	}
	return fmt.Sprintf("  - {id: r%d, severity: critical, sequence: {by: [event.actor.id], within: 30m, steps: [{name: first, when: 'soteri && event.action == \"%s\"'}, {name: then, when: 'soteri && event.action == \"%s\"'}]}, dedup: {window: 1h}}\n",
		i, first, then)
}

// BenchmarkCorrelation is BenchmarkRawToDecisions's 1,000-rule,
// 20-candidate case with 100 of the other rules correlation rules (see
// corrBenchRules), timed the same way: parse and normalize the raw JSON,
// find the candidates, run them (evaluate). The process rows also run
// the stateful stage on a MemStore (Engine.Process), for events of 1,000
// actors moving on in time, with and without the correlation rules.
func BenchmarkCorrelation(b *testing.B) {
	data := benchEvent(b)
	opt := event.Options{Format: event.FormatConfluenceAuditing, Source: "bench"}
	for _, corr := range []int{0, 100} {
		set := corrBenchRules(b, 1000, corr)
		b.Run(fmt.Sprintf("evaluate/rules=1000/correlation=%d", corr), func(b *testing.B) {
			e := engine.New(set, &engine.MemStore{})
			matched := 0
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				evs, err := event.Parse(data, opt)
				if err != nil {
					b.Fatal(err)
				}
				m, _ := e.Evaluate(&evs[0])
				matched = len(m)
			}
			if want := 20 + corr/20; matched != want {
				b.Fatalf("%d rules matched, want %d", matched, want)
			}
		})
		b.Run(fmt.Sprintf("process/rules=1000/correlation=%d", corr), func(b *testing.B) {
			e := engine.New(set, &engine.MemStore{})
			ids, actors, ips := benchStream(1 << 16)
			start := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
			ctx := context.Background()
			i := 0
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				evs, err := event.Parse(data, opt)
				if err != nil {
					b.Fatal(err)
				}
				// Each event its own, from one of 1,000 actors, 100 ms
				// after the last: the steady state of a busy site.
				k := i % len(ids)
				evs[0].ID, evs[0].Actor.ID, evs[0].IP = ids[k], actors[k], ips[k]
				evs[0].Time = start.Add(time.Duration(i) * 100 * time.Millisecond)
				if _, err := e.Process(ctx, &evs[0]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// benchStream makes n event ids, and for each an actor of 1,000 and an
// address of four per actor.
func benchStream(n int) (ids, actors, ips []string) {
	for i := range n {
		ids = append(ids, "bench-"+strconv.Itoa(i))
		actors = append(actors, "actor-"+strconv.Itoa(i%1000))
		ips = append(ips, fmt.Sprintf("198.51.100.%d", (i%1000)%64*4+i/1000%4))
	}
	return ids, actors, ips
}

// stateKeys is how many groups BenchmarkStateMemory makes: the million
// keys of the target (docs/benchmarks.md, memory).
const stateKeys = 1_000_000

// BenchmarkStateMemory measures what a MemStore keeps per group at a
// million groups, each made by one event of a new actor: a dedup key (as
// the memory scenario of bench/loadgen makes), a partial chain of a
// sequence, a remembered value of a new_value rule, a distinct window's
// entry, and the three at once from events that each match one of them
// in turn. It reports the Go heap's growth per key after GC, which
// counts what the state holds (event ids of 32 hex digits, as
// event.ContentID makes them) and the map that holds it. Run it once:
//
//	go test ./engine -run '^$' -bench StateMemory -benchtime 1x
//
// A MemStore holds each state as a GroupState (176 bytes whatever the
// kind) behind a map entry; the service keeps states encoded in the state
// store instead (statestore, NATS KV), which bench/loadgen's memory and
// memory-correlation scenarios measure.
func BenchmarkStateMemory(b *testing.B) {
	for _, tc := range []struct {
		name    string
		rules   string
		actions []string // of the events, in turn
	}{
		{"dedup", `{id: r, severity: low, when: 'event.action == "Global setting changed"', dedup: {by: [event.actor.id], window: 1h}}`,
			[]string{"Global setting changed"}},
		{"partial-chain", `{id: r, severity: low, sequence: {by: [event.actor.id], within: 30m, steps: [{name: a, when: 'event.action == "Content flagged"'}, {name: b, when: 'event.action == "Findings exported"'}]}}`,
			[]string{"Content flagged"}},
		{"remembered-value", `{id: r, severity: low, when: 'event.action == "Global setting changed"', new_value: {of: [event.ip], by: [event.actor.id], history: 30d, learning: 7d}}`,
			[]string{"Global setting changed"}},
		{"distinct-entry", `{id: r, severity: low, when: 'event.action == "Space exported"', threshold: {count: 5, within: 1h, by: [event.actor.id], distinct: [event.ip]}}`,
			[]string{"Space exported"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				perKey := stateBytesPerKey(b, "rules:\n  - "+tc.rules+"\n", tc.actions)
				b.ReportMetric(perKey, "B/key")
			}
		})
	}
	b.Run("mixed", func(b *testing.B) {
		src := `rules:
  - {id: s, severity: low, sequence: {by: [event.actor.id], within: 30m, steps: [{name: a, when: 'event.action == "Content flagged"'}, {name: b, when: 'event.action == "Findings exported"'}]}}
  - {id: n, severity: low, when: 'event.action == "Global setting changed"', new_value: {of: [event.ip], by: [event.actor.id], history: 30d, learning: 7d}}
  - {id: d, severity: low, when: 'event.action == "Space exported"', threshold: {count: 5, within: 1h, by: [event.actor.id], distinct: [event.ip]}}
`
		for b.Loop() {
			b.ReportMetric(stateBytesPerKey(b, src, []string{"Content flagged", "Global setting changed", "Space exported"}), "B/key")
		}
	})
}

// stateBytesPerKey processes stateKeys events of new actors, whose actions
// are actions in turn, through the rules of src on a MemStore, and returns
// the heap's growth per key the store holds.
func stateBytesPerKey(b *testing.B, src string, actions []string) float64 {
	set, err := rules.Compile([]rules.File{{Name: "memory.yaml", Data: []byte(src)}}, rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	store := &engine.MemStore{}
	e := engine.New(set, store)
	ctx := context.Background()
	start := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	before := heapInUse()
	for i := range stateKeys {
		ev := event.Event{ID: fmt.Sprintf("%032x", i), Time: start.Add(time.Duration(i) * time.Millisecond),
			Action: actions[i%len(actions)], IP: "198.51.100.7"}
		ev.Actor.ID = fmt.Sprintf("8a7f808a8b1c2d3e%016x", i)
		if _, err := e.Process(ctx, &ev); err != nil {
			b.Fatal(err)
		}
	}
	after := heapInUse()
	keys := store.Len()
	// A new_value rule keeps its learning start in one key of its own.
	if keys < stateKeys || keys > stateKeys+1 {
		b.Fatalf("%d keys, want %d", keys, stateKeys)
	}
	runtime.KeepAlive(store)
	return float64(after-before) / float64(stateKeys)
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
