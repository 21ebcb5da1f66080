package main

// Attacks on the Slack buttons' endpoint, POST /slack/interactions.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// slackSigningSecret is the signing secret of the Slack app of these
// attacks.
const slackSigningSecret = "slack-signing-secret-9c4d"

// slackPress is a button press as Slack posts it, on alert id.
func slackPress(action, id, username, responseURL string) []byte {
	payload := fmt.Sprintf(`{"type":"block_actions","user":{"id":"U0EVE","username":%q},"channel":{"id":"C0SECOPS"},`+
		`"message":{"ts":"1715681280.000100"},"response_url":%q,"actions":[{"action_id":%q,"value":%q,"type":"button"}]}`,
		username, responseURL, action, id)
	return []byte(url.Values{"payload": {payload}}.Encode())
}

// slackSigned are the headers of body signed with secret at ts (sigTS, if
// not "", the timestamp the signature was made for).
func slackSigned(secret string, body []byte, ts time.Time, sigTS string) map[string]string {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	if sigTS == "" {
		sigTS = stamp
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + sigTS + ":"))
	m.Write(body)
	return map[string]string{"Content-Type": "application/x-www-form-urlencoded",
		"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + hex.EncodeToString(m.Sum(nil))}
}

// TestAttackSlackInteractions: requests to /slack/interactions not signed
// by the app's secret, signed too long ago, replayed under a new
// timestamp, sent again, too large, or naming what alerter has not sent
// change nothing; nothing answers with the secret, and the process lives
// on.
func TestAttackSlackInteractions(t *testing.T) {
	var mu sync.Mutex
	var got []string // what reached the fake Slack: path and body
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+string(b))
		mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/api/") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true,"channel":"C0SECOPS","ts":"1715681280.000100"}`)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer slack.Close()
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
	tg := startTarget(t, targetConfig{
		rest: fmt.Sprintf(`
sources: [{name: hook, type: webhook}]
notifiers:
  - {name: slack-bot, type: slack, token: xoxb-attack, channel: C0SECOPS, api_url: %q, signing_secret: "${SLACK_SIGNING_SECRET}"}
routes: {default: [slack-bot]}
`, slack.URL+"/api"),
		env: []string{"SLACK_SIGNING_SECRET=" + slackSigningSecret},
	})
	respond := slack.URL + "/actions/T0/1/x"
	now := time.Now()
	ack := slackPress("alerter_ack", "01HXV8PV80P15JJ3PQQKR69ZF5", "eve", respond)
	for _, a := range []struct {
		name   string
		body   []byte
		header map[string]string
		code   int
	}{
		{"unsigned", ack, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 401},
		{"signed with another secret", ack, slackSigned("guessed", ack, now, ""), 401},
		{"signed 6 minutes ago", ack, slackSigned(slackSigningSecret, ack, now.Add(-6*time.Minute), ""), 401},
		{"signed for the future", ack, slackSigned(slackSigningSecret, ack, now.Add(time.Hour), ""), 401},
		{"replayed with a new timestamp", ack, slackSigned(slackSigningSecret, ack, now, strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)), 401},
		{"oversized", append(ack[:len(ack):len(ack)], "&pad="+strings.Repeat("A", 70<<10)...), slackSigned(slackSigningSecret, append(ack[:len(ack):len(ack)], "&pad="+strings.Repeat("A", 70<<10)...), now, ""), 413},
		{"a forged log line in the username", slackPress("alerter_ack", "x", "eve\nlevel=ERROR msg=forged", respond), nil, 400},
		{"from another site's page", ack, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"an unknown action", slackPress("alerter_delete_all", "x", "eve", respond), nil, 200},
	} {
		h := a.header
		if h == nil {
			h = slackSigned(slackSigningSecret, a.body, now, "")
		}
		code, answer := tg.do(request{method: "POST", path: "/slack/interactions", body: a.body, header: h})
		if code != a.code {
			t.Errorf("%s: %d %s; want %d", a.name, code, answer, a.code)
		}
		if strings.Contains(answer, slackSigningSecret) {
			t.Errorf("%s: the answer shows the secret: %s", a.name, answer)
		}
	}
	// Alert ids of other shapes (NATS wildcards, another subject) are
	// answered like an unknown alert: the presser is told, nothing is done.
	for _, id := range []string{">", "alerts.*", "a b", strings.Repeat("9", 1500)} {
		body := slackPress("alerter_silence_1h", id, "eve", respond)
		if code, answer := tg.do(request{method: "POST", path: "/slack/interactions", body: body,
			header: slackSigned(slackSigningSecret, body, now, "")}); code != 200 {
			t.Errorf("alert id %.20q: %d %s", id, code, answer)
		}
	}
	// The same signed request sent again is taken once: no second answer.
	again := slackPress("alerter_silence_1h", ">", "eve", respond)
	if code, answer := tg.do(request{method: "POST", path: "/slack/interactions", body: again,
		header: slackSigned(slackSigningSecret, again, now, "")}); code != 200 {
		t.Errorf("the same request again: %d %s", code, answer)
	}
	// And again with its signature's hex in capitals, which decodes to
	// the same signature: still taken once.
	upper := slackSigned(slackSigningSecret, again, now, "")
	upper["X-Slack-Signature"] = "v0=" + strings.ToUpper(strings.TrimPrefix(upper["X-Slack-Signature"], "v0="))
	if code, answer := tg.do(request{method: "POST", path: "/slack/interactions", body: again, header: upper}); code != 200 {
		t.Errorf("the same request, its signature in capitals: %d %s", code, answer)
	}
	code, answer := tg.do(request{method: "GET", path: "/api/v1/silences"})
	if code != 200 || !strings.Contains(answer, `"silences":[]`) {
		t.Errorf("silences after the attacks: %d %s", code, answer)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen()) < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range seen() {
		if !strings.HasPrefix(s, "/actions/T0/1/x ") || !strings.Contains(s, "ephemeral") {
			t.Errorf("Slack got %.200s; want only the refusals, told to the presser", s)
		}
	}
	if n := len(seen()); n != 4 {
		t.Errorf("Slack got %d posts, want the 4 refusals", n)
	}
	if strings.Contains(tg.output(), slackSigningSecret) {
		t.Error("the output shows the signing secret")
	}
	tg.mustBeAlive()
}
