package service

import (
	"context"
	"strings"
	"testing"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/engine"
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
	cfg := config.Default()
	s := &Service{cfg: cfg, eng: engine.New(set, &engine.MemStore{})}
	f.Add("id: try\nseverity: high\nwhen: event.actor.nmae == \"zoe\"\n", setting("x1", "zoe", "2024-05-14T10:00:00Z"))
	f.Add("id: try\nseverity: critical\nwhen: event.actor.name == \"zoe\"\ntitle: \"{{ event.actor.name }} did it\"\ndedup: {by: [event.ip], window: 1h}\n",
		setting("x1", "zoe", "2024-05-14T10:00:00Z")+"\n"+setting("x2", "zoe", "2024-05-14T10:01:00Z"))
	f.Add("lists: {vips: [ann]}\nrules:\n  - id: vip\n    severity: low\n    when: event.actor.name in lists.vips\n", "[]")
	f.Add("- id: x\n  when: |\n    true &&\n      event.nope\n", "{\"id\": \"a\",\n \"time\": }")
	f.Add("id: t\nseverity: low\nwhen: true\nthreshold: {count: 2, within: 1m}\n", `{"results": [{"id": "a"}, {"id": "b"}]}`)
	f.Fuzz(func(t *testing.T, rule, events string) {
		resp := s.Evaluate(context.Background(), evaluateRequest{Rule: rule, Events: events})
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
