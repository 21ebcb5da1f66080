package api

import (
	"time"

	"github.com/alerter/alerter/event"
)

// Explanation answers "why was I (not) paged?" for one stored event: GET
// /api/v1/events/{id}/explain (docs/api.md).
type Explanation struct {
	Event *event.Event `json:"event"`
	// Stored is when the EVENTS stream stored it.
	Stored time.Time `json:"stored"`
	// Rules are the enabled rules that the index offered the event to
	// (candidates), and any that matched; Skipped counts the others, which
	// compare a field for equality with a value the event does not have.
	Rules   []RuleExplanation `json:"rules"`
	Skipped int               `json:"skipped"`
	Note    string            `json:"note"`
}

// RuleExplanation is what one rule made of the event.
type RuleExplanation struct {
	Rule    string `json:"rule"`
	Matched bool   `json:"matched"`
	Error   string `json:"error,omitempty"`
	// Clauses are the parts of when that must all hold, each with its
	// value for this event; the first false one is why it did not match.
	Clauses []ClauseValue `json:"clauses"`
	// For matches: the group, its window state now, and the alert.
	Group    map[string]string `json:"group,omitempty"`
	Decision string            `json:"decision,omitempty"`
	State    *StateView        `json:"state,omitempty"`
	Alert    *AlertDetail      `json:"alert,omitempty"`
	// Change is, for a match of a rule whose state is a window of events
	// (threshold, new_value, sequence), its group's state as this event
	// saw it and left it, rebuilt from the group's earlier events.
	Change *StateChange `json:"state_change,omitempty"`
}

// StateChange is a group's state as one event saw it (Before) and left it
// (After), rebuilt by applying the group's events stored since Since, then
// the event, to the rules running now (docs/api.md, Explain).
type StateChange struct {
	// Rebuilt is false when the earlier events could not be read within
	// the rebuild's bounds; Note says why, and Before and After are null.
	Rebuilt bool `json:"rebuilt"`
	// Before and After are null where the group had no state, or none
	// that could affect the event.
	Before *StateView `json:"before"`
	After  *StateView `json:"after"`
	// Since is the stored time the earlier events were read from; Events
	// is how many of them the group took.
	Since  time.Time `json:"since"`
	Events int       `json:"events"`
	// Exact is false when the rule's state reaches back further than the
	// rebuild reads; Note says what it read and what it left out.
	Exact bool   `json:"exact"`
	Note  string `json:"note"`
}

// ClauseValue is one part of a condition and what it gave.
type ClauseValue struct {
	Source string `json:"source"`
	Value  *bool  `json:"value,omitempty"`
	Error  string `json:"error,omitempty"`
}

// StateView is a group's dedup, threshold and correlation state: as stored
// now (RuleExplanation.State), or as an event saw it and left it
// (StateChange).
type StateView struct {
	Alerted    bool       `json:"alerted"`
	LastAlert  *time.Time `json:"last_alert,omitempty"`
	Suppressed int64      `json:"suppressed_since_last_alert"`
	InWindow   int        `json:"events_in_threshold_window"`
	// Distinct are, for a rule with threshold.distinct, the distinct
	// tuples of its distinct: values in the window, in the order they
	// joined it. A tuple longer than 64 bytes shows as its beginning, "…"
	// and a hash: the state keeps it bounded (docs/rules.md, Distinct counts).
	Distinct [][]string `json:"distinct_in_threshold_window,omitempty"`
	// ValueLastSeen is, for a new_value rule, when the group last saw the
	// event's tuple of new_value.of values; Remembered is how many tuples
	// the group remembers (docs/rules.md, First-seen values).
	ValueLastSeen *time.Time `json:"value_last_seen,omitempty"`
	Remembered    int        `json:"values_remembered,omitempty"`
	// ValueSeen is, for a new_value rule, whether the group remembers the
	// event's tuple: false, it was not seen before.
	ValueSeen *bool `json:"value_seen,omitempty"`
	// Chain is, for a sequence rule, the group's partial chain closest to
	// completing: the steps met so far, in order (docs/rules.md, Sequences).
	Chain []ChainStep `json:"partial_chain,omitempty"`
	// Deadline is, for a rule that waits for something not to happen (a
	// sequence's absent step, quiet), when the group's pending deadline
	// falls due (docs/rules.md).
	Deadline *time.Time `json:"deadline,omitempty"`
	// Pending are the events behind Deadline: an absence's chain, its
	// steps before the absent one, or a quiet group's last event.
	Pending []ChainStep `json:"pending,omitempty"`
	// ResolveDue, NextEscalation and Digest are the group's lifecycle
	// timers that are set (docs/rules.md, Resolving, Escalations and
	// Digests): when resolve.after resolves the group unless a match
	// moves it on, the next escalate: after step, and the open digest
	// period.
	ResolveDue     *time.Time      `json:"resolve_after_due,omitempty"`
	NextEscalation *EscalationStep `json:"next_escalation,omitempty"`
	Digest         *DigestPeriod   `json:"digest_period,omitempty"`
	// Expires is in event time: later events of the group ignore this state.
	Expires *time.Time `json:"expires,omitempty"`
}

// EscalationStep is a rule's escalate: after step still to come for a
// group's alert: its 1-based index in escalate: and when it is due, unless
// the alert is acknowledged or resolved first.
type EscalationStep struct {
	Step int       `json:"step"`
	Due  time.Time `json:"due"`
}

// DigestPeriod is a group's open digest period: when it ends (and its
// digest is sent), and the suppressed matches it counted so far, the
// first at First and the last at Last.
type DigestPeriod struct {
	Due   time.Time `json:"due"`
	Count int64     `json:"count"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// ChainStep is one step of a sequence's partial chain: the event that met
// it and that event's time.
type ChainStep struct {
	Step    string    `json:"step"`
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
}
