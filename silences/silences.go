// Package silences mutes alerts for a while, as Alertmanager's silences do:
// a silence has matchers on an alert's rule, severity, labels, group values
// and dedup key, a start and an end, an author and a comment. A silenced
// alert is recorded as silenced at each target instead of being sent.
//
// Silences live in a JetStream KV bucket, so every replica applies the same
// ones; each replica keeps them in memory, updated by a watch on the
// bucket, so matching costs no round trip. What each silence suppressed is
// counted in a second bucket (Tally, through Counting), so that its end can
// be announced with it (package announce).
package silences

import (
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/alerter/alerter"
)

// Silence mutes the alerts that all its matchers match, from StartsAt until
// EndsAt.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	// Identity is who created it as the server authenticated them: the
	// name of the API token, or the remote address when no tokens are
	// configured. CreatedBy is what the caller wrote and may name anyone.
	Identity  string    `json:"identity,omitempty"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when it was last changed (expired early, for one).
	UpdatedAt time.Time `json:"updated_at"`
}

// Matcher compares one property of an alert with a value, for equality or
// (Regex) as an anchored regular expression; Negate inverts it.
//
// Names: "rule", "severity", "dedup_key", "label.NAME" (labels: NAME),
// "group.EXPR" (the value of the group's by-expression EXPR, as written in
// the rule: group.event.actor.name).
type Matcher struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Regex  bool   `json:"regex,omitempty"`
	Negate bool   `json:"negate,omitempty"`

	re    *regexp.Regexp
	steps int // the size of re's program
}

// State of a silence at a time.
const (
	Pending = "pending"
	Active  = "active"
	Expired = "expired"
)

// State says whether s applies at now.
func (s *Silence) State(now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return Pending
	case now.Before(s.EndsAt):
		return Active
	}
	return Expired
}

// MaxMatchers, MaxValue and MaxRegexSteps bound what a silence may hold:
// they are checked against every alert. A regex costs its program's size
// per character of a value, and a short one can be large ((a|b){1,1000}),
// so the sizes of a silence's regexes together are bounded too.
const (
	MaxMatchers   = 32
	MaxValue      = 1024
	MaxRegexSteps = 1000
)

// Check fills in defaults (StartsAt now) and compiles the matchers; every
// problem is reported at once.
func (s *Silence) Check(now time.Time) error {
	var errs []error
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	switch {
	case s.EndsAt.IsZero():
		errs = append(errs, errors.New("ends_at is required"))
	case !s.EndsAt.After(s.StartsAt):
		errs = append(errs, fmt.Errorf("ends_at %s is not after starts_at %s", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339)))
	}
	if strings.TrimSpace(s.CreatedBy) == "" {
		errs = append(errs, errors.New("created_by is required: who silences, for the next on-call engineer"))
	}
	if strings.TrimSpace(s.Comment) == "" {
		errs = append(errs, errors.New("comment is required: why it is silenced"))
	}
	errs = append(errs, s.CheckMatchers())
	return errors.Join(errs...)
}

// CheckMatchers compiles the matchers and checks that together they name
// something; every problem is reported at once.
func (s *Silence) CheckMatchers() error {
	var errs []error
	switch {
	case len(s.Matchers) == 0:
		errs = append(errs, errors.New("at least one matcher is required: a silence of everything is not allowed"))
	case len(s.Matchers) > MaxMatchers:
		errs = append(errs, fmt.Errorf("%d matchers; at most %d", len(s.Matchers), MaxMatchers))
	}
	steps := 0
	for i := range s.Matchers {
		if err := s.Matchers[i].compile(); err != nil {
			errs = append(errs, fmt.Errorf("matcher %d: %w", i+1, err))
		}
		steps += s.Matchers[i].steps
	}
	if steps > MaxRegexSteps && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("the regexes add up to %d steps; at most %d", steps, MaxRegexSteps))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// A matcher that takes every value narrows nothing: refused on its own
	// merit, as it could only hide that the rest names nothing either.
	for i := range s.Matchers {
		if s.Matchers[i].matchesAll() {
			errs = append(errs, fmt.Errorf("matcher %d (%s) matches every value, so it names nothing: a silence of everything is not allowed", i+1, s.Matchers[i]))
		}
	}
	if len(errs) == 0 && len(s.Matchers) > 0 && s.matchesEverything() {
		errs = append(errs, errors.New("every matcher matches an empty value, so the silence could match every alert: add one that names something (rule=..., label.team=...)"))
	}
	return errors.Join(errs...)
}

// matchesEverything refuses silences such as rule=~".*" or severity!=x
// alone: as in Alertmanager, at least one matcher must not match the empty
// string, so that a silence names something.
func (s *Silence) matchesEverything() bool {
	for _, m := range s.Matchers {
		if !m.matchString("") {
			return false
		}
	}
	return true
}

// compileMatchers prepares the matchers of an expired silence read back
// from the bucket, which is listed but matches nothing.
func (s *Silence) compileMatchers() error {
	for i := range s.Matchers {
		if err := s.Matchers[i].compile(); err != nil {
			return err
		}
	}
	return nil
}

func (m *Matcher) compile() error {
	switch {
	case m.Name == "rule", m.Name == "severity", m.Name == "dedup_key":
	case strings.HasPrefix(m.Name, "label.") && len(m.Name) > len("label."):
	case strings.HasPrefix(m.Name, "group.") && len(m.Name) > len("group."):
	default:
		return fmt.Errorf("name %q: one of rule, severity, dedup_key, label.NAME, group.EXPR", m.Name)
	}
	if len(m.Value) > MaxValue {
		return fmt.Errorf("value of %d bytes; at most %d", len(m.Value), MaxValue)
	}
	if m.Regex {
		// The size first: compiling a huge program costs too.
		m.steps = regexSteps(m.Value)
		if m.steps > MaxRegexSteps {
			return fmt.Errorf("%s=~%q: a regex of %d steps; at most %d (a bounded repeat such as {1,1000} counts its copies)", m.Name, m.Value, m.steps, MaxRegexSteps)
		}
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return fmt.Errorf("%s=~%q: %w", m.Name, m.Value, err)
		}
		m.re = re
	}
	return nil
}

// regexSteps is the size of the program a regex compiles to: what matching
// it costs per character of a value.
func regexSteps(expr string) int {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0 // regexp.Compile reports it
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(prog.Inst)
}

func (m *Matcher) value(a *alerter.Alert) string {
	switch {
	case m.Name == "rule":
		return a.Rule
	case m.Name == "severity":
		return string(a.Severity)
	case m.Name == "dedup_key":
		return a.DedupKey
	case strings.HasPrefix(m.Name, "label."):
		return a.Labels[m.Name[len("label."):]]
	default:
		return a.Group[m.Name[len("group."):]]
	}
}

func (m *Matcher) matchString(v string) bool {
	var ok bool
	if m.re != nil {
		ok = m.re.MatchString(v)
	} else {
		ok = v == m.Value
	}
	return ok != m.Negate
}

// Matches tells whether s mutes a at now.
func (s *Silence) Matches(a *alerter.Alert, now time.Time) bool {
	return s.State(now) == Active && s.MatchesAlert(a)
}

// MatchesAlert tells whether the matchers (compiled by CheckMatchers) all
// match a, whenever the silence applies.
func (s *Silence) MatchesAlert(a *alerter.Alert) bool {
	for i := range s.Matchers {
		if !s.Matchers[i].matchString(s.Matchers[i].value(a)) {
			return false
		}
	}
	return true
}

// String is a matcher as the CLI writes it: name=value, name!=value,
// name=~regex, name!~regex.
func (m Matcher) String() string {
	op := "="
	switch {
	case m.Regex && m.Negate:
		op = "!~"
	case m.Regex:
		op = "=~"
	case m.Negate:
		op = "!="
	}
	return m.Name + op + m.Value
}

// ParseMatcher reads name=value, name!=value, name=~regex or name!~regex.
func ParseMatcher(s string) (Matcher, error) {
	for _, op := range []string{"!~", "=~", "!=", "="} {
		if name, value, ok := strings.Cut(s, op); ok && name != "" {
			m := Matcher{Name: strings.TrimSpace(name), Value: value, Regex: strings.HasSuffix(op, "~"), Negate: op[0] == '!'}
			return m, m.compile()
		}
	}
	return Matcher{}, fmt.Errorf("matcher %q: write name=value, name!=value, name=~regex or name!~regex", s)
}

// newID is a ULID: sortable by creation, unique across replicas.
func newID(now time.Time) string {
	return ulid.MustNew(ulid.Timestamp(now), rand.Reader).String()
}

// sortByStart orders silences for listing: active and pending first, by
// end, then expired, latest ended first.
func sortForList(list []Silence, now time.Time) {
	rank := map[string]int{Active: 0, Pending: 1, Expired: 2}
	slices.SortStableFunc(list, func(a, b Silence) int {
		ra, rb := rank[a.State(now)], rank[b.State(now)]
		if ra != rb {
			return ra - rb
		}
		if ra == 2 {
			return b.EndsAt.Compare(a.EndsAt)
		}
		return a.EndsAt.Compare(b.EndsAt)
	})
}
