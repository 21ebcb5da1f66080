package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/api"
)

// explain shows each correlation rule's group state as the event saw it
// and left it, rebuilt from the events stored before it, whatever the
// events after it made of the state since.
func TestExplainBeforeAfter(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	err := os.WriteFile(rulesFile, []byte(`rules:
  - id: seq
    severity: high
    sequence:
      by: [event.actor.name]
      within: 30m
      steps:
        - {name: edit, when: event.action == "A"}
        - {name: share, when: event.action == "B"}
        - {name: export, when: event.action == "C"}
  - {id: nv, severity: low, when: 'event.action in ["A", "B", "C"]', new_value: {of: [event.ip], by: [event.actor.name], history: 30d, learning: 1s}}
  - {id: ds, severity: low, when: 'event.action in ["A", "B", "C"]', threshold: {count: 3, within: 1h, by: [event.actor.name], distinct: [event.ip]}}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	svc, stop := startService(t, dir, fmt.Sprintf("server: {listen: \"127.0.0.1:0\"}\nnats: {embedded: {store_dir: %q}}\nrules: {paths: [%q]}\nsources: [{name: hook, type: webhook}]\nnotifiers: [{name: console, type: console}]\nroutes: {default: [console]}\n", dir, rulesFile))
	defer stop()
	svcURL := "http://" + svc.Addr()
	var body strings.Builder
	for _, e := range []string{"e0 A zoe 10.0.0.9 00", "e1 A mchen 10.0.0.1 00", "e2 B mchen 10.0.0.1 03", "e3 C mchen 10.0.0.2 04"} {
		f := strings.Fields(e)
		fmt.Fprintf(&body, `{"id":%q,"action":%q,"actor":{"name":%q},"ip":%q,"time":"2024-05-14T10:%s:00Z"}`+"\n", f[0], f[1], f[2], f[3], f[4])
	}
	resp, err := http.Post(svcURL+"/webhooks/hook", "application/x-ndjson", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, tt := range []struct {
		event, rule string
		want        []string
	}{
		{"e2", "seq", []string{
			"  decision: waiting in a partial chain of the group for the sequence's later steps (edit → share → export within 30m0s)\n",
			"  before (as the event saw it): alerted=false suppressed since=0 in window=0\n    partial chain: edit at 2024-05-14T10:00:00Z (e1)\n",
			"  after (as the event left it): alerted=false suppressed since=0 in window=0\n    partial chain: edit at 2024-05-14T10:00:00Z (e1), share at 2024-05-14T10:03:00Z (e2)\n",
			"    (exact: rebuilt with the rules running now from the 1 event of its group stored in the 24h0m0s before it (the rule's state reaches back 30m0s",
		}},
		{"e2", "nv", []string{
			"  decision: not new: the group saw its values of event.ip at 2024-05-14T10:00:00Z, within 720h0m0s before it\n",
			"  before (as the event saw it): alerted=false suppressed since=0 in window=0\n    value last seen: 2024-05-14T10:00:00Z (1 values remembered)\n",
			"  after (as the event left it): alerted=false suppressed since=0 in window=0\n    value last seen: 2024-05-14T10:03:00Z (1 values remembered)\n",
			"    (approximate: ",
		}},
		{"e3", "nv", []string{
			"  before (as the event saw it): alerted=false suppressed since=0 in window=0\n    value not seen before (1 values remembered)\n",
			"  after (as the event left it): alerted=false suppressed since=0 in window=0\n    value last seen: 2024-05-14T10:04:00Z (2 values remembered)\n",
		}},
		{"e3", "ds", []string{
			"  before (as the event saw it): alerted=false suppressed since=0 in window=2\n    distinct in window: 10.0.0.1\n",
			"  after (as the event left it): alerted=false suppressed since=0 in window=3\n    distinct in window: 10.0.0.1, 10.0.0.2\n",
			"    (exact: ",
		}},
	} {
		code, out, errs := runCLI(t, "", "explain", "--url", svcURL, tt.event)
		if code != 0 {
			t.Fatalf("explain %s: %d %s", tt.event, code, errs)
		}
		_, block, _ := strings.Cut(out, "\n"+tt.rule+": MATCH\n")
		block, _, _ = strings.Cut(block, "\n\n")
		for _, w := range tt.want {
			if !strings.Contains(block, w) {
				t.Errorf("explain %s, rule %s lacks %q:\n%s", tt.event, tt.rule, w, block)
			}
		}
	}
}

// explain prints a group's lifecycle timers that are set, in words.
func TestPrintStateTimers(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2024, 5, 14, 10, min, 0, 0, time.UTC) }
	var b strings.Builder
	resolve := at(33)
	printState(&b, "state", &api.StateView{Alerted: true, ResolveDue: &resolve,
		NextEscalation: &api.EscalationStep{Step: 2, Due: at(10)}, Digest: &api.DigestPeriod{Due: at(17), Count: 3, First: at(2), Last: at(5)}})
	want := `  state: alerted=true suppressed since=0 in window=0
    resolve.after resolves it at 2024-05-14T10:33:00Z unless a match comes first
    escalation 2 at 2024-05-14T10:10:00Z unless acknowledged or resolved first
    digest at 2024-05-14T10:17:00Z of 3 suppressed (2024-05-14T10:02:00Z to 2024-05-14T10:05:00Z)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	printState(&b, "state", &api.StateView{})
	if strings.Count(b.String(), "\n") != 1 {
		t.Errorf("no timers set, yet:\n%s", b.String())
	}
}
