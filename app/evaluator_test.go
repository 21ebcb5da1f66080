package app

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

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
	waitFor(t, "all events evaluated", func() bool { return r.svc.eval.Stats().Events.Load() == int64(n) })
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
