package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/app"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/natscluster"
)

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(stdin), &out, &errw)
	return code, out.String(), errw.String()
}

// alerter run with a rule file that does not load says why and exits 1,
// rather than panic while closing what it had started.
func TestRunRefusesBadRules(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	os.Mkdir(rulesDir, 0o755)
	os.WriteFile(filepath.Join(rulesDir, "r.yaml"), []byte("rules:\n  - id: x\n    severity: bogus\n    when: \"true\"\n"), 0o644)
	cfg := filepath.Join(dir, "alerter.yaml")
	os.WriteFile(cfg, []byte("server: {listen: 127.0.0.1:0}\nnats: {embedded: {store_dir: "+strconv.Quote(filepath.Join(dir, "nats"))+"}}\nrules: {paths: ["+strconv.Quote(rulesDir)+"]}\n"), 0o644)
	code, _, errs := runCLI(t, "", "run", "--config", cfg)
	if code != 1 || !strings.Contains(errs, "r.yaml:3:15: unknown severity \"bogus\"") {
		t.Fatalf("code %d, stderr %q", code, errs)
	}
}

func TestValidateReportsPositions(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - id: r1\n    severity: high\n    when: event.actor.nmae == \"x\"\n"), 0o644)
	code, out, errs := runCLI(t, "", "validate", bad)
	if code != 1 || out != "" || errs != bad+":4:23: when: type event.actor has no field nmae\n" {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, _ = runCLI(t, "", "validate", "testdata/burst.yaml")
	if code != 0 || !strings.HasPrefix(out, "ok: 1 rules (1 enabled), 2 tests") {
		t.Fatalf("code %d, stdout %q", code, out)
	}
}

func TestTestCountsHonestly(t *testing.T) {
	code, out, _ := runCLI(t, "", "test", "testdata/burst.yaml")
	want := "ok   burst/two exports alert once, the third is suppressed\n" +
		"FAIL burst/a wrong expectation fails (testdata/burst.yaml:16)\n" +
		"     expected an alert, got none (1 of 1 event(s) matched, 0 suppressed)\n" +
		"1 passed, 1 failed\n"
	if code != 1 || out != want {
		t.Fatalf("code %d, stdout:\n%s\nwant:\n%s", code, out, want)
	}
}

// Rules without tests are named, without failing the run.
func TestUntestedRulesAreNamed(t *testing.T) {
	f := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(f, []byte("rules:\n  - {id: a, severity: low, when: \"true\"}\n  - {id: b, severity: low, when: \"true\", tests: [{event: {}, expect: alert}]}\n"), 0o644)
	code, out, errs := runCLI(t, "", "test", f)
	if code != 0 || !strings.HasSuffix(out, "1 passed, 0 failed\n") || errs != "note: 1 rule has no tests: a\n" {
		t.Errorf("%d %q %q", code, out, errs)
	}
}

// --junit writes what CI systems show per test: the same results.
func TestTestJUnit(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.xml")
	code, _, _ := runCLI(t, "", "test", "--junit", report, "testdata/burst.yaml")
	data, err := os.ReadFile(report)
	if code != 1 || err != nil {
		t.Fatalf("code %d, %v", code, err)
	}
	var suite junitSuite
	if err := xml.Unmarshal(data, &suite); err != nil {
		t.Fatalf("not JUnit XML: %v\n%s", err, data)
	}
	if suite.Tests != 2 || suite.Failures != 1 || len(suite.Cases) != 2 {
		t.Fatalf("suite %+v", suite)
	}
	ok, bad := suite.Cases[0], suite.Cases[1]
	if ok.Class != "burst" || ok.Name != "two exports alert once, the third is suppressed" || ok.Failure != nil || ok.File != "testdata/burst.yaml" || ok.Line != 10 {
		t.Errorf("passing case %+v", ok)
	}
	if bad.Name != "a wrong expectation fails" || bad.Failure == nil || bad.Failure.Message != "expected an alert, got none (1 of 1 event(s) matched, 0 suppressed)" ||
		!strings.HasPrefix(bad.Failure.Text, "testdata/burst.yaml:16: ") {
		t.Errorf("failing case %+v", bad)
	}
	if code, _, errs := runCLI(t, "", "test", "--junit", filepath.Join(t.TempDir(), "no", "such", "dir.xml"), "testdata/burst.yaml"); code != 1 || !strings.Contains(errs, "writing the JUnit report") {
		t.Errorf("unwritable report: %d %q", code, errs)
	}
}

func TestBrokenRulesFailTheirTests(t *testing.T) {
	code, out, _ := runCLI(t, "", "test", "testdata/broken.yaml")
	want := "FAIL crashes/a crashing rule does not pass expect none (testdata/broken.yaml:6)\n" +
		"     the rule failed to evaluate: event 1: invalid operation: int() (1:1)\n" +
		"FAIL bad-title/a title that fails to render fails the test (testdata/broken.yaml:14)\n" +
		"     the rule failed to evaluate: event 1: template: invalid operation: int(x) (1:2)\n" +
		"0 passed, 2 failed\n"
	if code != 1 || out != want {
		t.Fatalf("code %d, stdout:\n%s\nwant:\n%s", code, out, want)
	}
}

func TestExampleRulesPass(t *testing.T) {
	code, out, errs := runCLI(t, "", "test", "../../examples/rules")
	if code != 0 {
		t.Fatalf("alerter test examples/rules failed (%d):\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("no summary: %s", out)
	}
}

func TestReplayInEventTimeOrder(t *testing.T) {
	code, out, errs := runCLI(t, "", "replay", "--rules", "testdata/burst.yaml", "--events", "testdata/events.jsonl")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	var alerts []alerter.Alert
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a alerter.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		alerts = append(alerts, a)
	}
	// Sorted by time: 1 (10:00), 2 (10:05) fire; 3 (10:12) is suppressed;
	// 4 (10:50) is past the 30m dedup window and starts a new count; 5 fires
	// and carries the one suppressed event.
	if len(alerts) != 2 ||
		strings.Join(alerts[0].EventIDs, ",") != "1,2" || alerts[0].Time.Format("15:04") != "10:05" ||
		strings.Join(alerts[1].EventIDs, ",") != "4,5" || alerts[1].Suppressed != 1 {
		t.Fatalf("alerts: %s", out)
	}
	if !strings.Contains(errs, "replayed 6 events from 2024-05-14T10:00:00Z to 2024-05-14T10:51:00Z: 2 alerts, 1 suppressed, 0 rule errors") {
		t.Fatalf("summary: %q", errs)
	}
}

// Replay makes the lifecycle deadlines in event time: an escalate: after
// step at the alert's time plus after, a digest at the end of its period,
// a resolve.after once the group had no match that long. Escalations and
// digests are printed as they come; all three are counted in the summary.
func TestReplayTimers(t *testing.T) {
	orig, err := os.ReadFile("testdata/burst.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(orig), "    dedup: {window: 30m}\n",
		"    dedup: {window: 30m}\n    escalate: [{after: 9m}]\n    digest: 5m\n    resolve: {after: 20m}\n", 1)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "", "replay", "--rules", rules, "--events", "testdata/events.jsonl")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errs)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a alerter.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		kind := "alert"
		switch {
		case a.Escalation > 0:
			kind = "escalation"
		case a.Digest != nil:
			kind = fmt.Sprintf("digest of %d", a.Digest.Count)
		}
		got = append(got, kind+" at "+a.Time.Format("15:04"))
	}
	// 2 fires at 10:05, 3 is suppressed at 10:12; the escalation is due at
	// 10:14, the digest at 10:17, the resolve at 10:32 (and a slack of
	// 37.5s); 4 and 5 then fire a new alert, whose step falls after the
	// last event: replay moves time no further than that.
	want := []string{"alert at 10:05", "escalation at 10:14", "digest of 1 at 10:17", "alert at 10:51"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("replayed:\n%s\nwant:\n%s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	if !strings.Contains(errs, ": 2 alerts, 1 escalations, 1 resolves, 1 digests, 1 suppressed, 0 rule errors") {
		t.Fatalf("summary: %q", errs)
	}
}

// replay --against: what a change to the rules does to the alerts, over
// the same events.
func TestReplayAgainst(t *testing.T) {
	orig, err := os.ReadFile("testdata/burst.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, from, to []string) string {
		src := string(orig)
		for i := range from {
			src = strings.Replace(src, from[i], to[i], 1)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(src), 0o644)
		return p
	}
	type line struct {
		Change string
		Alert  alerter.Alert
	}
	run := func(rules string) (got []string, summary string) {
		t.Helper()
		code, out, errs := runCLI(t, "", "replay", "--rules", rules, "--against", "testdata/burst.yaml", "--events", "testdata/events.jsonl")
		if code != 0 {
			t.Fatalf("code %d: %s", code, errs)
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var c line
			if err := json.Unmarshal([]byte(l), &c); err != nil {
				t.Fatalf("not JSON: %q", l)
			}
			got = append(got, c.Change+" "+c.Alert.Time.Format("15:04")+" "+c.Alert.Title)
		}
		return got, errs
	}

	// Only the title changes: the same alerts, changed.
	got, summary := run(write("title.yaml", []string{"exported {{ 2 }} times"}, []string{"exported a lot"}))
	if want := "changed 10:05 akumar exported a lot|changed 10:51 akumar exported a lot"; strings.Join(got, "|") != want {
		t.Errorf("title change:\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
	if !strings.Contains(summary, "2 alerts with --against, 2 with --rules (0 added, 0 removed, 2 changed)") || !strings.Contains(summary, "every rule fired as many alerts on both sides") {
		t.Errorf("title change summary: %q", summary)
	}

	// Three within an hour instead of two within 10 minutes: one alert,
	// later, instead of two.
	got, summary = run(write("count.yaml", []string{"count: 2, within: 10m"}, []string{"count: 3, within: 60m"}))
	if want := "removed 10:05 akumar exported 2 times|added 10:12 akumar exported 2 times|removed 10:51 akumar exported 2 times"; strings.Join(got, "|") != want {
		t.Errorf("threshold change:\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
	if !strings.Contains(summary, "(1 added, 2 removed, 0 changed)") || !strings.Contains(summary, "burst  2          1") {
		t.Errorf("threshold change summary: %q", summary)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{nil, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"replay", "--rules", "testdata/burst.yaml"}, 2, "give --events FILE or --since DURATION"},
		{[]string{"replay", "--events", "nope.jsonl", "--rules", "testdata/burst.yaml"}, 1, "no such file"},
		{[]string{"replay", "--events", "-", "--rules", "testdata/burst.yaml", "--format", "xml"}, 1, "xml"},
		{[]string{"validate", "--nope"}, 2, "flag provided but not defined"},
		{[]string{"test", "does/not/exist"}, 1, "does/not/exist: read rules: no such file or directory"},
	}
	for _, tt := range tests {
		code, _, errs := runCLI(t, "{}", tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.err) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tt.args, code, errs, tt.code, tt.err)
		}
	}
	code, out, _ := runCLI(t, "", "help", "replay")
	if code != 0 || !strings.Contains(out, "event-time order") {
		t.Errorf("help replay: %d %q", code, out)
	}
}

func TestCommandsWithConfig(t *testing.T) {
	const secret = "hunter2-very-secret"
	t.Setenv("TEST_HOOK_SECRET", secret)
	cfg := "testdata/withconfig/alerter.yaml"

	code, out, errs := runCLI(t, "", "validate", "--config", cfg)
	if code != 0 || !strings.Contains(out, "ok: 1 rules") || !strings.Contains(out, "ok: config "+cfg+": 1 sources, 2 notifiers") {
		t.Errorf("validate: %d %q %q", code, out, errs)
	}
	code, _, errs = runCLI(t, "", "validate", "--config", cfg, "testdata/withconfig/unknown-notifier.yaml")
	if code != 1 || !strings.Contains(errs, "unknown-notifier.yaml:5:13:") || !strings.Contains(errs, "slack-nowhere") {
		t.Errorf("validate with an unknown notifier: %d %q", code, errs)
	}
	code, out, errs = runCLI(t, "", "test", "--config", cfg)
	if code != 0 || !strings.Contains(out, "2 passed, 0 failed") {
		t.Errorf("test: %d %q %q", code, out, errs)
	}
	// Without the config the list and the routes are missing.
	if code, _, _ := runCLI(t, "", "validate", "testdata/withconfig/rules.yaml"); code != 1 {
		t.Errorf("validate without the config's lists passed")
	}
	code, out, errs = runCLI(t, `{"id":"e","time":"2024-05-14T10:00:00Z","action":"Global setting changed","actor":{"name":"bob"}}`,
		"replay", "--config", cfg, "--rules", "testdata/withconfig/rules.yaml", "--events", "-")
	var a alerter.Alert
	if err := json.Unmarshal([]byte(out), &a); code != 0 || err != nil || strings.Join(a.Notify, ",") != "pager,console" {
		t.Errorf("replay: %d %q %q (%v)", code, out, errs, err)
	}
	for _, s := range []string{out, errs} {
		if strings.Contains(s, secret) {
			t.Errorf("a secret was printed: %q", s)
		}
	}

	os.Unsetenv("TEST_HOOK_SECRET")
	code, _, errs = runCLI(t, "", "validate", "--config", cfg)
	if code != 1 || !strings.Contains(errs, "alerter.yaml:5:47: environment variable TEST_HOOK_SECRET is not set") {
		t.Errorf("validate with the variable unset: %d %q", code, errs)
	}
	// Where the secrets are not set (a rules repository's CI job), the
	// rules are still checked against the config's lists and notifiers.
	code, _, errs = runCLI(t, "", "validate", "--config", cfg, "testdata/withconfig/unknown-notifier.yaml")
	if code != 1 || !strings.Contains(errs, "TEST_HOOK_SECRET") || !strings.Contains(errs, "unknown-notifier.yaml:5:13:") {
		t.Errorf("validate with the variable unset and an unknown notifier: %d %q", code, errs)
	}
}

// The silence commands against a running alerter.
func TestSilenceCommands(t *testing.T) {
	dir := t.TempDir()
	// Two rules: with burst.yaml's alone, rule=burst would mute every
	// alert, which is refused.
	svc, stop := startService(t, dir, fmt.Sprintf("server: {listen: \"127.0.0.1:0\"}\nnats: {embedded: {store_dir: %q}}\nrules: {paths: [testdata/burst.yaml, testdata/crash-rules.yaml]}\nsources: [{name: in, type: webhook}]\n", dir))
	defer stop()
	url := "http://" + svc.Addr()

	// Two bursts, svc-backup's and akumar's: a dry run lists what the
	// matchers would mute, and creates nothing.
	for i, actor := range []string{"svc-backup", "svc-backup", "akumar", "akumar"} {
		body := fmt.Sprintf(`{"id":"x%d","time":"2024-05-14T10:0%d:00Z","action":"export","actor":{"name":%q}}`, i, i, actor)
		resp, err := http.Post(url+"/webhooks/in", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, out, _ := runCLI(t, "", "silence", "add", "--url", url, "--dry-run", "rule=burst")
		if strings.HasPrefix(out, "would silence 2 of the last 2 alerts:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the two alerts never showed: %q", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, out, errs := runCLI(t, "", "silence", "add", "--url", url, "--dry-run", "rule=burst", "group.event.actor.name=~svc-.*")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || lines[0] != "would silence 1 of the last 2 alerts:" ||
		!strings.Contains(lines[1], "high  burst  svc-backup exported 2 times") {
		t.Errorf("dry run: %d %q %q", code, out, errs)
	}
	if _, out, _ := runCLI(t, "", "silence", "list", "--url", url, "--all"); strings.Count(out, "\n") != 1 {
		t.Errorf("a dry run created a silence: %q", out)
	}

	code, out, errs = runCLI(t, "", "silence", "add", "--url", url, "--for", "2h", "--comment", "maintenance", "--author", "kim", "rule=burst", "group.event.actor.name=~svc-.*")
	id := strings.TrimSpace(out)
	if code != 0 || len(id) != 26 {
		t.Fatalf("add: %d %q %q", code, out, errs)
	}
	code, out, _ = runCLI(t, "", "silence", "list", "--url", url)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "rule=burst group.event.actor.name=~svc-.*") || !strings.Contains(out, "active") {
		t.Errorf("list: %d %q", code, out)
	}
	if code, out, _ = runCLI(t, "", "silence", "expire", "--url", url, id); code != 0 || !strings.Contains(out, "expired "+id) {
		t.Errorf("expire: %d %q", code, out)
	}
	if _, out, _ = runCLI(t, "", "silence", "list", "--url", url); strings.Contains(out, id) {
		t.Errorf("an expired silence is listed without --all: %q", out)
	}
	if _, out, _ = runCLI(t, "", "silence", "list", "--url", url, "--all"); !strings.Contains(out, "expired") {
		t.Errorf("list --all: %q", out)
	}
	code, _, errs = runCLI(t, "", "silence", "add", "--url", url, "--for", "1h", "--comment", "x", "severity!=low")
	if code != 1 || !strings.Contains(errs, "could match every alert") {
		t.Errorf("a silence of everything: %d %q", code, errs)
	}
	code, _, errs = runCLI(t, "", "silence", "add", "--url", url, "--for", "1h", "--comment", "x", "--author", "kim", "rule=~burst|setting-changed")
	if code != 1 || !strings.Contains(errs, "would mute everything") {
		t.Errorf("a silence of every rule: %d %q", code, errs)
	}
	code, _, errs = runCLI(t, "", "silence", "expire", "--url", url, "01NOSUCHSILENCE0000000000X")
	if code != 1 || !strings.Contains(errs, "no such silence") {
		t.Errorf("expire unknown: %d %q", code, errs)
	}
	code, _, errs = runCLI(t, "", "silence", "list", "--url", "http://127.0.0.1:1")
	if code != 1 || !strings.Contains(errs, "is alerter running at http://127.0.0.1:1?") {
		t.Errorf("no server: %d %q", code, errs)
	}
}

func TestNotifyTest(t *testing.T) {
	var got atomic.Int32
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if r.URL.Path == "/denied" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "alerter.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `notifiers:
  - {name: siem, type: webhook, url: %q}
  - {name: down, type: webhook, url: %q}
  - {name: denied, type: webhook, url: %q}
  - {name: console, type: console}
`, srv.URL+"/in", srv.URL+"/down", srv.URL+"/denied"), 0o644)

	code, _, errs := runCLI(t, "", "notify", "test", "--config", cfg, "--severity", "critical", "siem")
	if code != 0 || got.Load() != 1 || !strings.Contains(errs, "sent a test alert to siem (webhook)") {
		t.Fatalf("notify test siem: %d %q, %d received", code, errs, got.Load())
	}
	var a alerter.Alert
	if err := json.Unmarshal(body, &a); err != nil || a.Severity != "critical" || !strings.HasPrefix(a.Title, "Test notification from alerter") {
		t.Errorf("the target received %s (%v)", body, err)
	}
	if code, _, errs = runCLI(t, "", "notify", "test", "--config", cfg, "down"); code != 1 || !strings.Contains(errs, "may work later") {
		t.Errorf("down: %d %q", code, errs)
	}
	if code, _, errs = runCLI(t, "", "notify", "test", "--config", cfg, "denied"); code != 1 || !strings.Contains(errs, "check the configuration") {
		t.Errorf("denied: %d %q", code, errs)
	}
	if code, out, _ := runCLI(t, "", "notify", "test", "--config", cfg, "console"); code != 0 || !strings.Contains(out, "HIGH soteri-protection-weakened \"Test notification") {
		t.Errorf("console: %d %q", code, out)
	}
	if code, _, errs = runCLI(t, "", "notify", "test", "--config", cfg, "nope"); code != 1 || !strings.Contains(errs, `no notifier "nope"`) {
		t.Errorf("unknown: %d %q", code, errs)
	}
}

func TestExplainCommand(t *testing.T) {
	dir := t.TempDir()
	svc, stop := startService(t, dir, fmt.Sprintf("server: {listen: \"127.0.0.1:0\"}\nnats: {embedded: {store_dir: %q}}\nrules: {paths: [testdata/crash-rules.yaml]}\nsources: [{name: hook, type: webhook}]\nnotifiers: [{name: console, type: console}]\nroutes: {default: [console]}\n", dir))
	defer stop()
	url := "http://" + svc.Addr()
	resp, err := http.Post(url+"/webhooks/hook", "application/json", strings.NewReader(crashEvents(1)[0]))
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	resp.Body.Close()
	var out string
	for range 100 {
		var code int
		code, out, _ = runCLI(t, "", "explain", "--url", url, "ev-0-0")
		if code == 0 && strings.Contains(out, "→ console: sent") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"event ev-0-0: Global setting changed", "setting-changed: MATCH", `true   event.action == "Global setting changed"`, "decision: fired alert ", "→ console: sent"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if code, _, errs := runCLI(t, "", "explain", "--url", url, "nope"); code != 1 || !strings.Contains(errs, `no event "nope"`) {
		t.Errorf("unknown event: %d %q", code, errs)
	}
	// Without the id: found by words.
	code, out, errs := runCLI(t, "", "explain", "--url", url, "--find", "USER0 global")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") ||
		!strings.HasPrefix(lines[1], "ev-0-0  2024-05-14T10:00:00Z  Global setting changed  user0") {
		t.Errorf("--find: %d %q %q", code, out, errs)
	}
	if code, out, _ := runCLI(t, "", "explain", "--url", url, "--find", "nobody"); code != 0 || out != "no stored event has all of \"nobody\"\n" {
		t.Errorf("--find nothing: %d %q", code, out)
	}
	if code, _, _ := runCLI(t, "", "explain", "--url", url, "--find", "x", "ev-0-0"); code != 2 {
		t.Errorf("--find and an id: %d", code)
	}

	// ev-0-0 is now older than the 20,000 events a page of the search
	// reads: --find goes on to the next page for it.
	for b := range 10 {
		var body strings.Builder
		for i := range 2000 {
			fmt.Fprintf(&body, `{"id":"v-%d-%d","time":"2024-05-14T11:00:00Z","action":"view","actor":{"name":"viewer"}}`+"\n", b, i)
		}
		resp, err := http.Post(url+"/webhooks/hook", "application/x-ndjson", strings.NewReader(body.String()))
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("POST: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	// A page of 20,000 events takes seconds under -race on a loaded
	// machine: more than the default 30 s per request at worst.
	code, out, errs = runCLI(t, "", "explain", "--url", url, "--timeout", "5m", "--find", "user0 global")
	if code != 0 || !strings.Contains(out, "ev-0-0  2024-05-14T10:00:00Z") {
		t.Errorf("--find past the first page: %d %q %q", code, out, errs)
	}
}

// replay --since reads the EVENTS stream: from a running alerter's
// embedded server, and from its store once it stopped.
func TestReplaySince(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "alerter.yaml")
	port := natscluster.FreePort(t)
	svc, stop := startService(t, dir, fmt.Sprintf("server: {listen: \"127.0.0.1:0\"}\nnats: {embedded: {store_dir: %q, listen: \"127.0.0.1:%d\"}}\nrules: {paths: [testdata/crash-rules.yaml]}\nsources: [{name: hook, type: webhook}]\nnotifiers: [{name: console, type: console}]\nroutes: {default: [console]}\n", filepath.Join(dir, "nats"), port))
	for _, body := range crashEvents(3) { // 3 actors, twice each
		resp, err := http.Post("http://"+svc.Addr()+"/webhooks/hook", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("POST: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	check := func(when string) {
		t.Helper()
		code, out, errs := runCLI(t, "", "replay", "--since", "1h", "--config", cfgFile)
		if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(errs, "replayed 6 events") || !strings.Contains(errs, "3 alerts, 3 suppressed") {
			t.Errorf("%s: %d\n%s\n%s", when, code, out, errs)
		}
	}
	check("alerter running")
	stop()
	check("alerter stopped")
	if code, _, errs := runCLI(t, "", "replay", "--since", "1h", "--events", "x.json"); code != 2 || !strings.Contains(errs, "give --events FILE or --since DURATION") {
		t.Errorf("both: %d %q", code, errs)
	}
}

// The example config is valid, and valid with the example rules.
func TestExampleConfig(t *testing.T) {
	for _, v := range []string{"ALERTER_API_TOKEN", "CONFLUENCE_WEBHOOK_SECRET", "CONFLUENCE_TOKEN", "SLACK_WEBHOOK_URL",
		"SMTP_USER", "SMTP_PASSWORD", "PAGERDUTY_ROUTING_KEY", "SIEM_WEBHOOK_SECRET"} {
		t.Setenv(v, "test-value-"+strings.ToLower(v))
	}
	t.Setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/x")
	t.Chdir("../..") // the config names examples/rules, relative to the repository
	code, out, errs := runCLI(t, "", "validate", "--config", "examples/alerter.yaml")
	if code != 0 || !strings.Contains(out, "ok: config examples/alerter.yaml: 4 sources, 5 notifiers") {
		t.Fatalf("validate: %d %q %q", code, out, errs)
	}
	if strings.Contains(out+errs, "test-value-") {
		t.Errorf("a secret was printed: %q %q", out, errs)
	}
}

// startService writes yaml into dir/alerter.yaml and runs alerter on it
// in this process; stop stops it (once).
func startService(t *testing.T, dir, yaml string) (svc *app.App, stop func()) {
	t.Helper()
	file := filepath.Join(dir, "alerter.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(file, os.LookupEnv, builtin.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	svc, err = app.New(ctx, c, app.Options{Stdout: io.Discard})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return svc, stop
}

// After an outage: the dead letters are listed, then handed back in one
// command, each once.
func TestDeadLettersCommands(t *testing.T) {
	var up atomic.Bool
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	dir := t.TempDir()
	svc, stop := startService(t, dir, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/crash-rules.yaml]}
sources: [{name: hook, type: webhook}]
notifiers: [{name: siem, type: webhook, url: %q, max_attempts: 1}]
routes: {default: [siem]}
`, dir, srv.URL))
	defer stop()
	url := "http://" + svc.Addr()
	for _, body := range crashEvents(2)[:2] { // two actors, two alerts
		resp, err := http.Post(url+"/webhooks/hook", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("POST: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	var out string
	for range 200 {
		_, out, _ = runCLI(t, "", "deadletters", "list", "--url", url)
		if strings.Count(out, "\n") == 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "siem") || !strings.Contains(lines[1], "1 attempts failed") {
		t.Fatalf("list: %q", out)
	}

	up.Store(true)
	code, out, errs := runCLI(t, "", "deadletters", "redeliver", "--url", url, "--notifier", "siem")
	if code != 0 || strings.Count(out, "handed back 0") != 2 || !strings.HasSuffix(out, "2 handed back, 0 skipped (handed back already or delivered since), 0 failed\n") {
		t.Fatalf("redeliver: %d %q %q", code, out, errs)
	}
	for range 200 {
		if got.Load() == 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got.Load() != 2 {
		t.Fatalf("the mended target got %d alerts, want 2", got.Load())
	}
	code, out, _ = runCLI(t, "", "deadletters", "redeliver", "--url", url)
	if code != 0 || !strings.HasSuffix(out, "0 handed back, 2 skipped (handed back already or delivered since), 0 failed\n") {
		t.Errorf("redeliver again: %d %q", code, out)
	}
	if code, _, errs := runCLI(t, "", "deadletters", "redeliver", "--url", url, "01NOSUCHALERT0000000000000"); code != 1 || !strings.Contains(errs, "no dead letter of 01NOSUCHALERT") {
		t.Errorf("an alert with no dead letter: %d %q", code, errs)
	}
	time.Sleep(100 * time.Millisecond)
	if got.Load() != 2 {
		t.Errorf("the target got %d alerts in all, want 2", got.Load())
	}

	// alerter alerts: the two alerts, delivered in the end.
	code, out, errs = runCLI(t, "", "alerts", "--url", url)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "FIRED") ||
		!strings.Contains(lines[1], "high      firing  setting-changed  siem sent") || !strings.Contains(out, "user1 changed a global setting") {
		t.Errorf("alerts: %d %q %q", code, out, errs)
	}
	for args, want := range map[string]int{
		"--group user0":                    1,
		"--rule setting-changed --limit 1": 1,
		"--severity low":                   0,
		"--since 1h":                       0, // the events are of 2024
	} {
		code, out, errs := runCLI(t, "", append([]string{"alerts", "--url", url}, strings.Fields(args)...)...)
		n := strings.Count(out, "changed a global setting")
		if code != 0 || n != want || (want == 0 && out != "no alerts\n") {
			t.Errorf("alerts %s: %d, %d alerts, want %d: %q %q", args, code, n, want, out, errs)
		}
	}
	if code, _, errs := runCLI(t, "", "alerts", "--url", url, "--severity", "urgent"); code != 2 || !strings.Contains(errs, "--severity") {
		t.Errorf("a bad severity: %d %q", code, errs)
	}

	// alerter ack and resolve: where the alert stands, by whom (the
	// remote address, without tokens), and a second time "already".
	fields := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])
	id := fields[len(fields)-1]
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ack", "--comment", "on it", id}, 0, id + " acknowledged by 127.0.0.1 at "},
		{[]string{"ack", id}, 0, "(already): user"},
		{[]string{"resolve", "--verdict", "benign", id}, 0, id + " resolved by 127.0.0.1 at "},
		{[]string{"resolve", "--verdict", "maybe", id}, 1, "want true_positive, false_positive or benign"},
		{[]string{"ack", id}, 1, "it cannot be acknowledged"},
		{[]string{"ack"}, 2, "name the alert IDs"},
	} {
		code, out, errs := runCLI(t, "", append([]string{tc.args[0], "--url", url}, tc.args[1:]...)...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%v: %d %q %q, want %d and %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}
	if code, out, _ := runCLI(t, "", "alerts", "--url", url, "--status", "resolved"); code != 0 || strings.Count(out, "resolved (127.0.0.1)") != 1 {
		t.Errorf("alerts --status resolved: %d %q", code, out)
	}
}
