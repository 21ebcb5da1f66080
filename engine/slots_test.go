package engine

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// slotsExprVersion is the expr release whose bytecode slots.go rewrites.
const slotsExprVersion = "v1.17.8"

// slots.go relies on how expr's VM loads from its environment, which no
// expr release promises to keep: an upgrade must not pass unnoticed.
func TestSlotsPinExprVersion(t *testing.T) {
	// The go command, not debug.ReadBuildInfo: test binaries carry no
	// dependency versions. go test puts its own go first in PATH.
	const path = "github.com/expr-lang/expr"
	out, err := exec.Command("go", "list", "-m", "-f", "{{with .Replace}}{{.Path}}@{{.Version}}{{else}}{{.Version}}{{end}}", path).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m %s: %v: %s", path, err, out)
	}
	got := strings.TrimSpace(string(out))
	if got != slotsExprVersion {
		t.Fatalf("%s is %s, but engine/slots.go rewrites the bytecode of %s.\n"+
			"Re-check slotPlan.rewrite and loadFields against the new vm/opcodes.go and vm.go: every opcode "+
			"that reads the environment (today OpLoadField with a *runtime.Field constant, OpLoadConst, "+
			"OpLoadFast, OpLoadMethod, OpLoadEnv) must be handled or make rewrite give up, and Program's "+
			"Bytecode, Arguments and Constants must still mean what rewrite assumes. Then run the engine's "+
			"tests (TestSlotsOnAndOffAgree, TestSlotProgramsAgreeWithExpr) and set slotsExprVersion to %s. "+
			"Until then, engine.WithoutSlots() runs the programs as expr compiled them.",
			path, got, slotsExprVersion, got)
	}
}

// The rewriting must not change what the engine decides: the example
// rules and the rules in testdata, run over the event fixtures and the
// rules' own test events, give the same matches, alerts, suppressions,
// errors and counters with slots on and off.
func TestSlotsOnAndOffAgree(t *testing.T) {
	rewritten := 0
	for _, path := range []string{"../examples/rules", "../rules/testdata"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			set, err := rules.Load([]string{path}, rules.Options{})
			if err != nil {
				t.Fatal(err)
			}
			clock := func() time.Time { return t0 }
			on := New(set, &MemStore{}, WithClock(clock))
			off := New(set, &MemStore{}, WithClock(clock), WithoutSlots())
			if n := fastPrograms(off); n != 0 {
				t.Fatalf("with slots off, %d programs read slots", n)
			}
			rewritten += fastPrograms(on)
			alerts := 0
			for _, x := range slotFixtureEvents(t, set) {
				got, gerr := on.Process(t.Context(), x)
				want, werr := off.Process(t.Context(), x)
				if g, w := slotResult(got, gerr), slotResult(want, werr); !reflect.DeepEqual(g, w) {
					t.Fatalf("event %s:\nwith slots:    %v\nwithout slots: %v", x.ID, g, w)
				}
				alerts += len(got.Alerts)
			}
			if alerts == 0 {
				t.Fatal("no alert fired: the comparison shows nothing")
			}
			for _, r := range set.Rules {
				if g, w := counters(on.Stats(r.ID)), counters(off.Stats(r.ID)); g != w {
					t.Errorf("rule %s: counters with slots %+v, without %+v", r.ID, g, w)
				}
			}
		})
	}
	if rewritten == 0 {
		t.Fatal("no program reads slots: the comparison shows nothing")
	}
}

// fastPrograms counts the programs of e's rules that read slots.
func fastPrograms(e *Engine) int {
	s, n := e.snap.Load(), 0
	for i := range s.rules {
		if s.when[i].fast {
			n++
		}
		for _, g := range s.groupBy[i] {
			if g.fast {
				n++
			}
		}
	}
	return n
}

// slotOutcome is a Result with errors as text, which compares by value.
type slotOutcome struct {
	Result Result
	Errors []string
}

// String shows the rules and alerts, not the pointers to them.
func (o slotOutcome) String() string {
	var b strings.Builder
	for _, m := range o.Result.Matches {
		fmt.Fprintf(&b, "match %s %q; ", m.Rule.ID, m.Group)
	}
	for _, a := range o.Result.Alerts {
		fmt.Fprintf(&b, "alert %+v; ", *a)
	}
	fmt.Fprintf(&b, "suppressed %q; errors %q", o.Result.Suppressed, o.Errors)
	return b.String()
}

func slotResult(res Result, err error) slotOutcome {
	o := slotOutcome{Result: res}
	for _, e := range res.Errors {
		o.Errors = append(o.Errors, e.Error())
	}
	o.Result.Errors = nil
	if err != nil {
		o.Errors = append(o.Errors, err.Error())
	}
	return o
}

type ruleCounters struct {
	evaluations, matches, alerts, suppressed, errors int64
	lastError                                        string
}

func counters(s *RuleStats) ruleCounters {
	if s == nil {
		return ruleCounters{}
	}
	return ruleCounters{s.Evaluations.Load(), s.Matches.Load(), s.Alerts.Load(), s.Suppressed.Load(), s.Errors.Load(), s.LastError()}
}

// slotFixtureEvents parses the event fixtures of the repository and the
// test events of set's rules, in a fixed order.
func slotFixtureEvents(t *testing.T, set *rules.Set) []*event.Event {
	t.Helper()
	var files []string
	for _, g := range []string{"../examples/events/*", "../event/testdata/*.json", "../event/testdata/*.jsonl", "../event/testdata/*.log", "testdata/*.json"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no event fixtures found")
	}
	var payloads [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, data)
	}
	for _, r := range set.Rules {
		for _, tc := range r.Tests {
			payloads = append(payloads, tc.Events...)
		}
	}
	var evs []*event.Event
	for i, data := range payloads {
		parsed, err := event.Parse(data, event.Options{})
		if err != nil {
			t.Fatalf("payload %d: %v", i, err)
		}
		for j := range parsed {
			if parsed[j].ID == "" {
				parsed[j].ID = fmt.Sprintf("p%d-%d", i, j)
			}
			evs = append(evs, &parsed[j])
		}
	}
	return evs
}
