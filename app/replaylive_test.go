package app

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// everyKind is a rule of each kind, with windows of seconds so that a
// "day" of events fits in a few seconds of event time.
const everyKind = `
rules:
  - id: plain
    severity: low
    when: event.action == "login"
    dedup: {by: [event.actor.name], window: 1500ms}
  - id: burst
    severity: low
    when: event.action == "download"
    threshold: {count: 3, within: 1s, by: [event.actor.name]}
    dedup: {window: 2s}
  - id: spread
    severity: low
    when: event.action == "download"
    threshold: {count: 2, within: 2s, by: [event.actor.name], distinct: [event.ip]}
  - id: new-address
    severity: low
    when: event.action == "login"
    new_value: {of: [event.ip], by: [event.actor.name], history: 1h, learning: 500ms}
  - id: login-then-download
    severity: low
    sequence:
      by: [event.actor.name]
      within: 1s
      steps:
        - {name: login, when: event.action == "login"}
        - {name: download, when: event.action == "download"}
  - id: left-off
    severity: high
    sequence:
      by: [event.actor.name]
      within: 1s
      steps:
        - {name: "off", when: event.action == "off"}
        - {name: "on", when: event.action == "on", absent: true}
    dedup: {window: 1500ms}
  - id: quiet
    severity: high
    when: event.action != "off"
    quiet: {within: 800ms, by: [event.actor.name]}
`

// dayOfEvents makes n events of a few actors, addresses and actions, in
// time order from t0, with gaps of up to 250ms and some ties.
func dayOfEvents(rng *rand.Rand, t0 time.Time, n int) ([]string, time.Time) {
	actors := []string{"ann", "bob", "cid"}
	actions := []string{"login", "download", "download", "off", "on"}
	at := t0
	var out []string
	for i := range n {
		if rng.IntN(5) > 0 {
			at = at.Add(time.Duration(rng.IntN(250)) * time.Millisecond)
		}
		out = append(out, fmt.Sprintf(`{"id":"e%03d","time":%q,"action":%q,"actor":{"name":%q},"ip":"10.0.0.%d"}`,
			i, at.UTC().Format(time.RFC3339Nano), actions[rng.IntN(len(actions))], actors[rng.IntN(len(actors))], 1+rng.IntN(3)))
	}
	return out, at
}

// The live service and a replay of what it stored fire the same alerts,
// for every kind of rule: absences and quiet groups included, whose
// deadlines fire by the wall clock live and by the events' clock in
// replay (docs/rules.md, Absences).
func TestReplayEqualsLive(t *testing.T) {
	const lateness = 8 * time.Second
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(everyKind), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [%q], watch: false}
sources: [{name: open, type: webhook, path: /in}]
notifiers: [{name: console, type: console}]
routes: {default: [console]}
engine: {lateness: %s}
`, t.TempDir(), rulesFile, lateness)
	r := run(t, yaml, nil, Options{AckWait: 2 * time.Second})

	// Event times end about now, so that every event is evaluated before
	// the first deadline's wall-clock time plus the lateness: live then
	// sees what replay sees, in the same order.
	t0 := time.Now().Add(-4 * time.Second)
	evs, last := dayOfEvents(rand.New(rand.NewPCG(12, 7)), t0, 80)
	for _, e := range evs {
		if code, body := r.post(t, "/in", e); code != 202 {
			t.Fatalf("post: %d %v", code, body)
		}
	}
	waitFor(t, "the events evaluated", func() bool { return r.svc.eval.Stats().Events.Load() == int64(len(evs)) })
	if time.Now().After(t0.Add(time.Second + lateness)) {
		t.Skip("the machine is too slow: the first deadlines were due before the events were evaluated")
	}

	// Replay what was stored, and fire what is still pending after the
	// last event, as live will once its time has come.
	set, err := rules.Load([]string{rulesFile}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var stored []event.Event
	err = bus.ReadEvents(t.Context(), r.svc.js, t0.Add(-time.Hour), func(m jetstream.Msg) error {
		ev, err := event.Decode(m.Data())
		stored = append(stored, ev)
		return err
	})
	if err != nil || len(stored) != len(evs) {
		t.Fatalf("read %d stored events: %v", len(stored), err)
	}
	slices.SortStableFunc(stored, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	eng := engine.New(set, &engine.MemStore{}, engine.WithEventClock())
	var want []*alerter.Alert
	for i := range stored {
		res, err := eng.Process(t.Context(), &stored[i])
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res.Alerts...)
	}
	res, err := eng.Until(t.Context(), last.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, res.Alerts...)
	kinds := map[string]int{}
	for _, a := range want {
		kinds[a.Rule]++
	}
	for _, id := range []string{"plain", "burst", "spread", "new-address", "login-then-download", "left-off", "quiet"} {
		if kinds[id] == 0 {
			t.Errorf("the replay fired no alert of rule %s: the events do not exercise it", id)
		}
	}

	time.Sleep(time.Until(last.Add(time.Second + lateness)))
	// A deadline that waited behind another is handed out when that one
	// fires, past its time: it fires a lateness later.
	for end := time.Now().Add(4 * lateness); len(storedAlerts(t, r.svc)) < len(want) && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	got := storedAlerts(t, r.svc)
	if g, w := summarize(got), summarizePtr(want); !slices.Equal(g, w) {
		t.Fatalf("live fired %d alerts, replay %d; they differ:\nlive:\n%s\nreplay:\n%s", len(g), len(w), strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
	t.Logf("%d events, %d alerts alike (%v)", len(evs), len(want), kinds)
}

// summarize is what must be equal of each alert, sorted by id.
func summarize(as []alerter.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s %s %v %s count=%d suppressed=%d event=%s events=%v",
			a.ID, a.Rule, a.Group, a.Time.UTC().Format(time.RFC3339Nano), a.Count, a.Suppressed, a.Event.ID, a.EventIDs))
	}
	slices.Sort(out)
	return out
}

func summarizePtr(as []*alerter.Alert) []string {
	var vs []alerter.Alert
	for _, a := range as {
		vs = append(vs, *a)
	}
	return summarize(vs)
}
