package rules

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/internal/yamlx"
)

// Resolve is a rule's resolve: key (docs/rules.md, Resolving): When is an
// event of the same group that ends the condition, After how long a
// group may stay quiet before it resolves. Either may be unset.
type Resolve struct {
	// When, if its Program is set, resolves the group (the rule's
	// GroupBy on the event) of each event that meets it.
	When Expr
	// After, if not zero, resolves a group that alerted and then had no
	// match this long, in event time (a deadline per group, as a quiet
	// rule keeps).
	After time.Duration
}

type resolveYAML struct {
	When  yaml.Node `yaml:"when"`
	After yaml.Node `yaml:"after"`
}

// resolve compiles the rule's resolve: key. It runs after the rule's
// grouping: a resolve event resolves its group, so the rule needs one.
func (c *compiler) resolve(rc *ruleCheck, r *Rule) {
	_, rn := yamlx.Get(rc.n, "resolve")
	if rn == nil {
		return
	}
	if rn.Kind != yaml.MappingNode {
		rc.at(rn, "resolve is a mapping such as {when: EXPR, after: 2h}")
		return
	}
	var ry resolveYAML
	errs, wellTyped := yamlx.DecodeAll(rc.pf.Name, rn, &ry)
	rc.errs = append(rc.errs, errs...)
	if !wellTyped || len(errs) > 0 {
		return
	}
	if ry.When.Kind == 0 && ry.After.Kind == 0 {
		rc.at(rn, "resolve needs when: EXPR, after: DURATION, or both")
		return
	}
	res := &Resolve{}
	if ry.When.Kind != 0 {
		if e, ok := c.condition(rc, r, &ry.When, "resolve.when"); ok {
			res.When = e
		}
		if len(r.GroupBy) == 0 {
			rc.at(&ry.When, "resolve.when resolves the group of the event that meets it: the rule needs a grouping (dedup, threshold, new_value or sequence by:)")
		}
	}
	if ry.After.Kind != 0 {
		res.After = c.duration(rc.pf, &ry.After, "resolve.after", rn, &rc.errs)
		switch {
		case r.Quiet != nil:
			rc.at(&ry.After, "resolve.after resolves a group that had no match this long, and a quiet rule alerts for just that: resolve it with resolve.when")
		case !r.Stateful():
			rc.at(&ry.After, "resolve.after resolves a group that had no match this long: the rule needs a grouping (dedup, threshold, new_value or sequence) to keep its groups")
		}
	}
	r.Resolve = res
}
