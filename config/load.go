package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/internal/yamlx"
)

// Load reads the config file at path: ${VAR} references expand from getenv
// (os.LookupEnv when nil), the file is decoded strictly, defaults are
// applied and everything is checked. Every problem is reported at once, as
// yamlx.Errors. plugins are the notifier types it may use.
func Load(path string, getenv func(string) (string, bool), plugins Plugins) (*Config, error) {
	c, err := Check(path, getenv, plugins)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Check is Load for checking a config rather than running it: with the
// errors it also returns the config as far as it could be read (nil when it
// could not be decoded at all), so that rules can still be checked against
// its lists and notifiers, say where the secrets of ${VAR}s are not set.
func Check(path string, getenv func(string) (string, bool), plugins Plugins) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, yamlx.Errors{{File: path, Msg: "cannot read the config: " + err.Error()}}
	}
	return parse(path, data, getenv, plugins)
}

// Parse is Load for content; name is the file name errors carry.
func Parse(name string, data []byte, getenv func(string) (string, bool), plugins Plugins) (*Config, error) {
	c, err := parse(name, data, getenv, plugins)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func parse(name string, data []byte, getenv func(string) (string, bool), plugins Plugins) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	root, err := yamlx.Parse(name, data)
	if err != nil {
		var es yamlx.Errors
		if errors.As(err, &es) {
			return nil, es
		}
		return nil, yamlx.Errors{{File: name, Msg: err.Error()}}
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: root.Line, Column: root.Column}
	}
	if root.Kind != yaml.MappingNode {
		return nil, yamlx.Errors{yamlx.At(name, root,
			"the config is a mapping of server:, nats:, rules:, lists:, sources:, notifiers: and routes:")}
	}
	p := &parser{
		file:    name,
		getenv:  getenv,
		plugins: plugins,
		env:     map[*yaml.Node][]string{},
		bad:     map[*yaml.Node]bool{},
		seen:    map[visit]bool{},
		shapes:  map[shapeKey]reflect.Type{},
		claims:  map[string]string{},
	}
	if n := selfAlias(root, map[*yaml.Node]bool{}); n != nil {
		// Decoding would recurse without end (yamlx's check does).
		return nil, yamlx.Errors{yamlx.At(name, n, "*%s is inside the value it refers to", n.Value)}
	}
	p.expand(root)
	dropExtensions(root)
	p.check(root, reflect.TypeFor[Config](), "")
	var c Config
	if es := yamlx.Decode(name, root, &c); es != nil {
		// check has reported wrong values, so these are the unknown keys,
		// which yamlx reports with a "did you mean". Without them the rest
		// decodes, so that its errors come in the same report.
		p.errs = append(p.errs, p.sanitize(es)...)
		if len(p.unknown) == 0 {
			return nil, p.result()
		}
		p.dropUnknown()
		c = Config{}
		if es := yamlx.Decode(name, root, &c); es != nil {
			p.errs = append(p.errs, p.sanitize(es)...)
			return nil, p.result()
		}
	}
	// Notifier and source entries are checked by type (p.entry): their unknown keys
	// did not fail the Config's decoding, and are dropped now.
	p.dropUnknown()
	p.validate(&c, root)
	return &c, p.result()
}

// selfAlias finds an alias inside the node it refers to. Anchors come
// before their aliases, so that is the only way a YAML graph has a cycle.
func selfAlias(n *yaml.Node, ancestors map[*yaml.Node]bool) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		if ancestors[n.Alias] {
			return n
		}
		return nil
	}
	ancestors[n] = true
	defer delete(ancestors, n)
	for _, c := range n.Content {
		if a := selfAlias(c, ancestors); a != nil {
			return a
		}
	}
	return nil
}

// dropExtensions removes top-level keys starting with "x-", which hold
// YAML anchors for the rest of the file to use (as in Compose files).
func dropExtensions(root *yaml.Node) {
	kept := root.Content[:0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i]; k.Kind == yaml.ScalarNode && strings.HasPrefix(k.Value, "x-") {
			continue
		}
		kept = append(kept, root.Content[i], root.Content[i+1])
	}
	root.Content = kept
}

// parser holds what one Parse learns about the file besides its values.
type parser struct {
	file    string
	getenv  func(string) (string, bool)
	plugins Plugins
	errs    yamlx.Errors
	// env names the variables each expanded scalar was made from. Their
	// values come from outside the file and may be secrets: messages name
	// the variables instead.
	env map[*yaml.Node][]string
	// bad are values already reported (a variable not set, a wrong type):
	// checks of what they hold would only repeat the problem.
	bad     map[*yaml.Node]bool
	seen    map[visit]bool
	unknown []keyAt
	// shapes are the struct types notifier entries are checked against,
	// by type (notifierShape).
	shapes map[shapeKey]reflect.Type
	// claims are the values entries took that no other may (Checker.Claim).
	claims map[string]string
}

type visit struct {
	n *yaml.Node
	t reflect.Type
}

// keyAt is a key of mapping m.
type keyAt struct{ m, k *yaml.Node }

func (p *parser) result() error {
	p.errs.Sort()
	// A key in a mapping merged into several entries is reported once.
	p.errs = slices.Compact(p.errs)
	return p.errs.Err()
}

// errAt reports a problem at n, unless n was already reported.
func (p *parser) errAt(n *yaml.Node, format string, args ...any) {
	if p.bad[n] {
		return
	}
	p.errs = append(p.errs, yamlx.At(p.file, n, format, args...))
}

// subject names a value in a message: `key "value"`, or `key (from ${VAR})`
// when the value came from the environment, which is never echoed.
func (p *parser) subject(key string, n *yaml.Node, value string) string {
	if s := p.hidden(key, n); s != key {
		return s
	}
	return key + " " + strconv.Quote(value)
}

// hidden names a value that is never shown, a secret or a URL (which can
// carry credentials): `key`, or `key (from ${VAR})`.
func (p *parser) hidden(key string, n *yaml.Node) string {
	if vars := p.env[n]; n != nil && len(vars) > 0 {
		refs := make([]string, len(vars))
		for i, v := range vars {
			refs[i] = "${" + v + "}"
		}
		return key + " (from " + strings.Join(refs, ", ") + ")"
	}
	return key
}

var quotedRE = regexp.MustCompile("`[^`]*`")

// sanitize removes the values yaml quotes in its messages, in case one came
// from the environment. check has normally caught those errors first.
func (p *parser) sanitize(es yamlx.Errors) yamlx.Errors {
	for i := range es {
		es[i].Msg = quotedRE.ReplaceAllString(strings.TrimPrefix(es[i].Msg, "yaml: "), "this value")
	}
	return es
}

// expand replaces ${VAR} references in every scalar value (never in keys)
// before decoding, so that errors keep the positions of the file.
func (p *parser) expand(n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, vars, errs := expand(n.Value, p.getenv)
		for _, e := range errs {
			p.errAt(n, "%s", e)
		}
		if len(errs) > 0 {
			// The reference stays as written, so that the value is not
			// reported again as empty or malformed.
			p.bad[n] = true
			return
		}
		n.Value = v
		if len(vars) > 0 {
			p.env[n] = vars
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			p.expand(n.Content[i])
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			p.expand(c)
		}
	}
	// An alias's node is expanded where it is defined, once.
}

var varNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand expands ${VAR} and ${VAR:-default} (the default also when VAR is
// empty, as in the shell); $${ is a literal ${. A $ not followed by { is
// itself. It returns the variables used.
func expand(s string, getenv func(string) (string, bool)) (string, []string, []string) {
	var b strings.Builder
	var vars, errs []string
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
			continue
		case !strings.HasPrefix(s[i:], "${"):
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			errs = append(errs, "unterminated ${ (write $${ for a literal ${)")
			break
		}
		ref := s[i+2 : i+2+end]
		i += end + 3
		name, def, hasDef := strings.Cut(ref, ":-")
		switch {
		case !varNameRE.MatchString(name):
			errs = append(errs, fmt.Sprintf("${%s} is not a variable reference: write ${NAME} or ${NAME:-default} (or $${ for a literal ${)", ref))
			continue
		case strings.Contains(def, "${"):
			errs = append(errs, fmt.Sprintf("${%s:-...}: a default cannot hold another ${...}", name))
			continue
		}
		if !slices.Contains(vars, name) {
			vars = append(vars, name)
		}
		v, ok := getenv(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			errs = append(errs, "environment variable "+name+" is not set")
			continue
		}
		b.WriteString(v)
	}
	return b.String(), vars, errs
}

var (
	durationType = reflect.TypeFor[yamlx.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	listSpecType = reflect.TypeFor[ListSpec]()
)

// check walks node n against the type t it decodes into and reports every
// value of the wrong kind at the value itself (yaml's own errors carry only
// a line, and quote the value, which may have come from a secret). It
// normalizes what it accepts so that yaml decodes it: a number or boolean
// that came from the environment is a string in the tree. A wrong value is
// reported and replaced by null, so that decoding goes on. It also notes
// unknown keys, which yamlx.Decode reports.
func (p *parser) check(n *yaml.Node, t reflect.Type, key string) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if p.seen[visit{n, t}] {
		return
	}
	p.seen[visit{n, t}] = true
	if p.isNull(n) {
		return
	}
	if p.own(n, t, key) {
		return
	}
	switch t.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			p.wrong(n, key, "a string")
			return
		}
		if p.env[n] != nil || p.bad[n] {
			// A value from the environment is text, whatever it looks like
			// ("null" as a password stays "null").
			n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
		}
	case reflect.Bool:
		p.boolean(n, key)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.integer(n, key, t.Bits())
	case reflect.Float32, reflect.Float64:
		p.float(n, key)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			p.wrong(n, key, "a list")
			return
		}
		for _, c := range n.Content {
			p.check(c, t.Elem(), key)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			p.wrong(n, key, "a mapping")
			return
		}
		p.mapping(n, key, t, func(k, v *yaml.Node) {
			p.check(v, t.Elem(), k.Value)
		})
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			p.wrong(n, key, "a mapping")
			return
		}
		fields := yamlx.StructFields(t)
		p.mapping(n, key, t, func(k, v *yaml.Node) {
			ft, ok := fields[k.Value]
			if !ok {
				p.unknown = append(p.unknown, keyAt{n, k})
				return
			}
			p.check(v, ft, k.Value)
		})
	}
}

// own checks the values of the types that have checks of their own, and
// tells whether t is one of them.
func (p *parser) own(n *yaml.Node, t reflect.Type, key string) bool {
	switch t {
	case durationType:
		p.duration(n, key)
	case byteSizeType:
		p.byteSize(n, key)
	case listSpecType:
		p.list(n, key)
	case notifierType:
		p.entry(n, key, t, p.plugins.Notifiers)
	case sourceType:
		p.entry(n, key, t, p.plugins.Sources)
	default:
		return false
	}
	return true
}

// mapping checks the keys of mapping n, drops repeated ones after reporting
// them, follows merges (<<) as t, and calls f for every other pair.
func (p *parser) mapping(n *yaml.Node, key string, t reflect.Type, f func(k, v *yaml.Node)) {
	seen := map[string]*yaml.Node{}
	kept := make([]*yaml.Node, 0, len(n.Content))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if yamlx.IsMerge(k) {
			if p.merge(v, t, key) {
				kept = append(kept, k, v)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.errAt(k, "a key is a name, not %s", kindWord(k))
			continue
		}
		if prev := seen[k.Value]; prev != nil {
			p.errAt(k, "%q is already set at line %d", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		kept = append(kept, k, v)
		f(k, v)
	}
	n.Content = kept
}

// merge checks the value of a << key, which yaml merges into the mapping
// holding it: a mapping or a list of mappings.
func (p *parser) merge(v *yaml.Node, t reflect.Type, key string) bool {
	m := v
	if m.Kind == yaml.AliasNode && m.Alias != nil {
		m = m.Alias
	}
	switch m.Kind {
	case yaml.MappingNode:
		p.check(v, t, key)
		return true
	case yaml.SequenceNode:
		for _, c := range m.Content {
			d := c
			if d.Kind == yaml.AliasNode && d.Alias != nil {
				d = d.Alias
			}
			if d.Kind != yaml.MappingNode {
				p.errAt(c, "<< merges a mapping or a list of mappings")
				return false
			}
		}
		for _, c := range m.Content {
			p.check(c, t, key)
		}
		return true
	}
	p.errAt(v, "<< merges a mapping or a list of mappings")
	return false
}

// list checks a lists: entry, a list of values or a Confluence group.
func (p *parser) list(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.SequenceNode:
		p.check(n, reflect.TypeFor[[]string](), key)
	case yaml.MappingNode:
		p.check(n, reflect.TypeFor[listGroup](), key)
		// ListSpec decodes itself, so yamlx.Decode of the Config does not
		// look inside; this reports its unknown keys.
		p.errs = append(p.errs, p.sanitize(yamlx.Decode(p.file, n, new(listGroup)))...)
	default:
		p.errAt(n, "list %s: give a list of values, or a mapping with confluence_group (and source, refresh)", key)
		p.reset(n)
	}
}

// entry checks a notifiers: or sources: entry against the keys of its
// type. Notifier and Source decode only the common keys themselves, so
// yamlx.Decode of the Config does not look inside; this reports the
// unknown keys.
func (p *parser) entry(n *yaml.Node, key string, common reflect.Type, types []Plugin) {
	shape := p.shape(n, common, types)
	p.check(n, shape, key)
	p.errs = append(p.errs, p.sanitize(yamlx.Decode(p.file, n, reflect.New(shape).Interface()))...)
}

func (p *parser) duration(n *yaml.Node, key string) {
	if n.Kind != yaml.ScalarNode {
		p.wrong(n, key, "a duration")
		return
	}
	if _, err := yamlx.ParseDuration(n.Value); err != nil {
		if strings.HasPrefix(strings.TrimSpace(n.Value), "-") {
			p.errAt(n, "%s: a duration cannot be negative", p.subject(key, n, n.Value))
		} else {
			p.errAt(n, "%s: expected a duration such as 30s, 10m, 24h or 7d", p.subject(key, n, n.Value))
		}
		p.reset(n)
	}
}

func (p *parser) byteSize(n *yaml.Node, key string) {
	if n.Kind != yaml.ScalarNode {
		p.wrong(n, key, "a size")
		return
	}
	if _, err := ParseByteSize(n.Value); err != nil {
		p.errAt(n, "%s: expected a size such as 1048576, 512MiB or 10GiB", p.subject(key, n, n.Value))
		p.reset(n)
	}
}

func (p *parser) boolean(n *yaml.Node, key string) {
	if n.Kind != yaml.ScalarNode {
		p.wrong(n, key, "true or false")
		return
	}
	var v bool
	switch strings.ToLower(strings.TrimSpace(n.Value)) {
	case "true", "yes", "on":
		v = true
	case "false", "no", "off":
	default:
		p.errAt(n, "%s: expected true or false", p.subject(key, n, n.Value))
		p.reset(n)
		return
	}
	n.Tag, n.Style, n.Value = "!!bool", 0, strconv.FormatBool(v)
}

func (p *parser) integer(n *yaml.Node, key string, bits int) {
	if n.Kind != yaml.ScalarNode {
		p.wrong(n, key, "a whole number")
		return
	}
	s := strings.ReplaceAll(strings.TrimSpace(n.Value), "_", "")
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		v, err = strconv.ParseInt(s, 0, bits)
	}
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			p.errAt(n, "%s: out of range", p.subject(key, n, n.Value))
		} else {
			p.errAt(n, "%s: expected a whole number", p.subject(key, n, n.Value))
		}
		p.reset(n)
		return
	}
	n.Tag, n.Style, n.Value = "!!int", 0, strconv.FormatInt(v, 10)
}

func (p *parser) float(n *yaml.Node, key string) {
	if n.Kind != yaml.ScalarNode {
		p.wrong(n, key, "a number")
		return
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(n.Value), "_", ""), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		p.errAt(n, "%s: expected a number", p.subject(key, n, n.Value))
		p.reset(n)
		return
	}
	n.Tag, n.Style, n.Value = "!!float", 0, strconv.FormatFloat(v, 'g', -1, 64)
}

// wrong reports a value of the wrong kind and takes it out of decoding.
func (p *parser) wrong(n *yaml.Node, key, want string) {
	if key == "" {
		p.errAt(n, "expected %s, not %s", want, kindWord(n))
	} else {
		p.errAt(n, "%s: expected %s, not %s", p.hidden(key, n), want, kindWord(n))
	}
	p.reset(n)
}

// reset makes a reported value null, which decodes to the field's zero value
// (and so takes its default) without a second error.
func (p *parser) reset(n *yaml.Node) {
	p.bad[n] = true
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

func (p *parser) isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && p.env[n] == nil && !p.bad[n] && n.ShortTag() == "!!null"
}

func kindWord(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "a single value"
}

// dropUnknown removes the unknown keys check noted (and yamlx.Decode
// reported), so that the rest of the file decodes.
func (p *parser) dropUnknown() {
	for _, u := range p.unknown {
		for i := 0; i+1 < len(u.m.Content); i += 2 {
			if u.m.Content[i] == u.k {
				u.m.Content = slices.Delete(u.m.Content, i, i+2)
				break
			}
		}
	}
}
