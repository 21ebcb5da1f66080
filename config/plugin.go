package config

import (
	"reflect"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/internal/yamlx"
)

// Plugin is a notifier or source type as config reads it: its type name
// and its own keys. The notifier and source packages implement it; config
// is given them (Plugins) by its caller and knows no type itself.
type Plugin interface {
	// Type is the name of the type, what type: says.
	Type() string
	// Config returns a pointer to a new config of this type; the keys of
	// an entry beyond the common ones are decoded into it, and its
	// Validate applies the defaults and checks them. nil: the type takes
	// no keys of its own.
	Config() Validator
}

// Validator is a plug-in's own config.
type Validator interface {
	// Validate applies the defaults (those that depend on what was given,
	// through c.Has, too) and reports every problem through c.
	Validate(c *Checker)
}

// RateDefaulter is a Plugin whose targets are sent to at most
// DefaultRate() notifications a second unless rate_per_second says
// otherwise; the others have no limit by default.
type RateDefaulter interface {
	DefaultRate() float64
}

// Plugins are the types a config can use, in the order messages list
// them. The program builds them once (package builtin) and hands them to
// Load, Check and Parse.
type Plugins struct {
	Notifiers []Plugin
	Sources   []Plugin
}

// Lookup returns the plug-in of type typ among plugins: the lookup of a
// registry of notifier or source types.
func Lookup[P Plugin](plugins []P, typ string) (P, bool) {
	for _, p := range plugins {
		if p.Type() == typ {
			return p, true
		}
	}
	var none P
	return none, false
}

// AsPlugins are plugins, a registry of notifier or source types, as config
// reads them.
func AsPlugins[P Plugin](plugins []P) []Plugin {
	out := make([]Plugin, len(plugins))
	for i, p := range plugins {
		out[i] = p
	}
	return out
}

func typeNames(plugins []Plugin) []string {
	out := make([]string, len(plugins))
	for i, p := range plugins {
		out[i] = p.Type()
	}
	return out
}

// configType is the type of a plug-in's config, nil when it has none.
func configType(p Plugin) reflect.Type {
	if p == nil {
		return nil
	}
	if v := p.Config(); v != nil {
		return reflect.TypeOf(v).Elem()
	}
	return nil
}

// Checker is what a plug-in's Validate reports through: the entry being
// checked, positions in the file, and the rules for showing values (one
// that came from the environment is named by its variables, never shown).
type Checker struct {
	p      *parser
	n      *yaml.Node
	label  string
	name   string
	server *Server
}

// Name is the entry's name, "" when it has none or an invalid one (which
// is reported).
func (c *Checker) Name() string {
	if !nameRE.MatchString(c.name) {
		return ""
	}
	return c.name
}

// Server is the config's server: section, for checks that depend on how
// alerter is reached (a webhook without a secret on an exposed listen).
func (c *Checker) Server() Server { return *c.server }

// Claim takes value as the entry's among those of its kind (a webhook
// path), and returns the name of the entry that took it before, if one did.
func (c *Checker) Claim(kind, value string) (owner string, taken bool) {
	key := kind + "\x00" + value
	if owner, taken = c.p.claims[key]; taken {
		return owner, true
	}
	c.p.claims[key] = c.name
	return "", false
}

// Label names the entry in messages about it as a whole: "notifier NAME".
func (c *Checker) Label() string { return c.label }

// Has tells whether the entry gives key a value, for defaults that differ
// from the zero value when the key is absent.
func (c *Checker) Has(key string) bool { return c.p.has(c.n, key) }

// Bad tells whether the value of key was already reported as wrong, so
// that a check of what it holds would only repeat the problem.
func (c *Checker) Bad(key string) bool { return c.p.bad[c.At(key).node()] }

// Entry is the position of the entry as a whole.
func (c *Checker) Entry() Place { return Place{[]*yaml.Node{c.n}} }

// At is the position of key's value, or of the entry without it.
func (c *Checker) At(key string) Place { return c.Entry().Value(key) }

// Errorf reports a problem at at, unless the value there was already
// reported.
func (c *Checker) Errorf(at Place, format string, args ...any) {
	c.p.errAt(at.node(), format, args...)
}

// Missing reports a required key that is absent, at the entry, unless it
// was there but already reported as wrong.
func (c *Checker) Missing(key, format string, args ...any) {
	c.p.missing(c.n, key, format, args...)
}

// URL checks that the value of key is an absolute http or https URL,
// without ever showing it: it may carry credentials.
func (c *Checker) URL(key, value string) {
	c.p.url(key, value, c.At(key).node(), "http", "https")
}

// Positive checks that the duration d of key is longer than zero.
func (c *Checker) Positive(key string, d yamlx.Duration) {
	c.p.positive(key, d, c.n, c.n)
}

// Subject names a value in a message: `key "value"`, or `key (from
// ${VAR})` when it came from the environment.
func (c *Checker) Subject(at Place, key, value string) string {
	return c.p.subject(key, at.nodes[0], value)
}

// Hidden names a value that is never shown, a secret or a URL: `key`, or
// `key (from ${VAR})`.
func (c *Checker) Hidden(at Place, key string) string {
	return c.p.hidden(key, at.nodes[0])
}

// Place is a position in the file: a value, or, when it is absent, the
// nearest enclosing node that is there.
type Place struct {
	nodes []*yaml.Node // the value (nil if absent), then its enclosing nodes
}

func (pl Place) node() *yaml.Node { return first(pl.nodes...) }

// Value is the position of key's value in the mapping at pl.
func (pl Place) Value(key string) Place {
	_, v := yamlx.Get(pl.nodes[0], key)
	return pl.in(v)
}

// Key is the position of key itself in the mapping at pl.
func (pl Place) Key(key string) Place {
	k, _ := yamlx.Get(pl.nodes[0], key)
	return pl.in(k)
}

// Index is the position of the i-th element of the list at pl.
func (pl Place) Index(i int) Place { return pl.in(at(items(pl.nodes[0]), i)) }

func (pl Place) in(n *yaml.Node) Place {
	return Place{append([]*yaml.Node{n}, pl.nodes...)}
}

// shape is the struct type an entry n of a list of common (Notifier or
// Source) is checked against: the common keys, its type's keys, then the
// other types' keys, which validate reports as not applying to it. A key
// in none of them is unknown, with a "did you mean" among all of them.
func (p *parser) shape(n *yaml.Node, common reflect.Type, types []Plugin) reflect.Type {
	typ := ""
	if _, v := yamlx.Get(n, "type"); v != nil && v.Kind == yaml.ScalarNode {
		typ = v.Value
	}
	sk := shapeKey{common, typ}
	if t, ok := p.shapes[sk]; ok {
		return t
	}
	var plugins []Plugin
	if own, ok := Lookup(types, typ); ok {
		plugins = append(plugins, own)
	}
	plugins = append(plugins, types...)
	var fields []reflect.StructField
	seen := map[string]bool{}
	add := func(t reflect.Type) {
		for _, key := range yamlx.StructKeys(t) {
			if !seen[key] {
				seen[key] = true
				fields = append(fields, reflect.StructField{
					Name: "F" + strconv.Itoa(len(fields)),
					Type: yamlx.StructFields(t)[key],
					Tag:  reflect.StructTag(`yaml:"` + key + `"`),
				})
			}
		}
	}
	add(common)
	for _, pl := range plugins {
		if t := configType(pl); t != nil {
			add(t)
		}
	}
	t := reflect.StructOf(fields)
	p.shapes[sk] = t
	return t
}

// shapeKey names a shape: the common part and the type.
type shapeKey struct {
	common reflect.Type
	typ    string
}

// settings decodes the keys of entry n that belong to its type into a new
// config of the type, and validates it through c.
func (p *parser) settings(pl Plugin, n *yaml.Node, c *Checker) any {
	v := pl.Config()
	if v == nil {
		return nil
	}
	if err := n.Decode(v); err != nil {
		// check has reported what does not decode.
		return nil
	}
	v.Validate(c)
	return reflect.ValueOf(v).Elem().Interface()
}
