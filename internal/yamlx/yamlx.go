// Package yamlx decodes YAML strictly and reports problems with their
// file:line:col position, the way every user-facing file of alerter (rules,
// config) is checked.
package yamlx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is a problem at a position in a file.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors is every problem found, in file order. It is an error so that a
// loader can report all problems of all files at once.
type Errors []Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Sort orders the errors by file and position.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Err returns nil when there are no errors, so that callers can return it
// directly.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// At makes an error positioned at node.
func At(file string, node *yaml.Node, format string, args ...any) Error {
	e := Error{File: file, Msg: fmt.Sprintf(format, args...)}
	if node != nil {
		e.Line, e.Col = node.Line, node.Column
	}
	return e
}

// Parse reads one YAML document into a node tree. An empty document gives
// an empty mapping node.
func Parse(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}, nil
		}
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{At(file, &extra, "a file holds one YAML document; found a second one")}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return root, nil
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func syntaxError(file string, err error) error {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Errors{{File: file, Line: n, Msg: "invalid YAML: " + m[2]}}
	}
	return Errors{{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}}
}

// Decode decodes node into out, which must be a pointer. Unlike yaml's own
// strict mode it reports every unknown key, with its position and the keys
// that are allowed, and positions type errors at the offending node.
func Decode(file string, node *yaml.Node, out any) Errors {
	errs, _ := DecodeAll(file, node, out)
	return errs
}

// DecodeAll is Decode that goes on past unknown keys: their values are
// ignored and out is filled from the rest, so that the caller can check
// what was written and report those problems along with the unknown keys.
// wellTyped is false when a value had the wrong type; out is then
// incomplete, and checking it further would only repeat that error.
func DecodeAll(file string, node *yaml.Node, out any) (errs Errors, wellTyped bool) {
	check(file, node, reflect.TypeOf(out).Elem(), &errs, map[visit]bool{})
	if err := node.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				errs = append(errs, typeError(file, node, m))
			}
			return errs, false
		}
		return append(errs, typeError(file, node, err.Error())), false
	}
	return errs, true
}

// typeError turns yaml's "line N: cannot unmarshal ..." into a positioned
// error with a message that speaks of YAML values rather than Go types.
func typeError(file string, root *yaml.Node, msg string) Error {
	e := Error{File: file, Msg: msg}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
		e.Col = firstColumn(root, e.Line, tagOf(e.Msg))
	}
	e.Msg = strings.NewReplacer("!!str", "a string", "!!seq", "a list", "!!map", "a mapping",
		"!!int", "a number", "!!float", "a number", "!!bool", "a boolean").Replace(e.Msg)
	if i := strings.Index(e.Msg, " into "); i >= 0 && strings.HasPrefix(e.Msg, "cannot unmarshal") {
		e.Msg = "cannot use " + strings.TrimPrefix(e.Msg[:i], "cannot unmarshal ") + " here: expected " + goTypeWord(e.Msg[i+len(" into "):])
	}
	return e
}

func goTypeWord(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasSuffix(t, "Duration"):
		return "a duration such as 30s, 10m, 24h or 7d"
	}
	return "a mapping"
}

// firstColumn finds the column of the first value (not mapping key) that
// starts on line, which is where yaml's line-only messages point.
// With a tag (yaml's message names the kind it could not use) a node of
// that kind is preferred.
func firstColumn(n *yaml.Node, line int, tag string) int {
	if tag != "" {
		if col := findTag(n, line, tag); col != 0 {
			return col
		}
	}
	return findValue(n, line)
}

func findTag(n *yaml.Node, line int, tag string) int {
	if n == nil {
		return 0
	}
	if n.Line == line && n.Tag == tag {
		return n.Column
	}
	for _, c := range n.Content {
		if col := findTag(c, line, tag); col != 0 {
			return col
		}
	}
	return 0
}

func findValue(n *yaml.Node, line int) int {
	if n == nil {
		return 0
	}
	if n.Line == line && n.Kind != yaml.MappingNode {
		return n.Column
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue
		}
		if col := findValue(c, line); col != 0 {
			return col
		}
	}
	if n.Line == line {
		return n.Column
	}
	return 0
}

var tagRE = regexp.MustCompile(`!![a-z]+`)

func tagOf(msg string) string { return tagRE.FindString(msg) }

var nodeType = reflect.TypeOf(yaml.Node{})

// visit is a node checked against a type; remembering them stops an alias
// inside its own anchor (a: &x {<<: *x}) from recursing forever.
type visit struct {
	node *yaml.Node
	t    reflect.Type
}

// check walks node against t and reports unknown keys.
func check(file string, node *yaml.Node, t reflect.Type, errs *Errors, seen map[visit]bool) {
	if node == nil {
		return
	}
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	if seen[visit{node, t}] {
		return
	}
	seen[visit{node, t}] = true
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType || reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			return // the type error is reported by Decode
		}
		fields := StructFields(t)
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			if k.Value == "<<" {
				check(file, v, t, errs, seen)
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, At(file, k, "unknown key %q%s", k.Value, suggest(k.Value, fields)))
				continue
			}
			check(file, v, ft, errs, seen)
		}
	case reflect.Slice, reflect.Array:
		if node.Kind == yaml.SequenceNode {
			for _, c := range node.Content {
				check(file, c, t.Elem(), errs, seen)
			}
		}
	case reflect.Map:
		if node.Kind == yaml.MappingNode {
			for i := 1; i < len(node.Content); i += 2 {
				check(file, node.Content[i], t.Elem(), errs, seen)
			}
		}
	}
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// StructFields maps the YAML keys of struct type t (tag names, or the
// lower-cased field name; inline fields flattened) to their types.
func StructFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for _, f := range structFields(t) {
		out[f.key] = f.t
	}
	return out
}

// StructKeys are the YAML keys of struct type t, in the order of its
// fields, for messages that list them as they are declared.
func StructKeys(t reflect.Type) []string {
	fs := structFields(t)
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.key
	}
	return out
}

type field struct {
	key string
	t   reflect.Type
}

func structFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			out = append(out, structFields(f.Type)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, field{name, f.Type})
	}
	return out
}

// suggest names the allowed key closest to a misspelt one, or lists them all.
func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	best, bestD := "", 3
	for n := range fields {
		names = append(names, n)
		if d := distance(key, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sort.Strings(names)
	return " (allowed: " + strings.Join(names, ", ") + ")"
}

// distance is the Levenshtein distance, for "did you mean".
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Duration is a time.Duration that YAML files write as "30s", "10m", "24h"
// or, since retention and windows are often days, "7d" and "2w".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ParseDuration parses a Go duration, also accepting whole days ("7d") and
// weeks ("2w").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if v, err := strconv.Atoi(n); err == nil && v >= 0 {
			return time.Duration(v) * 24 * time.Hour, nil
		}
	}
	if n, ok := strings.CutSuffix(s, "w"); ok {
		if v, err := strconv.Atoi(n); err == nil && v >= 0 {
			return time.Duration(v) * 7 * 24 * time.Hour, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q: write e.g. 30s, 10m, 24h or 7d", s)
	}
	return v, nil
}

// Get finds key in mapping m as yaml decodes it: aliases followed, the
// mapping's own keys before merged ones (<<).
func Get(m *yaml.Node, key string) (k, v *yaml.Node) {
	m = Deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if c := m.Content[i]; c.Value == key && !IsMerge(c) {
			return c, Deref(m.Content[i+1])
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !IsMerge(m.Content[i]) {
			continue
		}
		mv := Deref(m.Content[i+1])
		sources := []*yaml.Node{mv}
		if mv != nil && mv.Kind == yaml.SequenceNode {
			sources = mv.Content
		}
		for _, s := range sources {
			if k, v := Get(s, key); k != nil {
				return k, v
			}
		}
	}
	return nil, nil
}

// Deref follows an alias to the node it names.
func Deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

// IsMerge tells whether k is the merge key <<.
func IsMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}
