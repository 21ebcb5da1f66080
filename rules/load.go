package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/internal/yamlx"
)

// Options are what a rule set is checked against besides its own files.
type Options struct {
	// Lists are named lists from the config. A rule file may not redefine them.
	Lists map[string][]string
	// DynamicLists are names of lists filled at run time (from a Confluence
	// group); rules may use them.
	DynamicLists []string
	// Notifiers are the configured notifier names that notify: may name.
	// Nil means they are not checked (no config was given).
	Notifiers []string
}

// File is a rule file's name and content.
type File struct {
	Name string
	Data []byte
}

var idRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Load reads the rule files at paths (files, or folders searched for *.yaml
// and *.yml) and compiles them into one rule set. Every problem of every
// file is reported at once, as yamlx.Errors.
func Load(paths []string, opt Options) (*Set, error) {
	var files []File
	var errs yamlx.Errors
	for _, p := range paths {
		names, err := ruleFiles(p)
		if err != nil {
			errs = append(errs, yamlx.Error{File: p, Msg: err.Error()})
			continue
		}
		for _, n := range names {
			data, err := os.ReadFile(n)
			if err != nil {
				errs = append(errs, yamlx.Error{File: n, Msg: err.Error()})
				continue
			}
			files = append(files, File{Name: n, Data: data})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rule files (*.yaml, *.yml) found in %s", strings.Join(paths, ", "))
	}
	return Compile(files, opt)
}

// ruleFiles lists the rule files at path in a stable order.
func ruleFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", unwrapPath(err))
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var out []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != path && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type parsedFile struct {
	File
	doc   fileYAML
	lines []string
	// rulesEnd is the last line of the rules: list.
	rulesEnd int
}

// ruleSource is rule i as its file writes it, unindented, when that text
// stands on its own as the same rule; otherwise (a rule of a flow-style
// list, one that merges an anchor defined elsewhere) the rule re-encoded,
// without its comments.
func (pf *parsedFile) ruleSource(i int) string {
	n := &pf.doc.Rules[i]
	if text := pf.ruleText(i); text != "" && sameValue(text, n) {
		return text
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return ""
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if enc.Encode(v) != nil || enc.Close() != nil {
		return ""
	}
	return b.String()
}

// ruleText is the text from rule i's first key to the line before the next
// rule (or the end of the rules: list), unindented, without the blank
// lines, comments at the rule's own indentation or less and document
// markers that end it: they introduce what follows.
func (pf *parsedFile) ruleText(i int) string {
	n := &pf.doc.Rules[i]
	end := pf.rulesEnd
	if i+1 < len(pf.doc.Rules) {
		end = pf.doc.Rules[i+1].Line - 1
	}
	if n.Line < 1 || end > len(pf.lines) || end < n.Line {
		return ""
	}
	lines := slices.Clone(pf.lines[n.Line-1 : end])
	indent := n.Column - 1
	for j, l := range lines {
		switch {
		case j == 0 && len(l) >= indent:
			lines[j] = l[indent:] // after the "- " of the list
		case len(l) >= indent && strings.TrimSpace(l[:indent]) == "":
			lines[j] = l[indent:]
		default:
			lines[j] = strings.TrimLeft(l, " ")
		}
	}
	for len(lines) > 1 {
		raw := pf.lines[n.Line-1+len(lines)-1]
		last := strings.TrimSpace(raw)
		outdented := len(raw)-len(strings.TrimLeft(raw, " ")) <= indent
		if last != "" && !(strings.HasPrefix(last, "#") && outdented) && last != "..." && last != "---" {
			break
		}
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n") + "\n"
}

// sameValue reports whether text, read as one YAML document and nothing
// after it, is the value of n.
func sameValue(text string, n *yaml.Node) bool {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var a, b, rest any
	if dec.Decode(&a) != nil || !errors.Is(dec.Decode(&rest), io.EOF) || n.Decode(&b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// Compile compiles rule files given as content.
func Compile(files []File, opt Options) (*Set, error) {
	b := newSetBuilder(opt)
	var errs yamlx.Errors
	var parsed []*parsedFile
	h := sha256.New()
	for _, f := range files {
		b.set.Files = append(b.set.Files, f.Name)
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
		pf, root, e := parseFile(f)
		errs = append(errs, e...)
		if pf == nil {
			continue
		}
		errs = append(errs, b.addLists(pf, root)...)
		errs = append(errs, b.addMacros(pf)...)
		parsed = append(parsed, pf)
	}
	b.set.Version = hex.EncodeToString(h.Sum(nil))[:16]

	listNames := map[string]bool{}
	for n := range b.set.Lists {
		listNames[n] = true
	}
	for _, n := range opt.DynamicLists {
		listNames[n] = true
	}
	c := &compiler{macros: b.set.Macros, lists: listNames, funcs: &funcs{}}

	// A broken macro makes every rule using it fail too, so the rules are
	// not checked until the macros compile.
	if e := b.checkMacros(c, parsed); len(e) > 0 {
		errs = append(errs, e...)
		errs.Sort()
		return nil, errs
	}
	errs = append(errs, b.addRules(c, parsed, opt)...)
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return b.set, nil
}

// setBuilder gathers a rule set from its files, with where each list and
// macro was defined so that a second definition can say where the first is.
type setBuilder struct {
	set       *Set
	listPos   map[string]string // list name -> file, or "the config"
	macroPos  map[string]*yaml.Node
	macroFile map[string]string
}

func newSetBuilder(opt Options) *setBuilder {
	b := &setBuilder{
		set:       &Set{Lists: map[string][]string{}, Macros: map[string]string{}},
		listPos:   map[string]string{},
		macroPos:  map[string]*yaml.Node{},
		macroFile: map[string]string{},
	}
	for name, l := range opt.Lists {
		b.set.Lists[name] = l
		b.listPos[name] = "the config"
	}
	return b
}

// parseFile reads f as a rule file. It returns a nil file when f could
// not be read far enough to take lists, macros or rules from it.
func parseFile(f File) (*parsedFile, *yaml.Node, yamlx.Errors) {
	root, err := yamlx.Parse(f.Name, f.Data)
	if err != nil {
		return nil, nil, asErrors(f.Name, err)
	}
	pf := &parsedFile{File: f, lines: strings.Split(string(f.Data), "\n")}
	if root.Kind != yaml.MappingNode {
		return nil, nil, yamlx.Errors{yamlx.At(f.Name, root, "a rule file is a mapping with lists:, macros: and rules:")}
	}
	errs, wellTyped := yamlx.DecodeAll(f.Name, root, &pf.doc)
	if !wellTyped {
		return nil, nil, errs
	}
	pf.rulesEnd = len(pf.lines)
	for i := 0; i+2 < len(root.Content); i += 2 {
		if root.Content[i].Value == "rules" {
			pf.rulesEnd = root.Content[i+2].Line - 1
		}
	}
	return pf, root, errs
}

// addLists adds the lists of pf, whose document is root.
func (b *setBuilder) addLists(pf *parsedFile, root *yaml.Node) yamlx.Errors {
	var errs yamlx.Errors
	for name, l := range pf.doc.Lists {
		k, _ := yamlx.Get(root, "lists")
		if prev, ok := b.listPos[name]; ok {
			errs = append(errs, yamlx.At(pf.Name, k, "list %s is already defined in %s", name, prev))
			continue
		}
		b.listPos[name] = pf.Name
		b.set.Lists[name] = l
	}
	return errs
}

// addMacros adds the macros of pf, checking their names, not their
// expressions (checkMacros does, once every macro is known).
func (b *setBuilder) addMacros(pf *parsedFile) yamlx.Errors {
	m := &pf.doc.Macros
	if m.Kind != yaml.MappingNode {
		if m.Kind != 0 {
			return yamlx.Errors{yamlx.At(pf.Name, m, "macros: must be a mapping of name: expression")}
		}
		return nil
	}
	var errs yamlx.Errors
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		switch {
		case !macroNameRE.MatchString(k.Value):
			errs = append(errs, yamlx.At(pf.Name, k, "macro name %q: use lower-case letters, digits and _", k.Value))
		case reserved[k.Value]:
			errs = append(errs, yamlx.At(pf.Name, k, "macro name %q is taken by a built-in name", k.Value))
		case b.macroPos[k.Value] != nil:
			errs = append(errs, yamlx.At(pf.Name, k, "macro %s is already defined at %s:%d", k.Value, b.macroFile[k.Value], b.macroPos[k.Value].Line))
		case v.Kind != yaml.ScalarNode:
			errs = append(errs, yamlx.At(pf.Name, v, "macro %s must be an expression (a string)", k.Value))
		default:
			b.set.Macros[k.Value] = v.Value
			b.macroPos[k.Value] = v
			b.macroFile[k.Value] = pf.Name
		}
	}
	return errs
}

// checkMacros compiles each macro on its own, so that an error in one is
// reported once, at the macro, rather than in every rule that uses it.
func (b *setBuilder) checkMacros(c *compiler, parsed []*parsedFile) yamlx.Errors {
	var errs yamlx.Errors
	for name, v := range b.macroPos {
		pf := findFile(parsed, b.macroFile[name])
		if err := c.compileMacro(name); err != nil {
			errs = append(errs, exprErr(pf, v, "macro "+name, err))
		}
	}
	return errs
}

// addRules compiles the rules of every file, adding those without errors
// to the set.
func (b *setBuilder) addRules(c *compiler, parsed []*parsedFile, opt Options) yamlx.Errors {
	var errs yamlx.Errors
	seen := map[string]Pos{}
	for _, pf := range parsed {
		for i := range pf.doc.Rules {
			n := &pf.doc.Rules[i]
			r, e := c.rule(pf, n, opt)
			errs = append(errs, e...)
			if r == nil || r.ID == "" {
				continue
			}
			r.Source = pf.ruleSource(i)
			// A broken rule still claims its id, so that a second rule of
			// that id is reported now rather than once the first is mended.
			if prev, ok := seen[r.ID]; ok {
				_, idv := yamlx.Get(n, "id")
				errs = append(errs, yamlx.At(pf.Name, idv, "rule id %s is already used at %s", r.ID, prev))
				continue
			}
			seen[r.ID] = r.Pos
			if len(e) == 0 {
				b.set.Rules = append(b.set.Rules, r)
			}
		}
	}
	return errs
}

func findFile(files []*parsedFile, name string) *parsedFile {
	for _, f := range files {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func asErrors(file string, err error) yamlx.Errors {
	var es yamlx.Errors
	if errors.As(err, &es) {
		return es
	}
	return yamlx.Errors{{File: file, Msg: err.Error()}}
}

// rule compiles one rule node. A rule with errors is returned with them,
// checked as far as it could be; it is nil only when it could not be read.
func (c *compiler) rule(pf *parsedFile, n *yaml.Node, opt Options) (*Rule, yamlx.Errors) {
	ry, misspelt, errs, ok := decodeRule(pf, n)
	if !ok {
		return nil, errs
	}
	rc := &ruleCheck{pf: pf, n: n, errs: errs}
	r := rc.head(&ry, misspelt)
	if ry.Sequence == nil {
		c.when(rc, r, &ry.When, misspelt)
	}
	c.grouping(rc, r, &ry)
	c.newValue(rc, r, &ry)
	c.sequence(rc, r, &ry)
	c.quiet(rc, r, &ry)
	c.escalate(rc, r, opt)
	c.resolve(rc, r)
	c.digest(rc, r, &ry.Digest)
	r.Title = c.template(pf, &ry.Title, "title", &rc.errs, r)
	if ry.Title.Kind == 0 {
		r.Title, _ = c.parseTemplate(r.Name)
	}
	r.Text = c.template(pf, &ry.Text, "text", &rc.errs, r)
	for _, name := range r.Notify {
		if opt.Notifiers != nil && !slices.Contains(opt.Notifiers, name) {
			_, nn := yamlx.Get(n, "notify")
			rc.at(nn, "unknown notifier %q in notify (configured: %s)", name, strings.Join(opt.Notifiers, ", "))
		}
	}
	for i := range ry.Tests {
		_, tsn := yamlx.Get(n, "tests")
		var tn *yaml.Node
		if tsn != nil && i < len(tsn.Content) {
			tn = tsn.Content[i]
		}
		t, e := c.test(pf, &ry.Tests[i], tn, r, opt)
		rc.errs = append(rc.errs, e...)
		r.Tests = append(r.Tests, t)
	}
	return r, rc.errs
}

// decodeRule reads rule node n. ok is false when the rule cannot be
// checked further; misspelt tells that a key of the rule is unknown.
func decodeRule(pf *parsedFile, n *yaml.Node) (ry ruleYAML, misspelt bool, errs yamlx.Errors, ok bool) {
	if n.Kind != yaml.MappingNode {
		return ry, false, yamlx.Errors{yamlx.At(pf.Name, n, "a rule is a mapping with id:, when: and the other rule keys")}, false
	}
	// An unknown key (a typo such as "tresholds") does not stop the rest of
	// the rule being checked; a value of the wrong type does, since what
	// follows from its absence would only repeat the error.
	errs, wellTyped := yamlx.DecodeAll(pf.Name, n, &ry)
	if !wellTyped {
		return ry, false, errs, false
	}
	// A missing id, severity or when next to an unknown key of the rule is
	// most likely that key misspelt, which is already said.
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		for _, e := range errs {
			misspelt = misspelt || (e.Line == k.Line && e.Col == k.Column)
		}
	}
	return ry, misspelt, errs, true
}

// ruleCheck gathers the errors of rule node n.
type ruleCheck struct {
	pf   *parsedFile
	n    *yaml.Node
	errs yamlx.Errors
}

// at reports an error at node, or at the rule when node has no position.
func (rc *ruleCheck) at(node *yaml.Node, format string, args ...any) {
	if node == nil || node.Line == 0 {
		node = rc.n
	}
	rc.errs = append(rc.errs, yamlx.At(rc.pf.Name, node, format, args...))
}

// head makes the rule from the keys that need no compiling, checking its
// id and severity.
func (rc *ruleCheck) head(ry *ruleYAML, misspelt bool) *Rule {
	n := rc.n
	r := &Rule{
		ID: ry.ID, Name: ry.Name, Description: ry.Description, Severity: alerter.Severity(ry.Severity),
		Tags: ry.Tags, Notify: ry.Notify, Runbook: ry.Runbook, Labels: ry.Labels, Enabled: true,
		Pos: Pos{File: rc.pf.Name, Line: n.Line, Col: n.Column},
	}
	if ry.Enabled != nil {
		r.Enabled = *ry.Enabled
	}
	_, idv := yamlx.Get(n, "id")
	switch {
	case ry.ID == "" && misspelt:
	case ry.ID == "":
		rc.at(n, "rule has no id")
	case !idRE.MatchString(ry.ID):
		rc.at(idv, "rule id %q: use lower-case letters, digits and single dashes ([a-z0-9-]+)", ry.ID)
	}
	if r.Name == "" {
		r.Name = r.ID
	}
	_, sv := yamlx.Get(n, "severity")
	switch {
	case ry.Severity == "" && misspelt:
	case ry.Severity == "":
		rc.at(n, "rule %s has no severity (one of info, low, medium, high, critical)", ry.ID)
	case r.Severity.Rank() < 0:
		rc.at(sv, "unknown severity %q (one of info, low, medium, high, critical)", ry.Severity)
	}
	return r
}

// when compiles the rule's condition.
func (c *compiler) when(rc *ruleCheck, r *Rule, w *yaml.Node, misspelt bool) {
	if w.Kind == 0 {
		if !misspelt {
			rc.at(rc.n, "rule %s has no when: condition", r.ID)
		}
		return
	}
	if e, ok := c.condition(rc, r, w, "when"); ok {
		r.When = e
	}
}

// condition compiles the boolean expression at w, named what in errors.
func (c *compiler) condition(rc *ruleCheck, r *Rule, w *yaml.Node, what string) (Expr, bool) {
	if w.Kind != yaml.ScalarNode {
		rc.at(w, "%s must be an expression (a string)", what)
		return Expr{}, false
	}
	prog, inf, err := c.compile(w.Value, true)
	if err != nil {
		rc.errs = append(rc.errs, exprErr(rc.pf, w, what, err))
		return Expr{}, false
	}
	r.UsesRaw = r.UsesRaw || inf.usesRaw
	return Expr{Source: w.Value, Program: prog}, true
}

// grouping compiles the rule's threshold and dedup, and the one grouping
// they share.
func (c *compiler) grouping(rc *ruleCheck, r *Rule, ry *ruleYAML) {
	pf, n := rc.pf, rc.n
	var thresholdBy, dedupBy []Expr
	if t := ry.Threshold; t != nil {
		r.Threshold = &Threshold{Count: t.Count}
		_, tn := yamlx.Get(n, "threshold")
		_, cn := yamlx.Get(tn, "count")
		if t.Count < 1 {
			rc.at(cn, "threshold.count must be at least 1")
		}
		r.Threshold.Within = c.duration(pf, &t.Within, "threshold.within", tn, &rc.errs)
		thresholdBy = c.exprs(pf, t.By, "threshold.by", &rc.errs, r)
		for _, b := range thresholdBy {
			r.Threshold.By = append(r.Threshold.By, b.Source)
		}
		r.Threshold.Distinct = c.exprs(pf, t.Distinct, "threshold.distinct", &rc.errs, r)
		if t.Distinct != nil && t.Count > MaxDistinctCount {
			rc.at(cn, "threshold.count with distinct must be at most %d: the window keeps one entry per event, bounded by the count", MaxDistinctCount)
		}
		if _, dn := yamlx.Get(tn, "distinct"); dn != nil && len(t.Distinct) == 0 {
			rc.at(dn, "threshold.distinct: give a list of expressions, such as [object(\"Space\")?.name]")
		}
	}
	if d := ry.Dedup; d != nil {
		_, dn := yamlx.Get(n, "dedup")
		r.Dedup = &Dedup{Window: c.duration(pf, &d.Window, "dedup.window", dn, &rc.errs)}
		dedupBy = c.exprs(pf, d.By, "dedup.by", &rc.errs, r)
		for _, b := range dedupBy {
			r.Dedup.By = append(r.Dedup.By, b.Source)
		}
	}
	switch {
	case len(dedupBy) > 0:
		r.GroupBy = dedupBy
		if len(thresholdBy) > 0 && !slices.Equal(r.Threshold.By, r.Dedup.By) {
			_, dn := yamlx.Get(n, "dedup")
			_, bn := yamlx.Get(dn, "by")
			rc.at(bn, "dedup.by and threshold.by differ; a rule has one grouping: give by: in one of them (the other inherits it) or the same list in both")
		}
	case len(thresholdBy) > 0:
		r.GroupBy = thresholdBy
		if r.Dedup != nil {
			r.Dedup.By = r.Threshold.By
		}
	}
}

// newValue compiles the rule's new_value (docs/rules.md, First-seen
// values). Its by is the rule's grouping, shared with dedup.
func (c *compiler) newValue(rc *ruleCheck, r *Rule, ry *ruleYAML) {
	nv := ry.NewValue
	if nv == nil {
		return
	}
	pf := rc.pf
	_, nn := yamlx.Get(rc.n, "new_value")
	if ry.Threshold != nil {
		_, tn := yamlx.Get(rc.n, "threshold")
		rc.at(tn, "new_value cannot be combined with threshold: a rule alerts on new values or on counts, not both")
		return
	}
	r.NewValue = &NewValue{MaxValues: DefaultMaxValues}
	r.NewValue.Of = c.exprs(pf, nv.Of, "new_value.of", &rc.errs, r)
	if len(nv.Of) == 0 {
		rc.at(nn, "new_value.of: give a list of expressions, such as [event.ip]")
	}
	r.NewValue.By = rc.share(r, c.exprs(pf, nv.By, "new_value.by", &rc.errs, r), "new_value")
	r.NewValue.History = c.duration(pf, &nv.History, "new_value.history", nn, &rc.errs)
	if ln := &nv.Learning; ln.Kind != 0 {
		d, err := yamlx.ParseDuration(ln.Value)
		if err == nil && d < 0 {
			err = fmt.Errorf("must not be negative")
		}
		if err != nil {
			rc.at(ln, "new_value.learning: %v", err)
		}
		r.NewValue.Learning = d
	}
	if m := nv.MaxValues; m != nil {
		_, mn := yamlx.Get(nn, "max_values")
		if *m < 1 || *m > MaxMaxValues {
			rc.at(mn, "new_value.max_values must be between 1 and %d: a group's remembered values are one state store value", MaxMaxValues)
		}
		r.NewValue.MaxValues = *m
	}
}

// share makes by, the by: of the rule's key kind, the rule's one grouping,
// shared with dedup, and returns it as sources: a rule whose dedup has no
// by inherits it, and a dedup.by that differs is an error.
func (rc *ruleCheck) share(r *Rule, by []Expr, kind string) []string {
	var srcs []string
	for _, b := range by {
		srcs = append(srcs, b.Source)
	}
	switch {
	case len(r.GroupBy) == 0:
		r.GroupBy = by
		if r.Dedup != nil {
			r.Dedup.By = srcs
		}
	case len(by) > 0 && !slices.Equal(srcs, r.Dedup.By):
		_, dn := yamlx.Get(rc.n, "dedup")
		_, bn := yamlx.Get(dn, "by")
		rc.at(bn, "dedup.by and %s.by differ; a rule has one grouping: give by: in one of them (the other inherits it) or the same list in both", kind)
	default:
		return r.Dedup.By
	}
	return srcs
}

// sequence compiles the rule's sequence (docs/rules.md, Sequences). The
// rule's When becomes the disjunction of the steps' conditions, so that
// the engine's index offers the rule an event any step can match.
func (c *compiler) sequence(rc *ruleCheck, r *Rule, ry *ruleYAML) {
	sq := ry.Sequence
	if sq == nil {
		return
	}
	_, sn := yamlx.Get(rc.n, "sequence")
	for _, k := range []string{"when", "threshold", "new_value"} {
		if _, kn := yamlx.Get(rc.n, k); kn != nil {
			rc.at(kn, "a rule with sequence: has no %s: each step has its own when", k)
			return
		}
	}
	r.Sequence = &Sequence{Within: c.duration(rc.pf, &sq.Within, "sequence.within", sn, &rc.errs)}
	r.Sequence.By = rc.share(r, c.exprs(rc.pf, sq.By, "sequence.by", &rc.errs, r), "sequence")
	_, stn := yamlx.Get(sn, "steps")
	if len(sq.Steps) < MinSteps || len(sq.Steps) > MaxSteps {
		rc.at(stn, "sequence.steps: give %d to %d steps, not %d", MinSteps, MaxSteps, len(sq.Steps))
	}
	var whens, names []string
	for i, st := range sq.Steps {
		var n *yaml.Node
		if stn != nil && i < len(stn.Content) {
			n = stn.Content[i]
		}
		_, nameN := yamlx.Get(n, "name")
		switch {
		case st.Name == "":
			rc.at(n, "sequence.steps[%d]: every step needs a name", i)
		case slices.Contains(names, st.Name):
			rc.at(nameN, "sequence.steps[%d]: the step name %q is taken by an earlier step", i, st.Name)
		}
		names = append(names, st.Name)
		if st.Absent && i != len(sq.Steps)-1 {
			_, an := yamlx.Get(n, "absent")
			rc.at(an, "sequence.steps[%d]: only the last step may be absent", i)
		}
		what := fmt.Sprintf("sequence.steps[%d].when", i)
		if st.When.Kind == 0 {
			rc.at(n, "%s is required", what)
			continue
		}
		w, ok := c.condition(rc, r, &st.When, what)
		if !ok {
			continue
		}
		r.Sequence.Steps = append(r.Sequence.Steps, Step{Name: st.Name, When: w, Absent: st.Absent})
		r.Sequence.Absent = st.Absent
		whens = append(whens, "("+w.Source+")")
	}
	if len(whens) != len(sq.Steps) {
		return
	}
	prog, _, err := c.compile(strings.Join(whens, " || "), true)
	if err != nil {
		rc.at(sn, "sequence: the steps' conditions together: %v", err)
		return
	}
	r.When = Expr{Source: strings.Join(whens, " || "), Program: prog}
}

// quiet compiles the rule's quiet (docs/rules.md, Quiet sources). Its by
// is the rule's grouping, shared with dedup.
func (c *compiler) quiet(rc *ruleCheck, r *Rule, ry *ruleYAML) {
	q := ry.Quiet
	if q == nil {
		return
	}
	_, qn := yamlx.Get(rc.n, "quiet")
	for _, k := range []string{"threshold", "new_value", "sequence"} {
		if _, kn := yamlx.Get(rc.n, k); kn != nil {
			rc.at(kn, "quiet cannot be combined with %s: a quiet rule alerts on the absence of events, not on them", k)
			return
		}
	}
	r.Quiet = &Quiet{Within: c.duration(rc.pf, &q.Within, "quiet.within", qn, &rc.errs)}
	r.Quiet.By = rc.share(r, c.exprs(rc.pf, q.By, "quiet.by", &rc.errs, r), "quiet")
}

func (c *compiler) duration(pf *parsedFile, v *yaml.Node, what string, parent *yaml.Node, errs *yamlx.Errors) time.Duration {
	if v.Kind == 0 {
		*errs = append(*errs, yamlx.At(pf.Name, parent, "%s is required", what))
		return 0
	}
	d, err := yamlx.ParseDuration(v.Value)
	if err == nil && d <= 0 {
		err = fmt.Errorf("must be longer than zero")
	}
	if err != nil {
		*errs = append(*errs, yamlx.At(pf.Name, v, "%s: %v", what, err))
	}
	return d
}

func (c *compiler) exprs(pf *parsedFile, nodes []yaml.Node, what string, errs *yamlx.Errors, r *Rule) []Expr {
	var out []Expr
	for i := range nodes {
		n := &nodes[i]
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, yamlx.At(pf.Name, n, "%s: each entry is an expression such as event.actor.name", what))
			continue
		}
		prog, inf, err := c.compile(n.Value, false)
		if err != nil {
			*errs = append(*errs, exprErr(pf, n, what, err))
			continue
		}
		r.UsesRaw = r.UsesRaw || inf.usesRaw
		out = append(out, Expr{Source: n.Value, Program: prog})
	}
	return out
}

func (c *compiler) template(pf *parsedFile, n *yaml.Node, what string, errs *yamlx.Errors, r *Rule) Template {
	if n.Kind == 0 {
		return Template{}
	}
	if n.Kind != yaml.ScalarNode {
		*errs = append(*errs, yamlx.At(pf.Name, n, "%s must be text", what))
		return Template{}
	}
	t, err := c.parseTemplate(n.Value)
	if err != nil {
		*errs = append(*errs, exprErr(pf, n, what, err))
	}
	if strings.Contains(n.Value, "event.raw") {
		r.UsesRaw = true
	}
	return t
}

// exprErr positions an expression error in the file: the YAML node's
// position plus the position inside the expression.
func exprErr(pf *parsedFile, n *yaml.Node, what string, err error) yamlx.Error {
	e := yamlx.Error{File: pf.Name, Line: n.Line, Col: n.Column, Msg: what + ": " + err.Error()}
	var ee *exprError
	if errors.As(err, &ee) {
		e.Line, e.Col = filePos(pf, n, ee.Line, ee.Col)
		e.Msg = what + ": " + ee.Msg
	}
	return e
}

// filePos maps a 1-based line and column inside a scalar's value to the
// file. Plain and quoted scalars start at the node; block scalars (| and >)
// start on the next line at the block's indentation. Escapes in quoted
// strings and folding can shift the column; the line stays right.
func filePos(pf *parsedFile, n *yaml.Node, line, col int) (int, int) {
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// The block's indentation is its first line's; deeper lines keep
		// their extra spaces in the value, so col already counts them.
		indent := 0
		if n.Line < len(pf.lines) {
			l := pf.lines[n.Line]
			indent = len(l) - len(strings.TrimLeft(l, " "))
		}
		return n.Line + line, indent + col
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if line == 1 {
			return n.Line, n.Column + col
		}
	default:
		if line == 1 {
			return n.Line, n.Column + col - 1
		}
	}
	fl := n.Line + line - 1
	indent := 0
	if fl-1 < len(pf.lines) {
		l := pf.lines[fl-1]
		indent = len(l) - len(strings.TrimLeft(l, " "))
	}
	return fl, indent + col
}

var expectWords = map[string]int{"alert": 1, "none": 0}

func (c *compiler) test(pf *parsedFile, ty *testYAML, n *yaml.Node, r *Rule, opt Options) (Test, yamlx.Errors) {
	var errs yamlx.Errors
	t := Test{Name: ty.Name, Lists: ty.Lists}
	if n != nil {
		t.Pos = Pos{File: pf.Name, Line: n.Line, Col: n.Column}
	}
	if t.Name == "" {
		t.Name = fmt.Sprintf("test %d", len(r.Tests)+1)
	}
	add := func(node *yaml.Node) {
		data, err := nodeJSON(node)
		if err != nil {
			errs = append(errs, yamlx.At(pf.Name, node, "test %q: event: %v", t.Name, err))
			return
		}
		t.Events = append(t.Events, data)
		t.EventPos = append(t.EventPos, Pos{File: pf.Name, Line: node.Line, Col: node.Column})
	}
	switch {
	case ty.Event.Kind != 0 && ty.Events.Kind != 0:
		errs = append(errs, yamlx.At(pf.Name, n, "test %q: give event: or events:, not both", t.Name))
	case ty.Event.Kind != 0:
		add(&ty.Event)
	case ty.Events.Kind == yaml.SequenceNode:
		for _, e := range ty.Events.Content {
			add(e)
		}
	case ty.Events.Kind != 0:
		errs = append(errs, yamlx.At(pf.Name, &ty.Events, "test %q: events: is a list of events", t.Name))
	default:
		errs = append(errs, yamlx.At(pf.Name, n, "test %q has no event: or events:", t.Name))
	}
	if u := &ty.Until; u.Kind != 0 {
		tm, err := time.Parse(time.RFC3339Nano, u.Value)
		if err != nil {
			errs = append(errs, yamlx.At(pf.Name, u, "test %q: until: want an RFC 3339 time such as 2026-01-02T15:04:05Z: %v", t.Name, err))
		}
		t.Until = tm
	}
	for name := range ty.Lists {
		if !c.lists[name] {
			errs = append(errs, yamlx.At(pf.Name, n, "test %q: lists: %s is not a list the rules define", t.Name, name))
		}
	}
	errs = append(errs, c.expect(pf, ty, n, &t, opt)...)
	return t, errs
}

// expect reads a test's expect: into t.Expect; t's events are read.
func (c *compiler) expect(pf *parsedFile, ty *testYAML, n *yaml.Node, t *Test, opt Options) yamlx.Errors {
	var errs yamlx.Errors
	switch ty.Expect.Kind {
	case 0:
		errs = append(errs, yamlx.At(pf.Name, n, "test %q has no expect: (alert, none, or a mapping)", t.Name))
	case yaml.ScalarNode:
		k, ok := expectWords[ty.Expect.Value]
		if !ok {
			errs = append(errs, yamlx.At(pf.Name, &ty.Expect, "test %q: expect is alert, none, or a mapping of alerts, suppressed, escalations, resolves, digests, distinct, severity, group, title, text, notify", t.Name))
			break
		}
		if k == 1 {
			// "alert" means at least one; a mapping can say how many.
			atLeastOne := AtLeastOne
			t.Expect.Alerts = &atLeastOne
		} else {
			t.Expect.Alerts = &k
		}
	default:
		var ey expectYAML
		e, wellTyped := yamlx.DecodeAll(pf.Name, &ty.Expect, &ey)
		errs = append(errs, e...)
		if !wellTyped {
			break
		}
		t.Expect = Expect{Alerts: ey.Alerts, Suppressed: ey.Suppressed, Escalations: ey.Escalations, Resolves: ey.Resolves, Digests: ey.Digests, Distinct: ey.Distinct, EventIDs: ey.EventIDs,
			Group: ey.Group, Title: ey.Title, Text: ey.Text, Notify: ey.Notify}
		for _, p := range ey.EventIDs {
			if p < 1 || p > len(t.Events) {
				_, en := yamlx.Get(&ty.Expect, "event_ids")
				errs = append(errs, yamlx.At(pf.Name, en, "test %q: event_ids are positions of the test's events, 1 to %d, not %d", t.Name, len(t.Events), p))
				break
			}
		}
		if ey.Severity != nil {
			s := alerter.Severity(*ey.Severity)
			if s.Rank() < 0 {
				errs = append(errs, yamlx.At(pf.Name, &ty.Expect, "test %q: unknown severity %q", t.Name, s))
			}
			t.Expect.Severity = &s
		}
		if ey.Notify != nil && opt.Notifiers != nil {
			for _, name := range ey.Notify {
				if !slices.Contains(opt.Notifiers, name) {
					errs = append(errs, yamlx.At(pf.Name, &ty.Expect, "test %q: unknown notifier %q", t.Name, name))
				}
			}
		}
	}
	return errs
}

// AtLeastOne is the Alerts value of expect: alert.
const AtLeastOne = -1

// nodeJSON turns an event written in YAML (or JSON, which YAML includes)
// into JSON bytes for the normalizers.
func nodeJSON(n *yaml.Node) ([]byte, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		// An event may be given as a JSON string, e.g. a pasted audit-file line.
		s := strings.TrimSpace(n.Value)
		if json.Valid([]byte(s)) {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("a string event must hold JSON")
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	v, err := jsonable(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// jsonable converts YAML's map[any]any into JSON objects.
func jsonable(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[k] = j
		}
		return x, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = j
		}
		return m, nil
	case []any:
		for i, e := range x {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[i] = j
		}
		return x, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	}
	return v, nil
}
