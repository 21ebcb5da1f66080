package exprlimit

import (
	"math"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/vm/runtime"
)

// counted is how a builtin is charged: before, what it will build, from
// its arguments (for those that can build much more than they are given);
// size, what it built.
type counted struct {
	before func(b *Budget, args []any) (int, error)
	size   func(out any, limit int) int
}

// Sizes are estimates in bytes: a string's length, 16 bytes for an element
// of a list (an interface), 64 for an entry of a map.
const (
	elemBytes  = 16
	entryBytes = 64
)

var (
	shallow = counted{size: func(out any, _ int) int { return shallowSize(out) }}
	deep    = counted{size: deepSize}
)

// countedBuiltins are the builtins that build strings or lists. The
// others return numbers, booleans, times or parts of their arguments.
var countedBuiltins = map[string]*counted{
	"trim": &shallow, "trimPrefix": &shallow, "trimSuffix": &shallow,
	"upper": &shallow, "lower": &shallow,
	"toBase64": &shallow, "fromBase64": &shallow,
	"keys": &shallow, "values": &shallow, "toPairs": &shallow, "fromPairs": &shallow,
	"reverse": &shallow, "uniq": &shallow, "sort": &shallow,
	"fromJSON": &deep,
	"repeat": {before: func(_ *Budget, a []any) (int, error) {
		return mul(len(a[0].(string)), runtime.ToInt(a[1])), nil
	}, size: stringSize},
	"replace": {before: func(_ *Budget, a []any) (int, error) {
		s, old, repl := a[0].(string), a[1].(string), a[2].(string)
		n := count(s, old)
		if len(a) == 4 {
			if limit := runtime.ToInt(a[3]); limit >= 0 {
				n = min(n, limit)
			}
		}
		return len(s) + max(0, mul(n, len(repl)-len(old))), nil
	}, size: stringSize},
	"join": {before: func(_ *Budget, a []any) (int, error) {
		sep := ""
		if len(a) == 2 {
			sep, _ = a[1].(string)
		}
		total, n := 0, 0
		switch l := a[0].(type) {
		case []string:
			for _, s := range l {
				total += len(s)
			}
			n = len(l)
		case []any:
			for _, s := range l {
				if s, ok := s.(string); ok {
					total += len(s)
				}
			}
			n = len(l)
		}
		return total + mul(max(n-1, 0), len(sep)), nil
	}, size: stringSize},
	"split":      {before: splitBefore, size: func(any, int) int { return 0 }},
	"splitAfter": {before: splitBefore, size: func(any, int) int { return 0 }},
	"concat": {before: func(_ *Budget, a []any) (int, error) {
		n := 0
		for _, l := range a {
			if v := reflect.ValueOf(l); v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
				n += v.Len()
			}
		}
		return mul(n, elemBytes), nil
	}, size: func(any, int) int { return 0 }},
	"flatten": {before: func(b *Budget, a []any) (int, error) {
		return mul(leaves(a[0], b.remaining()/elemBytes+1), elemBytes), nil
	}, size: func(any, int) int { return 0 }},
	"toJSON": {before: func(b *Budget, a []any) (int, error) {
		return deepSize(a[0], b.remaining()+1), nil
	}, size: stringSize},
	"string": {before: func(b *Budget, a []any) (int, error) {
		return deepSize(a[0], b.remaining()+1), nil
	}, size: stringSize},
}

func stringSize(out any, _ int) int {
	s, _ := out.(string)
	return len(s)
}

func splitBefore(_ *Budget, a []any) (int, error) {
	s, sep := a[0].(string), a[1].(string)
	n := count(s, sep) + 1
	if len(a) == 3 {
		if limit := runtime.ToInt(a[2]); limit > 0 {
			n = min(n, limit)
		}
	}
	return mul(n, elemBytes), nil
}

// count is how many times strings.Replace or Split finds sep in s.
func count(s, sep string) int {
	if sep == "" {
		return utf8.RuneCountInString(s) + 1
	}
	return strings.Count(s, sep)
}

// mul multiplies sizes, saturating instead of overflowing; a negative
// factor (an invalid argument) is left for the builtin to report.
func mul(a, b int) int {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > math.MaxInt/b {
		return math.MaxInt
	}
	return a * b
}

func shallowSize(v any) int {
	switch x := v.(type) {
	case nil, bool, int, float64:
		return 0
	case string:
		return len(x)
	case []any:
		return len(x) * elemBytes
	case []string:
		return len(x) * elemBytes
	case map[string]any:
		return len(x) * entryBytes
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		return rv.Len() * elemBytes
	case reflect.Map:
		return rv.Len() * entryBytes
	}
	return 0
}

// deepSize estimates the bytes of v written out as JSON or by fmt, with
// indentation; it stops counting once past limit.
func deepSize(v any, limit int) int {
	total := 0
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if total > limit {
			return
		}
		indent := 2*depth + 2
		switch x := v.(type) {
		case nil, bool, int, float64:
			total += 24
		case string:
			total += len(x) + 2
		case []any:
			for _, e := range x {
				total += indent
				walk(e, depth+1)
			}
		case []string:
			for _, e := range x {
				total += indent + len(e) + 2
			}
		case map[string]any:
			for k, e := range x {
				total += indent + len(k) + 4
				walk(e, depth+1)
			}
		default:
			rv := reflect.ValueOf(v)
			switch rv.Kind() {
			case reflect.Slice, reflect.Array:
				for i := range rv.Len() {
					total += indent
					walk(rv.Index(i).Interface(), depth+1)
				}
			case reflect.Map:
				it := rv.MapRange()
				for it.Next() {
					total += indent + 8
					walk(it.Key().Interface(), depth+1)
					walk(it.Value().Interface(), depth+1)
				}
			default:
				// A struct such as the event, or a time: written out
				// whole, a few hundred bytes unless it holds big strings,
				// which were charged when they were built or came with
				// the event.
				total += 256
			}
		}
	}
	walk(v, 0)
	return total
}

// leaves counts the elements flatten makes of v, stopping past limit.
func leaves(v any, limit int) int {
	n := 0
	var walk func(v any)
	walk = func(v any) {
		if n > limit {
			return
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			n++
			return
		}
		for i := range rv.Len() {
			walk(rv.Index(i).Interface())
		}
	}
	walk(v)
	return n
}
