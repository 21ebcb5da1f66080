package engine_test

import (
	"testing"

	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
)

// BenchmarkSlots is BenchmarkRawToDecisions's 1,000 rules with 5% run on
// every event by expr, with the slot rewriting (engine/slots.go) on and
// off, to show what it is worth.
func BenchmarkSlots(b *testing.B) {
	data := benchEvent(b)
	for _, tc := range []struct {
		name string
		opts []engine.Option
	}{{"on", nil}, {"off", []engine.Option{engine.WithoutSlots()}}} {
		b.Run(tc.name, func(b *testing.B) {
			e := engine.New(benchRules(b, 1000, 5, 50), &engine.MemStore{}, tc.opts...)
			opt := event.Options{Format: event.FormatConfluenceAuditing, Source: "bench"}
			b.ReportAllocs()
			for b.Loop() {
				evs, err := event.Parse(data, opt)
				if err != nil {
					b.Fatal(err)
				}
				e.Evaluate(&evs[0])
			}
		})
	}
}
