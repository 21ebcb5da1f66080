package ui_test

// End-to-end tests of the pages in headless Chromium, against a real
// alerter running in-process. They are in package ui_test because the
// HTTP API (httpapi) imports ui. Without a browser they skip, saying so.
//
// ALERTER_SCREENSHOTS=1 also writes screenshots of the main pages to
// docs/screenshots/.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/app"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
)

// chromium finds a browser, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ALERTER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found: install Debian's chromium package (.ci/run does)")
	return ""
}

const token = "ui-test-token"

// viewerToken is a token of role viewer, which reads only.
const viewerToken = "ui-viewer-token"

// alerter is a running alerter with the example rules.
type alerter struct {
	url string
}

func startAlerter(t *testing.T) *alerter {
	t.Helper()
	return startAlerterWith(t, token)
}

// startAlerterWith starts an alerter whose server.api_token is apiToken,
// with a viewer token beside it ("": no tokens at all).
func startAlerterWith(t *testing.T, apiToken string) *alerter {
	t.Helper()
	tokens := ""
	if apiToken != "" {
		tokens = fmt.Sprintf(", api_token: %q, tokens: [{name: wallboard, token: %q, role: viewer}]", apiToken, viewerToken)
	}
	// A webhook target that refuses connections gives up after two
	// attempts, so that high alerts leave a dead letter.
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"%s}
nats: {embedded: {store_dir: %q}}
rules: {paths: [../examples/rules], watch: false}
sources:
  - {name: default, type: webhook}
notifiers:
  - {name: console, type: console}
  - {name: siem, type: webhook, url: "http://127.0.0.1:1/in", max_attempts: 2, max_backoff: 1s}
routes: {high: [console, siem], default: [console]}
`, tokens, filepath.Join(t.TempDir(), "nats"))
	cfg, err := config.Parse("alerter.yaml", []byte(yaml), func(string) (string, bool) { return "", false }, builtin.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := app.New(ctx, cfg, app.Options{Stdout: io.Discard, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("alerter: %v", err)
		}
	})
	select {
	case <-svc.Ready():
	case err := <-done:
		t.Fatalf("alerter stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("alerter not ready after 30s")
	}
	return &alerter{url: "http://" + svc.Addr()}
}

// post sends events to the webhook source.
// postText posts events (NDJSON) to the webhook, as post posts a file.
func (a *alerter) postText(t *testing.T, events string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(file, []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	a.post(t, file)
}

func (a *alerter) post(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(a.url+"/webhooks/default", "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("webhook: %d %s", res.StatusCode, b)
	}
}

// api GETs an API path with the token.
func (a *alerter) api(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// act acknowledges or resolves an alert through the API, as someone in
// another tab or at the CLI would.
func (a *alerter) act(t *testing.T, id, what, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.url+"/api/v1/alerts/"+id+"/"+what, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("POST %s of %s: %d %s", what, id, res.StatusCode, b)
	}
}

// browser starts headless Chromium. Script errors of the pages fail the
// test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// This machine has no outside network: without these Chromium
		// keeps trying to reach Google's services.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	var mu sync.Mutex
	var problems []string
	report := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, s)
	}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			report(fmt.Sprintf("uncaught: %s %v", ev.ExceptionDetails.Text, ev.ExceptionDetails.Exception))
		}
	}()
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type == "error" || ev.Type == "assert" {
				var args []string
				for _, a := range ev.Args {
					args = append(args, fmt.Sprint(a.Value))
				}
				report("console." + string(ev.Type) + ": " + strings.Join(args, " "))
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("page script: %s", p)
		}
	})
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitFor waits until the JavaScript expression is truthy. It tries again
// on errors, which happen while a page is replaced by the next.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ok bool
		if ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+expr+`)`)); ok && err == nil {
			return
		}
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main')?.innerText ?? ''`))
	t.Fatalf("waiting for %s (%v); the page says:\n%s", what, err, text)
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// screenshot writes docs/screenshots/name.png when ALERTER_SCREENSHOTS is set.
func screenshot(t *testing.T, ctx context.Context, name string, full bool) {
	t.Helper()
	if os.Getenv("ALERTER_SCREENSHOTS") == "" {
		return
	}
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowser(t *testing.T) {
	ctx := browser(t)
	a := startAlerter(t)

	t.Run("an alert arrives and is silenced from its page", func(t *testing.T) {
		do(t, ctx, "open the alerts page", chromedp.Navigate(a.url+"/"))
		// The API needs the token: the page asks for it once.
		do(t, ctx, "give the token",
			chromedp.WaitVisible(chromedp.ID("token-input")),
			chromedp.SendKeys(chromedp.ID("token-input"), token),
			chromedp.Click(chromedp.CSS(`#token-form button[value="ok"]`)),
		)
		waitFor(t, ctx, "the empty list", `document.getElementById('alerts-status').textContent.includes('No alerts yet')`)

		// The event arrives while the page is open: the list updates itself.
		a.post(t, "../examples/events/soteri-global-setting.json")
		waitFor(t, ctx, "the alert in the list", `[...document.querySelectorAll('#alerts-body tr.new a')].some(a => a.textContent === 'Ming Chen (mchen) weakened Soteri protection')`)
		waitFor(t, ctx, "the announcement", `document.getElementById('announce').textContent.includes('weakened Soteri protection')`)
		if got := eval[string](t, ctx, `document.querySelector('#alerts-body tr .sev').textContent`); got == "" {
			t.Error("no severity word in the list")
		}
		// The list follows the deliveries: the webhook target gives up.
		waitFor(t, ctx, "the deliveries in the list", `[...document.querySelectorAll('#alerts-body td.delivery')].some(td => td.textContent === 'console sent, siem dead')`)
		// and every row says it in words, after updates as at first.
		status := eval[string](t, ctx, `document.getElementById('alerts-status').textContent`)
		waitFor(t, ctx, "the next check", `document.getElementById('alerts-status').textContent !== `+strconv.Quote(status))
		if got := eval[[]string](t, ctx, `[...document.querySelectorAll('#alerts-body td.delivery')].map(td => td.textContent).filter(s => !/^(\w+ (sent|silenced|dead|pending)(, |$))+$/.test(s))`); len(got) > 0 {
			t.Errorf("delivery cells %q", got)
		}

		do(t, ctx, "open the alert", chromedp.Click(chromedp.Search(`//a[text()="Ming Chen (mchen) weakened Soteri protection"]`)))
		waitFor(t, ctx, "the alert's page", `document.getElementById('alert-title').textContent.includes('weakened Soteri protection')`)
		waitFor(t, ctx, "its deliveries", `document.getElementById('deliveries').textContent.includes('console')`)
		waitFor(t, ctx, "why it fired", `document.getElementById('alert-why').textContent.includes('weakened')`)
		if got := eval[string](t, ctx, `document.querySelector('#alert-why details pre')?.textContent ?? ''`); !strings.HasPrefix(got, "id: soteri-protection-weakened\n") {
			t.Errorf("the rule as written: %q", got)
		}
		for _, want := range []string{"event.actor.name", "mchen", "Security hook (scan content on publish): Enabled → Disabled", "198.51.100.7"} {
			if !strings.Contains(eval[string](t, ctx, `document.getElementById('event-fields').textContent`), want) {
				t.Errorf("the event's fields have no %q", want)
			}
		}
		waitFor(t, ctx, "the console delivery", `document.getElementById('deliveries').textContent.includes('sent')`)
		waitFor(t, ctx, "the dead letter", `document.getElementById('deliveries').textContent.includes('dead')`)
		screenshot(t, ctx, "alert", true)

		do(t, ctx, "silence similar", chromedp.Click(chromedp.ID("silence-similar")))
		waitFor(t, ctx, "the prefilled matchers", `document.querySelectorAll('#matchers .matcher').length === 2 && document.querySelector('#matchers .m-value').value !== ''`)
		matchers := eval[[]string](t, ctx, `[...document.querySelectorAll('#matchers .matcher')].map(r => r.querySelector('.m-name').value + r.querySelector('.m-op').value + r.querySelector('.m-value').value)`)
		want := []string{"rule=soteri-protection-weakened", "group.event.actor.id=8a7f808a8b1c2d3e018b1c2e11220001"}
		if strings.Join(matchers, " ") != strings.Join(want, " ") {
			t.Errorf("matchers %q, want %q", matchers, want)
		}
		// Before it is created, it says which alerts it would have muted.
		waitFor(t, ctx, "the preview", `document.getElementById('silence-preview').textContent.startsWith('Would silence 1 of the last ')`)
		if got := eval[string](t, ctx, `document.querySelector('#silence-preview li a').textContent`); got != "Ming Chen (mchen) weakened Soteri protection" {
			t.Errorf("the preview lists %q", got)
		}
		screenshot(t, ctx, "silence-preview", false)
		do(t, ctx, "change the group's value", chromedp.SendKeys(chromedp.CSS(`#matchers .matcher:nth-child(2) .m-value`), "x"))
		waitFor(t, ctx, "the preview of the changed silence", `document.getElementById('silence-preview').textContent.startsWith('Would silence 0 of the last ')`)
		do(t, ctx, "change it back", chromedp.SendKeys(chromedp.CSS(`#matchers .matcher:nth-child(2) .m-value`), kb.Backspace))
		waitFor(t, ctx, "the preview again", `document.getElementById('silence-preview').textContent.startsWith('Would silence 1 of the last ')`)
		// What the API refuses is shown next to the form.
		do(t, ctx, "submit a wrong duration",
			chromedp.SetValue(chromedp.ID("duration"), "forever"),
			chromedp.Click(chromedp.ID("create-silence")),
		)
		waitFor(t, ctx, "the API's error", `document.getElementById('silence-errors').textContent.includes('duration "forever"')`)
		do(t, ctx, "create the silence",
			chromedp.SetValue(chromedp.ID("duration"), "2h"),
			chromedp.SendKeys(chromedp.ID("created-by"), "test-admin"),
			chromedp.Click(chromedp.ID("create-silence")),
		)
		waitFor(t, ctx, "the silence listed as active", `document.querySelector('#silences-active tbody').textContent.includes('rule="soteri-protection-weakened"')`)
		// Beside the author typed, who the server authenticated.
		waitFor(t, ctx, "the token that created it", `document.querySelector('#silences-active tbody').textContent.includes('test-admin (as api_token)')`)
		if got := eval[string](t, ctx, `document.getElementById('silence-errors').textContent`); got != "" {
			t.Errorf("errors after creating: %s", got)
		}
		screenshot(t, ctx, "silences", true)

		var list struct {
			Silences []struct {
				State     string `json:"state"`
				CreatedBy string `json:"created_by"`
				Comment   string `json:"comment"`
				Matchers  []struct{ Name, Value string }
			} `json:"silences"`
		}
		a.api(t, "/api/v1/silences", &list)
		if len(list.Silences) != 1 {
			t.Fatalf("%d silences, want 1: %+v", len(list.Silences), list)
		}
		s := list.Silences[0]
		if s.State != "active" || s.CreatedBy != "test-admin" || !strings.Contains(s.Comment, "weakened Soteri protection") || len(s.Matchers) != 2 ||
			s.Matchers[0].Name+"="+s.Matchers[0].Value != want[0] || s.Matchers[1].Name+"="+s.Matchers[1].Value != want[1] {
			t.Errorf("silence %+v", s)
		}

		do(t, ctx, "expire it", chromedp.Click(chromedp.CSS(`#silences-active button`)))
		waitFor(t, ctx, "the silence listed as expired", `document.getElementById('count-expired').textContent === '(1)' && document.getElementById('count-active').textContent === '(0)'`)
		a.api(t, "/api/v1/silences", &list)
		if len(list.Silences) != 1 || list.Silences[0].State != "expired" {
			t.Errorf("after expiring: %+v", list.Silences)
		}
	})

	t.Run("explain tells why one rule fired and another did not", func(t *testing.T) {
		var alerts struct {
			Alerts []struct{ ID string } `json:"alerts"`
		}
		a.api(t, "/api/v1/alerts?rule=soteri-protection-weakened", &alerts)
		if len(alerts.Alerts) != 1 {
			t.Fatalf("%d alerts of soteri-protection-weakened", len(alerts.Alerts))
		}
		do(t, ctx, "open the alert", chromedp.Navigate(a.url+"/alerts/"+alerts.Alerts[0].ID))
		waitFor(t, ctx, "the link to explain its event", `document.getElementById('explain-event').search.startsWith('?event=') && document.getElementById('explain-event').search.length > 7`)
		do(t, ctx, "explain the event", chromedp.Click(chromedp.ID("explain-event")))
		waitFor(t, ctx, "the rules that looked at it", `document.querySelectorAll('#explain-rules .explain-rule').length >= 2`)
		if got := eval[string](t, ctx, `document.getElementById('explain-event').textContent`); !strings.Contains(got, "Ming Chen (mchen)") {
			t.Errorf("the event's facts: %q", got)
		}
		// mchen is in the examples' admins list: the non-admin rule's
		// first false part says so, and nothing after it is marked.
		verdict := func(rule string) string {
			return eval[string](t, ctx, `document.getElementById('explain-`+rule+`').textContent`)
		}
		if got := verdict("soteri-global-setting-changed-by-non-admin"); !strings.HasSuffix(got, ": did not match") {
			t.Errorf("non-admin rule: %q", got)
		}
		// (Other rules the index offered the event, such as a sequence
		// whose steps are Soteri events, show their own first false part.)
		if got := eval[[]string](t, ctx, `[...document.getElementById('explain-soteri-global-setting-changed-by-non-admin').closest('.explain-rule').querySelectorAll('tr.first-false code')].map(c => c.textContent)`); len(got) != 1 || got[0] != "!is_admin" {
			t.Errorf("first false parts of the non-admin rule %q, want [!is_admin]", got)
		}
		if got := verdict("soteri-protection-weakened"); !strings.HasSuffix(got, ": matched") {
			t.Errorf("the alerting rule: %q", got)
		}
		fired := `document.getElementById('explain-soteri-protection-weakened').parentElement.textContent`
		for _, want := range []string{"fired alert " + alerts.Alerts[0].ID, "event.actor.id = 8a7f808a8b1c2d3e018b1c2e11220001", "last alerted", "console"} {
			if got := eval[string](t, ctx, fired); !strings.Contains(got, want) {
				t.Errorf("the alerting rule's explanation has no %q: %q", want, got)
			}
		}
		screenshot(t, ctx, "explain", true)

		// Without the id: find the event by words, then explain it.
		do(t, ctx, "open explain", chromedp.Navigate(a.url+"/explain"))
		waitFor(t, ctx, "the stored events", `document.querySelectorAll('#events-body tr').length >= 1`)
		do(t, ctx, "find Ming's setting change",
			chromedp.SendKeys(chromedp.ID("f-q"), "ming GLOBAL"),
			chromedp.Submit(chromedp.ID("f-q")),
		)
		waitFor(t, ctx, "the event found", `location.search === '?q=ming+GLOBAL' && document.getElementById('events-status').textContent.startsWith('1 event with these words')`)
		screenshot(t, ctx, "explain-find", false)
		do(t, ctx, "explain it", chromedp.Click(chromedp.CSS(`#events-body a`)))
		waitFor(t, ctx, "its explanation", `document.querySelectorAll('#explain-rules .explain-rule').length >= 2`)

		do(t, ctx, "explain an unknown id", chromedp.Navigate(a.url+"/explain?event=no-such-event&within=1h"))
		waitFor(t, ctx, "the not-found message", `document.getElementById('explain-error').textContent.includes('no event "no-such-event" stored in the last 1h')`)
	})

	t.Run("the playground finds an error, then a match", func(t *testing.T) {
		do(t, ctx, "open the playground", chromedp.Navigate(a.url+"/playground"))
		waitFor(t, ctx, "the example event", `document.getElementById('events').value.includes('Ming Chen')`)
		rule := strings.Join([]string{
			"id: typo",
			"name: A rule with a typo",
			"severity: medium",
			`when: event.action == "Global setting changed" && event.actor.nmae == "mchen"`,
			`title: "{{ event.actor.display_name }} changed {{ event.changes[0].key }}"`,
		}, "\n")
		col := strings.Index(strings.Split(rule, "\n")[3], "nmae") + 1
		do(t, ctx, "type the rule and try it",
			chromedp.Evaluate[chromedp.Void](`document.getElementById('rule').value = ''`),
			chromedp.SendKeys(chromedp.ID("rule"), rule),
			chromedp.Click(chromedp.ID("try")),
		)
		pos := fmt.Sprintf("rule:4:%d", col)
		waitFor(t, ctx, "the error", `document.getElementById('errors').textContent.includes('`+pos+`') && document.getElementById('errors').textContent.includes('nmae')`)
		if !eval[bool](t, ctx, `document.querySelector('.gutter div.err')?.textContent === '4'`) {
			t.Error("line 4 is not marked in the editor")
		}
		if os.Getenv("ALERTER_SCREENSHOTS") != "" {
			do(t, ctx, "scroll back", chromedp.Evaluate[chromedp.Void](`document.getElementById('rule').scrollLeft = 0`))
			screenshot(t, ctx, "playground-error", true)
		}
		// The error leads to its place in the rule, where it is fixed.
		do(t, ctx, "go to the error", chromedp.Click(chromedp.Search(`//button[text()="`+pos+`"]`)))
		at := eval[[]any](t, ctx, `(() => { const ta = document.getElementById('rule'); const before = ta.value.slice(0, ta.selectionStart);
			return [document.activeElement === ta, before.split('\n').length, before.length - before.lastIndexOf('\n')]; })()`)
		if fmt.Sprint(at) != fmt.Sprintf("[true 4 %d]", col) {
			t.Errorf("after the click, [focused line column] = %v, want [true 4 %d]", at, col)
		}
		do(t, ctx, "fix the typo and try with Ctrl+Enter",
			chromedp.KeyEvent(kb.Delete+kb.Delete+kb.Delete+kb.Delete+"name"),
			chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		)
		waitFor(t, ctx, "the match", `document.getElementById('summary').textContent.startsWith('Matched 1 of 1 event')`)
		title := eval[string](t, ctx, `document.querySelector('#results .alert-title').textContent`)
		if title != "Ming Chen changed Security hook (scan content on publish)" {
			t.Errorf("rendered title %q", title)
		}
		if !eval[bool](t, ctx, `document.getElementById('errors-section').hidden && !document.querySelector('.gutter div.err')`) {
			t.Error("the errors are still shown")
		}
		targets := eval[string](t, ctx, `[...document.querySelectorAll('#results .notification h5')].map(e => e.textContent).join(' ')`)
		if targets != "console (console)" {
			t.Errorf("notification targets %q, want console (console)", targets)
		}
		// The console target shows its line, as the notifier prints it.
		if body := eval[string](t, ctx, `document.querySelector('#results .notification .body').textContent`); !strings.Contains(body, "MEDIUM typo ") || !strings.Contains(body, " id=") {
			t.Errorf("console preview %q", body)
		}

		// From an alert: its event and its rule (as written in its
		// file), which match again.
		var alerts struct {
			Alerts []struct{ ID, Rule string } `json:"alerts"`
		}
		a.api(t, "/api/v1/alerts?rule=soteri-protection-weakened", &alerts)
		if len(alerts.Alerts) != 1 {
			t.Fatalf("%d alerts of soteri-protection-weakened", len(alerts.Alerts))
		}
		do(t, ctx, "open the playground from the alert", chromedp.Navigate(a.url+"/playground?alert="+alerts.Alerts[0].ID))
		waitFor(t, ctx, "the alert's rule", `document.getElementById('rule').value.includes('id: soteri-protection-weakened')`)
		do(t, ctx, "try it", chromedp.Click(chromedp.ID("try")))
		waitFor(t, ctx, "its match", `document.getElementById('summary').textContent.startsWith('Matched 1 of 1 event: 1 alert')`)
		// The rule came whole, its title template included, and its tests
		// ran with it.
		waitFor(t, ctx, "the alert's own title", `document.getElementById('results').textContent.includes('Ming Chen (mchen) weakened Soteri protection')`)
		if got := eval[string](t, ctx, `document.getElementById('tests-summary').textContent`); !regexp.MustCompile(`^[1-9]\d* passed, 0 failed$`).MatchString(got) {
			t.Errorf("the rule's tests: %q", got)
		}
		// The same rule over what alerter stored: the one event, which
		// fired it, and alerter's own events of the silence created and
		// expired above.
		do(t, ctx, "backtest it", chromedp.Click(chromedp.ID("backtest")))
		waitFor(t, ctx, "the backtest", `document.getElementById('summary').textContent.startsWith('Over 3 stored events, from ')`)
		if got := eval[string](t, ctx, `document.getElementById('summary').textContent`); !strings.HasSuffix(got, ": matched 1 time, 1 alert, 0 suppressed. The rule soteri-protection-weakened as loaded now fired 1 alert over the same events.") {
			t.Errorf("backtest summary %q", got)
		}
		screenshot(t, ctx, "playground-backtest", false)

		if os.Getenv("ALERTER_SCREENSHOTS") != "" {
			// A fuller example for the picture: the example rule, with
			// a text and labels.
			do(t, ctx, "reset the rule", chromedp.Click(chromedp.ID("reset-rule")))
			do(t, ctx, "try it", chromedp.Click(chromedp.ID("try")))
			waitFor(t, ctx, "the example's match", `document.getElementById('summary').textContent.startsWith('Matched')`)
			screenshot(t, ctx, "playground", true)
		}
	})

	t.Run("the playground shows escalations, digests, resolves and what is still pending, hostile text escaped", func(t *testing.T) {
		// An actor name that is markup: it is in titles, groups, the
		// resolve line and the pending list, always as text.
		const hostile = `<img src=x onerror="document.title='pwned'">zoe`
		ev := func(id, action, actor, at string) string {
			b, _ := json.Marshal(map[string]any{"id": id, "time": "2024-05-14T" + at + ":00Z", "action": action, "actor": map[string]string{"name": actor}})
			return string(b)
		}
		eventsOf := func(actor string) []byte {
			b, _ := json.Marshal(strings.Join([]string{
				ev("a", "Global setting changed", actor, "10:00"),
				ev("b", "Global setting changed", actor, "10:02"),
				ev("c", "Global setting changed", actor, "10:04"),
				ev("d", "Page viewed", "bob", "10:12"),
				ev("e", "Setting restored", actor, "10:20"),
				ev("f", "Global setting changed", actor, "10:25"),
			}, "\n"))
			return b
		}
		rule := strings.Join([]string{
			"id: lifecycle",
			"severity: high",
			`when: event.action == "Global setting changed"`,
			"dedup: {by: [event.actor.name], window: 1h}",
			`resolve: {when: 'event.action == "Setting restored"', after: 32m}`,
			"digest: 15m",
			"escalate: [{after_suppressed: 2}, {after: 10m}]",
			`title: "{{ event.actor.name }} changed a setting"`,
		}, "\n")
		do(t, ctx, "open the playground", chromedp.Navigate(a.url+"/playground"))
		waitFor(t, ctx, "the example event", `document.getElementById('events').value.includes('Ming Chen')`)
		r, _ := json.Marshal(rule)
		do(t, ctx, "paste the rule and the events, and try",
			chromedp.Evaluate[chromedp.Void](`document.getElementById('rule').value = `+string(r)+`; document.getElementById('events').value = `+string(eventsOf(hostile))),
			chromedp.Click(chromedp.ID("try")))
		waitFor(t, ctx, "the result", `document.getElementById('summary').textContent.startsWith('Matched')`)
		if got, want := eval[string](t, ctx, `document.getElementById('summary').textContent`), "Matched 4 of 6 events: 2 alerts, 2 escalations, 1 digest, 1 resolve."; got != want {
			t.Errorf("summary %q, want %q", got, want)
		}
		marks := eval[[]string](t, ctx, `[...document.querySelectorAll('#results .alert-card')].map(c => (c.querySelector('.mark')?.textContent ?? 'Alert') + ' | ' + c.querySelector('.alert-title').textContent)`)
		want := []string{
			"Alert | " + hostile + " changed a setting",
			"Escalation 1 | " + hostile + " changed a setting",
			"Escalation 2 | " + hostile + " changed a setting",
			"Digest: 2 suppressed | Digest: 2 more of " + hostile + " changed a setting between 2024-05-14T10:02:00Z and 2024-05-14T10:04:00Z",
			"Alert | " + hostile + " changed a setting",
		}
		if strings.Join(marks, "\n") != strings.Join(want, "\n") {
			t.Errorf("cards:\n%s\nwant:\n%s", strings.Join(marks, "\n"), strings.Join(want, "\n"))
		}
		// The escalation of the after: step came before bob's event, which
		// did not match, and is shown with it; each card has its preview.
		if got := eval[string](t, ctx, `[...document.querySelectorAll('#results article.result')].find(a => a.textContent.includes('Page viewed'))?.querySelector('.mark')?.textContent ?? ''`); got != "Escalation 2" {
			t.Errorf("bob's event shows %q, want Escalation 2", got)
		}
		if got := eval[int](t, ctx, `document.querySelectorAll('#results .alert-card .notification').length`); got != 5*2 {
			t.Errorf("%d previews, want 10 (console and siem for each card)", got)
		}
		if got := eval[string](t, ctx, `document.querySelector('#results .resolve').textContent`); !strings.HasPrefix(got, "Resolved: the group of lifecycle (event.actor.name = "+hostile+"), by the event e (its resolve.when), at ") {
			t.Errorf("resolve line %q", got)
		}
		pending := eval[[]string](t, ctx, `[...document.querySelectorAll('#results .pending li')].map(l => l.textContent.replace(/^[^:]*:\d\d:\d\d: /, ''))`)
		wantPending := []string{
			"escalation 2, if nobody acknowledges or resolves the alert first (lifecycle, event.actor.name = " + hostile + ")",
			"resolve.after resolves the group (lifecycle, event.actor.name = " + hostile + ")",
		}
		if strings.Join(pending, "\n") != strings.Join(wantPending, "\n") {
			t.Errorf("pending:\n%s\nwant:\n%s", strings.Join(pending, "\n"), strings.Join(wantPending, "\n"))
		}
		if eval[bool](t, ctx, `document.title === 'pwned' || !!document.querySelector('#results img, #results b')`) {
			t.Error("the hostile actor name was made HTML")
		}
		if os.Getenv("ALERTER_SCREENSHOTS") != "" {
			// The picture with a plain name.
			do(t, ctx, "try with a plain name",
				chromedp.Evaluate[chromedp.Void](`document.getElementById('events').value = `+string(eventsOf("zoe"))),
				chromedp.Click(chromedp.ID("try")))
			waitFor(t, ctx, "the plain result", `!document.getElementById('results').textContent.includes('<img')`)
			screenshot(t, ctx, "playground-lifecycle", true)
		}
	})

	t.Run("rules and dead letters", func(t *testing.T) {
		do(t, ctx, "open the rules", chromedp.Navigate(a.url+"/rules"))
		waitFor(t, ctx, "the counters", `document.querySelector('#rule-soteri-protection-weakened td:nth-child(7)')?.textContent === '1'`)
		do(t, ctx, "filter the rules", chromedp.SendKeys(chromedp.ID("rules-filter"), "soteri high"))
		if n := eval[int](t, ctx, `[...document.querySelectorAll('#rules-body tr')].filter(r => !r.hidden).length`); n == 0 || n == eval[int](t, ctx, `document.querySelectorAll('#rules-body tr').length`) {
			t.Errorf("the filter shows %d rules", n)
		}
		screenshot(t, ctx, "rules", false)
		// From a rule to the playground, with the rule as written.
		do(t, ctx, "open the rule in the playground", chromedp.Click(chromedp.CSS(`#rule-soteri-protection-weakened a.try-rule`)))
		waitFor(t, ctx, "the rule as written", `document.getElementById('rule').value.includes('id: soteri-protection-weakened') && document.getElementById('rule').value.includes('runbook: ')`)
		do(t, ctx, "backtest it", chromedp.Click(chromedp.ID("backtest")))
		waitFor(t, ctx, "the backtest", `document.getElementById('summary').textContent.includes('The rule soteri-protection-weakened as loaded now fired 1 alert')`)
		do(t, ctx, "open the dead letters", chromedp.Navigate(a.url+"/deadletters"))
		waitFor(t, ctx, "the dead letter", `document.getElementById('dead-body').textContent.includes('weakened Soteri protection')`)
		screenshot(t, ctx, "deadletters", false)
		// Handed back, the target is tried again: still refusing, it
		// leaves a second dead letter of the same alert.
		rows := eval[int](t, ctx, `document.querySelectorAll('#dead-body tr').length`)
		do(t, ctx, "redeliver it", chromedp.Click(chromedp.CSS(`#dead-body button.redeliver`)))
		waitFor(t, ctx, "the handing back", `document.getElementById('dead-body').textContent.includes("Handed back to siem's queue.")`)
		do(t, ctx, "open the dead letters again", chromedp.Navigate(a.url+"/deadletters"))
		waitFor(t, ctx, "the second dead letter", fmt.Sprintf(`document.querySelectorAll('#dead-body tr').length === %d`, rows+1))

		do(t, ctx, "open the targets", chromedp.Navigate(a.url+"/notifiers"))
		waitFor(t, ctx, "the counters", `document.querySelector('#notifier-siem td:nth-child(7)')?.textContent === '2'`)
		do(t, ctx, "test the console", chromedp.Click(chromedp.CSS(`#notifier-console button`)))
		waitFor(t, ctx, "the console's test", `document.querySelector('#notifier-console .test-result').textContent === 'Sent.'`)
		do(t, ctx, "test the refusing webhook", chromedp.Click(chromedp.CSS(`#notifier-siem button`)))
		waitFor(t, ctx, "the webhook's failure", `document.querySelector('#notifier-siem .test-result').textContent.includes('connection refused') && document.querySelector('#notifier-siem .test-result').textContent.includes('it may work later')`)
		screenshot(t, ctx, "notifiers", false)
	})

	t.Run("a viewer's token shows no controls it cannot use", func(t *testing.T) {
		do(t, ctx, "use the viewer's token", chromedp.Navigate(a.url+"/silences"),
			chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('alerter.api-token', '`+viewerToken+`')`),
			chromedp.Reload())
		waitFor(t, ctx, "the note instead of the form", `!document.getElementById('silence-form') && document.querySelector('.role-note')?.textContent.includes('(wallboard) is a viewer')`)
		waitFor(t, ctx, "the token's name and role", `document.getElementById('token-button').textContent === 'wallboard (viewer)'`)
		waitFor(t, ctx, "the silences listed", `document.getElementById('count-expired').textContent === '(1)'`)
		do(t, ctx, "open the targets", chromedp.Navigate(a.url+"/notifiers"))
		waitFor(t, ctx, "no test buttons", `document.querySelector('#notifier-console')?.textContent.includes('admin only') && !document.querySelector('#notifiers-body button, #notifier-console button')`)
		var alerts struct {
			Alerts []struct{ ID string } `json:"alerts"`
		}
		a.api(t, "/api/v1/alerts?rule=soteri-protection-weakened", &alerts)
		if len(alerts.Alerts) != 1 {
			t.Fatalf("%d alerts of soteri-protection-weakened", len(alerts.Alerts))
		}
		do(t, ctx, "open an alert", chromedp.Navigate(a.url+"/alerts/"+alerts.Alerts[0].ID))
		waitFor(t, ctx, "the note instead of Acknowledge and Resolve", `!document.getElementById('lifecycle-form') && document.querySelector('.role-note')?.textContent.includes('acknowledging and resolving alerts needs a writer')`)
		waitFor(t, ctx, "where the alert stands", `document.getElementById('alert-status').textContent === 'firing.'`)
		do(t, ctx, "back to the admin token", chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('alerter.api-token', '`+token+`')`))
	})

	t.Run("the alerts list reads in the order it is shown, rule ids whole", func(t *testing.T) {
		a.post(t, "../examples/events/soteri-events.jsonl")
		do(t, ctx, "open the alerts at 1400 px", chromedp.EmulateViewport(1400, 900), chromedp.Navigate(a.url+"/"))
		waitFor(t, ctx, "more alerts", `document.querySelectorAll('#alerts-body tr').length >= 8`)
		// The time shown first is when each alert fired, which orders the
		// list; the event's time is under it.
		fired := eval[[]string](t, ctx, `[...document.querySelectorAll('#alerts-body td.time > time')].map(e => e.dateTime)`)
		for i := 1; i < len(fired); i++ {
			above, _ := time.Parse(time.RFC3339Nano, fired[i-1])
			at, err := time.Parse(time.RFC3339Nano, fired[i])
			if err != nil || at.Truncate(time.Millisecond).After(above) {
				t.Errorf("row %d fired at %s, after the row above it (%s)", i+1, fired[i], fired[i-1])
			}
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('#alerts-body td.time .event-time time').length`); n != len(fired) {
			t.Errorf("%d rows show their event's time, want %d", n, len(fired))
		}
		// A rule id takes at most two lines, however long.
		lines := eval[map[string]int](t, ctx, `Object.fromEntries([...document.querySelectorAll('#alerts-body td.rule a')].map(a => [a.textContent, a.getClientRects().length]))`)
		for id, n := range lines {
			if n > 2 || len(id) <= 30 && n > 1 {
				t.Errorf("rule id %s takes %d lines", id, n)
			}
		}
	})

	t.Run("an alert of several events lists them, each explained as it saw its group", func(t *testing.T) {
		// Three exports by Ming within 15 minutes: confluence-space-export-burst fires on the third.
		var events strings.Builder
		for _, e := range [][2]string{{"08:47:44", "Human Resources"}, {"08:50:02", "Finance"}, {"08:57:12", "Legal"}} {
			fmt.Fprintf(&events, `{"timestamp":"2024-05-14T%s.000Z","author":{"name":"Ming Chen","type":"user","id":"8a7f808a8b1c2d3e018b1c2e11220001"},"type":{"category":"Import/Export","actionI18nKey":"audit.logging.summary.space.export","action":"Space export"},"affectedObjects":[{"name":%q,"type":"Space"}],"changedValues":[],"source":"198.51.100.7","system":"https://confluence.example.com","extraAttributes":[]}`+"\n", e[0], e[1])
		}
		a.postText(t, events.String())
		var alerts struct {
			Alerts []struct {
				ID       string   `json:"id"`
				EventIDs []string `json:"event_ids"`
			} `json:"alerts"`
		}
		for end := time.Now().Add(30 * time.Second); len(alerts.Alerts) == 0 && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			a.api(t, "/api/v1/alerts?rule=confluence-space-export-burst", &alerts)
		}
		if len(alerts.Alerts) != 1 || len(alerts.Alerts[0].EventIDs) != 3 {
			t.Fatalf("alerts of confluence-space-export-burst: %+v", alerts.Alerts)
		}
		ids := alerts.Alerts[0].EventIDs
		do(t, ctx, "open the alert", chromedp.Navigate(a.url+"/alerts/"+alerts.Alerts[0].ID),
			chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('alerter.api-token', '`+token+`')`),
			chromedp.Reload())
		waitFor(t, ctx, "its events in order", `document.querySelectorAll('#alert-chain li').length === 3`)
		rows := eval[[]string](t, ctx, `[...document.querySelectorAll('#alert-chain li')].map(li => li.querySelector('a code')?.textContent + ' | ' + li.textContent)`)
		for i, row := range rows {
			if !strings.HasPrefix(row, ids[i]+" | ") || !strings.Contains(row, "Space export by Ming Chen from 198.51.100.7") {
				t.Errorf("event %d of the alert: %q, want %s, a space export by Ming Chen", i+1, row, ids[i])
			}
		}
		// The middle event, explained: the window held one event before it, two after.
		do(t, ctx, "explain the middle event", chromedp.Click(chromedp.CSS(`#alert-chain li:nth-child(2) a`)))
		waitFor(t, ctx, "its explanation", `document.getElementById('explain-confluence-space-export-burst') !== null`)
		facts := eval[map[string]string](t, ctx, `Object.fromEntries([...document.getElementById('explain-confluence-space-export-burst').closest('.explain-rule').querySelectorAll('dl.facts dt')].map(dt => [dt.textContent, dt.nextElementSibling.textContent]))`)
		for k, want := range map[string]string{"As the event saw it": "; 1 in the threshold window", "As the event left it": "; 2 in the threshold window", "Rebuilt": "exactly: "} {
			if !strings.Contains(facts[k], want) {
				t.Errorf("%s: %q, want it to say %q", k, facts[k], want)
			}
		}
	})

	t.Run("an escalation is marked in the list and says what it escalates on its page", func(t *testing.T) {
		// Six Soteri exports by one person in four minutes: soteri-export-burst
		// alerts on the third, and the third suppressed escalates.
		var events strings.Builder
		for i := range 6 {
			fmt.Fprintf(&events, `{"timestamp":"2024-05-16T10:%02d:%02d.000Z","author":{"name":"Ravi Iyer","type":"user","id":"8a7f808a8b1c2d3e018b1c2e77880009"},"type":{"categoryI18nKey":"soteri.security.confluence.audit.category","category":"Soteri Security for Confluence","actionI18nKey":"soteri.security.confluence.audit.findings-exported","action":"Findings exported"},"affectedObjects":[{"name":"Finance","type":"Space"}],"changedValues":[],"source":"198.51.100.44","system":"https://confluence.example.com","extraAttributes":[]}`+"\n", 25+i/2, (i%2)*30)
		}
		a.postText(t, events.String())
		var alerts struct {
			Alerts []struct {
				ID         string `json:"id"`
				Escalation int    `json:"escalation"`
				Escalates  string `json:"escalates"`
			} `json:"alerts"`
		}
		for end := time.Now().Add(30 * time.Second); len(alerts.Alerts) < 2 && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			a.api(t, "/api/v1/alerts?rule=soteri-export-burst&group=8a7f808a8b1c2d3e018b1c2e77880009", &alerts)
		}
		if len(alerts.Alerts) != 2 || alerts.Alerts[0].Escalation != 1 || alerts.Alerts[0].Escalates != alerts.Alerts[1].ID {
			t.Fatalf("alerts of the burst, newest first: %+v", alerts.Alerts)
		}
		esc, alert := alerts.Alerts[0].ID, alerts.Alerts[1].ID
		do(t, ctx, "open the burst's alerts", chromedp.Navigate(a.url+"/?rule=soteri-export-burst"))
		mark := func(id string) string {
			return `document.querySelector('#alerts-body tr[data-id="` + id + `"] .mark')`
		}
		waitFor(t, ctx, "the escalation marked", mark(esc)+`?.textContent === 'Escalation 1'`)
		if eval[bool](t, ctx, mark(alert)+` !== null`) {
			t.Error("the alert it escalates is marked too")
		}
		do(t, ctx, "open the escalation", chromedp.Click(chromedp.CSS(`#alerts-body tr[data-id="`+esc+`"] th a`)))
		waitFor(t, ctx, "what it escalates", `[...document.querySelectorAll('#alert-facts dt')].some(dt => dt.textContent === 'Escalation' && dt.nextElementSibling.querySelector('a code')?.textContent === '`+alert+`')`)
	})

	t.Run("an alert is acknowledged and resolved from its page", func(t *testing.T) {
		var alerts struct {
			Alerts []struct{ ID string } `json:"alerts"`
		}
		a.api(t, "/api/v1/alerts?rule=soteri-protection-weakened", &alerts)
		if len(alerts.Alerts) != 1 {
			t.Fatalf("%d alerts of soteri-protection-weakened", len(alerts.Alerts))
		}
		id := alerts.Alerts[0].ID
		do(t, ctx, "open the alert", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(a.url+"/alerts/"+id),
			chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('alerter.api-token', '`+token+`')`),
			chromedp.Reload())
		waitFor(t, ctx, "it firing, with no history", `document.getElementById('alert-status').textContent === 'firing.' && document.getElementById('alert-history').hidden`)

		do(t, ctx, "acknowledge it with a comment",
			chromedp.SendKeys(chromedp.ID("lifecycle-comment"), "Looking at it: asking Ming why"),
			chromedp.Click(chromedp.ID("ack")))
		waitFor(t, ctx, "it acknowledged", `document.getElementById('alert-status').textContent.startsWith('acknowledged by api_token at ')`)
		history := func() [][]string {
			return eval[[][]string](t, ctx, `[...document.querySelectorAll('#history tr')].map(tr => [...tr.cells].map(td => td.textContent))`)
		}
		if h := history(); len(h) != 1 || h[0][1] != "api_token" || h[0][2] != "acknowledged" || h[0][3] != "Looking at it: asking Ming why" || h[0][4] != "none" {
			t.Errorf("history after the ack: %q", h)
		}
		if !eval[bool](t, ctx, `document.getElementById('ack').disabled && !document.getElementById('resolve').disabled && document.getElementById('lifecycle-comment').value === ''`) {
			t.Error("after the ack, Acknowledge is not disabled, Resolve not enabled, or the comment not cleared")
		}
		do(t, ctx, "choose a verdict", chromedp.SetValue(chromedp.ID("lifecycle-verdict"), "false_positive"))
		screenshot(t, ctx, "alert-lifecycle", false)

		// A comment is shown as written, never as HTML.
		const hostile = `Ming's own test <b>page</b> <img src=x onerror="document.title='pwned'"> & done`
		do(t, ctx, "resolve it with a verdict",
			chromedp.SetValue(chromedp.ID("lifecycle-comment"), hostile),
			chromedp.Click(chromedp.ID("resolve")))
		waitFor(t, ctx, "it resolved", `document.getElementById('alert-status').textContent.startsWith('resolved by api_token at ') && document.getElementById('alert-status').textContent.endsWith(' (false positive).')`)
		h := history()
		if len(h) != 2 || h[0][2] != "acknowledged" || h[1][1] != "api_token" || h[1][2] != "resolved" || h[1][3] != hostile || h[1][4] != "false positive" {
			t.Errorf("history after the resolve, oldest first: %q", h)
		}
		if eval[bool](t, ctx, `document.querySelector('#history img, #history b, #alert-status img') !== null || document.title === 'pwned'`) {
			t.Error("the comment was made HTML")
		}
		if !eval[bool](t, ctx, `document.getElementById('ack').hidden && document.getElementById('resolve').textContent === 'Set verdict'`) {
			t.Error("a resolved alert still offers Acknowledge and Resolve, or no Set verdict")
		}
		// An acknowledgement that reaches the API after the resolve (another
		// tab, a page that had not noticed) gets the API's refusal.
		do(t, ctx, "acknowledge it anyway", chromedp.Evaluate[chromedp.Void](`document.getElementById('ack').click()`))
		waitFor(t, ctx, "the API's 409", `document.getElementById('lifecycle-error').textContent.includes('was resolved by api_token at ') && document.getElementById('lifecycle-error').textContent.endsWith('it cannot be acknowledged')`)

		var detail struct {
			Status, ResolvedBy, Verdict string
			History                     []struct{ Status, Comment string }
		}
		a.api(t, "/api/v1/alerts/"+id, &detail)
		if detail.Status != "resolved" || detail.Verdict != "false_positive" || len(detail.History) != 2 || detail.History[1].Comment != hostile {
			t.Errorf("the API says %+v", detail)
		}
		// The verdict corrected: who resolved it stays.
		do(t, ctx, "correct the verdict",
			chromedp.SetValue(chromedp.ID("lifecycle-verdict"), "benign"),
			chromedp.Click(chromedp.ID("resolve")))
		waitFor(t, ctx, "the new verdict", `document.getElementById('alert-status').textContent.startsWith('resolved by api_token at ') && document.getElementById('alert-status').textContent.endsWith(' (benign).')`)
		if h := history(); len(h) != 3 || h[2][2] != "resolved" || h[2][4] != "benign" {
			t.Errorf("history after the verdict, oldest first: %q", h)
		}

		// The list shows it, and filters on it.
		do(t, ctx, "open the alerts", chromedp.Navigate(a.url+"/"))
		row := `document.querySelector('#alerts-body tr[data-id="` + id + `"] td.standing')`
		waitFor(t, ctx, "its status in the list", row+`?.textContent === 'resolved by api_token (benign)'`)
		do(t, ctx, "filter on resolved",
			chromedp.SetValue(chromedp.ID("f-status"), "resolved"),
			chromedp.Submit(chromedp.ID("f-status")))
		waitFor(t, ctx, "the resolved alerts", `location.search.includes('status=resolved') && document.getElementById('alerts-status').textContent.startsWith('1 alert shown (filtered).')`)
		if got := eval[string](t, ctx, row+`?.textContent ?? ''`); got != "resolved by api_token (benign)" {
			t.Errorf("the resolved list's row: %q", got)
		}
		do(t, ctx, "filter on firing",
			chromedp.SetValue(chromedp.ID("f-status"), "firing"),
			chromedp.Submit(chromedp.ID("f-status")))
		waitFor(t, ctx, "the firing alerts", `location.search.includes('status=firing') && document.querySelectorAll('#alerts-body tr').length > 0`)
		if got := eval[[]string](t, ctx, `[...document.querySelectorAll('#alerts-body td.standing')].map(td => td.textContent).filter(s => s !== 'firing')`); len(got) > 0 {
			t.Errorf("the firing list shows %q", got)
		}
		if eval[bool](t, ctx, row+` !== null`) {
			t.Error("the resolved alert is in the firing list")
		}
		// One acknowledged elsewhere leaves the firing list.
		other := eval[string](t, ctx, `document.querySelector('#alerts-body tr').dataset.id`)
		a.act(t, other, "ack", `{"comment": "from the CLI"}`)
		waitFor(t, ctx, "the acknowledged alert gone from the firing list", `document.querySelector('#alerts-body tr[data-id="`+other+`"]') === null && document.querySelectorAll('#alerts-body tr').length > 0`)
	})

	t.Run("false positives of one actor suggest excluding it, to backtest", func(t *testing.T) {
		// The earlier subtest resolved Ming's alert as a false positive;
		// three more of one hostile actor, each a cycle of its own (2 h
		// apart: past the rule's 30 m dedup), make the suggestion.
		const hostile = `<img src=x onerror="document.title='pwned'">"]) || true`
		orig, err := os.ReadFile("../examples/events/soteri-global-setting.json")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			ev := strings.NewReplacer("username=mchen", "username="+url.QueryEscape(hostile),
				"8a7f808a8b1c2d3e018b1c2e11220001", "8a7f808a8b1c2d3e018b1c2e1122ffff", "198.51.100.7", "203.0.113.9",
				"2024-05-14T10:02:40.318Z", fmt.Sprintf("2024-05-15T%02d:00:00.000Z", 2*i)).Replace(string(orig))
			file := filepath.Join(t.TempDir(), "ev.json")
			if err := os.WriteFile(file, []byte(ev), 0o600); err != nil {
				t.Fatal(err)
			}
			a.post(t, file)
			var id string
			for deadline := time.Now().Add(10 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				var alerts struct {
					Alerts []struct{ ID, Status string } `json:"alerts"`
				}
				a.api(t, "/api/v1/alerts?rule=soteri-protection-weakened&status=firing", &alerts)
				if len(alerts.Alerts) > 0 {
					id = alerts.Alerts[0].ID
				}
			}
			if id == "" {
				t.Fatalf("no alert of the hostile actor's event %d", i+1)
			}
			a.act(t, id, "resolve", `{"verdict": "false_positive"}`)
		}
		do(t, ctx, "open the rules", chromedp.Navigate(a.url+"/rules"))
		row := `document.getElementById('rule-soteri-protection-weakened')`
		waitFor(t, ctx, "the precision and the suggestion", row+`.querySelector('.suggestion code')?.textContent.includes('event.actor.name in')`)
		if got := eval[string](t, ctx, row+`.querySelector('.verdicts').textContent`); got != "precision 0% (0 TP, 3 FP, 1 benign, 30 d)" { // one FP was corrected to benign above
			t.Errorf("the precision: %q", got)
		}
		want := `!(event.actor.name in [` + strconv.Quote(hostile) + `])`
		if got := eval[string](t, ctx, row+`.querySelector('.suggestion code').textContent`); got != want {
			t.Errorf("the suggestion %q, want %q", got, want)
		}
		if eval[bool](t, ctx, `document.querySelector('#rules-body img') !== null || document.title === 'pwned'`) {
			t.Error("the hostile value was made HTML")
		}
		do(t, ctx, "backtest the exclusion", chromedp.Click(chromedp.CSS(`#rule-soteri-protection-weakened a.try-exclusion`)))
		waitFor(t, ctx, "the rule with the exclusion", `document.getElementById('rule').value.includes('with the exclusion its verdicts suggest')`)
		if !eval[bool](t, ctx, `document.getElementById('rule').value.includes(`+strconv.Quote(want)+`)`) {
			t.Errorf("the playground's rule has no %s:\n%s", want, eval[string](t, ctx, `document.getElementById('rule').value`))
		}
		do(t, ctx, "backtest it", chromedp.Click(chromedp.ID("backtest")))
		waitFor(t, ctx, "the comparison", `document.getElementById('summary').textContent.includes('The rule soteri-protection-weakened as loaded now fired 4 alerts')`)
		if got := eval[string](t, ctx, `document.getElementById('summary').textContent`); !strings.Contains(got, ", 1 alert, ") {
			t.Errorf("the backtest with the exclusion: %q", got)
		}
	})

	if os.Getenv("ALERTER_SCREENSHOTS") != "" {
		// A busier list for the picture.
		a.post(t, "../examples/events/soteri-events.jsonl")
		do(t, ctx, "open the alerts", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(a.url+"/"))
		waitFor(t, ctx, "more alerts", `document.querySelectorAll('#alerts-body tr').length >= 8`)
		// Some of them acknowledged and resolved, to show the statuses.
		// (Rows still firing: the tests above resolved some.)
		ids := eval[[]string](t, ctx, `[...document.querySelectorAll('#alerts-body tr')].filter(tr => tr.querySelector('.state-firing')).slice(1, 4).map(tr => tr.dataset.id)`)
		a.act(t, ids[0], "ack", `{}`)
		a.act(t, ids[2], "resolve", `{"verdict": "benign"}`)
		time.Sleep(4 * time.Second) // later alerts arrive; their highlight fades
		screenshot(t, ctx, "alerts", false)
	}
}

// A page of another site, open in the operator's browser, sends what the
// issue reproduced: a no-cors fetch of a one-year silence of everything,
// and an event injected into the webhook. alerter has no token (the
// default), so only its check of where a request comes from stops them.
func TestBrowserCrossSite(t *testing.T) {
	ctx := browser(t)
	a := startAlerterWith(t, "")
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>cute cats</title><script>
const target = %q;
const silence = JSON.stringify({matchers: [{name: "rule", value: "", negate: true}], duration: "8760h", created_by: "ops", comment: "maintenance"});
const event = JSON.stringify({timestamp: "2024-05-14T10:02:40Z", author: {name: "x"}, type: {category: "c", action: "Global setting changed"}});
Promise.allSettled([
  fetch(target + "/api/v1/silences", {method: "POST", mode: "no-cors", body: silence}),
  fetch(target + "/webhooks/default", {method: "POST", mode: "no-cors", body: event}),
]).then(rs => { document.title = "sent " + rs.filter(r => r.status === "fulfilled").length; });
</script>`, a.url)
	}))
	t.Cleanup(evil.Close)
	// localhost is another site than 127.0.0.1, where alerter listens.
	page := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
	do(t, ctx, "open the other site's page", chromedp.Navigate(page))
	waitFor(t, ctx, "the requests sent", `document.title === "sent 2"`)

	var silences struct{ Silences []json.RawMessage }
	a.api(t, "/api/v1/silences", &silences)
	if len(silences.Silences) != 0 {
		t.Errorf("another site's page created %d silences", len(silences.Silences))
	}
	var events struct{ Events []json.RawMessage }
	a.api(t, "/api/v1/events", &events)
	if len(events.Events) != 0 {
		t.Errorf("another site's page stored %d events", len(events.Events))
	}
}
