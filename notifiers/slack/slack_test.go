package slack

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/syncbuf"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const externalURL = "https://alerter.example.com/"

// fixedTime is when the golden files' alerts fired.
var fixedTime = time.Date(2024, 5, 14, 10, 8, 0, 12_000_000, time.UTC)

type syncBuffer struct{ syncbuf.Buffer }

func debugLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// hookNotifier is a notifier posting to f's incoming webhook.
func hookNotifier(t *testing.T, f *fakeSlack, logs *syncBuffer) *Notifier {
	t.Helper()
	if logs == nil {
		logs = &syncBuffer{}
	}
	n, err := New(config.Notifier{Name: "slack-secops", Type: Type, Settings: Config{WebhookURL: config.Secret(f.hookURL())}},
		Options{ExternalURL: externalURL, Logger: debugLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// botNotifier is a notifier posting through f's chat.postMessage.
func botNotifier(t *testing.T, f *fakeSlack, logs *syncBuffer) *Notifier {
	t.Helper()
	if logs == nil {
		logs = &syncBuffer{}
	}
	n, err := New(config.Notifier{Name: "slack-bot", Type: Type, Settings: Config{Token: config.Secret(f.token),
		Channel: "C0SECOPS", APIURL: f.apiURL()}},
		Options{ExternalURL: externalURL, Logger: debugLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConformanceIncomingWebhook(t *testing.T) {
	notifiertest.Run(t, func(t *testing.T) notifiertest.Target {
		f := newFakeSlack(t)
		logs := &syncBuffer{}
		n := hookNotifier(t, f, logs)
		return notifiertest.Target{
			Notify: n.Notify, Set: f.set, Received: f.count, Logs: logs.String,
			Secrets: []string{f.hookURL(), f.hookPath, "WhSeCrEt0123456789abcdef"},
		}
	})
}

func TestConformanceBotToken(t *testing.T) {
	notifiertest.Run(t, func(t *testing.T) notifiertest.Target {
		f := newFakeSlack(t)
		logs := &syncBuffer{}
		n := botNotifier(t, f, logs)
		return notifiertest.Target{
			Notify: n.Notify, Set: f.set, Received: f.count, Logs: logs.String,
			Secrets: []string{f.token},
		}
	})
}

// TestGolden pins the exact body posted to an incoming webhook for the
// sample alert of each severity. go test -run TestGolden -update rewrites
// the files.
func TestGolden(t *testing.T) {
	for _, sev := range []alerter.Severity{"info", "low", "medium", "high", "critical"} {
		t.Run(string(sev), func(t *testing.T) {
			f := newFakeSlack(t)
			if err := hookNotifier(t, f, nil).Notify(t.Context(), notifiers.Sample(sev, fixedTime)); err != nil {
				t.Fatal(err)
			}
			got := f.lastBody()
			path := filepath.Join("testdata", string(sev)+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("body differs from %s (go test -update rewrites it)\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
}

type wireMessage struct {
	Text        string           `json:"text"`
	Blocks      []map[string]any `json:"blocks"`
	UnfurlLinks *bool            `json:"unfurl_links"`
	UnfurlMedia *bool            `json:"unfurl_media"`
}

func parseHook(t *testing.T, body []byte) wireMessage {
	t.Helper()
	var m wireMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	return m
}

func blockOf(t *testing.T, m wireMessage, id string) map[string]any {
	t.Helper()
	for _, b := range m.Blocks {
		if b["block_id"] == id {
			return b
		}
	}
	t.Fatalf("no block %q in %v", id, m.Blocks)
	return nil
}

func textOf(v any) string {
	o, _ := v.(map[string]any)
	s, _ := o["text"].(string)
	return s
}

// texts collects every "text" string in v, with the key path.
func texts(v any, path string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "text" {
				out[path+"."+k] = s
			}
			texts(x, path+"."+k, out)
		}
	case []any:
		for i, x := range v {
			texts(x, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

func allTexts(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	texts(v, "", out)
	return out
}

func TestMessageLayout(t *testing.T) {
	f := newFakeSlack(t)
	a := notifiers.Sample("critical", fixedTime)
	if err := hookNotifier(t, f, nil).Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	m := parseHook(t, f.lastBody())
	var types []string
	for _, b := range m.Blocks {
		types = append(types, b["type"].(string))
	}
	if got := strings.Join(types, " "); got != "header section section context actions" {
		t.Errorf("blocks %q", got)
	}
	if m.UnfurlLinks == nil || *m.UnfurlLinks || m.UnfurlMedia == nil || *m.UnfurlMedia {
		t.Errorf("unfurling not turned off: %+v %+v", m.UnfurlLinks, m.UnfurlMedia)
	}
	if want := "[CRITICAL] Ming &lt;Chen&gt; &amp; Co (mchen) weakened Soteri protection"; m.Text != want {
		t.Errorf("fallback text %q, want %q", m.Text, want)
	}
	header := blockOf(t, m, "header")
	if got, want := textOf(header["text"]), ":red_circle: CRITICAL: Ming &lt;Chen&gt; &amp; Co (mchen) weakened Soteri protection"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	if got, want := textOf(blockOf(t, m, "text")["text"]), "Ming &lt;Chen&gt; &amp; Co (mchen) changed Soteri's global settings from 198.51.100.7:\n"+
		"Security hook (scan content on publish): Enabled → Disabled\nBcc: injected@example.com"; got != want {
		t.Errorf("text block %q, want %q", got, want)
	}

	var fields []string
	for _, fl := range blockOf(t, m, "facts")["fields"].([]any) {
		fields = append(fields, textOf(fl))
	}
	want := []string{
		"*Actor*\nMing &lt;Chen&gt; &amp; Co (mchen)",
		"*IP*\n198.51.100.7",
		"*Time*\n2024-05-14 10:08:00 UTC",
		"*Action*\nGlobal setting changed (Soteri Security for Confluence)",
		"*Objects*\n• Space: Finance &amp; Payroll (98305)",
		"*Changes*\n• Security hook (scan content on publish): Enabled → Disabled",
		"*Count*\n1",
		"*Suppressed*\n2",
	}
	if strings.Join(fields, "|") != strings.Join(want, "|") {
		t.Errorf("fields\n got %q\nwant %q", fields, want)
	}

	var ctx []string
	for _, e := range blockOf(t, m, "context")["elements"].([]any) {
		ctx = append(ctx, textOf(e))
	}
	wantCtx := []string{
		"Rule *soteri-protection-weakened* — Soteri protection weakened",
		"Group event.actor.name = mchen",
		"Source confluence (confluence-auditing) · https://confluence.example.com",
		"Labels team=security · soteri, configuration",
		"Alert 01HXV8VQSYBTC29ZQ6YHKQYR13",
	}
	if strings.Join(ctx, "|") != strings.Join(wantCtx, "|") {
		t.Errorf("context\n got %q\nwant %q", ctx, wantCtx)
	}

	els := blockOf(t, m, "links")["elements"].([]any)
	if len(els) != 3 {
		t.Fatalf("buttons: %v", els)
	}
	var urls []string
	for _, e := range els {
		urls = append(urls, e.(map[string]any)["url"].(string))
	}
	if urls[0] != a.Runbook || urls[1] != "https://alerter.example.com/alerts/01HXV8VQSYBTC29ZQ6YHKQYR13" ||
		urls[2] != "https://alerter.example.com/silences?alert=01HXV8VQSYBTC29ZQ6YHKQYR13" {
		t.Errorf("button urls %q", urls)
	}
}

// A resolve notification without its alert's message (always through a
// webhook; with a bot token, without a ref) is a message of its own: who
// resolved the alert, when and the verdict, escaped, and a link to the
// alert; the fake checks it against Block Kit's limits.
func TestResolveMessage(t *testing.T) {
	f := newFakeSlack(t)
	a := notifiers.SampleResolve("critical", fixedTime, fixedTime.Add(22*time.Minute))
	for _, mode := range []struct {
		name string
		n    *Notifier
		sent func() (text, blocks string)
	}{
		{"incoming webhook", hookNotifier(t, f, nil), func() (string, string) {
			m := parseHook(t, f.lastBody())
			b, _ := json.Marshal(m.Blocks)
			return m.Text, string(b)
		}},
		{"bot token", botNotifier(t, f, nil), func() (string, string) {
			return f.lastForm().Get("text"), f.lastForm().Get("blocks")
		}},
	} {
		if err := mode.n.Notify(t.Context(), a); err != nil {
			t.Fatalf("%s: %v", mode.name, err)
		}
		text, blocks := mode.sent()
		var m wireMessage
		if err := json.Unmarshal([]byte(blocks), &m.Blocks); err != nil {
			t.Fatalf("%s: blocks %v", mode.name, err)
		}
		if want := "Resolved: Ming &lt;Chen&gt; &amp; Co (mchen) weakened Soteri protection"; text != want {
			t.Errorf("%s: fallback text %q, want %q", mode.name, text, want)
		}
		if got, want := textOf(blockOf(t, m, "header")["text"]), ":white_check_mark: Resolved: Ming &lt;Chen&gt; &amp; Co (mchen) weakened Soteri protection"; got != want {
			t.Errorf("%s: header %q, want %q", mode.name, got, want)
		}
		if got, want := textOf(blockOf(t, m, "resolved")["text"]), "Resolved by Ann &lt;Lee&gt; &amp; Co at 2024-05-14 10:30:00 UTC, verdict: false positive"; got != want {
			t.Errorf("%s: %q, want %q", mode.name, got, want)
		}
		links, _ := json.Marshal(blockOf(t, m, "links"))
		if !strings.Contains(string(links), `"url":"https://alerter.example.com/alerts/01HXV8VQSYBTC29ZQ6YHKQYR13"`) || strings.Contains(string(links), "silence") {
			t.Errorf("%s: buttons %s, want only the alert's link", mode.name, links)
		}
	}
	if f.count() != 2 {
		t.Errorf("received %d, want 2", f.count())
	}
}

func TestLinksOnlyForHTTPURLs(t *testing.T) {
	a := notifiers.Sample("high", fixedTime)
	a.Runbook = "see the Soteri page in the wiki"
	m := Render(a, "")
	for _, b := range m.Blocks {
		if b.BlockType() == "actions" {
			t.Errorf("an actions block without a URL to link: %+v", b)
		}
	}
	a.Runbook = "javascript:alert(1)"
	m = Render(a, "https://alerter.example.com")
	body, _ := json.Marshal(m.Blocks)
	if bytes.Contains(body, []byte("javascript")) {
		t.Errorf("a javascript: runbook became a link: %s", body)
	}
	if !bytes.Contains(body, []byte(`"url":"https://alerter.example.com/alerts/01HXV8VQSYBTC29ZQ6YHKQYR13"`)) {
		t.Errorf("no link to the alert: %s", body)
	}
}

// TestBotTokenSendsTheSameMessage checks chat.postMessage's form: token,
// channel, the same fallback text and blocks as the webhook's, no
// unfurling.
func TestBotTokenSendsTheSameMessage(t *testing.T) {
	f := newFakeSlack(t)
	a := notifiers.Sample("high", fixedTime)
	if err := hookNotifier(t, f, nil).Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	hook := parseHook(t, f.lastBody())
	if err := botNotifier(t, f, nil).Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	form := f.lastForm()
	if form.Get("token") != f.token || form.Get("channel") != "C0SECOPS" {
		t.Errorf("token/channel: %q %q", form.Get("token"), form.Get("channel"))
	}
	if form.Get("text") != hook.Text {
		t.Errorf("text %q, webhook's %q", form.Get("text"), hook.Text)
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(form.Get("blocks")), &blocks); err != nil {
		t.Fatal(err)
	}
	b1, _ := json.Marshal(blocks)
	b2, _ := json.Marshal(hook.Blocks)
	if !bytes.Equal(b1, b2) {
		t.Errorf("blocks differ:\n bot: %s\nhook: %s", b1, b2)
	}
	if form.Get("unfurl_links") != "false" || form.Get("unfurl_media") != "false" {
		t.Errorf("unfurling: %q %q", form.Get("unfurl_links"), form.Get("unfurl_media"))
	}
	if f.count() != 2 {
		t.Errorf("received %d", f.count())
	}
}

func hostileAlert() *alerter.Alert {
	a := notifiers.Sample("critical", fixedTime)
	a.Title = "<!channel> & <https://evil|click>"
	a.Name = "<!here>"
	a.Text = strings.Repeat("<@U123> & <!subteam^S1> ", 100*1024/24+1)[:100*1024]
	ev := *a.Event
	ev.Actor.DisplayName = "<!everyone> " + strings.Repeat("𝕏", 500)
	ev.Actor.Name = "<@U0ADMIN>"
	ev.IP = "<https://evil.example|198.51.100.7>"
	ev.Objects = nil
	for i := range 200 {
		ev.Objects = append(ev.Objects, event.Object{Type: "Page", ID: fmt.Sprint(i), Name: fmt.Sprintf("<!channel> page %d & more", i)})
	}
	for i := range 200 {
		ev.Changes = append(ev.Changes, event.Change{Key: fmt.Sprintf("k%d", i), From: strings.Repeat("<", 300), To: strings.Repeat("&", 300)})
	}
	ev.System = "<!channel>"
	a.Event = &ev
	a.Group = map[string]string{"event.actor.name": strings.Repeat("<!channel>", 200)}
	a.Labels = map[string]string{"team": strings.Repeat("&", 1000)}
	return a
}

// TestHostileAlert sends an alert built to ping everyone, inject links and
// blow every limit, through both ways in: the fake, which checks Slack's
// limits, accepts it; nothing is left that mrkdwn would parse.
func TestHostileAlert(t *testing.T) {
	a := hostileAlert()
	for _, mode := range []string{"webhook", "bot"} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeSlack(t)
			n := hookNotifier(t, f, nil)
			if mode == "bot" {
				n = botNotifier(t, f, nil)
			}
			if err := n.Notify(t.Context(), a); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if f.count() != 1 {
				t.Fatal("not received")
			}
			body := f.lastBody()
			if mode == "bot" {
				form := f.lastForm()
				body, _ = json.Marshal(map[string]any{"text": form.Get("text"), "blocks": json.RawMessage(form.Get("blocks"))})
			}
			m := parseHook(t, body)
			for path, s := range allTexts(t, body) {
				if strings.Contains(s, "<") || strings.Contains(s, ">") {
					t.Errorf("%s keeps a raw < or >: %.200q", path, s)
				}
				for i := 0; i < len(s); i++ {
					if s[i] == '&' && !strings.HasPrefix(s[i:], "&amp;") && !strings.HasPrefix(s[i:], "&lt;") && !strings.HasPrefix(s[i:], "&gt;") {
						t.Errorf("%s has a bare or cut entity at %d: %.40q", path, i, s[i:])
						break
					}
				}
			}
			header := textOf(blockOf(t, m, "header")["text"])
			if want := ":red_circle: CRITICAL: &lt;!channel&gt; &amp; &lt;https://evil|click&gt;"; header != want {
				t.Errorf("header %q, want %q", header, want)
			}
			text := textOf(blockOf(t, m, "text")["text"])
			if length16(text) > 3000 || !strings.HasSuffix(text, "…") {
				t.Errorf("text block: %d characters, ends %q", length16(text), text[len(text)-10:])
			}
			facts := blockOf(t, m, "facts")["fields"].([]any)
			if !strings.Contains(textOf(facts[4]), "… and 190 more") || !strings.Contains(textOf(facts[5]), "…") {
				t.Errorf("objects / changes not shortened: %q / %q", textOf(facts[4]), textOf(facts[5]))
			}
			if len(m.Blocks) > 50 || length16(m.Text) > 40000 {
				t.Errorf("%d blocks, text of %d", len(m.Blocks), length16(m.Text))
			}
			if len(body) > 16*1024 {
				t.Errorf("message of %d bytes: the budgets should keep it small", len(body))
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{Escape("a&b"), 5, "a…"},                  // "a&amp;b": never "a&am…"
		{Escape("a<bc"), 6, "a&lt;…"},             // a whole entity stays
		{"ab𝕏cd", 4, "ab…"},                       // 𝕏 counts 2 (UTF-16)
		{"ab𝕏cd", 5, "ab𝕏…"},                      // 2 + 2 + 1
		{"日本語テキスト", 4, "日本語…"},                    // BMP: 1 each
		{Escape(strings.Repeat("&", 10)), 3, "…"}, // nothing whole fits
	} {
		got := truncate(tc.in, tc.limit)
		if got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
		if length16(got) > tc.limit {
			t.Errorf("truncate(%q, %d) = %q: over the limit", tc.in, tc.limit, got)
		}
	}
	if got := Escape("<!channel> & <@U1>"); got != "&lt;!channel&gt; &amp; &lt;@U1&gt;" {
		t.Errorf("Escape: %q", got)
	}
}

// TestClassification drives each documented answer through the real
// slack-go client.
func TestClassification(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name   string
		bot    bool
		status int
		body   string
		header http.Header
		retry  bool
		after  time.Duration // checked when > 0: within a few seconds of it
		want   string        // in the error
	}{
		{"webhook 400 invalid_blocks", false, 400, "invalid_blocks", nil, false, 0, "HTTP 400: invalid_blocks"},
		{"webhook 400 invalid_payload", false, 400, "invalid_payload", nil, false, 0, "invalid_payload"},
		{"webhook 403 invalid_token", false, 403, "invalid_token", nil, false, 0, "HTTP 403: invalid_token"},
		{"webhook 403 action_prohibited", false, 403, "action_prohibited", nil, false, 0, "action_prohibited"},
		{"webhook 404 no_service", false, 404, "no_service", nil, false, 0, "HTTP 404: no_service"},
		{"webhook 404 channel_not_found", false, 404, "channel_not_found", nil, false, 0, "channel_not_found"},
		{"webhook 410 channel_is_archived", false, 410, "channel_is_archived", nil, false, 0, "channel_is_archived"},
		{"webhook 500 rollup_error", false, 500, "rollup_error", nil, true, 0, "HTTP 500: rollup_error"},
		{"webhook 503", false, 503, "", nil, true, 0, "HTTP 503"},
		{"webhook 408", false, 408, "", nil, true, 0, "HTTP 408"},
		{"webhook 429 seconds", false, 429, "rate_limited", http.Header{"Retry-After": {"7"}}, true, 7 * time.Second, "rate limited"},
		{"webhook 429 date", false, 429, "rate_limited", http.Header{"Retry-After": {date}}, true, 90 * time.Second, "rate limited"},
		{"webhook 429 without Retry-After", false, 429, "", nil, true, 0, "rate limited"},
		{"webhook 302", false, 302, "", http.Header{"Location": {"https://elsewhere.example/"}}, false, 0, "redirects are not followed"},
		{"api invalid_blocks", true, 200, "invalid_blocks", nil, false, 0, "chat.postMessage"},
		{"api channel_not_found", true, 200, "channel_not_found", nil, false, 0, "channel_not_found"},
		{"api not_in_channel", true, 200, "not_in_channel", nil, false, 0, "not_in_channel"},
		{"api invalid_auth", true, 200, "invalid_auth", nil, false, 0, "invalid_auth"},
		{"api token_revoked", true, 200, "token_revoked", nil, false, 0, "token_revoked"},
		{"api is_archived", true, 200, "is_archived", nil, false, 0, "is_archived"},
		{"api msg_too_long", true, 200, "msg_too_long", nil, false, 0, "msg_too_long"},
		{"api internal_error", true, 200, "internal_error", nil, true, 0, "internal_error"},
		{"api ratelimited in a 200", true, 200, "ratelimited", nil, true, 0, "ratelimited"},
		{"api 429", true, 429, `{"ok":false,"error":"ratelimited"}`, http.Header{"Retry-After": {"7"}}, true, 7 * time.Second, "rate limited"},
		{"api 500", true, 500, "<html>oops</html>", nil, true, 0, "HTTP 500"},
		{"api 503", true, 503, "", nil, true, 0, "HTTP 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSlack(t)
			f.answerWith(tc.status, tc.body, tc.header)
			n := hookNotifier(t, f, nil)
			secret := f.hookPath
			if tc.bot {
				n, secret = botNotifier(t, f, nil), f.token
			}
			err := n.Notify(t.Context(), notifiers.Sample("high", fixedTime))
			if err == nil {
				t.Fatal("no error")
			}
			retry, after := notifiers.Classify(err)
			if retry != tc.retry {
				t.Errorf("%v: retryable %v, want %v", err, retry, tc.retry)
			}
			if tc.after > 0 && (after < tc.after-5*time.Second || after > tc.after) {
				t.Errorf("%v: after %v, want about %v", err, after, tc.after)
			}
			if tc.after == 0 && after != 0 {
				t.Errorf("%v: after %v, want 0", err, after)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

// TestAPIErrorDetails: Slack's response_metadata.messages, which say what
// is wrong with the blocks, reach the error.
func TestAPIErrorDetails(t *testing.T) {
	f := newFakeSlack(t)
	f.answerWith(http.StatusOK, `{"ok":false,"error":"invalid_blocks","response_metadata":{"messages":["[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text]"]}}`, nil)
	err := botNotifier(t, f, nil).Notify(t.Context(), notifiers.Sample("high", fixedTime))
	if retry, _ := notifiers.Classify(err); err == nil || retry {
		t.Fatalf("invalid_blocks: %v", err)
	}
	if !strings.Contains(err.Error(), "invalid_blocks ([ERROR] must be more than 0 characters [json-pointer:/blocks/0/text])") {
		t.Errorf("error without Slack's details: %v", err)
	}

	n := botNotifier(t, f, nil)
	n.channel = "C0NOPE"
	f.set(notifiertest.OK)
	err = n.Notify(t.Context(), notifiers.Sample("high", fixedTime))
	if retry, _ := notifiers.Classify(err); err == nil || retry || !strings.Contains(err.Error(), "channel_not_found") {
		t.Errorf("unknown channel: %v", err)
	}

	// A 200 that is not Slack's answer may not have posted: retry.
	f.answerWith(http.StatusOK, `{}`, nil)
	err = botNotifier(t, f, nil).Notify(t.Context(), notifiers.Sample("high", fixedTime))
	if retry, _ := notifiers.Classify(err); err == nil || !retry {
		t.Errorf("an empty answer: %v", err)
	}
}

// TestNoAnswer: a refused connection is retryable, and the error names
// the host, never the webhook's path (its token).
func TestNoAnswer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	hook := "http://" + addr + "/services/T0001/B0002/WhSeCrEt0123456789abcdef"
	n, err := New(config.Notifier{Name: "s", Settings: Config{WebhookURL: config.Secret(hook)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(t.Context(), notifiers.Sample("high", fixedTime))
	if retry, _ := notifiers.Classify(err); err == nil || !retry {
		t.Fatalf("connection refused: %v", err)
	}
	if strings.Contains(err.Error(), "WhSeCrEt") || strings.Contains(err.Error(), "/services/") {
		t.Errorf("error shows the webhook URL: %v", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error does not name the host: %v", err)
	}

	// A timeout of the client is retryable too, and a cancelled context
	// is reported as such.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = n.Notify(ctx, notifiers.Sample("high", fixedTime))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	f := newFakeSlack(t)
	f.set(notifiertest.Hang)
	n, err := New(config.Notifier{Name: "s", Timeout: yamlx.Duration(50 * time.Millisecond), Settings: Config{WebhookURL: config.Secret(f.hookURL())}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(t.Context(), notifiers.Sample("high", fixedTime))
	if retry, _ := notifiers.Classify(err); err == nil || !retry {
		t.Fatalf("timeout: %v", err)
	}
	if strings.Contains(err.Error(), "WhSeCrEt") {
		t.Errorf("error shows the webhook URL: %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name  string
		entry string
		want  string
	}{
		{"nothing", "{name: s, type: slack}", "a slack notifier needs webhook_url, or token and channel"},
		{"both", "{name: s, type: slack, webhook_url: 'https://hooks.slack.com/services/T0/B0/SeCrEt', token: xoxb-1}", "not both"},
		{"token without channel", "{name: s, type: slack, token: xoxb-1}", "token needs channel"},
		{"bad webhook", "{name: s, type: slack, webhook_url: hooks.slack.com/services/SeCrEt}", "not an absolute"},
		{"bad webhook scheme", "{name: s, type: slack, webhook_url: 'ftp://x/SeCrEt'}", "not an absolute"},
		{"bad api_url", "{name: s, type: slack, token: xoxb-1, channel: C1, api_url: slack.com/api}", "api_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := notifiertest.Validate(Plugin{}, tc.entry)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SeCrEt") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
	// api_url with or without a trailing slash reaches the same endpoint.
	f := newFakeSlack(t)
	for _, api := range []string{f.apiURL(), f.apiURL() + "/"} {
		n, err := New(config.Notifier{Name: "s", Settings: Config{Token: config.Secret(f.token), Channel: "#secops", APIURL: api}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Notify(t.Context(), notifiers.Sample("low", fixedTime)); err != nil {
			t.Errorf("api_url %s: %v", api, err)
		}
	}
}

// TestLogs: a delivery is logged at debug level, without the secret.
func TestLogs(t *testing.T) {
	f := newFakeSlack(t)
	logs := &syncBuffer{}
	if err := hookNotifier(t, f, logs).Notify(t.Context(), notifiers.Sample("info", fixedTime)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "slack notification sent") || strings.Contains(logs.String(), "WhSeCrEt") {
		t.Errorf("logs: %s", logs.String())
	}
}
