package engine

import "time"

// StateKey is the state store key of a rule's group, whose values are the
// rule's group-by values for an event (Match.Group).
func StateKey(rule string, group []string) string { return rule + "." + groupHash(group) }

// AlertID is the id of the alert that an event fires for a rule's group:
// the same whenever that event is evaluated again.
func AlertID(rule string, group []string, eventID string, t time.Time) string {
	return alertID(rule+":"+groupHash(group), eventID, t)
}
