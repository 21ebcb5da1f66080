package app

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// deadlineRules: an absence (a scanning rule switched off and not back on
// within 2s) grouped by actor.
const deadlineRules = `
rules:
  - id: left-off
    severity: high
    sequence:
      by: [event.actor.name]
      within: 2s
      steps:
        - {name: "off", when: event.action == "Scanning rule disabled"}
        - {name: "on", when: event.action == "Scanning rule enabled", absent: true}
    title: '{{ event.actor.name }} left a scanning rule off'
`

// deadlineConfig runs the rules above with a lateness, on the embedded
// server in dir (listening on listen if not "") or on url.
func deadlineConfig(t *testing.T, dir, listen, url, lateness string) string {
	t.Helper()
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(deadlineRules), 0o600); err != nil {
		t.Fatal(err)
	}
	natsYAML := fmt.Sprintf("{embedded: {store_dir: %q, listen: %q, token: tok}}", dir, listen)
	if url != "" {
		natsYAML = fmt.Sprintf("{url: %q, token: tok}", url)
	}
	return fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
nats: %s
rules: {paths: [%q], watch: false}
sources: [{name: open, type: webhook, path: /in}]
notifiers: [{name: console, type: console}]
routes: {default: [console]}
engine: {lateness: %s}
`, natsYAML, rules, lateness)
}

func scan(id, action, actor string, at time.Time) string {
	return fmt.Sprintf(`{"id":%q,"time":%q,"action":%q,"actor":{"name":%q}}`, id, at.UTC().Format(time.RFC3339Nano), action, actor)
}

// alertedActors are the groups of the alerts the console printed, sorted.
func alertedActors(out *syncBuffer) []string {
	var got []string
	for _, l := range out.lines() {
		if _, rest, ok := strings.Cut(l, "left-off"); ok {
			if i := strings.Index(rest, "name="); i >= 0 {
				got = append(got, strings.Fields(rest[i+5:])[0])
			}
		}
	}
	slices.Sort(got)
	return got
}

// Live, an absence fires once the wall clock passes its deadline plus the
// lateness; an event of the absent step that arrives after the deadline
// but within the lateness, with its time before the deadline, cancels it.
func TestAbsenceLive(t *testing.T) {
	r := run(t, deadlineConfig(t, t.TempDir(), "", "", "3s"), nil, Options{AckWait: 2 * time.Second})
	t0 := time.Now()
	r.post(t, "/in", scan("a1", "Scanning rule disabled", "ann", t0))
	r.post(t, "/in", scan("b1", "Scanning rule disabled", "bob", t0))
	r.post(t, "/in", scan("c1", "Scanning rule disabled", "cid", t0))
	r.post(t, "/in", scan("c2", "Scanning rule enabled", "cid", t0.Add(time.Second)))
	// bob's deadline is t0+2s; his rule comes back on at t0+1.5s by its
	// own time, but the event arrives after t0+2s: late, within the
	// lateness.
	time.Sleep(time.Until(t0.Add(2200 * time.Millisecond)))
	r.post(t, "/in", scan("b2", "Scanning rule enabled", "bob", t0.Add(1500*time.Millisecond)))
	waitFor(t, "ann's absence to fire", func() bool { return len(alertedActors(r.out)) > 0 })
	if time.Since(t0) < 5*time.Second {
		t.Errorf("fired %s after the first step: before its deadline (2s) plus the lateness (3s)", time.Since(t0))
	}
	time.Sleep(time.Second)
	r.drained(t)
	if got := alertedActors(r.out); !slices.Equal(got, []string{"ann"}) {
		t.Fatalf("alerted %v, want [ann]:\n%s", got, r.out)
	}
	alerts := storedAlerts(t, r.svc)
	if len(alerts) != 1 || alerts[0].Event.ID != "a1" || !alerts[0].Time.Equal(t0.Add(2*time.Second).Truncate(time.Nanosecond)) {
		t.Fatalf("stored %+v", alerts)
	}
}

// A deadline that comes while alerter is down fires once it is back.
func TestAbsenceDueWhileDown(t *testing.T) {
	dir := t.TempDir()
	yaml := deadlineConfig(t, dir, "", "", "0s")
	r := run(t, yaml, nil, Options{AckWait: 2 * time.Second})
	t0 := time.Now()
	r.post(t, "/in", scan("a1", "Scanning rule disabled", "ann", t0))
	waitFor(t, "the event evaluated", func() bool { return r.svc.eval.Stats().Events.Load() == 1 })
	r.stop()
	if n := len(alertedActors(r.out)); n != 0 {
		t.Fatalf("fired before its time")
	}
	time.Sleep(time.Until(t0.Add(3 * time.Second)))

	r2 := run(t, yaml, nil, Options{AckWait: 2 * time.Second})
	waitFor(t, "the absence to fire after the restart", func() bool { return len(alertedActors(r2.out)) == 1 })
	time.Sleep(time.Second)
	if got := alertedActors(r2.out); !slices.Equal(got, []string{"ann"}) {
		t.Fatalf("alerted %v, want [ann] once", got)
	}
}

// Two replicas share the deadlines: each fires once, whichever replica
// set it and whichever takes it.
func TestAbsenceTwoReplicasFireOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	a := run(t, deadlineConfig(t, t.TempDir(), addr, "", "1s"), nil, Options{AckWait: 2 * time.Second})
	b := run(t, deadlineConfig(t, "", "", "nats://"+addr, "1s"), nil, Options{AckWait: 2 * time.Second})
	const n = 40
	t0 := time.Now()
	var want []string
	for i := range n {
		to := a
		if i%2 == 1 {
			to = b
		}
		actor := fmt.Sprintf("u%02d", i)
		want = append(want, actor)
		to.post(t, "/in", scan(fmt.Sprintf("e%d", i), "Scanning rule disabled", actor, t0))
	}
	waitFor(t, "every absence to fire", func() bool {
		return len(alertedActors(a.out))+len(alertedActors(b.out)) >= n
	})
	time.Sleep(2 * time.Second)
	got := append(alertedActors(a.out), alertedActors(b.out)...)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("alerted %v, want each of %v once", got, want)
	}
	if fired := a.svc.eval.Stats().Deadlines.Load() + b.svc.eval.Stats().Deadlines.Load(); fired != n {
		t.Errorf("%d deadlines handled, want %d", fired, n)
	}
}
