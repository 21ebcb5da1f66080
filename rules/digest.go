package rules

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// MinDigest bounds a rule's digest: period from below: a digest is a
// message to people, and one a minute is already a lot of them.
const MinDigest = time.Minute

// digest reads the rule's digest: period (docs/rules.md, Digests). It runs
// after the rule's grouping: a digest summarizes the matches its dedup
// window suppresses.
func (c *compiler) digest(rc *ruleCheck, r *Rule, n *yaml.Node) {
	if n.Kind == 0 {
		return
	}
	d := c.duration(rc.pf, n, "digest", rc.n, &rc.errs)
	switch {
	case d <= 0:
		return
	case d < MinDigest:
		rc.at(n, "digest: %s is too short: one summary per %s at least", n.Value, MinDigest)
	case r.Deadlined():
		rc.at(n, "digest summarizes suppressed matches, and an absence or a quiet rule fires at deadlines: its matches are never suppressed")
	case r.DedupWindow() == 0:
		rc.at(n, "digest summarizes the matches the dedup window suppresses: the rule needs dedup: (or a threshold)")
	}
	r.Digest = d
}
