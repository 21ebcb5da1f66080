package silences

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/alerter/alerter/rules"
)

// DefaultMaxDuration is how long a silence may last when Policy says
// nothing: 30 days.
const DefaultMaxDuration = 30 * 24 * time.Hour

// Policy is what a silence must meet, beyond its own checks, to be created
// or, read back from the bucket, applied: a silence is an attacker's best
// tool against an alerting system, so one that mutes every alert, or mutes
// for longer than the operator allows, is refused (docs/notifications.md,
// "Silences").
type Policy struct {
	// MaxDuration is the longest a silence may last, from its start to its
	// end; 0 is DefaultMaxDuration.
	MaxDuration time.Duration
	// Rules returns the loaded rules, against which "mutes every alert" is
	// decided; nil, or a set without enabled rules, leaves that to the
	// matchers alone.
	Rules func() *rules.Set
}

func (p Policy) maxDuration() time.Duration {
	if p.MaxDuration > 0 {
		return p.MaxDuration
	}
	return DefaultMaxDuration
}

// Check reports every reason the policy refuses sl at now: it lasts too
// long, starts too far ahead, or mutes every alert of the loaded rules.
// The matchers must be compiled (CheckMatchers).
func (p Policy) Check(sl *Silence, now time.Time) error {
	var errs []error
	maxd := p.maxDuration()
	if d := sl.EndsAt.Sub(sl.StartsAt); d > maxd {
		errs = append(errs, fmt.Errorf("the silence lasts %s, longer than silences.max_duration (%s): silence for less, and renew it if it must go on", days(d), days(maxd)))
	}
	if ahead := sl.StartsAt.Sub(now); ahead > maxd {
		errs = append(errs, fmt.Errorf("the silence starts %s from now, further ahead than silences.max_duration (%s)", days(ahead), days(maxd)))
	}
	errs = append(errs, p.CheckScope(sl))
	return errors.Join(errs...)
}

// CheckScope refuses a silence whose matchers an alert of every loaded
// (enabled) rule would satisfy, whatever its event: a rule's id, severity
// and labels are known before it fires, its dedup key is its id and a
// hash, and a group value is "" unless the rule groups by it. A negation
// on a value the rule groups by (group.event.actor.name!=ann) names what
// is let through, not what is muted: it counts as taking every value. The
// matchers must be compiled (CheckMatchers).
func (p Policy) CheckScope(sl *Silence) error {
	if p.Rules == nil {
		return nil
	}
	set := p.Rules()
	if set == nil {
		return nil
	}
	n := 0
	for _, r := range set.Rules {
		if !r.Enabled {
			continue
		}
		n++
		if !sl.coversRule(r) {
			return nil
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("the matchers match every alert of all %d enabled rules, so the silence would mute everything: narrow it to a rule, a label or a group value (group.event.actor.name=...)", n)
}

// coversRule tells whether every alert of r, whatever its event, satisfies
// all the matchers.
func (s *Silence) coversRule(r *rules.Rule) bool {
	for i := range s.Matchers {
		m := &s.Matchers[i]
		switch {
		case m.Name == "rule":
			if !m.matchString(r.ID) {
				return false
			}
		case m.Name == "severity":
			if !m.matchString(string(r.Severity)) {
				return false
			}
		case strings.HasPrefix(m.Name, "label."):
			if !m.matchString(r.Labels[m.Name[len("label."):]]) {
				return false
			}
		case m.Name == "dedup_key":
			// The engine's dedup key is the rule's id, ":" and a hash of
			// the group: a matcher that takes every hash takes them all.
			for _, h := range hashProbes {
				if !m.matchString(r.ID + ":" + h) {
					return false
				}
			}
		default: // group.EXPR
			expr := m.Name[len("group."):]
			grouped := false
			for _, g := range r.GroupBy {
				grouped = grouped || g.Source == expr
			}
			if !grouped {
				// The alert has no such group value: it reads as "".
				if !m.matchString("") {
					return false
				}
			} else if !m.Negate && !m.matchesAll() {
				return false
			}
		}
	}
	return true
}

// hashProbes stand for the group hash of a dedup key (16 hex digits).
var hashProbes = []string{"0000000000000000", "ffffffffffffffff", "0123456789abcdef", "9f86d081884c7d65"}

// probes are values a matcher that takes every value must take: empty,
// short, long, control characters, invalid UTF-8, other scripts. A
// newline is not among them: alert properties are single lines in
// practice, and rule=~.* must read as "everything".
var probes = func() []string {
	var ascii []byte
	for c := 0; c < 0x80; c++ {
		if c != '\n' {
			ascii = append(ascii, byte(c))
		}
	}
	return []string{
		"", " ", "a", "Z", "0", "-", ":", "x y", "\t", "\x00", "\x1b[2J", "\xff", "\xc3",
		"é", "日本語", "\u202e", "🔥", "soteri-export", "critical", "team", "svc-backup:0f",
		string(ascii), strings.Repeat("xY9.", 64),
	}
}()

// matchesAll tells whether m takes every value (rule=~.*, name=~.+|^$,
// name!~a^): such a matcher names nothing. It tries the probes and, for a
// negated regex, strings built from the regex itself; it may take a
// contrived regex that misses some rare value for one that takes all,
// never the other way round.
func (m *Matcher) matchesAll() bool {
	if !m.Regex {
		return false // = takes one value, != refuses one
	}
	if !m.Negate {
		for _, p := range probes {
			if !m.re.MatchString(p) {
				return false
			}
		}
		return true
	}
	// A negated regex takes everything when the regex matches nothing.
	for _, p := range probes {
		if m.re.MatchString(p) {
			return false
		}
	}
	re, err := syntax.Parse(m.Value, syntax.Perl)
	if err != nil {
		return false // compile accepted it; cannot happen
	}
	for _, w := range witnesses(re.Simplify(), 8) {
		if m.re.MatchString(w) {
			return false
		}
	}
	return true
}

// witnesses are strings that re probably matches, at most limit of them:
// every branch of every alternation is in one of them, shortest repeats
// first. A concatenation zips its parts' witnesses rather than combining
// all of them, so that the work stays linear in the regex, however it
// nests (x{1000} is a concatenation of a thousand x once simplified).
func witnesses(re *syntax.Regexp, limit int) []string {
	limit = max(limit, 1)
	switch re.Op {
	case syntax.OpNoMatch:
		return nil
	case syntax.OpLiteral:
		return []string{string(re.Rune)}
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune) && len(out) < limit; i += 2 {
			out = append(out, string(re.Rune[i]))
		}
		return out
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return []string{"a"}
	case syntax.OpCapture, syntax.OpPlus:
		return witnesses(re.Sub[0], limit)
	case syntax.OpStar, syntax.OpQuest:
		return append([]string{""}, witnesses(re.Sub[0], limit-1)...)
	case syntax.OpRepeat: // Simplify leaves none; for completeness
		var out []string
		if re.Min == 0 {
			out = append(out, "")
		}
		for _, w := range witnesses(re.Sub[0], limit-len(out)) {
			out = append(out, strings.Repeat(w, max(re.Min, 1)))
		}
		return out
	case syntax.OpConcat:
		parts := make([][]string, len(re.Sub))
		n := 1
		for i, sub := range re.Sub {
			parts[i] = witnesses(sub, limit)
			if len(parts[i]) == 0 {
				return nil // a part that matches nothing
			}
			n = max(n, len(parts[i]))
		}
		out := make([]string, n)
		for k := range out {
			var b strings.Builder
			for _, p := range parts {
				b.WriteString(p[k%len(p)])
			}
			out[k] = b.String()
		}
		return out
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			if len(out) >= limit {
				break
			}
			out = append(out, witnesses(sub, limit-len(out))...)
		}
		return out
	}
	// Empty matches and assertions (^, $, \b): the empty string.
	return []string{""}
}

// days writes a duration as an operator reads a silence's length.
func days(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.4g days", d.Hours()/24)
	}
	return d.Round(time.Second).String()
}
