package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// replay counts the events that resolve a group in its summary, and
// prints alerts only.
func TestReplayCountsResolves(t *testing.T) {
	dir := t.TempDir()
	rulesFile, eventsFile := filepath.Join(dir, "r.yaml"), filepath.Join(dir, "e.jsonl")
	rules := `rules:
  - id: off
    severity: low
    when: event.action == "off"
    dedup: {by: [event.actor.name], window: 1h}
    resolve: {when: 'event.action == "on"'}
`
	events := `{"id":"1","time":"2024-05-14T10:00:00Z","action":"off","actor":{"name":"x"}}
{"id":"2","time":"2024-05-14T10:01:00Z","action":"on","actor":{"name":"x"}}
{"id":"3","time":"2024-05-14T10:02:00Z","action":"off","actor":{"name":"x"}}
`
	if err := os.WriteFile(rulesFile, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(eventsFile, []byte(events), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "", "replay", "--rules", rulesFile, "--events", eventsFile)
	if code != 0 || strings.Count(out, "\n") != 2 || strings.Contains(out, `"resolve"`) {
		t.Fatalf("code %d, stdout %q, stderr %q; want the two alerts", code, out, errs)
	}
	if !strings.Contains(errs, ": 2 alerts, 1 resolves, 0 suppressed, 0 rule errors") {
		t.Fatalf("summary: %q", errs)
	}
}
