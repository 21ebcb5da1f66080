package main

// Attacks on open doors and identity: an alerter reachable from the
// network without a token, a webhook anyone can post to, a token used
// beyond its role, and a silence that claims to be someone else's.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/internal/natscluster"
)

// exposedConfig writes a config listening on every interface, with server
// keys added to server: and sources as the sources: list.
func exposedConfig(t *testing.T, server, sources string) (file, url string) {
	t.Helper()
	dir := t.TempDir()
	port := natscluster.FreePort(t)
	rulesFile, _ := filepath.Abs("testdata/crash-rules.yaml")
	if server != "" {
		server = ", " + server
	}
	text := fmt.Sprintf("server: {listen: \"0.0.0.0:%d\"%s}\nnats: {embedded: {store_dir: %q}}\nrules: {paths: [%q], watch: false}\n"+
		"sources: %s\nnotifiers: [{name: console, type: console}]\nroutes: {default: [console]}\n",
		port, server, filepath.Join(dir, "nats"), rulesFile, sources)
	file = filepath.Join(dir, "alerter.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, fmt.Sprintf("http://127.0.0.1:%d", port)
}

// An alerter listening beyond loopback without a token, or with a webhook
// that takes events from anyone, does not start: it exits non-zero naming
// the key to set, and `alerter validate --config` says the same. With
// insecure: true on the webhook, it starts.
func TestAttackIdentityOpenDoorsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts alerter processes")
	}
	tests := []struct {
		name, server, sources string
		want                  []string // in the output; none: it starts
	}{
		{"every interface, no token", "", "[{name: hook, type: webhook, secret: s}]",
			[]string{`listen "0.0.0.0:`, "reachable from other machines, and the API has no token: set api_token (or tokens)"}},
		{"a token, but a webhook without secret", "api_token: t0ken", "[{name: hook, type: webhook}]",
			[]string{"source hook: a webhook without secret on server.listen 0.0.0.0:", "insecure: true"}},
		{"a token, and the open webhook said to be meant", "api_token: t0ken", "[{name: hook, type: webhook, insecure: true}]", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, url := exposedConfig(t, tt.server, tt.sources)
			code, _, stderr := runCLI(t, "", "validate", "--config", file)
			out := filepath.Join(t.TempDir(), "out.txt")
			c := startChildEnv(t, file, out, nil)
			if tt.want == nil {
				if code != 0 {
					t.Fatalf("validate: %d %s", code, stderr)
				}
				waitReady(t, url)
				return
			}
			done := make(chan error, 1)
			go func() { done <- c.cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil || c.cmd.ProcessState.ExitCode() == 0 {
					t.Fatalf("alerter exited with %v, want a failure", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("alerter started with an open door; want it refused")
			}
			b, _ := os.ReadFile(out)
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("run output does not say %q:\n%s", w, b)
				}
				if !strings.Contains(stderr, w) {
					t.Errorf("validate does not say %q: %s", w, stderr)
				}
			}
			if code != 1 || !positioned.MatchString(stderr) {
				t.Errorf("validate: exit %d, want 1 with the position in %s: %s", code, file, stderr)
			}
		})
	}
}

// positioned is an error of validate at file:line:col.
var positioned = regexp.MustCompile(`alerter\.yaml:\d+:\d+: `)

// identityTarget has a viewer and a writer token, and the example rules
// on alerter's own actions, printed on the console.
func identityTarget(t *testing.T) *target {
	t.Helper()
	rules, err := os.ReadFile("../../examples/rules/alerter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return startTarget(t, targetConfig{
		server: `api_token: root-secret, tokens: [{name: dashboard, token: viewer-secret, role: viewer}, {name: alice, token: writer-secret, role: writer}]`,
		rules:  string(rules),
	})
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// A token does what its role allows and no more; a silence records the
// token that made it whatever it claims; and the silence is an event that
// the example rule for long silences alerts on.
func TestAttackIdentityRoles(t *testing.T) {
	tg := identityTarget(t)
	// The silence covers the rule that alerts on long silences: it must
	// not mute the alert about itself.
	longSilence := []byte(`{"matchers":[{"name":"rule","value":"alerter-silence-longer-than-a-day"}],"duration":"72h","created_by":"bob","comment":"quiet weekend"}`)

	attacks := []struct {
		name   string
		req    request
		want   int
		errHas string
	}{
		{"no token reads nothing", request{method: "GET", path: "/api/v1/alerts"}, 401, "Authorization: Bearer"},
		{"no token silences nothing", request{method: "POST", path: "/api/v1/silences", body: longSilence}, 401, "Authorization: Bearer"},
		{"a made-up token", request{method: "GET", path: "/api/v1/silences", header: bearer("root-secreT")}, 401, "Authorization: Bearer"},
		{"a viewer cannot silence", request{method: "POST", path: "/api/v1/silences", body: longSilence, header: bearer("viewer-secret")}, 403, "needs the role writer or more; token dashboard is a viewer"},
		{"a writer cannot reload", request{method: "POST", path: "/-/reload", header: bearer("writer-secret")}, 403, "needs the role admin or more; token alice is a writer"},
		{"a writer cannot page through a test notification", request{method: "POST", path: "/api/v1/notifiers/console/test", header: bearer("writer-secret")}, 403, "needs the role admin"},
	}
	for _, a := range attacks {
		code, body := tg.do(a.req)
		var e struct{ Error string }
		_ = json.Unmarshal([]byte(body), &e)
		if code != a.want || !strings.Contains(e.Error, a.errHas) {
			t.Errorf("%s: %d %s; want %d with %q", a.name, code, body, a.want, a.errHas)
		}
	}
	if _, body := tg.do(request{method: "GET", path: "/api/v1/silences", header: bearer("viewer-secret")}); body != "{\"silences\":[]}\n" {
		t.Fatalf("refused requests created silences: %s", body)
	}

	// A writer silences, claiming to be bob: the silence says alice.
	code, body := tg.do(request{method: "POST", path: "/api/v1/silences", body: longSilence, header: bearer("writer-secret")})
	var sl struct {
		ID        string `json:"id"`
		CreatedBy string `json:"created_by"`
		Identity  string `json:"identity"`
	}
	if err := json.Unmarshal([]byte(body), &sl); code != 201 || err != nil || sl.Identity != "alice" || sl.CreatedBy != "bob" {
		t.Fatalf("writer's silence: %d %s; want identity alice beside created_by bob", code, body)
	}

	// The silence is an event of source alerter, stored with who and what.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, events := tg.do(request{method: "GET", path: "/api/v1/events?source=alerter", header: bearer("viewer-secret")})
		if strings.Contains(events, `"action":"Silence created"`) && strings.Contains(events, `"silence_id":"`+sl.ID+`"`) &&
			strings.Contains(events, `"name":"alice"`) && strings.Contains(events, `"duration":"72h0m0s"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Silence created event stored: %s", events)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The example rule alerts on it, though the silence covers that rule:
	// printed by the console target.
	want := "alice silenced rule=alerter-silence-longer-than-a-day for 72h0m0s"
	for !strings.Contains(tg.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the long-silence rule did not fire (%q):\n%s", want, lastLines(tg.output(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// An admin reloads a rule set with a rule removed: the example rule
	// on reloads alerts, naming who and what.
	file := filepath.Join(tg.dir, "rules.yaml")
	text, _ := os.ReadFile(file)
	start := strings.Index(string(text), "  - id: alerter-silence-covers-critical-rule")
	end := strings.Index(string(text), "  - id: alerter-silence-longer-than-a-day")
	if err := os.WriteFile(file, append(text[:start:start], text[end:]...), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := tg.do(request{method: "POST", path: "/-/reload", header: bearer("root-secret")}); code != 200 || !strings.Contains(body, `"by":"api_token"`) {
		t.Fatalf("admin's reload: %d %s", code, body)
	}
	want = "Rules reloaded by api_token removed 1 rule(s): alerter-silence-covers-critical-rule"
	for !strings.Contains(tg.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the reload rule did not fire (%q):\n%s", want, lastLines(tg.output(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	tg.mustBeAlive()
}

// The CLI sends $ALERTER_API_TOKEN, and `silence add` works without $USER:
// the author is then the token's name.
func TestAttackIdentityCLIWithoutUser(t *testing.T) {
	tg := identityTarget(t)
	t.Setenv("USER", "")
	os.Unsetenv("USER")

	t.Setenv("ALERTER_API_TOKEN", "viewer-secret")
	code, _, stderr := runCLI(t, "", "silence", "add", "--url", tg.url, "--for", "1h", "--comment", "deploy", "rule=x")
	if code != 1 || !strings.Contains(stderr, "needs the role writer") {
		t.Fatalf("viewer's silence add: %d %s", code, stderr)
	}

	t.Setenv("ALERTER_API_TOKEN", "writer-secret")
	code, out, stderr := runCLI(t, "", "silence", "add", "--url", tg.url, "--for", "1h", "--comment", "deploy", "rule=x")
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("silence add without $USER: %d %s %s", code, out, stderr)
	}
	id := strings.TrimSpace(out)
	_, list, _ := runCLI(t, "", "silence", "list", "--url", tg.url)
	if !strings.Contains(list, id) || !strings.Contains(list, "alice") {
		t.Fatalf("silence list does not show %s by alice:\n%s", id, list)
	}
	tg.mustBeAlive()
}
