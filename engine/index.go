package engine

import (
	"slices"

	"github.com/expr-lang/expr/ast"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// The index finds the rules an event can match without running them. It
// is built from each rule's compiled condition, alternative by
// alternative: a rule written as `event.action_key == K || event.action ==
// A` (how the example rules fall back to the English action) restricts no
// single field, yet each of its two alternatives does, so the rule is
// filed under K and under A.

type fieldIndex struct {
	field string
	get   func(*event.Event) string
	rules map[string][]int32 // value -> rule indices, ascending, no repeats
}

// stringFields reads the event's string fields by the names rules use.
// TestStringFieldsReadWhatExprReads holds it to event.Event's expr tags.
var stringFields = map[string]func(*event.Event) string{
	"id":                 func(e *event.Event) string { return e.ID },
	"source":             func(e *event.Event) string { return e.Source },
	"format":             func(e *event.Event) string { return e.Format },
	"system":             func(e *event.Event) string { return e.System },
	"category":           func(e *event.Event) string { return e.Category },
	"category_key":       func(e *event.Event) string { return e.CategoryKey },
	"action":             func(e *event.Event) string { return e.Action },
	"action_key":         func(e *event.Event) string { return e.ActionKey },
	"summary":            func(e *event.Event) string { return e.Summary },
	"area":               func(e *event.Event) string { return e.Area },
	"level":              func(e *event.Event) string { return e.Level },
	"ip":                 func(e *event.Event) string { return e.IP },
	"node":               func(e *event.Event) string { return e.Node },
	"method":             func(e *event.Event) string { return e.Method },
	"actor.id":           func(e *event.Event) string { return e.Actor.ID },
	"actor.name":         func(e *event.Event) string { return e.Actor.Name },
	"actor.display_name": func(e *event.Event) string { return e.Actor.DisplayName },
	"actor.type":         func(e *event.Event) string { return e.Actor.Type },
}

// indexOrder are the fields rules are indexed by, in order of preference
// among a rule's constraints: the field with the most distinct values in
// practice narrows the candidates most.
var indexOrder = []string{"action_key", "action", "category_key", "category", "actor.type", "method", "area", "system", "source", "format"}

// maxAlternatives bounds the alternatives kept for one condition: a
// conjunction of disjunctions multiplies them, and past a handful the
// index gains little over running the rule.
const maxAlternatives = 16

// alternative is one way for a condition to hold: every constraint in it
// holds when the condition does that way. With no constraints, it holds
// for any event as far as the index can tell.
type alternative []rules.Constraint

// alternatives returns ways for node to hold, at least one of which holds
// whenever node is true. Whatever is not an equality (or `in` a constant
// list) on an indexable field counts as possibly true, so the result
// never loses a match; an empty result means node can never be true.
func alternatives(node ast.Node) []alternative {
	switch n := node.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			l, r := alternatives(n.Left), alternatives(n.Right)
			if len(l)*len(r) > maxAlternatives {
				// Each side alone still holds whenever both do.
				return tighter(l, r)
			}
			var out []alternative
			for _, a := range l {
				for _, b := range r {
					if c, ok := both(a, b); ok {
						out = append(out, c)
					}
				}
			}
			return out
		case "||", "or":
			l, r := alternatives(n.Left), alternatives(n.Right)
			if len(l)+len(r) > maxAlternatives || slices.ContainsFunc(l, isAny) || slices.ContainsFunc(r, isAny) {
				return []alternative{nil}
			}
			return slices.Concat(l, r)
		case "==":
			if f, ok := indexedField(n.Left); ok {
				if v, ok := constString(n.Right); ok {
					return []alternative{{{Field: f, Values: []string{v}}}}
				}
			}
			if f, ok := indexedField(n.Right); ok {
				if v, ok := constString(n.Left); ok {
					return []alternative{{{Field: f, Values: []string{v}}}}
				}
			}
		case "in":
			if f, ok := indexedField(n.Left); ok {
				if vals, ok := rules.ConstStrings(n.Right); ok {
					return []alternative{{{Field: f, Values: vals}}}
				}
			}
		}
	}
	return []alternative{nil}
}

func isAny(a alternative) bool { return len(a) == 0 }

// tighter picks the alternatives that let the index do more: those that
// all name an indexed field, then the fewer.
func tighter(l, r []alternative) []alternative {
	li, ri := allIndexed(l), allIndexed(r)
	switch {
	case li && !ri:
		return l
	case ri && !li:
		return r
	case len(r) < len(l):
		return r
	}
	return l
}

func allIndexed(as []alternative) bool {
	for _, a := range as {
		if _, ok := bestConstraint(a); !ok {
			return false
		}
	}
	return true
}

// both is the alternative that holds when a and b do; false if none can.
func both(a, b alternative) (alternative, bool) {
	out := slices.Clone(a)
next:
	for _, c := range b {
		for i := range out {
			if out[i].Field == c.Field {
				v := intersect(out[i].Values, c.Values)
				if len(v) == 0 {
					return nil, false
				}
				out[i] = rules.Constraint{Field: c.Field, Values: v}
				continue next
			}
		}
		out = append(out, c)
	}
	return out, true
}

func intersect(a, b []string) []string {
	var out []string
	for _, v := range a {
		if slices.Contains(b, v) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// bestConstraint chooses the constraint of a to file a rule under: one on
// an indexed field, preferring the more selective fields, and avoiding the
// empty value, which every event without that field has (the example
// rules test `event.action_key == "" && event.action == A`).
func bestConstraint(a alternative) (rules.Constraint, bool) {
	best, rank := rules.Constraint{}, -1
	for _, c := range a {
		pos := slices.Index(indexOrder, c.Field)
		if pos < 0 {
			continue
		}
		r := len(indexOrder) - pos
		if !slices.Contains(c.Values, "") {
			r += len(indexOrder)
		}
		if r > rank {
			best, rank = c, r
		}
	}
	return best, rank >= 0
}

// indexedField recognises event.<field> and event.actor.<field> for the
// indexed fields.
func indexedField(n ast.Node) (string, bool) {
	f, ok := eventField(n)
	return f, ok && slices.Contains(indexOrder, f)
}

func constString(n ast.Node) (string, bool) {
	switch m := n.(type) {
	case *ast.StringNode:
		return m.Value, true
	case *ast.ConstantNode:
		s, ok := m.Value.(string)
		return s, ok
	}
	return "", false
}

// indexBuilder files rules under the values they need.
type indexBuilder struct {
	fields map[string]*fieldIndex
	always []int32
	// multi is set once some rule is filed under two fields: an event can
	// then reach it twice.
	multi bool
}

// add files rule i, whose condition is node (nil: unknown, so always),
// under each of its alternatives and those of the other conditions an
// event of it may meet instead (nil ones are absent): the rule is then a
// candidate for an event that can meet any of them.
func (b *indexBuilder) add(i int32, node ast.Node, others ...ast.Node) {
	var alts []alternative
	if node == nil {
		alts = []alternative{nil}
	} else {
		alts = alternatives(node)
	}
	for _, o := range others {
		if o != nil {
			alts = append(alts, alternatives(o)...)
		}
	}
	var cs []rules.Constraint
	for _, a := range alts {
		c, ok := bestConstraint(a)
		if !ok {
			b.always = append(b.always, i)
			return
		}
		cs = append(cs, c)
	}
	first := ""
	for _, c := range cs {
		fi := b.fields[c.Field]
		if fi == nil {
			fi = &fieldIndex{field: c.Field, get: stringFields[c.Field], rules: map[string][]int32{}}
			b.fields[c.Field] = fi
		}
		for _, v := range c.Values {
			// Rules are added in ascending order, so a repeat is the last.
			if l := fi.rules[v]; len(l) == 0 || l[len(l)-1] != i {
				fi.rules[v] = append(l, i)
			}
		}
		if first == "" {
			first = c.Field
		} else if c.Field != first {
			b.multi = true
		}
	}
}

// candidates appends to buf the indices of the rules that can match ev, in
// rule-set order, each once.
func (s *snapshot) candidates(ev *event.Event, buf []int32) []int32 {
	buf = append(buf[:0], s.always...)
	sources := 0
	if len(s.always) > 0 {
		sources++
	}
	for i := range s.byField {
		f := &s.byField[i]
		if hit := f.rules[f.get(ev)]; len(hit) > 0 {
			buf = append(buf, hit...)
			sources++
		}
	}
	if sources > 1 {
		slices.Sort(buf)
		if s.multi {
			buf = slices.Compact(buf)
		}
	}
	return buf
}

// eventField recognises event.<field> and event.actor.<field> for the
// string fields.
func eventField(n ast.Node) (string, bool) {
	f, ok := rules.EventPath(n)
	return f, ok && stringFields[f] != nil
}
