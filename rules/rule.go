// Package rules loads rule files, checks every expression in them against
// the typed event before anything runs, and compiles them into an immutable
// rule set for the engine.
package rules

import (
	"fmt"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter"
)

// Expr is a compiled expression with its source.
type Expr struct {
	Source  string
	Program *vm.Program
}

// Pos is where something is defined.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Rule is a compiled rule. A Rule is never modified after Load returns it.
type Rule struct {
	ID          string
	Name        string
	Description string
	Severity    alerter.Severity
	Tags        []string
	When        Expr
	Threshold   *Threshold
	// NewValue, if set, alerts on tuples of values new for the group.
	NewValue *NewValue
	// Sequence, if set, alerts on steps in order within a span; When is
	// then the disjunction of its steps' conditions.
	Sequence *Sequence
	// Quiet, if set, alerts when a group that had matching events has
	// none for a span (docs/rules.md, Quiet sources).
	Quiet *Quiet
	Dedup *Dedup
	// Escalate are the steps that send the group's alert again while it
	// stays firing and unacknowledged (docs/rules.md, Escalations).
	Escalate []Escalation
	// Resolve, if set, says when a group's alert resolves (docs/rules.md,
	// Resolving).
	Resolve *Resolve
	// Digest, if not zero, is the period of a group's digests: one summary
	// of its suppressed matches per period, instead of silence
	// (docs/rules.md, Digests).
	Digest time.Duration
	// GroupBy are the expressions whose values name a rule's group: the
	// dedup.by expressions, or else the threshold.by ones.
	GroupBy []Expr
	Notify  []string
	Title   Template
	Text    Template
	Runbook string
	Labels  map[string]string
	Enabled bool
	Tests   []Test
	Pos     Pos
	// Source is the rule's YAML as its file writes it, comments included:
	// what a user edits to change it. Where that text cannot stand alone (a
	// rule of a flow-style list, one merging an anchor defined elsewhere),
	// it is the rule re-encoded, without comments.
	Source string

	// UsesRaw tells the engine to decode event.raw before evaluating.
	UsesRaw bool
}

// Threshold fires when Count matching events fall within Within, or, with
// Distinct, when the events within Within carry Count distinct tuples of
// the Distinct expressions' values (docs/rules.md, Distinct counts).
type Threshold struct {
	Count  int
	Within time.Duration
	By     []string
	// Distinct are the expressions whose values' tuples are counted.
	Distinct []Expr
}

// MaxDistinctCount is the largest threshold.count of a rule with distinct:
// the engine keeps the window's entries, bounded by twice the count, in
// the group's state.
const MaxDistinctCount = 100

// NewValue fires when the tuple of the Of expressions' values was not
// seen in the group within History, unless the rule is still learning
// (docs/rules.md, First-seen values).
type NewValue struct {
	// Of are the expressions whose values' tuple must be new.
	Of       []Expr
	By       []string
	History  time.Duration
	Learning time.Duration
	// MaxValues bounds the tuples a group remembers.
	MaxValues int
}

// Sequence fires when events of one group meet its steps in order, the
// last at most Within after the first (docs/rules.md, Sequences).
type Sequence struct {
	By     []string
	Within time.Duration
	Steps  []Step
	// Absent: the last step is an absence (docs/rules.md, Absences): the
	// rule fires when the steps before it complete a chain and the last
	// does not follow within Within of the chain's first event.
	Absent bool
}

// Step is one step of a sequence.
type Step struct {
	Name string
	When Expr
	// Absent is set on the last step of an absence.
	Absent bool
}

// Quiet fires when a group that had matching events has none for Within
// (docs/rules.md, Quiet sources).
type Quiet struct {
	By     []string
	Within time.Duration
}

// Deadlined reports whether the rule's alerts fire at deadlines rather
// than on events: an absence, or a quiet rule.
func (r *Rule) Deadlined() bool {
	return r.Quiet != nil || (r.Sequence != nil && r.Sequence.Absent)
}

// Timed reports whether the rule keeps deadlines for its alerts' lifecycle
// (docs/rules.md, Resolving, Escalations and Digests): resolve.after, an
// escalate: after step, or digest.
func (r *Rule) Timed() bool {
	return r.ResolveAfter() > 0 || r.Digest > 0 || slices.ContainsFunc(r.Escalate, func(s Escalation) bool { return s.After > 0 })
}

// ResolveAfter is the rule's resolve.after, or 0.
func (r *Rule) ResolveAfter() time.Duration {
	if r.Resolve == nil {
		return 0
	}
	return r.Resolve.After
}

// MinSteps and MaxSteps bound a sequence's steps. The engine keeps a
// partial chain per step count and a step mask in a uint8.
const (
	MinSteps = 2
	MaxSteps = 8
)

// DefaultMaxValues is new_value.max_values when a rule does not give it.
const DefaultMaxValues = 10_000

// MaxMaxValues bounds new_value.max_values. A group's remembered tuples
// are one state store value, rewritten on every matching event: a tuple
// is kept in at most 64 bytes, plus about 11 for its length and time, so
// 10,000 of them are at most about 750 KB, within NATS's default 1 MB
// message size.
const MaxMaxValues = 10_000

// Dedup suppresses further alerts of a group for Window after one fired.
type Dedup struct {
	By     []string
	Window time.Duration
}

// DedupWindow is how long after an alert further matches of its group are
// suppressed: dedup.window, or threshold.within for a threshold rule
// without dedup, or zero (alert on every match).
func (r *Rule) DedupWindow() time.Duration {
	switch {
	case r.Dedup != nil:
		return r.Dedup.Window
	case r.Threshold != nil:
		return r.Threshold.Within
	}
	return 0
}

// Stateful reports whether the rule keeps per-group state.
func (r *Rule) Stateful() bool {
	return r.Dedup != nil || r.Threshold != nil || r.NewValue != nil || r.Sequence != nil || r.Quiet != nil
}

// Constraint says that a field of the event equals one of Values: what
// the engine files a rule under in its index.
type Constraint struct {
	Field  string // e.g. "action", "category_key", "actor.type"
	Values []string
}

// Test is one test case of a rule.
type Test struct {
	Name string
	// Events are the payloads, each as JSON, in any supported format.
	Events [][]byte
	// EventPos are the positions of the events in the rule file.
	EventPos []Pos
	Expect   Expect
	// Lists override the rule set's lists for this test.
	Lists map[string][]string
	// Until, if not zero, moves event time on to it after the events, so
	// that the deadlines due by then fire (absences, quiet sources).
	Until time.Time
	Pos   Pos
}

// Expect is what a test expects. Nil fields are not checked.
type Expect struct {
	Alerts     *int
	Suppressed *int
	// Escalations counts the escalations the events made (docs/rules.md,
	// Escalations).
	Escalations *int
	// Resolves counts the events that met the rule's resolve.when and
	// the resolve.after deadlines that passed (docs/rules.md, Resolving).
	Resolves *int
	// Digests counts the digests sent (docs/rules.md, Digests).
	Digests *int
	// Distinct is the first alert's distinct count (threshold.distinct).
	Distinct *int
	// EventIDs are the first alert's events, as 1-based positions in the
	// test's events (a sequence's chain, a threshold's window).
	EventIDs []int
	Severity *alerter.Severity
	Group    map[string]string
	Title    *string
	Text     *string
	Notify   []string
}

// Set is a compiled, immutable rule set.
type Set struct {
	Rules  []*Rule
	Lists  map[string][]string
	Files  []string
	Macros map[string]string
	// Version identifies the content the set was built from.
	Version string
}

// Router routes the alerts of this set's rules: a rule's notify: list if it
// has one, else routes by severity.
func (s *Set) Router(routes alerter.Routes) alerter.Router {
	return router{set: s, routes: routes}
}

type router struct {
	set    *Set
	routes alerter.Routes
}

func (r router) Route(a *alerter.Alert) []string {
	var notify []string
	if rl := r.set.Rule(a.Rule); rl != nil {
		notify = rl.Notify
		// An escalation goes to its step's targets, if it names any.
		if k := a.Escalation; k > 0 && k <= len(rl.Escalate) && len(rl.Escalate[k-1].Notify) > 0 {
			notify = rl.Escalate[k-1].Notify
		}
	}
	return r.routes.Targets(notify, a.Severity)
}

// Rule returns the rule with id, or nil.
func (s *Set) Rule(id string) *Rule {
	for _, r := range s.Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// The YAML shapes of a rule file. Expressions are kept as nodes so that
// errors can point into them.
type fileYAML struct {
	Lists  map[string][]string `yaml:"lists"`
	Macros yaml.Node           `yaml:"macros"`
	Rules  []yaml.Node         `yaml:"rules"`
}

type ruleYAML struct {
	ID          string            `yaml:"id"`
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Severity    string            `yaml:"severity"`
	Tags        []string          `yaml:"tags"`
	When        yaml.Node         `yaml:"when"`
	Threshold   *thresholdYAML    `yaml:"threshold"`
	NewValue    *newValueYAML     `yaml:"new_value"`
	Sequence    *sequenceYAML     `yaml:"sequence"`
	Quiet       *quietYAML        `yaml:"quiet"`
	Dedup       *dedupYAML        `yaml:"dedup"`
	Escalate    []yaml.Node       `yaml:"escalate"`
	Resolve     yaml.Node         `yaml:"resolve"`
	Digest      yaml.Node         `yaml:"digest"`
	Notify      []string          `yaml:"notify"`
	Title       yaml.Node         `yaml:"title"`
	Text        yaml.Node         `yaml:"text"`
	Runbook     string            `yaml:"runbook"`
	Labels      map[string]string `yaml:"labels"`
	Enabled     *bool             `yaml:"enabled"`
	Tests       []testYAML        `yaml:"tests"`
}

type thresholdYAML struct {
	Count    int         `yaml:"count"`
	Within   yaml.Node   `yaml:"within"`
	By       []yaml.Node `yaml:"by"`
	Distinct []yaml.Node `yaml:"distinct"`
}

type newValueYAML struct {
	Of        []yaml.Node `yaml:"of"`
	By        []yaml.Node `yaml:"by"`
	History   yaml.Node   `yaml:"history"`
	Learning  yaml.Node   `yaml:"learning"`
	MaxValues *int        `yaml:"max_values"`
}

type sequenceYAML struct {
	By     []yaml.Node `yaml:"by"`
	Within yaml.Node   `yaml:"within"`
	Steps  []stepYAML  `yaml:"steps"`
}

type quietYAML struct {
	By     []yaml.Node `yaml:"by"`
	Within yaml.Node   `yaml:"within"`
}

type stepYAML struct {
	Name   string    `yaml:"name"`
	When   yaml.Node `yaml:"when"`
	Absent bool      `yaml:"absent"`
}

type dedupYAML struct {
	By     []yaml.Node `yaml:"by"`
	Window yaml.Node   `yaml:"window"`
}

type testYAML struct {
	Name   string              `yaml:"name"`
	Event  yaml.Node           `yaml:"event"`
	Events yaml.Node           `yaml:"events"`
	Expect yaml.Node           `yaml:"expect"`
	Lists  map[string][]string `yaml:"lists"`
	Until  yaml.Node           `yaml:"until"`
}

type expectYAML struct {
	Alerts      *int              `yaml:"alerts"`
	Suppressed  *int              `yaml:"suppressed"`
	Escalations *int              `yaml:"escalations"`
	Resolves    *int              `yaml:"resolves"`
	Digests     *int              `yaml:"digests"`
	Distinct    *int              `yaml:"distinct"`
	EventIDs    []int             `yaml:"event_ids"`
	Severity    *string           `yaml:"severity"`
	Group       map[string]string `yaml:"group"`
	Title       *string           `yaml:"title"`
	Text        *string           `yaml:"text"`
	Notify      []string          `yaml:"notify"`
}
