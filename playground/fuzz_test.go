package playground

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/rules"
)

// The playground takes any rule text and events from the browser: it
// answers with errors that point inside what was typed, or results, and
// never panics. (Backtests read NATS, and are left to the API tests.)
func FuzzEvaluate(f *testing.F) {
	set, err := rules.Load([]string{"testdata/rules.yaml"}, rules.Options{})
	if err != nil {
		f.Fatal(err)
	}
	cfg := config.Default(builtin.Plugins())
	s := New(fixed{set}, nil, builtin.Notifiers())
	f.Add("id: try\nseverity: high\nwhen: event.actor.nmae == \"zoe\"\n", setting("x1", "zoe", "2024-05-14T10:00:00Z"))
	f.Add("id: try\nseverity: critical\nwhen: event.actor.name == \"zoe\"\ntitle: \"{{ event.actor.name }} did it\"\ndedup: {by: [event.ip], window: 1h}\n",
		setting("x1", "zoe", "2024-05-14T10:00:00Z")+"\n"+setting("x2", "zoe", "2024-05-14T10:01:00Z"))
	f.Add("lists: {vips: [ann]}\nrules:\n  - id: vip\n    severity: low\n    when: event.actor.name in lists.vips\n", "[]")
	f.Add("- id: x\n  when: |\n    true &&\n      event.nope\n", "{\"id\": \"a\",\n \"time\": }")
	f.Add("id: t\nseverity: low\nwhen: true\nthreshold: {count: 2, within: 1m}\n", `{"results": [{"id": "a"}, {"id": "b"}]}`)
	// The attacks on evaluation (docs/rules.md, Safety limits): nesting that
	// overflowed expr's parser, an expression past the length limit,
	// strings doubled past any memory, quadratic growth, an endless loop.
	ev := setting("x1", "zoe", "2024-05-14T10:00:00Z")
	for _, when := range []string{
		strings.Repeat("(", 520000) + "true" + strings.Repeat(")", 520000),
		strings.Repeat("{", 30000),
		`event.action == "` + strings.Repeat("x", 70000) + `"`,
		`let a = repeat("x", 99999); let v1 = a + a; let v2 = v1 + v1; let v3 = v2 + v2; let v4 = v3 + v3; let v5 = v4 + v4; let v6 = v5 + v5; let v7 = v6 + v6; let v8 = v7 + v7; len(v8 + v8) > 0`,
		`let s = repeat("x", 10000); len(replace(s, "", s)) > 0`,
		`let a = 1..1000; all(a, {all(a, {all(a, {all(a, {true})})})})`,
	} {
		f.Add("id: try\nseverity: low\nwhen: '"+when+"'\n", ev)
	}
	f.Add("id: try\nseverity: low\nwhen: 'true'\ntitle: '{{ join(map(1..1000, {repeat(\"x\", 100000)}), \"\") }}'\n", ev)
	f.Fuzz(func(t *testing.T, rule, events string) {
		// Each rule on each event has its own time limit; this bounds an
		// input of many events.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp := s.Evaluate(ctx, cfg, Request{Rule: rule, Events: events})
		if !resp.OK && len(resp.Errors) == 0 {
			t.Fatal("not ok, and no error said why")
		}
		if resp.OK && len(resp.Errors) > 0 {
			t.Fatalf("ok with errors: %+v", resp.Errors)
		}
		// YAML breaks lines at \n, \r\n and a lone \r.
		lines := strings.Count(strings.ReplaceAll(rule, "\r\n", "\n"), "\n") + strings.Count(strings.ReplaceAll(rule, "\r\n", ""), "\r") + 2
		for _, e := range resp.Errors {
			if e.Message == "" {
				t.Fatalf("an error without a message: %+v", e)
			}
			if e.File == playgroundRule && (e.Line < 0 || e.Line > lines) {
				t.Fatalf("error at line %d of a %d-line rule: %+v", e.Line, lines, e)
			}
		}
	})
}
