package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/rules"
)

const (
	loopForever = `let a = 1..1000; all(a, {all(a, {all(a, {all(a, {true})})})})`
	doubling    = `let a = repeat("x", 99999); let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; let h = g + g; let i = h + h; len(i + i) > 0`
)

// The playground runs rules anyone who reaches the API writes: they get a
// clear answer, and the process its memory and its cores back.
func TestPlaygroundLimits(t *testing.T) {
	r := start(t, t.TempDir())
	eval := func(rule string) (int, http.Header, EvalResponse) {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"rule": rule, "events": setting("x1", "zoe", "2024-05-14T10:00:00Z")})
		resp, err := http.Post(r.url+"/api/v1/evaluate", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out EvalResponse
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, body)
		}
		return resp.StatusCode, resp.Header, out
	}
	one := func(when string) string {
		return fmt.Sprintf("id: try\nseverity: low\nwhen: '%s'\n", when)
	}

	// Nesting that would overflow expr's parser is refused before it.
	code, _, out := eval(one(strings.Repeat("(", 30000) + "true" + strings.Repeat(")", 30000)))
	if code != 200 || out.OK || len(out.Errors) != 1 || out.Errors[0].Line != 3 || out.Errors[0].Column != 108 ||
		!strings.Contains(out.Errors[0].Message, "more than 100 levels deep") {
		t.Errorf("deep nesting: %d %+v", code, out.Errors)
	}
	// Growth and loops stop at their limits, as errors of the rule.
	for when, want := range map[string]string{doubling: "memory budget exceeded", loopForever: "time limit exceeded"} {
		code, _, out := eval(one(when))
		if code != 200 || !out.OK || len(out.Results) != 1 || len(out.Results[0].Errors) != 1 || !strings.Contains(out.Results[0].Errors[0], want) {
			t.Errorf("%s: %d %+v", want, code, out)
		}
	}

	// Past its slots, a request waits a little, then is told to come back.
	r.svc.playgroundWait = 10 * time.Millisecond
	for range playgroundSlots {
		r.svc.playground <- struct{}{}
	}
	code, hdr, _ := eval(one("true"))
	for range playgroundSlots {
		<-r.svc.playground
	}
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "5" {
		t.Errorf("busy: %d, Retry-After %q", code, hdr.Get("Retry-After"))
	}
	if code, _, out := eval(one("true")); code != 200 || !out.OK {
		t.Errorf("after the others: %d %+v", code, out)
	}
}

// A playground request's work ends with its context (the client left, or
// the request's time ran out), and the answer says why.
func TestEvaluateStopsWithItsContext(t *testing.T) {
	set, err := rules.Load([]string{"testdata/rules.yaml"}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := withConfig(&App{eng: engine.New(set, &engine.MemStore{})}, config.Default(builtin.Plugins()))
	var events []string
	for i := range 200 {
		events = append(events, setting(fmt.Sprint("x", i), "zoe", "2024-05-14T10:00:00Z"))
	}
	req := evaluateRequest{Rule: "id: try\nseverity: low\nwhen: '" + loopForever + "'\n", Events: strings.Join(events, "\n")}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	out := s.Evaluate(ctx, req)
	if out.OK || len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Message, "stopped after 10s") {
		t.Errorf("past its time: %+v", out.Errors)
	}

	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	out = s.Evaluate(ctx, req)
	if out.OK || len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Message, "the request ended") {
		t.Errorf("client gone: %+v", out.Errors)
	}
}
