package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/playground"
	"github.com/alerter/alerter/rules"
)

// noRules is a running alerter with no rules loaded, no lists from
// Confluence groups and no enrichment: what the playground needs of it.
type noRules struct{}

func (noRules) Rules() *rules.Set                    { return &rules.Set{} }
func (noRules) Stats(string) *engine.RuleStats       { return nil }
func (noRules) Lists() map[string][]string           { return nil }
func (noRules) Enrich(context.Context, *event.Event) {}

func setting(id, actor, at string) string {
	return fmt.Sprintf(`{"id":%q,"time":%q,"action":"Global setting changed","actor":{"name":%q}}`, id, at, actor)
}

const (
	loopForever = `let a = 1..1000; all(a, {all(a, {all(a, {all(a, {true})})})})`
	doubling    = `let a = repeat("x", 99999); let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; let h = g + g; let i = h + h; len(i + i) > 0`
)

// The playground runs rules anyone who reaches the API writes: they get a
// clear answer, and the process its memory and its cores back.
func TestPlaygroundLimits(t *testing.T) {
	srv := New(Options{Live: noRules{}, Playground: playground.New(noRules{}, nil, builtin.Notifiers())})
	cfg := config.Default(builtin.Plugins())
	cfg.Server.Listen = "127.0.0.1:0"
	ts := httptest.NewServer(srv.Handler(Generation{Config: cfg}))
	defer ts.Close()
	eval := func(rule string) (int, http.Header, playground.EvalResponse) {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"rule": rule, "events": setting("x1", "zoe", "2024-05-14T10:00:00Z")})
		resp, err := http.Post(ts.URL+"/api/v1/evaluate", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out playground.EvalResponse
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
	srv.playgroundWait = 10 * time.Millisecond
	for range playgroundSlots {
		srv.playground <- struct{}{}
	}
	code, hdr, _ := eval(one("true"))
	for range playgroundSlots {
		<-srv.playground
	}
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "5" {
		t.Errorf("busy: %d, Retry-After %q", code, hdr.Get("Retry-After"))
	}
	if code, _, out := eval(one("true")); code != 200 || !out.OK {
		t.Errorf("after the others: %d %+v", code, out)
	}
}
