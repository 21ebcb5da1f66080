package rules

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/alerter/alerter/internal/exprlimit"
)

// MaxNodes bounds the size of one expression after macro expansion, so a
// hostile or generated rule cannot make compilation or evaluation explode.
const MaxNodes = 5000

// reserved are the names an expression already has; macros may not take them.
var reserved = map[string]bool{
	"event": true, "lists": true, "changed": true, "old": true, "new": true,
	"object": true, "attr": true, "cidr": true, "in_cidrs": true, "hour": true,
	"weekday": true, "timezone": true, "true": true, "false": true, "nil": true,
}

var macroNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// exprError is a problem at a position inside an expression's source
// (line and column are 1-based).
type exprError struct {
	Line, Col int
	Msg       string
}

func (e *exprError) Error() string { return e.Msg }

// compiler compiles the expressions of one rule set.
type compiler struct {
	macros map[string]string
	lists  map[string]bool
	funcs  *funcs
}

// info is what compiling an expression learnt about it.
type info struct {
	usesRaw bool
}

// compile compiles src. With asBool the result must be a bool.
func (c *compiler) compile(src string, asBool bool) (*vm.Program, info, error) {
	return c.compileIn(src, asBool, nil)
}

// compileMacro compiles a macro's own source, so that its errors point into
// it, with the macro on the expansion stack to catch cycles.
func (c *compiler) compileMacro(name string) error {
	_, _, err := c.compileIn(c.macros[name], false, []string{name})
	return err
}

func (c *compiler) compileIn(src string, asBool bool, stack []string) (*vm.Program, info, error) {
	if err := checkSource(src); err != nil {
		return nil, info{}, err
	}
	p := &patcher{c: c, src: src, stack: stack, top: len(stack)}
	opts := []expr.Option{
		expr.Env(Env{}),
		expr.MaxNodes(MaxNodes),
		expr.Patch(p),
	}
	opts = append(opts, c.funcs.options()...)
	// After the macros are expanded: every evaluation counts the strings
	// and lists it builds and the turns of its loops (docs/rules.md, Safety limits).
	opts = append(opts, exprlimit.Options()...)
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	// The patcher's findings come first: an unknown list or macro makes the
	// checker's own message ("unknown name") less helpful.
	if p.err != nil {
		return nil, info{}, p.err
	}
	if err != nil {
		return nil, info{}, cleanExprError(src, err)
	}
	return prog, info{usesRaw: p.usesRaw}, nil
}

// checkSource refuses an expression too long or too deeply nested to be
// parsed safely, at the position where it goes over the limit.
func checkSource(src string) error {
	var se *exprlimit.SourceError
	if err := exprlimit.CheckSource(src); errors.As(err, &se) {
		line, col := byteLineCol(src, se.Offset)
		return &exprError{Line: line, Col: col, Msg: se.Msg}
	}
	return nil
}

// cleanExprError turns expr's error into a positioned one with a message
// that names things the way rules write them.
func cleanExprError(src string, err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		fe = &file.Error{Message: err.Error(), Line: 1}
	}
	msg := strings.TrimPrefix(fe.Message, "compilation failed: ")
	msg = strings.NewReplacer(
		"*event.Event", "event", "event.Event", "event",
		"event.Actor", "event.actor", "*event.Object", "object", "event.Object", "object",
		"event.Change", "change", "rules.Env", "the rule environment",
		"interface {}", "any",
	).Replace(msg)
	if strings.HasPrefix(msg, "expected bool, but got") {
		msg = "when must be a condition (true or false): " + strings.TrimPrefix(msg, "expected bool, but ")
	}
	line, col := fe.Line, fe.Column+1
	if line == 0 {
		line, col = offsetToLineCol(src, fe.From)
	}
	return &exprError{Line: line, Col: col, Msg: msg}
}

func offsetToLineCol(src string, runeOffset int) (int, int) {
	line, col, n := 1, 1, 0
	for _, r := range src {
		if n == runeOffset {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		n++
	}
	return line, col
}

// patcher expands macros and checks names and constant arguments that
// expr's type checker cannot know about (list names, networks, zones).
type patcher struct {
	c       *compiler
	err     error
	usesRaw bool
	stack   []string // macros being expanded, for cycle detection
	top     int      // len(stack) for the source being compiled itself
	src     string   // the source being compiled
}

func (p *patcher) fail(n ast.Node, format string, args ...any) {
	if p.err != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if len(p.stack) > p.top {
		// Inside a macro the position is the macro's; the macro is checked
		// on its own as well, so name it rather than point at the wrong text.
		p.err = &exprError{Line: 1, Col: 1, Msg: fmt.Sprintf("in macro %s: %s", p.stack[len(p.stack)-1], msg)}
		return
	}
	loc := n.Location()
	line, col := offsetToLineCol(p.src, loc.From)
	p.err = &exprError{Line: line, Col: col, Msg: msg}
}

func (p *patcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		src, ok := p.c.macros[n.Value]
		if !ok {
			return
		}
		for _, m := range p.stack {
			if m == n.Value {
				p.fail(n, "macro %s refers to itself (%s -> %s)", n.Value, strings.Join(p.stack, " -> "), n.Value)
				return
			}
		}
		if err := checkSource(src); err != nil {
			p.fail(n, "macro %s: %v", n.Value, err)
			return
		}
		tree, err := parser.Parse(src)
		if err != nil {
			p.fail(n, "macro %s does not parse: %v", n.Value, err)
			return
		}
		p.stack = append(p.stack, n.Value)
		ast.Walk(&tree.Node, p)
		p.stack = p.stack[:len(p.stack)-1]
		ast.Patch(node, tree.Node)
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok {
			return
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			return
		}
		switch id.Value {
		case "lists":
			if !p.c.lists[prop.Value] {
				p.fail(n, "unknown list %q%s", prop.Value, known(p.c.lists))
			}
		case "event":
			if prop.Value == "raw" {
				p.usesRaw = true
			}
		}
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if ok && id.Value == "timezone" && len(n.Arguments) == 1 {
			if arg, ok := n.Arguments[0].(*ast.StringNode); ok {
				if _, err := loadZone(arg.Value); err != nil {
					p.fail(arg, "timezone: %v", err)
				}
			}
			return
		}
		if !ok || len(n.Arguments) != 2 {
			return
		}
		arg, ok := n.Arguments[1].(*ast.StringNode)
		if !ok {
			return
		}
		switch id.Value {
		case "cidr":
			if _, err := parsePrefix(arg.Value); err != nil {
				p.fail(arg, "cidr: %v", err)
			}
		case "hour", "weekday":
			if _, err := loadZone(arg.Value); err != nil {
				p.fail(arg, "%s: %v", id.Value, err)
			}
		}
	}
}

func known(set map[string]bool) string {
	if len(set) == 0 {
		return " (no lists are defined)"
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return " (known: " + strings.Join(names, ", ") + ")"
}
