package slack

import (
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

// signingSecret is the secret of Slack's own example of a signed request.
const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// interactionBody is a button press as Slack posts it (docs.slack.dev,
// "block_actions payload"): a form whose field payload holds the JSON.
func interactionBody(t testing.TB, actionID, value, responseURL string) []byte {
	t.Helper()
	payload := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": "U0ANN", "username": "ann", "name": "ann", "team_id": "T0001"},
		"api_app_id":   "A0APP",
		"token":        "verification-token-unused",
		"container":    map[string]any{"type": "message", "message_ts": postedTS, "channel_id": "C0SECOPS", "is_ephemeral": false},
		"trigger_id":   "1234.5678.abcd",
		"team":         map[string]any{"id": "T0001", "domain": "example"},
		"channel":      map[string]any{"id": "C0SECOPS", "name": "secops"},
		"message":      map[string]any{"type": "message", "ts": postedTS, "text": "[HIGH] x", "blocks": []any{}},
		"response_url": responseURL,
		"actions": []any{map[string]any{
			"action_id": actionID, "block_id": "lifecycle", "value": value, "type": "button",
			"text": map[string]any{"type": "plain_text", "text": "Acknowledge"}, "action_ts": "1715681400.123456",
		}},
	}
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(url.Values{"payload": {string(b)}}.Encode())
}

// signed are the headers Slack sends with body at ts.
func signed(secret string, ts time.Time, body []byte) http.Header {
	s := strconv.FormatInt(ts.Unix(), 10)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", s)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(Sign([]byte(secret), s, body)))
	return h
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 12, 7, 14, 2, 0, 0, time.UTC)
	body := interactionBody(t, ActionAck, "a1", "")
	// Slack's own example (docs.slack.dev, "Verifying requests from Slack").
	slackBody := []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
	slackHeader := http.Header{}
	slackHeader.Set("X-Slack-Request-Timestamp", "1531420618")
	slackHeader.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	replayed := signed(signingSecret, now.Add(-10*time.Minute), body)
	replayed.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now.Unix(), 10))
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
		now  time.Time
		want error
	}{
		{"signed now", signed(signingSecret, now, body), body, now, nil},
		{"signed 4 minutes ago", signed(signingSecret, now.Add(-4*time.Minute), body), body, now, nil},
		{"Slack's example", slackHeader, slackBody, time.Unix(1531420618, 0).Add(time.Minute), nil},
		{"Slack's example, later", slackHeader, slackBody, time.Unix(1531420618, 0).Add(6 * time.Minute), ErrStale},
		{"stale", signed(signingSecret, now.Add(-6*time.Minute), body), body, now, ErrStale},
		{"from the future", signed(signingSecret, now.Add(6*time.Minute), body), body, now, ErrStale},
		{"no timestamp", http.Header{"X-Slack-Signature": {"v0=00"}}, body, now, ErrStale},
		{"a timestamp that is no number", http.Header{"X-Slack-Request-Timestamp": {"now"}}, body, now, ErrStale},
		{"a replay with a new timestamp", replayed, body, now, ErrSignature},
		{"another secret", signed("another", now, body), body, now, ErrSignature},
		{"another body", signed(signingSecret, now, body), append([]byte("x"), body...), now, ErrSignature},
		{"no signature", http.Header{"X-Slack-Request-Timestamp": {strconv.FormatInt(now.Unix(), 10)}}, body, now, ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Verify([]byte(signingSecret), tc.h, tc.body, tc.now); !errors.Is(err, tc.want) {
				t.Errorf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
	// The signature without "v0=" is refused too.
	h := signed(signingSecret, now, body)
	h.Set("X-Slack-Signature", strings.TrimPrefix(h.Get("X-Slack-Signature"), "v0="))
	if err := Verify([]byte(signingSecret), h, body, now); !errors.Is(err, ErrSignature) {
		t.Errorf("without v0=: %v", err)
	}
}

func TestParseInteraction(t *testing.T) {
	in, err := ParseInteraction(interactionBody(t, ActionAck, "alert-1", "https://hooks.slack.com"+responsePath))
	if err != nil {
		t.Fatal(err)
	}
	if id, v := in.Action(); id != ActionAck || v != "alert-1" || in.Who() != "slack:ann" || in.Channel.ID != "C0SECOPS" || in.Message.TS != postedTS {
		t.Errorf("parsed %+v", in)
	}
	form := func(payload string) []byte { return []byte(url.Values{"payload": {payload}}.Encode()) }
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"not a form", []byte("payload=%zz"), "not a form"},
		{"no payload", []byte("a=b"), "one payload"},
		{"two payloads", []byte("payload=%7B%7D&payload=%7B%7D"), "one payload"},
		{"not JSON", form("{"), "not JSON"},
		{"a view submission", form(`{"type":"view_submission","user":{"id":"U1"},"actions":[{}]}`), "only block_actions"},
		{"no action", form(`{"type":"block_actions","user":{"id":"U1"},"actions":[]}`), "0 actions"},
		{"two actions", form(`{"type":"block_actions","user":{"id":"U1"},"actions":[{},{}]}`), "2 actions"},
		{"no user", form(`{"type":"block_actions","actions":[{"action_id":"alerter_ack"}]}`), "no user"},
		{"a control character", form(`{"type":"block_actions","user":{"id":"U1","username":"ann\nINFO forged"},"actions":[{}]}`), "user.username"},
		{"a long value", form(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"value":"` + strings.Repeat("a", 2001) + `"}]}`), "value"},
		{"a response_url of another scheme", form(`{"type":"block_actions","user":{"id":"U1"},"actions":[{}],"response_url":"file:///etc/passwd"}`), "response_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseInteraction(tc.body); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// A user without a username is named by id.
	in, err = ParseInteraction(form(`{"type":"block_actions","user":{"id":"U0BOB"},"actions":[{"action_id":"alerter_ack","value":"x"}]}`))
	if err != nil || in.Who() != "slack:U0BOB" {
		t.Errorf("by id: %v %v", in, err)
	}
}

// FuzzInteraction: whatever the body, ParseInteraction does not panic,
// and what it takes has one action, a user, and no control characters.
func FuzzInteraction(f *testing.F) {
	f.Add(interactionBody(f, ActionAck, "alert-1", "https://hooks.slack.com/actions/T/1/x"))
	f.Add(interactionBody(f, ActionSilence, strings.Repeat("é", 700), ""))
	f.Add([]byte("payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%2C%22actions%22%3A%5B%7B%7D%5D%7D"))
	f.Add([]byte("payload=null"))
	f.Add([]byte("payload=%7B%22actions%22%3A%5Bnull%5D%7D"))
	f.Add([]byte("payload=&payload="))
	f.Add([]byte("%%%;;&&=="))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := ParseInteraction(body)
		if err != nil {
			return
		}
		id, value := in.Action()
		if in.User.ID == "" || !strings.HasPrefix(in.Who(), "slack:") || len(value) > 2000 || len(id) > 255 {
			t.Errorf("took %+v", in)
		}
		for _, s := range []string{in.Who(), id, value, in.Channel.ID, in.Message.TS, in.ResponseURL} {
			if strings.ContainsAny(s, "\r\n\x00") {
				t.Errorf("took a control character: %q", s)
			}
		}
	})
}

// botApp is the app of a bot-token notifier posting to f, with a signing
// secret.
func botApp(t *testing.T, f *fakeSlack) (*Notifier, *App) {
	t.Helper()
	nc := config.Notifier{Name: "slack-bot", Type: Type, Settings: Config{Token: config.Secret(f.token),
		Channel: "C0SECOPS", APIURL: f.apiURL(), SigningSecret: signingSecret}}
	n, err := New(nc, Options{ExternalURL: externalURL})
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewApp(nc, Options{ExternalURL: externalURL})
	if err != nil {
		t.Fatal(err)
	}
	return n, app
}

// buttons are the lifecycle buttons of blocks: action_id → value.
func buttons(t *testing.T, blocksJSON string) map[string]string {
	t.Helper()
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(blocksJSON), &blocks); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, b := range blocks {
		if b["block_id"] != "lifecycle" {
			continue
		}
		for _, e := range b["elements"].([]any) {
			el := e.(map[string]any)
			out[el["action_id"].(string)], _ = el["value"].(string)
		}
	}
	return out
}

// TestButtons: with a signing secret, an alert's message carries the three
// buttons, each valued with the alert's id; without one, none.
func TestButtons(t *testing.T) {
	f := newFakeSlack(t)
	a := notifiers.Sample("high", fixedTime)
	n, _ := botApp(t, f)
	if err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	got := buttons(t, f.lastForm().Get("blocks"))
	want := map[string]string{ActionAck: a.ID, ActionResolve: a.ID, ActionSilence: a.ID}
	if len(got) != 3 || got[ActionAck] != a.ID || got[ActionResolve] != a.ID || got[ActionSilence] != a.ID {
		t.Errorf("buttons %v, want %v", got, want)
	}
	if err := botNotifier(t, f, nil).Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if got := buttons(t, f.lastForm().Get("blocks")); len(got) != 0 {
		t.Errorf("without a signing secret: buttons %v", got)
	}
	// A resolve notification has none.
	if err := n.Notify(t.Context(), notifiers.SampleResolve("high", fixedTime, fixedTime.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if got := buttons(t, f.lastForm().Get("blocks")); len(got) != 0 {
		t.Errorf("a resolve notification: buttons %v", got)
	}
}

// TestUpdate: after a press, the message (chat.update on its channel and
// ts) says who did what and when, with the buttons that still apply.
func TestUpdate(t *testing.T) {
	f := newFakeSlack(t)
	_, app := botApp(t, f)
	at := time.Date(2024, 5, 14, 14, 2, 0, 0, time.UTC)
	later := at.Add(3 * time.Minute)
	acked := notifiers.Sample("high", fixedTime)
	acked.Status, acked.AcknowledgedBy, acked.AcknowledgedAt = "acknowledged", "slack:ann", &at
	resolved := notifiers.Sample("high", fixedTime)
	resolved.Status, resolved.AcknowledgedBy, resolved.AcknowledgedAt = "resolved", "slack:ann", &at
	resolved.ResolvedBy, resolved.ResolvedAt = "alice <script>", &later
	judged := *resolved
	judged.Verdict = "false_positive"
	for _, tc := range []struct {
		name    string
		a       func() *alerter.Alert
		note    string
		status  []string
		buttons []string
	}{
		{"acknowledged", func() *alerter.Alert { return acked }, "", []string{"*Acknowledged* by @ann at 14:02 UTC"}, []string{ActionResolve, ActionSilence}},
		{"resolved", func() *alerter.Alert { return resolved }, "", []string{"*Resolved* by alice &lt;script&gt; at 14:05 UTC"},
			[]string{"alerter_verdict_true_positive", "alerter_verdict_false_positive", "alerter_verdict_benign"}},
		{"resolved with a verdict", func() *alerter.Alert { return &judged }, "", []string{"*Resolved* by alice &lt;script&gt; at 14:05 UTC, verdict: false positive"}, nil},
		{"silenced", func() *alerter.Alert { return notifiers.Sample("high", fixedTime) }, SilenceNote("slack:ann", at, at.Add(time.Hour)),
			[]string{"*Silenced* for 1h by @ann at 14:02 UTC, until 15:02 UTC"}, []string{ActionAck, ActionResolve, ActionSilence}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := app.Update(t.Context(), "C0SECOPS", postedTS, tc.a(), tc.note); err != nil {
				t.Fatal(err)
			}
			form := f.lastUpdate()
			if form.Get("ts") != postedTS || form.Get("channel") != "C0SECOPS" || form.Get("token") != f.token {
				t.Errorf("chat.update of %q %q", form.Get("channel"), form.Get("ts"))
			}
			blocks := strings.ReplaceAll(form.Get("blocks"), `\u0026`, "&") // Slack-go's JSON escapes &
			for _, s := range tc.status {
				if !strings.Contains(blocks, s) {
					t.Errorf("blocks lack %q: %s", s, blocks)
				}
			}
			got := buttons(t, blocks)
			if len(got) != len(tc.buttons) {
				t.Errorf("buttons %v, want %v", got, tc.buttons)
			}
			for _, b := range tc.buttons {
				if _, ok := got[b]; !ok {
					t.Errorf("no button %s: %v", b, got)
				}
			}
		})
	}
	// A message Slack does not have is an error.
	if err := app.Update(t.Context(), "C0SECOPS", "1.2", acked, ""); err == nil || !strings.Contains(err.Error(), "chat.update (http://127.0.0.1:") || !strings.Contains(err.Error(), "message_not_found") {
		t.Errorf("unknown ts: %v", err)
	}
}

// TestTell: a refusal reaches the response_url as an ephemeral message
// that leaves the original alone.
func TestTell(t *testing.T) {
	f := newFakeSlack(t)
	_, app := botApp(t, f)
	if err := app.Tell(t.Context(), f.srv.URL+responsePath, "alert x was resolved by <bob>"); err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := json.Unmarshal(f.replies[0], &msg); err != nil {
		t.Fatal(err)
	}
	if msg["response_type"] != "ephemeral" || msg["replace_original"] == true || msg["text"] != "alert x was resolved by &lt;bob&gt;" {
		t.Errorf("reply %v", msg)
	}
	if err := app.Tell(t.Context(), f.srv.URL+"/actions/other", "x"); err == nil {
		t.Error("a response_url the fake does not know: no error")
	}
}

func TestSigningSecretNeedsToken(t *testing.T) {
	err := notifiertest.Validate(Plugin{}, "{name: s, type: slack, webhook_url: 'https://hooks.slack.com/services/T0/B0/x', signing_secret: SeCrEt}")
	if err == nil || !strings.Contains(err.Error(), "signing_secret needs token") || !strings.Contains(err.Error(), "c.yaml:1:") {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(err.Error(), "SeCrEt") {
		t.Errorf("error shows the secret: %v", err)
	}
	if _, err := NewApp(config.Notifier{Name: "s", Settings: Config{Token: "x", Channel: "C1"}}, Options{}); err == nil {
		t.Error("an app without a signing secret")
	}
}
