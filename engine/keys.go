package engine

import (
	"slices"
	"strings"
	"time"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// StateKey is the state store key of a rule's group, whose values are the
// rule's group-by values for an event (Match.Group): a hash of both, 16 hex
// digits. The store keeps a key per live group, and the server holds each
// key's subject in memory, so it is kept short rather than readable; 64
// bits make a collision between live groups vanishingly unlikely.
func StateKey(rule string, group []string) string {
	return groupHash(append([]string{rule}, group...))
}

// LearningKey is the state store key of a new_value rule's learning
// start (GroupState.Since): one per rule, apart from every StateKey,
// whose first hashed value is a rule id, which holds no NUL byte.
func LearningKey(rule string) string {
	return groupHash([]string{"\x00learning", rule})
}

// AlertID is the id of the alert that an event fires for a rule's group:
// the same whenever that event is evaluated again.
func AlertID(rule string, group []string, eventID string, t time.Time) string {
	return alertID(DedupKey(rule, group), eventID, t)
}

// DedupKey names a rule's group in every alert of it ("rule:hash"), so that
// PagerDuty merges them and a resolve or an acknowledgement finds them. It
// must stay as it is across versions: targets and stored states keep it.
func DedupKey(rule string, group []string) string {
	return rule + ":" + groupHash(group)
}

// GroupMap maps each of r's group-by expressions, as written, to its value
// in group: an alert's (or a resolve's, or a deadline's) group.
func GroupMap(r *rules.Rule, group []string) map[string]string {
	m := make(map[string]string, len(r.GroupBy))
	for j, g := range r.GroupBy {
		if j < len(group) {
			m[g.Source] = group[j]
		}
	}
	return m
}

// tupleMax bounds the bytes of a tuple as a window entry keeps it.
const tupleMax = 64

// tupleKey is how a window entry keeps the values of a rule's distinct
// expressions for one event. Two tuples count as one when their keys are
// equal. Short tuples are kept as their values, joined by a unit separator
// (\x1f), so that explain shows them; a longer one, or one whose values
// hold a separator, as a prefix of its values and a hash of all of them,
// marked by a leading record separator (\x1e), which keeps the state
// bounded and still tells tuples apart (64 bits of hash). TupleValues
// reads a key back for display.
func tupleKey(values []string) string {
	joined := strings.Join(values, "\x1f")
	if len(joined) <= tupleMax && !slices.ContainsFunc(values, func(v string) bool {
		return strings.ContainsAny(v, "\x1e\x1f")
	}) {
		return joined
	}
	prefix := strings.NewReplacer("\x1e", " ", "\x1f", " ").Replace(joined)
	prefix = strings.ToValidUTF8(prefix[:min(len(prefix), tupleMax-20)], "")
	return "\x1e" + prefix + "…" + groupHash(values)
}

// groupValueMax bounds a group-by value. Group values come from event
// fields, which anyone able to name a page fills, and travel far: into
// every alert, notification and pending deadline (whose payload the
// deadlines store bounds). A longer value is cut to its beginning, "…"
// and a hash of the whole, so that two long values still name two groups.
const groupValueMax = 1024

// boundGroup cuts the values of vs longer than groupValueMax, in place.
func boundGroup(vs []string) {
	for i, v := range vs {
		if len(v) > groupValueMax {
			vs[i] = strings.ToValidUTF8(v[:groupValueMax-24], "") + "…" + groupHash([]string{v})
		}
	}
}

// TupleValues is the tuple a tupleKey was made from, for display: its
// values, or for a long tuple, their beginning followed by "…" and a hash.
func TupleValues(key string) []string {
	if rest, ok := strings.CutPrefix(key, "\x1e"); ok {
		return []string{rest}
	}
	return strings.Split(key, "\x1f")
}

// Candidates are the enabled rules the index offers ev to, in rule-set
// order: the only ones evaluated for it (explanations show them).
func (e *Engine) Candidates(ev *event.Event) []*rules.Rule {
	s := e.snap.Load()
	idx := s.candidates(ev, nil)
	out := make([]*rules.Rule, 0, len(idx))
	for _, i := range idx {
		out = append(out, s.rules[i])
	}
	return out
}
