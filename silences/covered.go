package silences

import (
	"slices"
	"strings"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/rules"
)

// CoveredRules are the rules of set whose alerts s may mute: those its
// matchers on rule, severity and labels match. Matchers on group values
// and dedup keys depend on the event, so they are taken to match: a rule
// is listed when some of its alerts may be muted.
func (s *Silence) CoveredRules(set *rules.Set) []*rules.Rule {
	if set == nil {
		return nil
	}
	static := *s
	static.Matchers = slices.DeleteFunc(slices.Clone(s.Matchers), func(m Matcher) bool {
		return m.Name != "rule" && m.Name != "severity" && !strings.HasPrefix(m.Name, "label.")
	})
	var out []*rules.Rule
	for _, r := range set.Rules {
		if static.MatchesAlert(&alerter.Alert{Rule: r.ID, Severity: r.Severity, Labels: r.Labels}) {
			out = append(out, r)
		}
	}
	return out
}
