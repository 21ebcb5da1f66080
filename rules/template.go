package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Template is a title or text whose {{ }} parts are expressions.
type Template struct {
	Source string
	parts  []part
}

type part struct {
	lit  string
	prog *vm.Program // nil for a literal
}

// parseTemplate splits src into literals and compiled expressions. Errors
// carry the line and column inside src.
func (c *compiler) parseTemplate(src string) (Template, error) {
	t := Template{Source: src}
	rest, offset := src, 0
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if j := strings.Index(rest, "}}"); j >= 0 {
				return t, templateError(src, offset+j, "}} without an opening {{")
			}
			if rest != "" {
				t.parts = append(t.parts, part{lit: rest})
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: rest[:i]})
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return t, templateError(src, offset+i, "{{ is not closed with }}")
		}
		code := rest[i+2 : i+2+j]
		if strings.TrimSpace(code) == "" {
			return t, templateError(src, offset+i, "empty {{ }}")
		}
		prog, _, err := c.compile(code, false)
		if err != nil {
			ee, _ := err.(*exprError)
			if ee == nil {
				return t, templateError(src, offset+i, err.Error())
			}
			// Shift the expression's position by where it starts in src.
			start := offset + i + 2
			line, col := byteLineCol(src, start)
			if ee.Line > 1 {
				line, col = line+ee.Line-1, ee.Col
			} else {
				col += ee.Col - 1
			}
			return t, &exprError{Line: line, Col: col, Msg: ee.Msg}
		}
		t.parts = append(t.parts, part{prog: prog})
		rest = rest[i+2+j+2:]
		offset += i + 2 + j + 2
	}
}

func templateError(src string, at int, msg string) error {
	line, col := byteLineCol(src, at)
	return &exprError{Line: line, Col: col, Msg: msg}
}

func byteLineCol(src string, at int) (int, int) {
	line, col := 1, 1
	for i, r := range src {
		if i >= at {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// Runner runs a program against an environment; the engine passes a
// reused VM so rendering does not allocate one per call.
type Runner interface {
	Run(program *vm.Program, env any) (any, error)
}

// Render fills in the template. A part that fails renders as its error in
// angle brackets, so an alert is never lost to a bad template value; the
// first such error is also returned, for counting and for rule tests.
func (t Template) Render(r Runner, env *Env) (string, error) {
	if len(t.parts) == 1 && t.parts[0].prog == nil {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	var first error
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := r.Run(p.prog, env)
		if err != nil {
			msg := firstLine(err.Error())
			fmt.Fprintf(&b, "<error: %s>", msg)
			if first == nil {
				first = &renderError{msg: msg, err: err}
			}
			continue
		}
		b.WriteString(Format(v))
	}
	return b.String(), first
}

// renderError is a part of a template that failed: its message's first
// line, and the error it wraps (a limit of the evaluation, say).
type renderError struct {
	msg string
	err error
}

func (e *renderError) Error() string { return "template: " + e.msg }
func (e *renderError) Unwrap() error { return e.err }

// IsZero reports whether the template is empty.
func (t Template) IsZero() bool { return len(t.parts) == 0 }

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Format renders a value the way templates and group values show it.
func Format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	case []string:
		return strings.Join(x, ", ")
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = Format(e)
		}
		return strings.Join(s, ", ")
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
