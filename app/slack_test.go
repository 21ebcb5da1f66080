package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// slackFake answers chat.postMessage and chat.update as Slack does
// (200 {"ok":true,"channel","ts"}) and takes response_url posts; it keeps
// what it got, by path.
type slackFake struct {
	mu  sync.Mutex
	got map[string][]url.Values // form posts by path; JSON posts as {"json": body}
}

func (f *slackFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		form = url.Values{"json": {string(b)}}
	}
	f.mu.Lock()
	f.got[r.URL.Path] = append(f.got[r.URL.Path], form)
	f.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/actions/") {
		_, _ = io.WriteString(w, "ok")
		return
	}
	if form.Get("token") != "xoxb-bot-token" || form.Get("channel") != "C0SECOPS" {
		_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"ok":true,"channel":"C0SECOPS","ts":"1715681280.000100","text":%q}`, form.Get("text"))
}

func (f *slackFake) posts(path string) []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.got[path]...)
}

const slackConfig = `
server:
  listen: "127.0.0.1:0"
  tokens: [{name: alice, token: writer-token, role: writer}, {name: dashboard, token: viewer-token, role: viewer}]
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/rules.yaml], watch: false}
sources: [{name: open, type: webhook, path: /in}]
notifiers:
  - {name: other-app, type: slack, token: xoxb-other, channel: C0OTHER, api_url: %[2]q, signing_secret: other-secret}
  - {name: slack-bot, type: slack, token: "${SLACK_BOT_TOKEN}", channel: C0SECOPS, api_url: %[2]q, signing_secret: "${SLACK_SIGNING_SECRET}"}
  - {name: quiet, type: console}
routes: {default: [slack-bot]}
`

const slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// press is a button press of the alert message as Slack posts it: a form
// whose payload is a block_actions JSON.
func press(actionID, alertID, responseURL string) string {
	payload := fmt.Sprintf(`{"type":"block_actions","user":{"id":"U0ANN","username":"ann","name":"ann","team_id":"T0001"},`+
		`"api_app_id":"A0APP","container":{"type":"message","message_ts":"1715681280.000100","channel_id":"C0SECOPS"},`+
		`"team":{"id":"T0001","domain":"example"},"channel":{"id":"C0SECOPS","name":"secops"},`+
		`"message":{"type":"message","ts":"1715681280.000100","text":"[HIGH] x"},"response_url":%q,`+
		`"actions":[{"action_id":%q,"block_id":"lifecycle","value":%q,"type":"button","action_ts":"1715681400.1"}]}`,
		responseURL, actionID, alertID)
	return url.Values{"payload": {payload}}.Encode()
}

// sendSigned posts body to /slack/interactions signed with secret at ts
// (sigTS, if not "", is the timestamp the signature was made for).
func (r *running) sendSigned(t *testing.T, body, secret string, ts time.Time, sigTS string) (int, string) {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	if sigTS == "" {
		sigTS = stamp
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + sigTS + ":" + body))
	req, err := http.NewRequest("POST", r.url+"/slack/interactions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// An alert posted to a Slack app with a signing secret carries buttons;
// pressing them acknowledges, resolves and silences through alerter's own
// paths, and the message shows who did it. Requests not signed by the
// app's secret, or signed too long ago, change nothing; one sent twice is
// taken once.
func TestSlackButtons(t *testing.T) {
	fake := &slackFake{got: map[string][]url.Values{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	env := map[string]string{"SLACK_BOT_TOKEN": "xoxb-bot-token", "SLACK_SIGNING_SECRET": slackSecret}
	r := run(t, fmt.Sprintf(slackConfig, t.TempDir(), srv.URL+"/api"), env, Options{AckWait: 2 * time.Second})
	respond := srv.URL + "/actions/T0001/5555/ReSpOnSe"

	r.post(t, "/in", setting("b1", "bob", "2024-05-14T10:00:00Z"))
	r.post(t, "/in", setting("a1", "ann", "2024-05-14T10:05:00Z"))
	waitFor(t, "two messages", func() bool { return len(fake.posts("/api/chat.postMessage")) == 2 })
	ids := map[string]string{} // actor → alert id, read from the buttons
	for _, form := range fake.posts("/api/chat.postMessage") {
		var blocks []struct {
			BlockID  string `json:"block_id"`
			Elements []struct {
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
			} `json:"elements"`
		}
		if err := json.Unmarshal([]byte(form.Get("blocks")), &blocks); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, b := range blocks {
			if b.BlockID == "lifecycle" {
				for _, e := range b.Elements {
					got = append(got, e.ActionID+"="+e.Value)
				}
			}
		}
		actor := "bob"
		if strings.Contains(form.Get("text"), "ann") {
			actor = "ann"
		}
		if len(got) != 3 {
			t.Fatalf("%s's message: buttons %v", actor, got)
		}
		ids[actor] = strings.TrimPrefix(got[0], "alerter_ack=")
	}
	bob, ann := ids["bob"], ids["ann"]
	status := func(id string) map[string]any {
		code, body := r.call(t, "viewer-token", "GET", "/api/v1/alerts/"+id, "")
		if code != 200 {
			t.Fatalf("GET alert %s: %d %v", id, code, body)
		}
		return body
	}

	now := time.Now()
	ack := press("alerter_ack", bob, respond)
	for _, bad := range []struct {
		name, body, secret string
		ts                 time.Time
		sigTS              string
		code               int
	}{
		{"a bad signature", ack, "not-the-secret", now, "", 401},
		{"a stale timestamp", ack, slackSecret, now.Add(-6 * time.Minute), "", 401},
		{"a replay with a new timestamp", ack, slackSecret, now, strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10), 401},
		{"an oversized body", ack + "&pad=" + strings.Repeat("x", 64<<10), slackSecret, now, "", 413},
		{"a payload that is not block_actions", url.Values{"payload": {`{"type":"view_submission"}`}}.Encode(), slackSecret, now, "", 400},
		{"an unknown action", press("alerter_delete", bob, respond), slackSecret, now, "", 200},
		{"a link button", press("runbook", "", respond), slackSecret, now, "", 200},
	} {
		if code, body := r.sendSigned(t, bad.body, bad.secret, bad.ts, bad.sigTS); code != bad.code {
			t.Errorf("%s: %d %s, want %d", bad.name, code, body, bad.code)
		}
	}
	if st := status(bob); st["status"] != "firing" {
		t.Fatalf("refused requests changed the alert: %v", st)
	}
	// An alert id of another shape, or of no alert, is told to the presser.
	for _, id := range []string{"alerts.*.>", "01NOSUCHALERT"} {
		if code, body := r.sendSigned(t, press("alerter_ack", id, respond), slackSecret, now, ""); code != 200 {
			t.Errorf("ack of %q: %d %s", id, code, body)
		}
	}
	waitFor(t, "two refusals told", func() bool { return len(fake.posts("/actions/T0001/5555/ReSpOnSe")) == 2 })
	if reply := fake.posts("/actions/T0001/5555/ReSpOnSe")[1].Get("json"); !strings.Contains(reply, `"ephemeral"`) || !strings.Contains(reply, "no alert") {
		t.Errorf("refusal: %s", reply)
	}
	if n := len(fake.posts("/api/chat.update")); n != 0 {
		t.Errorf("%d updates before any press was taken", n)
	}

	// Acknowledge: the alert is acknowledged by ann on Slack, and the
	// message says so, with Resolve and Silence left.
	waitFor(t, "bob's alert recorded as sent", func() bool { return r.sentTo(t, "slack-bot", bob) })
	if code, body := r.sendSigned(t, ack, slackSecret, now, ""); code != 200 {
		t.Fatalf("ack: %d %s", code, body)
	}
	if st := status(bob); st["status"] != "acknowledged" || st["acknowledged_by"] != "slack:ann" {
		t.Fatalf("after the ack: %v", st)
	}
	// The press updates the message, and so does its acknowledgement
	// notification, to the same content.
	waitFor(t, "the message updated twice", func() bool { return len(fake.posts("/api/chat.update")) == 2 })
	up := fake.posts("/api/chat.update")[0]
	if up.Get("ts") != "1715681280.000100" || up.Get("channel") != "C0SECOPS" ||
		!strings.Contains(up.Get("blocks"), "*Acknowledged* by @ann at ") ||
		strings.Contains(up.Get("blocks"), `"alerter_ack"`) || !strings.Contains(up.Get("blocks"), `"alerter_resolve"`) {
		t.Errorf("update after the ack: %v", up)
	}
	if again := fake.posts("/api/chat.update")[1]; again.Get("blocks") != up.Get("blocks") || again.Get("ts") != up.Get("ts") {
		t.Errorf("the acknowledgement's update %v differs from the press's %v", again, up)
	}

	// Resolve: resolved, no buttons left; an ack after it is refused.
	if code, body := r.sendSigned(t, press("alerter_resolve", bob, respond), slackSecret, time.Now(), ""); code != 200 {
		t.Fatalf("resolve: %d %s", code, body)
	}
	if st := status(bob); st["status"] != "resolved" || st["resolved_by"] != "slack:ann" {
		t.Fatalf("after the resolve: %v", st)
	}
	waitFor(t, "the message updated again", func() bool { return len(fake.posts("/api/chat.update")) == 3 })
	if up := fake.posts("/api/chat.update")[2].Get("blocks"); !strings.Contains(up, "*Resolved* by @ann") ||
		strings.Contains(up, `"alerter_resolve"`) || !strings.Contains(up, `"alerter_verdict_false_positive"`) {
		t.Errorf("update after the resolve: %s", up)
	}
	// The verdict, given from the resolved message: it is the resolve's,
	// counts for the rule's precision, and no button is left.
	if code, body := r.sendSigned(t, press("alerter_verdict_false_positive", bob, respond), slackSecret, time.Now().Add(time.Second), ""); code != 200 {
		t.Fatalf("verdict: %d %s", code, body)
	}
	if st := status(bob); st["status"] != "resolved" || st["resolved_by"] != "slack:ann" || st["verdict"] != "false_positive" {
		t.Fatalf("after the verdict: %v", st)
	}
	_, rulesBody := r.call(t, "viewer-token", "GET", "/api/v1/rules", "")
	if b, _ := json.Marshal(rulesBody); !strings.Contains(string(b), `"false_positive":1`) {
		t.Errorf("the verdict does not count for the rule's precision: %s", b)
	}
	waitFor(t, "the message with its verdict", func() bool {
		for _, up := range fake.posts("/api/chat.update") {
			if b := up.Get("blocks"); strings.Contains(b, "verdict: false positive") && !strings.Contains(b, `"lifecycle"`) {
				return true
			}
		}
		return false
	})
	// A new press has a new timestamp (the same one would be the same request).
	if code, _ := r.sendSigned(t, ack, slackSecret, now.Add(2*time.Second), ""); code != 200 {
		t.Fatalf("a second ack: %d", code)
	}
	waitFor(t, "the refused ack told", func() bool { return len(fake.posts("/actions/T0001/5555/ReSpOnSe")) == 3 })
	if reply := fake.posts("/actions/T0001/5555/ReSpOnSe")[2].Get("json"); !strings.Contains(reply, "cannot be acknowledged") {
		t.Errorf("refusal: %s", reply)
	}

	// Silence 1h: a silence of ann's group, made by ann on Slack; the same
	// request sent again within its 5 minutes is taken once.
	silenceAt := time.Now()
	for range 2 {
		if code, body := r.sendSigned(t, press("alerter_silence_1h", ann, respond), slackSecret, silenceAt, ""); code != 200 {
			t.Fatalf("silence: %d %s", code, body)
		}
	}
	_, body := r.call(t, "viewer-token", "GET", "/api/v1/silences", "")
	var list struct {
		Silences []struct {
			Matchers  []struct{ Name, Value string }
			CreatedBy string `json:"created_by"`
			Comment   string
			StartsAt  time.Time `json:"starts_at"`
			EndsAt    time.Time `json:"ends_at"`
			State     string
		}
	}
	b, _ := json.Marshal(body)
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Silences) != 1 {
		t.Fatalf("silences: %v", body)
	}
	sl := list.Silences[0]
	if sl.CreatedBy != "slack:ann" || sl.Comment != "from Slack" || sl.State != "active" || sl.EndsAt.Sub(sl.StartsAt) != time.Hour ||
		fmt.Sprint(sl.Matchers) != "[{rule setting-changed} {group.event.actor.name ann}]" {
		t.Errorf("silence: %+v", sl)
	}
	// (bob's resolve notification updates his message too, in its own time.)
	waitFor(t, "the silenced message updated", func() bool {
		for _, up := range fake.posts("/api/chat.update") {
			if strings.Contains(up.Get("blocks"), "*Silenced* for 1h by @ann") {
				return true
			}
		}
		return false
	})
	if st := status(ann); st["status"] != "firing" {
		t.Errorf("a silence acknowledged the alert: %v", st)
	}
}

// An alert resolved through the API, far from Slack, reaches Slack as its
// message updated (the same channel and ts, no longer firing) and a reply
// in its thread, once however often it is resolved; where the message is
// is kept in the deliveries record.
func TestSlackResolveUpdatesTheMessage(t *testing.T) {
	fake := &slackFake{got: map[string][]url.Values{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	env := map[string]string{"SLACK_BOT_TOKEN": "xoxb-bot-token", "SLACK_SIGNING_SECRET": slackSecret}
	r := run(t, fmt.Sprintf(slackConfig, t.TempDir(), srv.URL+"/api"), env, Options{AckWait: 2 * time.Second})
	r.post(t, "/in", setting("b1", "bob", "2024-05-14T10:00:00Z"))
	waitFor(t, "the alert posted", func() bool { return len(fake.posts("/api/chat.postMessage")) == 1 })
	ids := r.alertsWith(t, "")
	if len(ids) != 1 {
		t.Fatalf("alerts %v", ids)
	}
	id := ids[0]
	waitFor(t, "the delivery recorded", func() bool {
		_, body := r.call(t, "viewer-token", "GET", "/api/v1/alerts/"+id, "")
		d, _ := body["deliveries"].(map[string]any)
		o, _ := d["slack-bot"].(map[string]any)
		return o["status"] == "sent" && o["ref"] == "C0SECOPS/1715681280.000100"
	})
	for i := range 2 {
		if code, body := r.call(t, "writer-token", "POST", "/api/v1/alerts/"+id+"/resolve", `{"verdict":"benign"}`); code != 200 {
			t.Fatalf("resolve %d: %d %v", i+1, code, body)
		}
	}
	waitFor(t, "the reply in the thread", func() bool { return len(fake.posts("/api/chat.postMessage")) == 2 })
	r.drained(t)
	updates, posts := fake.posts("/api/chat.update"), fake.posts("/api/chat.postMessage")
	if len(updates) != 1 || len(posts) != 2 {
		t.Fatalf("%d updates and %d posts, want the message updated and one reply", len(updates), len(posts))
	}
	up := updates[0]
	if up.Get("channel") != "C0SECOPS" || up.Get("ts") != "1715681280.000100" ||
		!strings.Contains(up.Get("blocks"), "*Resolved* by alice at ") || !strings.Contains(up.Get("blocks"), "verdict: benign") ||
		!strings.Contains(up.Get("blocks"), "HIGH: ") || strings.Contains(up.Get("blocks"), `"lifecycle"`) {
		t.Errorf("the update: %v", up)
	}
	reply := posts[1]
	if reply.Get("thread_ts") != "1715681280.000100" || reply.Get("reply_broadcast") != "" || !strings.HasPrefix(reply.Get("text"), "Resolved: ") {
		t.Errorf("the reply: %v", reply)
	}
}

// An escalation to the Slack channel that got its alert replies in the
// alert's thread, shown in the channel too.
func TestSlackEscalationRepliesInTheThread(t *testing.T) {
	fake := &slackFake{got: map[string][]url.Values{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(strings.Replace(escalateRules, "notify: [pager]", "notify: [chat]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(escalateConfig, "{name: chat, type: console}",
		fmt.Sprintf("{name: chat, type: slack, token: xoxb-bot-token, channel: C0SECOPS, api_url: %q}", srv.URL+"/api"), 1)
	r := run(t, fmt.Sprintf(cfg, filepath.Join(dir, "nats"), rulesFile), nil, Options{AckWait: 2 * time.Second})
	for i := range 3 { // the alert, then two suppressed matches: the second escalates
		r.post(t, "/in", setting(fmt.Sprint("e", i), "bob", fmt.Sprintf("2024-05-14T10:%02d:00Z", i)))
		r.drained(t)
	}
	waitFor(t, "the escalation", func() bool { return len(fake.posts("/api/chat.postMessage")) == 2 })
	r.drained(t)
	posts := fake.posts("/api/chat.postMessage")
	if alert := posts[0]; alert.Get("thread_ts") != "" || strings.Contains(alert.Get("text"), "Escalated") {
		t.Errorf("the alert: %v", alert)
	}
	if esc := posts[1]; esc.Get("thread_ts") != "1715681280.000100" || esc.Get("reply_broadcast") != "true" ||
		!strings.HasPrefix(esc.Get("text"), "[CRITICAL] Escalated: ") {
		t.Errorf("the escalation: %v", esc)
	}
	if n := len(fake.posts("/api/chat.postMessage")); n != 2 {
		t.Errorf("%d messages posted, want the alert and its escalation", n)
	}
}
