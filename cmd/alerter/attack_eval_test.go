package main

// Attacks on evaluation: rule text that would crash expr's parser, strings
// that grow past any memory, loops that would hold a core for hours, sent
// through the playground (POST /api/v1/evaluate) or loaded from a rule file.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

const (
	// attackLoop would take hours: 10^12 turns.
	attackLoop = `let a = 1..1000; all(a, {all(a, {all(a, {all(a, {true})})})})`
	// attackEvent is an event the default attack rules alert on.
	attackEvent = `{"id":%q,"time":"2024-05-14T10:00:00Z","action":"Global setting changed","actor":{"name":"ann"}}`
)

// attackDoubling is the 20 doublings of a 99,999-byte string: 100 GB.
func attackDoubling() string {
	var b strings.Builder
	b.WriteString(`let a = repeat("x", 99999); let v1 = a + a; `)
	for i := 2; i <= 20; i++ {
		fmt.Fprintf(&b, "let v%d = v%d + v%d; ", i, i-1, i-1)
	}
	b.WriteString("len(v20) > 0")
	return b.String()
}

// evaluateBody is a playground request: one rule whose when is given, over
// n copies of the attack event.
func evaluateBody(when string, n int) []byte {
	evs := make([]string, n)
	for i := range evs {
		evs[i] = fmt.Sprintf(attackEvent, fmt.Sprint("p", i))
	}
	b, _ := json.Marshal(map[string]string{
		"rule":   "id: try\nseverity: low\nwhen: '" + when + "'\n",
		"events": strings.Join(evs, "\n"),
	})
	return b
}

// evalAnswer is the part of the playground's answer the attacks read.
type evalAnswer struct {
	OK     bool `json:"ok"`
	Errors []struct {
		Line, Column int
		Message      string
	} `json:"errors"`
	Results []struct {
		Errors []string `json:"errors"`
	} `json:"results"`
}

func (tg *target) evaluate(body []byte) (int, evalAnswer) {
	tg.t.Helper()
	code, text := tg.do(request{method: "POST", path: "/api/v1/evaluate", body: body})
	var a evalAnswer
	if err := json.Unmarshal([]byte(text), &a); err != nil {
		tg.t.Fatalf("answer %d is not JSON: %.200q", code, text)
	}
	return code, a
}

// cpuSeconds is the CPU time the process has used.
func (tg *target) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tg.cmd.Process.Pid))
	if err != nil {
		tg.t.Fatal(err)
	}
	// The fields after the command's ")": state is the first, utime and
	// stime the 12th and 13th, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// waitOutput waits until the process printed want.
func (tg *target) waitOutput(want string) {
	tg.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(tg.output(), want); {
		if time.Now().After(deadline) {
			tg.t.Fatalf("alerter did not print %q:\n%s", want, lastLines(tg.output(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A megabyte of "(" in a rule overflowed expr's parser's stack, a fatal
// error that ended the process; 300,000 of them took 800 MB. The nesting
// is refused before it is parsed, where it passes the limit.
func TestAttackEvalDeepNesting(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	before := tg.rssBytes()
	body := evaluateBody(strings.Repeat("(", 520000)+"true"+strings.Repeat(")", 520000), 1)
	code, a := tg.evaluate(body)
	tg.mustBeAlive()
	if code != 200 || a.OK || len(a.Errors) != 1 || a.Errors[0].Line != 3 || a.Errors[0].Column != 65544 ||
		!strings.Contains(a.Errors[0].Message, "over the limit of 64 KiB") {
		t.Errorf("1 MB of parentheses: %d %+v", code, a.Errors)
	}
	// Within the length limit, the nesting is what is refused.
	code, a = tg.evaluate(evaluateBody(strings.Repeat("(", 30000)+"true"+strings.Repeat(")", 30000), 1))
	if code != 200 || a.OK || len(a.Errors) != 1 || a.Errors[0].Column != 108 || !strings.Contains(a.Errors[0].Message, "more than 100 levels deep") {
		t.Errorf("30,000 parentheses: %d %+v", code, a.Errors)
	}
	after := tg.rssBytes()
	t.Logf("RSS %d MB before, %d MB after", before>>20, after>>20)
	if after > 300<<20 {
		t.Errorf("RSS grew from %d MB to %d MB", before>>20, after>>20)
	}
}

// Twenty doublings of a string ran the process out of memory: expr's budget
// did not count string bytes. They fail on the evaluation's byte budget.
func TestAttackEvalStringDoubling(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	when := attackDoubling()
	if len(when) > 600 {
		t.Fatalf("the attack is %d bytes, not a few hundred", len(when))
	}
	code, a := tg.evaluate(evaluateBody(when, 1))
	tg.mustBeAlive()
	if code != 200 || len(a.Results) != 1 || len(a.Results[0].Errors) != 1 ||
		!strings.Contains(a.Results[0].Errors[0], "memory budget exceeded: an evaluation may build 16 MiB") {
		t.Fatalf("doubling: %d %+v", code, a)
	}
	// The same through replace, which grows quadratically.
	code, a = tg.evaluate(evaluateBody(`let s = repeat("x", 10000); len(replace(s, "", s)) > 0`, 1))
	if code != 200 || len(a.Results) != 1 || len(a.Results[0].Errors) != 1 || !strings.Contains(a.Results[0].Errors[0], "memory budget exceeded") {
		t.Fatalf("replace: %d %+v", code, a)
	}
	tg.mustBeAlive()
	t.Logf("RSS %d MB", tg.rssBytes()>>20)
}

// A loop of 10^12 turns held a core for minutes, after its client left.
// Each rule on each event stops at its time limit, and a request's work
// stops when its client leaves.
func TestAttackEvalRunawayLoop(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	code, a := tg.evaluate(evaluateBody(attackLoop, 1))
	if code != 200 || len(a.Results) != 1 || len(a.Results[0].Errors) != 1 ||
		!strings.Contains(a.Results[0].Errors[0], "time limit exceeded: an evaluation may run for 100ms") {
		t.Fatalf("one event: %d %+v", code, a)
	}

	// Two clients take both playground slots with a thousand events each
	// (100 s of work), and leave.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", tg.url+"/api/v1/evaluate", bytes.NewReader(evaluateBody(attackLoop, 1000)))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("the request was answered (%d) before its client left", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	// Had their work gone on, the slots would be held for 10 s, and this
	// request turned away after waiting 5.
	if code, a := tg.evaluate(evaluateBody("true", 1)); code != 200 || !a.OK {
		t.Fatalf("after the clients left: %d %+v", code, a)
	}
	// And no core is held.
	cpu := tg.cpuSeconds()
	time.Sleep(time.Second)
	if used := tg.cpuSeconds() - cpu; used > 0.5 {
		t.Errorf("alerter used %.2f s of CPU in the second after", used)
	}
	tg.mustBeAlive()
}

// 32 runaway playground requests starved live evaluation and made SIGTERM
// take 19 s. A few run at a time, live events still alert, and the process
// stops promptly.
func TestAttackEvalConcurrentRunaways(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 32 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", tg.url+"/api/v1/evaluate", bytes.NewReader(evaluateBody(attackLoop, 1000)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				return // the process stopping under it
			}
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	time.Sleep(500 * time.Millisecond) // the requests are in
	if code, _ := tg.do(request{method: "POST", path: "/webhooks/hook", body: fmt.Appendf(nil, attackEvent, "live-1")}); code != 202 {
		t.Fatalf("live event: %d", code)
	}
	tg.waitOutput("ann changed a global setting")

	// Turned away past the slots, with the time to come back.
	code, text := tg.do(request{method: "POST", path: "/api/v1/evaluate", body: evaluateBody("true", 1)})
	if code != http.StatusServiceUnavailable || !strings.Contains(text, `"error":"the playground is busy`) {
		t.Errorf("a request past the slots: %d %s", code, text)
	}

	began := time.Now()
	if err := tg.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = tg.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
		t.Logf("exited %v after SIGTERM", time.Since(began).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatalf("alerter did not exit within 5 s of SIGTERM:\n%s", lastLines(tg.output(), 20))
	}
	wg.Wait()
	t.Logf("answers: %v", codes)
}

// A rule file with a runaway condition: the rule is stopped on each event
// and reported, and the other rules alert.
func TestAttackEvalRunawayRuleFile(t *testing.T) {
	tg := startTarget(t, targetConfig{rules: `
rules:
  - id: runaway
    severity: low
    when: '` + attackLoop + `'
  - id: setting-changed
    severity: high
    when: event.action == "Global setting changed"
    title: "{{ event.actor.name }} changed a global setting"
`})
	if code, _ := tg.do(request{method: "POST", path: "/webhooks/hook", body: fmt.Appendf(nil, attackEvent, "f1")}); code != 202 {
		t.Fatalf("event: %d", code)
	}
	tg.waitOutput("ann changed a global setting")
	tg.waitOutput("time limit exceeded")
	for line := range strings.Lines(tg.output()) {
		if strings.Contains(line, "time limit exceeded") && !strings.Contains(line, `"rule":"runaway"`) {
			t.Errorf("the runaway rule is not named: %s", line)
		}
	}
	code, text := tg.do(request{method: "GET", path: "/metrics"})
	if code != 200 || !strings.Contains(text, `alerter_rule_errors_total{rule="runaway"} 1`) {
		t.Errorf("the rule's error is not counted: %d", code)
	}
	tg.mustBeAlive()
}

// An event field of hundreds of kilobytes grouping an absence and a quiet
// rule: the group value is cut (to 1 KiB with a hash), so the pending
// deadline stays within what the deadlines store takes, the event is
// evaluated once rather than handed back for ever, and both deadlines fire
// with the cut value (docs/rules.md, Absences).
func TestAttackEvalLongGroupValueDeadline(t *testing.T) {
	tg := startTarget(t, targetConfig{rules: `
rules:
  - id: left-off
    severity: high
    sequence:
      by: [event.actor.name]
      within: 1s
      steps:
        - {name: "off", when: event.action == "Scanning rule toggled"}
        - {name: "on", when: event.action == "Scanning rule enabled", absent: true}
    title: "left off by {{ len(event.actor.name) }}-byte name"
  - id: gone-quiet
    severity: high
    when: "true"
    quiet: {within: 1s, by: [event.actor.name]}
    title: "quiet: {{ len(event.actor.name) }}-byte name"
`, rest: `
sources: [{name: hook, type: webhook}]
notifiers: [{name: console, type: console}]
routes: {default: [console]}
engine: {lateness: 0s}
`})
	name := strings.Repeat("A", 300_000)
	body := fmt.Sprintf(`{"id":"long","time":%q,"action":"Scanning rule toggled","actor":{"name":%q}}`, time.Now().UTC().Format(time.RFC3339Nano), name)
	if code, text := tg.do(request{method: "POST", path: "/webhooks/hook", body: []byte(body)}); code != 202 {
		t.Fatalf("event: %d %s", code, text)
	}
	tg.waitOutput("left off by 300000-byte name")
	tg.waitOutput("quiet: 300000-byte name")
	if n := evaluatedEvents(t, tg, 1); n != 1 {
		t.Errorf("%d evaluations of the one event", n)
	}
	// The console prints the group as actor.name=VALUE.
	group := regexp.MustCompile(`actor\.name=(\S+)`)
	for line := range strings.Lines(tg.output()) {
		if m := group.FindStringSubmatch(line); strings.Contains(line, "left off by") && (m == nil || len(m[1]) > 1024) {
			t.Errorf("the group value was not cut: %s", regexp.MustCompile("A{50,}").ReplaceAllString(line, "A…"))
		}
	}
	tg.mustBeAlive()
}
