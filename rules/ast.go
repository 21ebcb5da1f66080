package rules

import (
	"reflect"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// EventPath recognises a read of an event field, event.<field> or
// event.actor.<field>, and returns the field's path ("action",
// "actor.name"). The engine and the index use it on compiled conditions.
func EventPath(n ast.Node) (string, bool) {
	var path []string
	for {
		switch m := n.(type) {
		case *ast.MemberNode:
			s, ok := m.Property.(*ast.StringNode)
			if !ok || m.Optional || m.Method {
				return "", false
			}
			path = append([]string{s.Value}, path...)
			n = m.Node
			continue
		case *ast.ChainNode:
			n = m.Node
			continue
		case *ast.IdentifierNode:
			if m.Value != "event" || len(path) == 0 {
				return "", false
			}
			return strings.Join(path, "."), true
		}
		return "", false
	}
}

// ConstStrings reads a constant list of strings, as written or as the
// optimizer leaves it (a set).
func ConstStrings(n ast.Node) ([]string, bool) {
	switch m := n.(type) {
	case *ast.ArrayNode:
		var out []string
		for _, e := range m.Nodes {
			s, ok := e.(*ast.StringNode)
			if !ok {
				return nil, false
			}
			out = append(out, s.Value)
		}
		return out, true
	case *ast.ConstantNode:
		v := reflect.ValueOf(m.Value)
		switch v.Kind() {
		case reflect.Map:
			if v.Type().Key().Kind() != reflect.String {
				return nil, false
			}
			var out []string
			for _, k := range v.MapKeys() {
				out = append(out, k.String())
			}
			sort.Strings(out)
			return out, true
		case reflect.Slice:
			var out []string
			for i := range v.Len() {
				s, ok := v.Index(i).Interface().(string)
				if !ok {
					return nil, false
				}
				out = append(out, s)
			}
			return out, true
		}
	}
	return nil, false
}
