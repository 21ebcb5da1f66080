package rules

import (
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/internal/yamlx"
)

// Escalation is one step of a rule's escalate: list (docs/rules.md,
// Escalations): the group's alert is sent again, with Severity and Notify,
// once the group, still firing and unacknowledged, has had AfterSuppressed
// matches suppressed since its last alert, or After has passed since it.
// Exactly one of AfterSuppressed and After is set.
type Escalation struct {
	AfterSuppressed int
	After           time.Duration
	// Severity is the escalation's severity; empty: the rule's.
	Severity alerter.Severity
	// Notify are the escalation's targets; empty: routed as the alert is.
	Notify []string
}

// MaxEscalations bounds a rule's escalate: steps: the engine keeps the
// steps a group took in a uint8.
const MaxEscalations = 8

type escalationYAML struct {
	AfterSuppressed *int      `yaml:"after_suppressed"`
	After           yaml.Node `yaml:"after"`
	Severity        string    `yaml:"severity"`
	Notify          []string  `yaml:"notify"`
}

// escalate compiles the rule's escalate: steps. It runs after the rule's
// grouping, whose dedup window after_suppressed steps need.
func (c *compiler) escalate(rc *ruleCheck, r *Rule, opt Options) {
	_, en := yamlx.Get(rc.n, "escalate")
	if en == nil {
		return
	}
	if en.Kind != yaml.SequenceNode || len(en.Content) == 0 || len(en.Content) > MaxEscalations {
		rc.at(en, "escalate is a list of 1 to %d steps such as {after_suppressed: 5, severity: critical}", MaxEscalations)
		return
	}
	var lastN int
	var lastAfter time.Duration
	var lastAfterSrc string
	for _, sn := range en.Content {
		var sy escalationYAML
		errs, wellTyped := yamlx.DecodeAll(rc.pf.Name, sn, &sy)
		rc.errs = append(rc.errs, errs...)
		if !wellTyped || len(errs) > 0 {
			continue
		}
		s := Escalation{Severity: alerter.Severity(sy.Severity), Notify: sy.Notify}
		switch {
		case (sy.AfterSuppressed != nil) == (sy.After.Kind != 0):
			rc.at(sn, "an escalate step has one of after_suppressed: N or after: DURATION")
			continue
		case sy.AfterSuppressed != nil:
			s.AfterSuppressed = *sy.AfterSuppressed
			_, vn := yamlx.Get(sn, "after_suppressed")
			switch {
			case s.AfterSuppressed < 1:
				rc.at(vn, "escalate: after_suppressed must be 1 or more")
			case r.DedupWindow() == 0:
				rc.at(vn, "escalate: after_suppressed needs dedup: (or a threshold): without it no match of the rule is ever suppressed")
			case r.Deadlined():
				rc.at(vn, "escalate: after_suppressed counts suppressed matches, and an absence or a quiet rule fires at deadlines: its matches are never suppressed")
			case s.AfterSuppressed <= lastN:
				rc.at(vn, "escalate: after_suppressed steps go in increasing order (%d after %d)", s.AfterSuppressed, lastN)
			}
			lastN = max(lastN, s.AfterSuppressed)
		default:
			s.After = c.duration(rc.pf, &sy.After, "escalate: after", sn, &rc.errs)
			if s.After > 0 && s.After <= lastAfter {
				rc.at(&sy.After, "escalate: after steps go in increasing order (%s after %s)", sy.After.Value, lastAfterSrc)
			}
			if s.After > lastAfter {
				lastAfter, lastAfterSrc = s.After, sy.After.Value
			}
			if !r.Stateful() {
				rc.at(&sy.After, "escalate: after is counted from the group's alert: the rule needs a grouping (dedup, threshold, new_value, sequence or quiet) to keep its groups")
			}
		}
		if sy.Severity != "" && s.Severity.Rank() < 0 {
			_, vn := yamlx.Get(sn, "severity")
			rc.at(vn, "escalate: unknown severity %q (one of info, low, medium, high, critical)", sy.Severity)
		}
		for _, name := range s.Notify {
			if opt.Notifiers != nil && !slices.Contains(opt.Notifiers, name) {
				_, vn := yamlx.Get(sn, "notify")
				rc.at(vn, "escalate: unknown notifier %q in notify (configured: %s)", name, strings.Join(opt.Notifiers, ", "))
			}
		}
		r.Escalate = append(r.Escalate, s)
	}
}
