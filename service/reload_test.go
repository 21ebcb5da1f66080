package service

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	var got ReloadStatus
	if json.Unmarshal(b, &got) != nil || resp.StatusCode != 200 || !got.OK || got.Trigger != "api" || got.Rules != 3 {
		t.Errorf("POST /-/reload: %d %s", resp.StatusCode, b)
	}
}
