package engine

import (
	"slices"

	"github.com/expr-lang/expr/ast"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// Most of what a typical condition does is compare the event's string
// fields with constants and lists (`soteri && event.action == "Global
// setting changed" && !is_admin`). For a condition made of nothing else,
// running it in expr's VM costs several times what the comparisons do:
// the VM's setup per run, a stack operation per node, a reflective read
// per field. The engine evaluates such a condition itself, from its
// compiled tree.
//
// Only constructs whose meaning in expr is plain Go are taken: string
// equality and inequality, membership in a constant set or a named list
// (expr compares the elements with ==), !, && and ||, true and false;
// none of them can fail. Anything else leaves the condition to the VM.
// TestDirectAgreesWithExpr compares the two on generated conditions.

// direct is a condition evaluated by the engine; lists are the rule set's
// lists (or a rule test's).
type direct func(ev *event.Event, lists map[string][]string) bool

// compileDirect returns n as a direct condition, or false if n is not
// made of the constructs above alone.
func compileDirect(n ast.Node) (direct, bool) {
	switch n := n.(type) {
	case *ast.BoolNode:
		v := n.Value
		return func(*event.Event, map[string][]string) bool { return v }, true
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil, false
		}
		x, ok := compileDirect(n.Node)
		if !ok {
			return nil, false
		}
		return func(ev *event.Event, l map[string][]string) bool { return !x(ev, l) }, true
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and", "||", "or":
			a, ok := compileDirect(n.Left)
			if !ok {
				return nil, false
			}
			b, ok := compileDirect(n.Right)
			if !ok {
				return nil, false
			}
			if n.Operator == "&&" || n.Operator == "and" {
				return func(ev *event.Event, l map[string][]string) bool { return a(ev, l) && b(ev, l) }, true
			}
			return func(ev *event.Event, l map[string][]string) bool { return a(ev, l) || b(ev, l) }, true
		case "==", "!=":
			return equality(n.Left, n.Right, n.Operator == "!=")
		case "in":
			return membership(n.Left, n.Right)
		}
	}
	return nil, false
}

// equality compares two string operands; the usual field == constant is
// the fast case.
func equality(l, r ast.Node, negate bool) (direct, bool) {
	if _, ok := constString(l); ok {
		l, r = r, l
	}
	if f, ok := eventField(l); ok {
		get := stringFields[f]
		if v, ok := constString(r); ok {
			if negate {
				return func(ev *event.Event, _ map[string][]string) bool { return get(ev) != v }, true
			}
			return func(ev *event.Event, _ map[string][]string) bool { return get(ev) == v }, true
		}
		if g, ok := eventField(r); ok {
			get2 := stringFields[g]
			return func(ev *event.Event, _ map[string][]string) bool { return (get(ev) == get2(ev)) != negate }, true
		}
	}
	return nil, false
}

// membership is a string field `in` a constant list or a named list.
func membership(l, r ast.Node) (direct, bool) {
	f, ok := eventField(l)
	if !ok {
		return nil, false
	}
	get := stringFields[f]
	if vals, ok := rules.ConstStrings(r); ok {
		if len(vals) <= 8 {
			return func(ev *event.Event, _ map[string][]string) bool { return slices.Contains(vals, get(ev)) }, true
		}
		set := make(map[string]struct{}, len(vals))
		for _, v := range vals {
			set[v] = struct{}{}
		}
		return func(ev *event.Event, _ map[string][]string) bool { _, ok := set[get(ev)]; return ok }, true
	}
	if name, ok := listName(r); ok {
		// A list missing from lists is empty, as in expr.
		return func(ev *event.Event, l map[string][]string) bool { return slices.Contains(l[name], get(ev)) }, true
	}
	return nil, false
}

// listName recognises lists.<name> and lists["<name>"].
func listName(n ast.Node) (string, bool) {
	m, ok := n.(*ast.MemberNode)
	if !ok || m.Optional || m.Method {
		return "", false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "lists" {
		return "", false
	}
	return constString(m.Property)
}
