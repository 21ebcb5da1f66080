package engine_test

import (
	"encoding/json"
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
func benchRules(tb testing.TB, n, unindexedPct int) *rules.Set {
	var b strings.Builder
	b.WriteString("lists:\n  admins: [jdoe, mchen]\n  office: [10.0.0.0/8]\n")
	b.WriteString("macros:\n  soteri: event.category == \"Soteri Security for Confluence\"\n")
	b.WriteString("rules:\n")
	for i := range n {
		when := fmt.Sprintf(`soteri && event.action == "Action %d" && !(event.actor.name in lists.admins)`, i)
		switch {
		case i%50 == 0:
			// Every fiftieth rule is about the benchmark event's action.
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
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRawToDecisions is the whole stateless path for one event: parse
// and normalize the raw JSON, find the candidate rules, run them.
func BenchmarkRawToDecisions(b *testing.B) {
	data := benchEvent(b)
	for _, tc := range []struct {
		rules, unindexed int
	}{{10, 0}, {100, 0}, {1000, 0}, {1000, 1}, {1000, 5}} {
		name := fmt.Sprintf("rules=%d", tc.rules)
		if tc.unindexed > 0 {
			name += fmt.Sprintf("/unindexed=%d%%", tc.unindexed)
		}
		b.Run(name, func(b *testing.B) {
			e := engine.New(benchRules(b, tc.rules, tc.unindexed), &engine.MemStore{})
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
			if matched != (tc.rules+49)/50 {
				b.Fatalf("%d rules matched, want %d", matched, (tc.rules+49)/50)
			}
		})
	}
}

// BenchmarkUnindexed is the same rule set with the index switched off, to
// show what the index is worth.
func BenchmarkUnindexed(b *testing.B) {
	data := benchEvent(b)
	set := benchRules(b, 1000, 0)
	for _, r := range set.Rules {
		r.Index = nil
	}
	e := engine.New(set, &engine.MemStore{})
	b.ReportAllocs()
	for b.Loop() {
		evs, _ := event.Parse(data, event.Options{Format: event.FormatConfluenceAuditing})
		e.Evaluate(&evs[0])
	}
}
