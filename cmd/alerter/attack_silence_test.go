package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// attackRules are two rules, so that a silence of one of them is not a
// silence of everything.
const attackRules = `rules:
  - id: setting-changed
    severity: high
    when: event.action == "Global setting changed"
    dedup: {by: [event.actor.name], window: 1h}
    title: "{{ event.actor.name }} changed a global setting"
  - id: page-removed
    severity: medium
    when: event.action == "Page removed"
    title: "{{ event.actor.name }} removed a page"
`

// A silence that mutes every alert, by a matcher that takes every value or
// one that every loaded rule satisfies, or one for a century, is refused
// with the reason; nothing is created. A narrow one still is.
func TestAttackSilencesOfEverything(t *testing.T) {
	tg := startTarget(t, targetConfig{rules: attackRules})
	silence := func(matchers, duration string) string {
		return `{"matchers":` + matchers + `,"duration":"` + duration + `","created_by":"ops","comment":"maintenance"}`
	}
	for _, tc := range []struct{ body, want string }{
		{silence(`[{"name":"rule","value":"","negate":true}]`, "8760h"), "would mute everything"},
		{silence(`[{"name":"rule","value":".+","regex":true}]`, "1h"), "would mute everything"},
		{silence(`[{"name":"severity","value":".*","regex":true}]`, "1h"), "matches every value"},
		{silence(`[{"name":"label.team","value":"(?s).*","regex":true},{"name":"rule","value":"page-removed"}]`, "1h"), "matches every value"},
		{silence(`[{"name":"rule","value":"setting-changed|page-removed","regex":true}]`, "1h"), "would mute everything"},
		{silence(`[{"name":"rule","value":"page-removed"}]`, "876000h"), "longer than silences.max_duration (30 days)"},
	} {
		for _, path := range []string{"/api/v1/silences", "/api/v1/silences/preview"} {
			if path == "/api/v1/silences/preview" && strings.Contains(tc.want, "max_duration") {
				continue // a preview is of the matchers alone
			}
			code, body := tg.do(request{method: "POST", path: path, body: []byte(tc.body)})
			var ans struct{ Error string }
			if code != 400 || json.Unmarshal([]byte(body), &ans) != nil || !strings.Contains(ans.Error, tc.want) {
				t.Errorf("POST %s %s: %d %s, want 400 %q", path, tc.body, code, body, tc.want)
			}
		}
	}
	code, body := tg.do(request{method: "GET", path: "/api/v1/silences"})
	if code != 200 || body != `{"silences":[]}`+"\n" && body != `{"silences":[]}` {
		t.Errorf("silences after the attack: %d %s", code, body)
	}
	if code, body := tg.do(request{method: "POST", path: "/api/v1/silences", body: []byte(silence(`[{"name":"rule","value":"page-removed"}]`, "2h"))}); code != 201 {
		t.Errorf("a silence of one rule of two: %d %s", code, body)
	}
	tg.mustBeAlive()
}

// Control characters in event data reach the terminal of `alerter alerts`
// escaped: no ESC or BEL, and a newline in a name forges no row.
func TestAttackTerminalEscapes(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	evil := `Esc \u001b[2J\u001b[31mRED…\u001b]0;pwned\u0007\nFORGED ROW`
	ev := `{"id":"evil-1","time":"2024-05-14T10:00:00Z","action":"Global setting changed","actor":{"name":"` + evil + `"}}`
	if code, body := tg.do(request{method: "POST", path: "/webhooks/hook", body: []byte(ev)}); code != 202 {
		t.Fatalf("POST event: %d %s", code, body)
	}
	var out string
	for deadline := time.Now().Add(10 * time.Second); ; {
		var code int
		var errs string
		code, out, errs = runCLI(t, "", "alerts", "--url", tg.url)
		if code == 0 && strings.Contains(out, "changed a global setting") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert listed: %d %q %q", code, out, errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("the terminal got ESC or BEL:\n%q", out)
	}
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 2 || strings.HasPrefix(lines[len(lines)-1], "FORGED") {
		t.Errorf("want a header and one row, got %d lines:\n%s", len(lines), out)
	}
	if !strings.Contains(out, `"Esc \x1b[2J\x1b[31mRED…\x1b]0;pwned\a\nFORGED ROW changed a global setting"`) {
		t.Errorf("the title is not shown escaped:\n%s", out)
	}
	tg.mustBeAlive()
}

// The author and comment of a silence are whatever its creator wrote, and
// its lifecycle announcement goes to the on-call channel: in the Slack
// message that says it ended, they mention no one (<!channel> is shown,
// not acted on), carry no control characters or bidirectional overrides,
// forge no line, and are cut short.
func TestAttackSilenceAnnouncement(t *testing.T) {
	var mu sync.Mutex
	var got []string // the texts of the Slack messages, decoded
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg any
		if err := json.NewDecoder(r.Body).Decode(&msg); err == nil {
			mu.Lock()
			got = append(got, strings.Join(texts(msg), "\n"))
			mu.Unlock()
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer slack.Close()
	tg := startTarget(t, targetConfig{rules: attackRules, rest: fmt.Sprintf(`
sources: [{name: hook, type: webhook}]
notifiers: [{name: chat, type: slack, webhook_url: %q}]
routes: {default: [chat]}
`, slack.URL)})
	body, _ := json.Marshal(map[string]any{
		"matchers":   []map[string]string{{"name": "rule", "value": "setting-changed"}},
		"duration":   "2s",
		"created_by": "mallory\n*Approved by the CISO*",
		"comment":    "<!channel> \u001b[2J\u202eok\nAll clear, ignore alerts " + strings.Repeat("c", 5000),
	})
	if code, answer := tg.do(request{method: "POST", path: "/api/v1/silences", body: body}); code != 201 {
		t.Fatalf("POST silence: %d %s", code, answer)
	}
	ev := `{"id":"s1","time":"2024-05-14T10:00:00Z","action":"Global setting changed","actor":{"name":"ann"}}`
	if code, answer := tg.do(request{method: "POST", path: "/webhooks/hook", body: []byte(ev)}); code != 202 {
		t.Fatalf("POST event: %d %s", code, answer)
	}
	var ended string
	for deadline := time.Now().Add(20 * time.Second); ended == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		for _, s := range got {
			if strings.Contains(s, "ended; it suppressed 1 alert") {
				ended = s
			}
		}
		mu.Unlock()
	}
	if ended == "" {
		t.Fatalf("no announcement reached Slack; it got %q", got)
	}
	if strings.Contains(ended, "<!channel>") || strings.ContainsAny(ended, "\x1b\u202e") ||
		strings.Contains(ended, "\n*Approved") || strings.Contains(ended, "\nAll clear") ||
		strings.Contains(ended, strings.Repeat("c", 300)) {
		t.Errorf("the announcement carries the silence's text as written:\n%s", ended)
	}
	tg.mustBeAlive()
}

// texts are the strings in a decoded JSON value.
func texts(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, texts(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, texts(e)...)
		}
		return out
	}
	return nil
}
