package engine

import (
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

// AlertID is the id of the alert that an event fires for a rule's group:
// the same whenever that event is evaluated again.
func AlertID(rule string, group []string, eventID string, t time.Time) string {
	return alertID(rule+":"+groupHash(group), eventID, t)
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
