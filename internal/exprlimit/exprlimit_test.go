package exprlimit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/alerter/alerter/internal/exprlimit"
)

type env struct {
	Budget *exprlimit.Budget `expr:"$budget"`
	Raw    map[string]any    `expr:"raw"`
}

func compile(t *testing.T, src string) *vm.Program {
	t.Helper()
	opts := append([]expr.Option{expr.Env(env{})}, exprlimit.Options()...)
	p, err := expr.Compile(src, opts...)
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	return p
}

func run(ctx context.Context, p *vm.Program, timeout time.Duration) (any, error) {
	e := env{Budget: &exprlimit.Budget{}, Raw: map[string]any{"s": "ab", "n": 2}}
	exprlimit.Begin(e.Budget, ctx, timeout)
	var m vm.VM
	return m.Run(p, e)
}

// What builtins and + answered before they were counted, they answer now.
func TestSameResults(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`upper("a") + "b"`, "Ab"},
		{`raw.s + raw.s`, "abab"},
		{`raw.n + raw.n`, "4"},
		{`1 + 2`, "3"},
		{`lower("AB") + trim(" x ") + trimPrefix("ab", "a") + trimSuffix("ab", "b")`, "abxba"},
		{`join(["a", "b"], ",")`, "a,b"},
		{`join(split("a,b,c", ","), "-")`, "a-b-c"},
		{`join(splitAfter("a,b", ","))`, "a,b"},
		{`replace("aaa", "a", "bb")`, "bbbbbb"},
		{`replace("aaa", "a", "b", 1)`, "baa"},
		{`repeat("ab", 3)`, "ababab"},
		{`toJSON([1, "a"])`, "[\n  1,\n  \"a\"\n]"},
		{`fromJSON("[1]")[0]`, "1"},
		{`toBase64("a") + fromBase64("YQ==")`, "YQ==a"},
		{`string(5) + string([1, 2])`, "5[1 2]"},
		{`len(keys({"a": 1})) + len(values({"a": 1})) + len(toPairs({"a": 1}))`, "3"},
		{`fromPairs([["a", 1]]).a`, "1"},
		{`reverse([1, 2])[0]`, "2"},
		{`sort([2, 1])[0]`, "1"},
		{`len(uniq([1, 1]))`, "1"},
		{`len(concat([1], [2], [3]))`, "3"},
		{`len(flatten([[1], [2, [3]]]))`, "3"},
		{`all(1..3, {# > 0}) && len(map(1..3, {# * 2})) == 3`, "true"},
		{`reduce(1..4, #acc + #, 0)`, "10"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			out, err := run(t.Context(), compile(t, tc.src), time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(strings.ReplaceAll(toString(out), "\r", "")); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := expr.Eval("string(v)", map[string]any{"v": v})
	return b.(string)
}

// Type errors are still found when the rule is compiled.
func TestTypeErrorsStay(t *testing.T) {
	for _, src := range []string{`upper(1)`, `"a" + 1`, `repeat("a")`, `join(1)`} {
		opts := append([]expr.Option{expr.Env(env{})}, exprlimit.Options()...)
		if _, err := expr.Compile(src, opts...); err == nil {
			t.Errorf("%s compiled", src)
		}
	}
}

// Growth that expr's element budget does not see fails on the byte budget
// instead of running the process out of memory.
func TestMemory(t *testing.T) {
	doubling := `let a = repeat("x", 99999); let v1 = a + a; let v2 = v1 + v1; let v3 = v2 + v2; let v4 = v3 + v3; ` +
		`let v5 = v4 + v4; let v6 = v5 + v5; let v7 = v6 + v6; let v8 = v7 + v7; let v9 = v8 + v8; let v10 = v9 + v9; ` +
		`let v11 = v10 + v10; let v12 = v11 + v11; let v13 = v12 + v12; let v14 = v13 + v13; let v15 = v14 + v14; ` +
		`let v16 = v15 + v15; let v17 = v16 + v16; let v18 = v17 + v17; let v19 = v18 + v18; let v20 = v19 + v19; len(v20)`
	for name, src := range map[string]string{
		"string doubling":       doubling,
		"doubling untyped":      `let a = fromJSON(toJSON(repeat("x", 99999))); let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; let h = g + g; let i = h + h; len(i + i)`,
		"replace quadratic":     `let s = repeat("x", 10000); len(replace(s, "", s))`,
		"join of copies":        `let s = repeat("x", 500000); len(join(map(1..1000, {s}), ""))`,
		"repeat in a loop":      `len(map(1..1000, {repeat("x", 1000000)}))`,
		"upper retained":        `let s = repeat("x", 1000000); len(map(1..100, {upper(s)}))`,
		"concat of many":        `let a = 1..90000; len(concat(a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a))`,
		"toJSON of copies":      `let s = repeat("x", 500000); len(toJSON(map(1..1000, {s})))`,
		"string of copies":      `let s = repeat("x", 500000); len(string(map(1..1000, {s})))`,
		"flatten of copies":     `let a = 1..90000; len(flatten(map(1..5000, {a})))`,
		"split into many":       `let s = repeat("x", 1000000); len(map(1..100, {split(s, "")}))`,
		"reverse copies":        `let a = 1..90000; len(map(1..5000, {reverse(a)}))`,
		"repeat overflowing":    `let s = repeat("x", 1000000); len(repeat(s, 1000000))`,
		"replace with a limit":  `let s = repeat("x", 100000); len(replace(s, "", s, 1000))`,
		"join of a string list": `let s = repeat("x", 500000); len(join(split(repeat(s + ",", 100), ","), s))`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := run(t.Context(), compile(t, src), time.Minute)
			if !errors.Is(err, exprlimit.ErrMemory) {
				t.Fatalf("got %v, want the memory budget", err)
			}
			if !strings.Contains(err.Error(), "16 MiB") {
				t.Errorf("the error does not name the budget: %v", err)
			}
		})
	}
}

// A loop that would run for hours ends at the evaluation's time limit, or
// when its context ends.
func TestTime(t *testing.T) {
	p := compile(t, `let a = 1..1000; all(a, {all(a, {all(a, {all(a, {true})})})})`)
	_, err := run(t.Context(), p, 50*time.Millisecond)
	if !errors.Is(err, exprlimit.ErrTime) || !strings.Contains(err.Error(), "50ms") {
		t.Fatalf("got %v, want the time limit named", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = run(ctx, p, 0)
	if !errors.Is(err, exprlimit.ErrStopped) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want stopped by the context", err)
	}
}

func TestCheckSource(t *testing.T) {
	for _, tc := range []struct {
		src    string
		offset int // -1: accepted
		msg    string
	}{
		{`event.action == "x" && (a || (b && c))`, -1, ""},
		{strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100), -1, ""},
		{strings.Repeat("(", 101) + "1" + strings.Repeat(")", 101), 100, "more than 100 levels"},
		{strings.Repeat("[", 60) + strings.Repeat("{", 60), 100, "more than 100 levels"},
		{`"` + strings.Repeat("(", 500) + `" + '\'' + ` + "`" + strings.Repeat("[", 500) + "`", -1, ""},
		{`"\"` + strings.Repeat("(", 200) + `"`, -1, ""},
		{strings.Repeat("(", 60000), 100, "more than 100 levels"},
		{strings.Repeat("(", 520000), exprlimit.MaxBytes, "over the limit of 64 KiB"},
		{strings.Repeat("x", exprlimit.MaxBytes), -1, ""},
		{strings.Repeat("x", exprlimit.MaxBytes+1), exprlimit.MaxBytes, "over the limit of 64 KiB"},
	} {
		err := exprlimit.CheckSource(tc.src)
		if tc.offset < 0 {
			if err != nil {
				t.Errorf("%.40q: %v", tc.src, err)
			}
			continue
		}
		var se *exprlimit.SourceError
		if !errors.As(err, &se) || se.Offset != tc.offset || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("%.40q: got %v, want %q at %d", tc.src, err, tc.msg, tc.offset)
		}
	}
}

// An expression cannot shed its budget by declaring a $budget of its own,
// and an environment without one does not run unbounded: the counted
// functions fail.
func TestBudgetCannotBeShed(t *testing.T) {
	opts := append([]expr.Option{expr.Env(env{})}, exprlimit.Options()...)
	if _, err := expr.Compile(`let $budget = nil; all(1..3, {true})`, opts...); err == nil {
		t.Error("a $budget of its own compiled")
	}
	for _, src := range []string{`all(1..3, {true})`, `"a" + raw.s`, `upper(raw.s)`} {
		var m vm.VM
		if _, err := m.Run(compile(t, src), env{Raw: map[string]any{"s": "x"}}); err == nil || !strings.Contains(err.Error(), "no budget") {
			t.Errorf("%s without a budget: %v", src, err)
		}
	}
}
