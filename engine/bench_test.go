package engine_test

import (
	stdjson "encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// benchRules makes n rules shaped like real ones: each names the action it
// is about (through a macro, as the example rules do) and checks a few more
// fields. A few of them are about the benchmark event's action, so its
// candidates are real work. unindexedPct of them have no equality on an
// indexed field and run on every event.
func benchRules(tb testing.TB, n, unindexedPct, every int) *rules.Set {
	var b strings.Builder
	b.WriteString("lists:\n  admins: [jdoe, mchen]\n  office: [10.0.0.0/8]\n")
	b.WriteString("macros:\n  soteri: event.category == \"Soteri Security for Confluence\"\n")
	b.WriteString("rules:\n")
	for i := range n {
		when := fmt.Sprintf(`soteri && event.action == "Action %d" && !(event.actor.name in lists.admins)`, i)
		switch {
		case i%every == 0:
			// Every every-th rule is about the benchmark event's action.
			when = fmt.Sprintf(`soteri && event.action == "Global setting changed" && event.actor.name != "user%d"`, i)
		case unindexedPct > 0 && i%(100/unindexedPct) == 1:
			when = fmt.Sprintf(`event.ip startsWith "10.%d." && !in_cidrs(event.ip, lists.office)`, i%256)
		}
		fmt.Fprintf(&b, "  - {id: r%d, severity: high, when: '%s'}\n", i, when)
	}
	set, err := rules.Compile([]rules.File{{Name: "bench.yaml", Data: []byte(b.String())}}, rules.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

func benchEvent(tb testing.TB) []byte {
	data, err := os.ReadFile("testdata/bench-event.json")
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// BenchmarkDecodeOnly is the floor: decoding the event with the fastest Go
// JSON decoder and nothing else.
func BenchmarkDecodeOnly(b *testing.B) {
	data := benchEvent(b)
	b.Run("goccy-map", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := gojson.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-map", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := stdjson.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRawToDecisions is the whole stateless path for one event: parse
// and normalize the raw JSON, find the candidate rules, run them.
func BenchmarkRawToDecisions(b *testing.B) {
	data := benchEvent(b)
	// every: one rule in every is a candidate for the event (and matches
	// it); 50 gives 20 candidates of 1,000, 500 gives 2.
	for _, tc := range []struct {
		rules, unindexed, every int
	}{{10, 0, 50}, {100, 0, 50}, {1000, 0, 50}, {1000, 0, 500}, {1000, 1, 50}, {1000, 5, 50}} {
		name := fmt.Sprintf("rules=%d/candidates=%d", tc.rules, (tc.rules+tc.every-1)/tc.every)
		if tc.unindexed > 0 {
			name += fmt.Sprintf("/unindexed=%d%%", tc.unindexed)
		}
		b.Run(name, func(b *testing.B) {
			e := engine.New(benchRules(b, tc.rules, tc.unindexed, tc.every), &engine.MemStore{})
			opt := event.Options{Format: event.FormatConfluenceAuditing, Source: "bench"}
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
			if want := (tc.rules + tc.every - 1) / tc.every; matched != want {
				b.Fatalf("%d rules matched, want %d", matched, want)
			}
		})
	}
}

// BenchmarkUnindexed is the same rule set with the index switched off, to
// show what the index is worth.
func BenchmarkUnindexed(b *testing.B) {
	data := benchEvent(b)
	e := engine.New(benchRules(b, 1000, 0, 50), &engine.MemStore{}, engine.WithoutIndex())
	b.ReportAllocs()
	for b.Loop() {
		evs, _ := event.Parse(data, event.Options{Format: event.FormatConfluenceAuditing})
		e.Evaluate(&evs[0])
	}
}
