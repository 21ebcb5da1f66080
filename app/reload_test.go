package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/notifiers"
	json "github.com/goccy/go-json"
)

// A broken rule file never replaces a good rule set; a good one replaces it
// atomically, and dedup state carries over.
func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	os.Mkdir(rulesDir, 0o755)
	base, _ := os.ReadFile("testdata/rules.yaml")
	os.WriteFile(filepath.Join(rulesDir, "base.yaml"), base, 0o644)
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [%q], watch: true}
sources: [{name: in, type: webhook}]
notifiers: [{name: console, type: console}, {name: quiet, type: console}]
routes: {default: [console]}
`, filepath.Join(dir, "nats"), rulesDir)
	r := run(t, yaml, nil, Options{})
	svc, out := r.svc, r.out

	r.post(t, "/webhooks/in", setting("e1", "jdoe", "2024-05-14T10:00:00Z"))
	waitFor(t, "the first alert", func() bool { return len(out.lines()) == 1 })
	v1 := svc.eng.Rules().Version

	// A broken file: rejected, with its position; the old set runs on.
	os.WriteFile(filepath.Join(rulesDir, "new.yaml"), []byte("rules:\n  - id: new-rule\n    severity: high\n    when: event.actor.nmae == \"x\"\n"), 0o644)
	waitFor(t, "the rejected reload", func() bool { return !svc.ReloadStatus().OK })
	st := svc.ReloadStatus()
	if st.Trigger != "watch" || st.Version != v1 || len(st.Errors) != 1 || !strings.Contains(st.Errors[0], "new.yaml:4:23:") {
		t.Errorf("status after a broken file: %+v", st)
	}
	r.post(t, "/webhooks/in", setting("e2", "kim", "2024-05-14T10:01:00Z"))
	waitFor(t, "an alert from the old set", func() bool { return len(out.lines()) == 2 })

	// Fixed: the new set runs, and jdoe's dedup window still holds.
	os.WriteFile(filepath.Join(rulesDir, "new.yaml"), []byte("rules:\n  - id: new-rule\n    severity: high\n    when: event.action == \"Space removed\"\n"), 0o644)
	waitFor(t, "the good reload", func() bool { return svc.ReloadStatus().OK && svc.eng.Rules().Version != v1 })
	if n := len(svc.eng.Rules().Rules); n != 3 {
		t.Errorf("%d rules after the reload, want 3", n)
	}
	r.post(t, "/webhooks/in", setting("e3", "jdoe", "2024-05-14T10:02:00Z"))
	r.post(t, "/webhooks/in", `{"id":"e4","time":"2024-05-14T10:03:00Z","action":"Space removed"}`)
	waitFor(t, "the new rule's alert", func() bool { return strings.Contains(out.String(), "new-rule") })
	r.drained(t)
	if n := len(out.lines()); n != 3 {
		t.Errorf("%d alerts, want 3 (jdoe's second change suppressed across the reload):\n%s", n, out)
	}

	// POST /-/reload answers with the status.
	resp, err := http.Post(r.url+"/-/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got api.ReloadStatus
	if json.Unmarshal(b, &got) != nil || resp.StatusCode != 200 || !got.OK || got.Trigger != "api" || got.Rules != 3 {
		t.Errorf("POST /-/reload: %d %s", resp.StatusCode, b)
	}
}

// gate is a target that keeps the alerts it takes, by actor, and
// fails while it is closed.
type gate struct {
	mu     sync.Mutex
	closed bool
	tries  int
	got    []string
}

func (r *gate) Notify(ctx context.Context, a *alerter.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	if r.closed {
		return notifiers.Retry(errors.New("closed"), 10*time.Millisecond)
	}
	r.got = append(r.got, a.Title)
	return nil
}

func (r *gate) set(closed bool) {
	r.mu.Lock()
	r.closed = closed
	r.mu.Unlock()
}

func (r *gate) titles() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *gate) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries
}

// configReload is the config of TestConfigReload: %[1]s the NATS folder,
// %[2]s more sources, %[3]s more notifiers, %[4]s the default route.
const configReload = `
server: {listen: "127.0.0.1:0"}
nats: {embedded: {store_dir: %[1]q}}
rules: {paths: [testdata/rules.yaml], watch: false}
sources:
  - {name: in, type: webhook}
%[2]snotifiers:
  - {name: a, type: console}
  - {name: quiet, type: console}
%[3]sroutes: {default: [%[4]s]}
`

// A reload swaps the whole config: a new source takes events, alerts go
// to the new route and notifier, what did not change keeps running, an
// alert pending for a notifier that restarts is still delivered, and a
// config that does not load, or changes what needs a restart, is rejected
// while the running one stays.
func TestConfigReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "alerter.yaml")
	nats := filepath.Join(dir, "nats")
	write := func(sources, notifiers, route string) string {
		t.Helper()
		yaml := fmt.Sprintf(configReload, nats, sources, notifiers, route)
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return yaml
	}
	a, b := &gate{}, &gate{}
	r := run(t, write("", "", "a"), nil, Options{Stdout: io.Discard, LoadConfig: func() (*config.Config, error) { return config.Load(file, nil, builtin.Plugins()) }}, map[string]delivery.Notifier{"a": a, "b": b})
	svc := r.svc
	r.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	waitFor(t, "ann's alert at a", func() bool { return len(a.titles()) == 1 })
	g1 := svc.current()

	// A source, a notifier and a route added: the source takes events, the
	// alerts go to the new target; what did not change runs on.
	write("  - {name: in2, type: webhook}\n", "  - {name: b, type: console, max_backoff: 1s}\n", "b")
	if !svc.Reload("signal") {
		t.Fatalf("the reload was rejected: %+v", svc.ReloadStatus())
	}
	g2 := svc.current()
	if g2 == g1 || g2.cfg.Source("in2") == nil || len(g2.deliver) != 3 {
		t.Fatalf("not the new generation: %d deliverers", len(g2.deliver))
	}
	if partOf(g1, "source in") != partOf(g2, "source in") || partOf(g1, "notifier a") != partOf(g2, "notifier a") {
		t.Error("parts whose config did not change were made again")
	}
	if code, _ := r.post(t, "/webhooks/in2", setting("e2", "bob", "2024-05-14T10:01:00Z")); code != http.StatusAccepted {
		t.Fatalf("the new source answered %d", code)
	}
	waitFor(t, "bob's alert at b", func() bool { return len(b.titles()) == 1 })

	// b closed: cid's alert waits in b's queue while b restarts with new
	// settings; the new deliverer of b sends it.
	b.set(true)
	r.post(t, "/webhooks/in", setting("e3", "cid", "2024-05-14T10:02:00Z"))
	waitFor(t, "an attempt at b", func() bool { return b.attempts() > 1 })
	write("  - {name: in2, type: webhook}\n", "  - {name: b, type: console, max_backoff: 2s}\n", "b")
	if !svc.Reload("api") {
		t.Fatalf("the reload was rejected: %+v", svc.ReloadStatus())
	}
	g3 := svc.current()
	if partOf(g2, "notifier b") == partOf(g3, "notifier b") {
		t.Error("notifier b was not made again with its new settings")
	}
	b.set(false)
	waitFor(t, "cid's alert at b", func() bool { return len(b.titles()) == 2 })

	// A config that does not load, and one that changes server.listen:
	// rejected, with their errors; the running config stays.
	for _, tt := range []struct{ yaml, want string }{
		{strings.Replace(write("", "", "b"), "routes:", "routs:", 1), "alerter.yaml:10:1: "},
		{strings.Replace(write("", "", "a"), "127.0.0.1:0", "127.0.0.1:1", 1), "server.listen changes need a restart"},
	} {
		if err := os.WriteFile(file, []byte(tt.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if svc.Reload("signal") {
			t.Fatalf("a bad config was taken:\n%s", tt.yaml)
		}
		st := svc.ReloadStatus()
		if st.OK || len(st.Errors) == 0 || !strings.Contains(st.Errors[0], tt.want) {
			t.Errorf("status %+v, want an error with %q", st, tt.want)
		}
		if svc.current() != g3 {
			t.Error("a rejected config replaced the running one")
		}
	}
	r.post(t, "/webhooks/in2", setting("e4", "dan", "2024-05-14T10:03:00Z"))
	waitFor(t, "dan's alert at b", func() bool { return len(b.titles()) == 3 })

	// Back to the first config: in2 is gone, alerts go to a again.
	write("", "", "a")
	if !svc.Reload("signal") {
		t.Fatalf("the reload was rejected: %+v", svc.ReloadStatus())
	}
	if code, _ := r.post(t, "/webhooks/in2", setting("e5", "eve", "2024-05-14T10:04:00Z")); code != http.StatusNotFound {
		t.Errorf("a removed source answered %d", code)
	}
	r.post(t, "/webhooks/in", setting("e6", "fay", "2024-05-14T10:05:00Z"))
	waitFor(t, "fay's alert at a", func() bool { return len(a.titles()) == 2 })
	r.drained(t)
	if got := b.titles(); len(got) != 3 {
		t.Errorf("b took %q, want bob's, cid's and dan's alerts once each", got)
	}
}

// partOf is the part of g named name, nil if none.
func partOf(g *generation, name string) *part {
	for _, p := range g.parts {
		if p.name == name {
			return p
		}
	}
	return nil
}

// What is set up only at start is refused by a reload, each key named;
// the rest reloads.
func TestNeedsRestart(t *testing.T) {
	const base = `
server: {listen: "127.0.0.1:8080"}
nats: {embedded: {store_dir: /var/lib/alerter}}
rules: {paths: [testdata/rules.yaml]}
sources: [{name: in, type: webhook}]
notifiers: [{name: a, type: console}, {name: quiet, type: console}]
routes: {default: [a]}
`
	parse := func(t *testing.T, yaml string) *config.Config {
		t.Helper()
		cfg, err := config.Parse("alerter.yaml", []byte(yaml), nil, builtin.Plugins())
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cur := parse(t, base)
	s := &App{deliveriesTTL: deliveriesTTL(cur)}
	for _, tt := range []struct {
		name, from, to string
		want           []string // the errors, in order; none: it reloads
	}{
		{"nothing", "", "", nil},
		{"a route", "default: [a]", "default: [quiet]", nil},
		{"a source", "sources: [{name: in, type: webhook}]", "sources: [{name: in, type: webhook}, {name: in2, type: webhook, path: /two}]", nil},
		{"the external URL", `listen: "127.0.0.1:8080"`, `listen: "127.0.0.1:8080", external_url: "https://alerter.example"`, nil},
		{"the listen address", "127.0.0.1:8080", "127.0.0.1:9090", []string{"server.listen changes need a restart"}},
		{"the store dir and retention", "{store_dir: /var/lib/alerter}", "{store_dir: /srv/alerter}, retention: 24h",
			[]string{"nats.embedded.store_dir changes need a restart", "nats.retention changes need a restart"}},
		{"rule paths", "paths: [testdata/rules.yaml]", "paths: [testdata/rules.yaml, testdata/admin-rules.yaml]", []string{"rules.paths changes need a restart"}},
		{"the lateness", "routes: {default: [a]}", "routes: {default: [a]}\nengine: {lateness: 5m}", []string{"engine.lateness changes need a restart"}},
		{"a longer max_age", "{name: a, type: console}", "{name: a, type: console, max_age: 2000h}", []string{"notifiers: a max_age this long needs a restart"}},
		{"group enrichment", "sources: [{name: in, type: webhook}]",
			"sources: [{name: dc, type: confluence-poll, base_url: \"https://wiki.example\", token: t, enrich_groups: true}]",
			[]string{"sources: enrich_groups needs a restart"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			yaml := strings.Replace(base, tt.from, tt.to, 1)
			var got []string
			if err := s.needsRestart(cur, parse(t, yaml)); err != nil {
				got = errorLines(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %q, want %q", got[i], tt.want[i])
				}
			}
		})
	}
}
