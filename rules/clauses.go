package rules

import (
	"fmt"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Clause is one operand of a rule's top-level conjunction: when split at
// its && (and), with macros that are conjunctions split too.
type Clause struct {
	Source  string
	Program *vm.Program // a bool program over Env
}

// Clauses splits a rule's condition into the parts that must all hold, so
// that an explanation can say which part was false for an event. lists
// names lists that exist besides the set's own (dynamic ones).
func (s *Set) Clauses(r *Rule, lists ...string) ([]Clause, error) {
	names := map[string]bool{}
	for n := range s.Lists {
		names[n] = true
	}
	for _, n := range lists {
		names[n] = true
	}
	c := &compiler{macros: s.Macros, lists: names, funcs: &funcs{}}
	var out []Clause
	var split func(src string, depth int) error
	split = func(src string, depth int) error {
		tree, err := parser.Parse(src)
		if err != nil {
			return err
		}
		var leaves []ast.Node
		var walk func(n ast.Node)
		walk = func(n ast.Node) {
			if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
				walk(b.Left)
				walk(b.Right)
				return
			}
			leaves = append(leaves, n)
		}
		walk(tree.Node)
		for _, leaf := range leaves {
			// A macro that is itself a conjunction is split too (soteri &&
			// ... where soteri is category == X && ...), a few levels deep.
			if id, ok := leaf.(*ast.IdentifierNode); ok && depth < 4 {
				if m, ok := s.Macros[id.Value]; ok {
					if err := split(m, depth+1); err != nil {
						return err
					}
					continue
				}
			}
			part := leaf.String()
			prog, _, err := c.compile(part, true)
			if err != nil {
				return fmt.Errorf("%s: %w", part, err)
			}
			out = append(out, Clause{Source: part, Program: prog})
		}
		return nil
	}
	if err := split(r.When.Source, 0); err != nil {
		return nil, fmt.Errorf("rule %s: splitting when: %w", r.ID, err)
	}
	return out, nil
}
