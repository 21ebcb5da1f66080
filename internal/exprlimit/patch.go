package exprlimit

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/vm/runtime"
)

// Field is the expr name of the environment field that holds the *Budget
// of the evaluation, a field tagged expr:"$budget". An environment
// compiled with Options must have it, set: without a budget, the counted
// functions fail. expr refuses an expression that declares its own.
const Field = "$budget"

// Names of the functions the patched programs call. They start with $ like
// $env, so that no rule has a reason to name them.
const (
	tickName = "$tick"
	catName  = "$cat" // string + string
	addName  = "$add" // + on a value whose type is known only at run time
)

var budgetType = reflect.TypeFor[*Budget]()

// Options make a compiled expression count what it builds and how long it
// loops against the environment's budget: every loop body ticks, string +
// and the builtins that build strings or lists charge their result, and
// those that can build much more than they are given (repeat, replace,
// join, split, concat, flatten, toJSON, string) charge it before they
// build it. Give them after any patcher that expands the expression.
func Options() []expr.Option {
	opts := []expr.Option{
		expr.Function(tickName, func(p ...any) (any, error) {
			b, err := budgetOf(p[0])
			if err != nil {
				return nil, err
			}
			if err := b.tick(); err != nil {
				return nil, err
			}
			return true, nil
		}, new(func(*Budget) bool)),
		expr.Function(catName, func(p ...any) (any, error) {
			return add(p[0], p[1], p[2])
		}, new(func(*Budget, string, string) string)),
		expr.Function(addName, func(p ...any) (any, error) {
			return add(p[0], p[1], p[2])
		}, new(func(*Budget, any, any) any)),
	}
	for name := range countedBuiltins {
		opts = append(opts, expr.DisableBuiltin(name), withBudget(name))
	}
	// Two passes, since the checker types the tree again before each: the
	// second sees the types of the calls the first gave a budget to.
	return append(opts, expr.Patch(budgetArgs{}), expr.Patch(counting{}))
}

func add(budget, x, y any) (any, error) {
	if xs, ok := x.(string); ok {
		if ys, ok := y.(string); ok {
			b, err := budgetOf(budget)
			if err != nil {
				return nil, err
			}
			if err := b.charge(len(xs) + len(ys)); err != nil {
				return nil, err
			}
			return xs + ys, nil
		}
	}
	return runtime.Add(x, y), nil
}

// errNoBudget is an evaluation without its budget: an environment without
// one, or an expression that declared a $budget of its own to shed it.
var errNoBudget = errors.New("the evaluation has no budget ($budget is reserved)")

// budgetOf is the budget the patched program passed.
func budgetOf(v any) (*Budget, error) {
	if b, _ := v.(*Budget); b != nil {
		return b, nil
	}
	return nil, errNoBudget
}

func budgetIdent(loc ast.Node) ast.Node {
	n := &ast.IdentifierNode{Value: Field}
	n.SetLocation(loc.Location())
	return n
}

// budgetArgs gives the budget to the calls of the counted builtins.
type budgetArgs struct{}

func (budgetArgs) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	forget(n)
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok || countedBuiltins[id.Value] == nil {
		return
	}
	if len(n.Arguments) > 0 {
		if a, ok := n.Arguments[0].(*ast.IdentifierNode); ok && a.Value == Field {
			return // already given
		}
	}
	n.Arguments = append([]ast.Node{budgetIdent(n)}, n.Arguments...)
}

// counting makes every loop body tick and string + charge.
type counting struct{}

func (counting) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		forget(n)
	case *ast.PredicateNode:
		tick := &ast.CallNode{Callee: &ast.IdentifierNode{Value: tickName}, Arguments: []ast.Node{budgetIdent(n)}}
		tick.Callee.SetLocation(n.Location())
		tick.SetLocation(n.Location())
		n.Node = &ast.SequenceNode{Nodes: []ast.Node{tick, n.Node}}
	case *ast.BinaryNode:
		if n.Operator != "+" {
			return
		}
		_, lc := n.Left.(*ast.StringNode)
		_, rc := n.Right.(*ast.StringNode)
		if lc && rc {
			return // two literals: no bigger than the source
		}
		lt, rt := n.Left.Type(), n.Right.Type()
		var name string
		switch {
		case isString(lt) && isString(rt):
			name = catName
		case (isString(lt) || unknown(lt)) && (isString(rt) || unknown(rt)):
			name = addName
		default:
			return // numbers, times and durations do not grow
		}
		call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: []ast.Node{budgetIdent(n), n.Left, n.Right}}
		call.Callee.SetLocation(n.Location())
		ast.Patch(node, call)
	}
}

// forget drops the type the checker gave a call: it keeps a call's type
// without looking at its arguments again, and the arguments may have been
// patched since.
func forget(n *ast.CallNode) { n.SetType(nil) }

func isString(t reflect.Type) bool { return t != nil && t.Kind() == reflect.String }

func unknown(t reflect.Type) bool { return t == nil || t.Kind() == reflect.Interface }

// withBudget replaces builtin name with a version that takes the budget
// first, checks what it will build and charges what it built.
func withBudget(name string) expr.Option {
	orig := builtin.Builtins[builtin.Index[name]]
	c := countedBuiltins[name]
	f := &builtin.Function{Name: name}
	for _, t := range orig.Types {
		in := []reflect.Type{budgetType}
		for i := range t.NumIn() {
			in = append(in, t.In(i))
		}
		var out []reflect.Type
		for i := range t.NumOut() {
			out = append(out, t.Out(i))
		}
		f.Types = append(f.Types, reflect.FuncOf(in, out, t.IsVariadic()))
	}
	if orig.Validate != nil {
		f.Validate = func(args []reflect.Type) (reflect.Type, error) {
			if len(args) == 0 || args[0] != budgetType {
				return nil, fmt.Errorf("%s: internal error: no budget", name)
			}
			return orig.Validate(args[1:])
		}
	}
	f.Func = func(args ...any) (any, error) {
		b, err := budgetOf(args[0])
		if err != nil {
			return nil, err
		}
		args = args[1:]
		for i, a := range args {
			args[i] = deref(a) // as expr does for its builtins
		}
		before := 0
		if c.before != nil {
			n, err := c.before(b, args)
			if err != nil {
				return nil, err
			}
			if err := b.charge(n); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			before = n
		}
		out, err := call(orig, args)
		if err != nil {
			return nil, err
		}
		if after := c.size(out, b.remaining()+before+1) - before; after > 0 {
			if err := b.charge(after); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		return out, nil
	}
	return func(c *conf.Config) { c.Functions[name] = f }
}

func call(f *builtin.Function, args []any) (any, error) {
	switch {
	case f.Fast != nil && len(args) == 1:
		return f.Fast(args[0]), nil
	case f.Func != nil:
		return f.Func(args...)
	case f.Safe != nil:
		out, _, err := f.Safe(args...)
		return out, err
	}
	return nil, fmt.Errorf("%s: cannot be called", f.Name)
}

// deref follows pointers to the value, as expr does for the arguments of
// its builtins.
func deref(v any) any {
	switch v.(type) {
	case nil, string, int, float64, bool, []any, []string, map[string]any:
		return v
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer {
		return v
	}
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	return rv.Interface()
}
