package ui_test

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/slack"
)

// TestSlackMessage renders, in the browser, the Block Kit JSON a Slack
// fake received for an alert message with buttons (chat.postMessage) and
// for the same message after an acknowledgement from Slack (chat.update),
// the way Slack lays a message out, and for the message once the alert
// was resolved elsewhere (its resolve notification's chat.update), and
// checks what each shows. With ALERTER_SCREENSHOTS=1 they are
// docs/screenshots/slack-before-ack.png, slack-after-ack.png and
// slack-resolved-elsewhere.png.
func TestSlackMessage(t *testing.T) {
	var mu sync.Mutex
	blocks := map[string]string{} // by Web API method
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		mu.Lock()
		blocks[strings.TrimPrefix(r.URL.Path, "/api/")] = form.Get("blocks")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true,"channel":"C0SECOPS","ts":"1715681280.000100"}`)
	}))
	defer fake.Close()
	nc := config.Notifier{Name: "slack-secops", Type: slack.Type, Settings: slack.Config{Token: "xoxb-1",
		Channel: "C0SECOPS", APIURL: fake.URL + "/api", SigningSecret: "s"}}
	opt := slack.Options{ExternalURL: "https://alerter.example.com"}
	n, err := slack.New(nc, opt)
	if err != nil {
		t.Fatal(err)
	}
	app, err := slack.NewApp(nc, opt)
	if err != nil {
		t.Fatal(err)
	}
	a := notifiers.Sample("high", time.Date(2024, 5, 14, 10, 8, 0, 0, time.UTC))
	if err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	posted := blocks["chat.postMessage"]
	at := time.Date(2024, 5, 14, 10, 12, 0, 0, time.UTC)
	a.Status, a.AcknowledgedBy, a.AcknowledgedAt = "acknowledged", "slack:ann", &at
	if err := app.Update(t.Context(), "C0SECOPS", "1715681280.000100", a, ""); err != nil {
		t.Fatal(err)
	}
	acked := blocks["chat.update"]
	// Then resolved elsewhere (the API, a rule): its resolve notification
	// updates the message, handed the message's ref.
	resolved := time.Date(2024, 5, 14, 10, 31, 0, 0, time.UTC)
	notice := *a
	notice.ID, notice.Resolves = a.ID+"-resolved", a.ID
	notice.Status, notice.ResolvedBy, notice.ResolvedAt, notice.Verdict = "resolved", "alice", &resolved, "benign"
	if _, err := n.NotifyRef(t.Context(), &notice, "C0SECOPS/1715681280.000100"); err != nil {
		t.Fatal(err)
	}

	ctx := browser(t)
	for _, tc := range []struct {
		method, blocks, shot string
		want, not            []string
	}{
		{"chat.postMessage", posted, "slack-before-ack", []string{"HIGH", "Acknowledge", "Resolve", "Silence 1h"}, []string{"Acknowledged by"}},
		{"chat.update", acked, "slack-after-ack", []string{"Acknowledged by @ann at 10:12 UTC", "Resolve", "Silence 1h"}, []string{"\nAcknowledge\n"}},
		{"chat.update", blocks["chat.update"], "slack-resolved-elsewhere",
			[]string{"HIGH", "Acknowledged by @ann at 10:12 UTC", "Resolved by alice at 10:31 UTC, verdict: benign", "View alert"},
			[]string{"\nAcknowledge\n", "\nResolve\n", "Silence 1h"}},
	} {
		page := "data:text/html;charset=utf-8," + url.PathEscape(slackPage(t, tc.blocks))
		do(t, ctx, "open the rendered "+tc.method, chromedp.Navigate(page))
		text := eval[string](t, ctx, `document.body.innerText`)
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the message lacks %q:\n%s", tc.method, w, text)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(text, w) {
				t.Errorf("%s: the message shows %q:\n%s", tc.method, w, text)
			}
		}
		screenshot(t, ctx, tc.shot, true)
	}
}

// slackPage lays out Block Kit blocks (JSON) as Slack shows a message:
// the app's name and time, then each block.
func slackPage(t *testing.T, blocksJSON string) string {
	t.Helper()
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(blocksJSON), &blocks); err != nil {
		t.Fatalf("blocks %q: %v", blocksJSON, err)
	}
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><style>
html{background:#fff}body{font:15px/1.46668 Lato,"Helvetica Neue",Arial,sans-serif;color:#1d1c1d;margin:0;padding:16px 20px;width:760px;background:#fff}
.msg{display:flex;gap:8px}.avatar{width:36px;height:36px;border-radius:4px;background:#4a154b;color:#fff;font-weight:900;text-align:center;line-height:36px}
.name{font-weight:900}.app{font-size:10px;background:#e8e8e8;color:#616061;padding:1px 3px;border-radius:2px;margin:0 4px}.time{color:#616061;font-size:12px}
h3{font-size:18px;margin:6px 0}.section{margin:6px 0;white-space:pre-wrap}.fields{display:grid;grid-template-columns:1fr 1fr;gap:8px 16px;margin:8px 0}
.field{white-space:pre-wrap}.context{color:#616061;font-size:12px;margin:8px 0}.context span+span:before{content:" · "}
.actions{margin:8px 0;display:flex;gap:8px;flex-wrap:wrap}.button{border:1px solid #c4c4c4;border-radius:4px;padding:4px 12px;font-weight:700;font-size:13px}
</style></head><body><div class="msg"><div class="avatar">A</div><div><div><span class="name">alerter</span><span class="app">APP</span><span class="time">10:08 AM</span></div>`)
	for _, bl := range blocks {
		writeBlock(&b, bl)
	}
	b.WriteString(`</div></div></body></html>`)
	return b.String()
}

func writeBlock(b *strings.Builder, bl map[string]any) {
	switch bl["type"] {
	case "header":
		fmt.Fprintf(b, "<h3>%s</h3>", slackText(bl["text"]))
	case "section":
		if bl["text"] != nil {
			fmt.Fprintf(b, `<div class="section">%s</div>`, slackText(bl["text"]))
		}
		if fields, _ := bl["fields"].([]any); len(fields) > 0 {
			b.WriteString(`<div class="fields">`)
			for _, f := range fields {
				fmt.Fprintf(b, `<div class="field">%s</div>`, slackText(f))
			}
			b.WriteString(`</div>`)
		}
	case "context":
		b.WriteString(`<div class="context">`)
		for _, e := range bl["elements"].([]any) {
			fmt.Fprintf(b, "<span>%s</span>", slackText(e))
		}
		b.WriteString(`</div>`)
	case "actions":
		b.WriteString(`<div class="actions">`)
		for _, e := range bl["elements"].([]any) {
			fmt.Fprintf(b, `<span class="button">%s</span>`, slackText(e.(map[string]any)["text"]))
		}
		b.WriteString(`</div>`)
	}
}

// emoji are the shortcodes alerter's messages use, drawn with characters
// every font has (the test machine has no emoji font).
var emoji = strings.NewReplacer(
	":red_circle:", `<span style="color:#e01e5a">●</span>`,
	":large_orange_circle:", `<span style="color:#f2952f">●</span>`,
	":large_yellow_circle:", `<span style="color:#ecb22e">●</span>`,
	":large_blue_circle:", `<span style="color:#1264a3">●</span>`,
	":white_circle:", `<span style="color:#9e9e9e">○</span>`,
	":white_check_mark:", `<span style="color:#2eb67d">✔</span>`,
	":eyes:", `<span style="color:#1264a3">◉</span>`,
	":no_bell:", `<span style="color:#616061">⊘</span>`)

var bold = regexp.MustCompile(`\*([^*\n]+)\*`)

// slackText is a text object as HTML: Slack's entities decoded and the
// text escaped again for HTML, *bold* and emoji shortcodes shown.
func slackText(v any) string {
	o, _ := v.(map[string]any)
	s, _ := o["text"].(string)
	s = html.EscapeString(strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s))
	if o["type"] == "mrkdwn" {
		s = bold.ReplaceAllString(s, "<b>$1</b>")
	}
	return emoji.Replace(s)
}
