// Package lifecycle keeps what became of each alert group after its alert
// was sent: firing, then acknowledged (by whom, when), then resolved (by
// whom, when, with a verdict), each change with who made it, when and a
// comment (docs/notifications.md, The alert lifecycle).
//
// A group is an alert's rule and group values, named by its dedup_key, so
// that acknowledging one alert acknowledges the group's later alerts too,
// until it is resolved; an alert fired after the resolve opens the group
// again. A group nobody acted on has no state: it is firing. So nothing is
// written when an alert fires, only when someone acts on it.
//
// The transitions (Ack, Resolve) and the view of one alert (Of) are pure;
// Store keeps the states in a JetStream key-value bucket shared by the
// replicas, updated by compare-and-set. Acts is how anyone acknowledges or
// resolves a group — the API, Slack buttons, PagerDuty webhooks, a rule's
// resolve.when — so that each change is recorded and each resolve reaches
// the targets that got the alert the same way.
package lifecycle

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alerter/alerter"
)

// Status is where an alert stands.
type Status string

// The statuses, in the order a group goes through them.
const (
	Firing       Status = "firing"
	Acknowledged Status = "acknowledged"
	Resolved     Status = "resolved"
)

// Verdict is what the person resolving an alert judged it to be.
type Verdict string

// The verdicts; "" is none given.
const (
	TruePositive  Verdict = "true_positive"
	FalsePositive Verdict = "false_positive"
	Benign        Verdict = "benign"
)

// ParseVerdict checks a verdict given by a person.
func ParseVerdict(s string) (Verdict, error) {
	switch v := Verdict(s); v {
	case "", TruePositive, FalsePositive, Benign:
		return v, nil
	}
	return "", fmt.Errorf("verdict %q: want true_positive, false_positive or benign", s)
}

// Bounds on what a person writes into a state.
const (
	MaxComment = 2000 // bytes
	MaxHistory = 50   // changes kept, the newest
)

// Source says where a change came from, for metrics: "rule" (a rule's
// resolve), "slack" and "pagerduty" (their buttons and webhooks, whose
// changes are by "slack:<user>" and "pagerduty[:<agent>]"), or "api" (the
// API, the command line, the web UI: by a token's name).
func (c Change) Source() string {
	switch {
	case c.By == ByRule:
		return "rule"
	case strings.HasPrefix(c.By, "slack:"):
		return "slack"
	case c.By == "pagerduty" || strings.HasPrefix(c.By, "pagerduty:"):
		return "pagerduty"
	}
	return "api"
}

// ByRule is who resolved a group that an event of its rule's resolve.when
// resolved (docs/rules.md, Resolving).
const ByRule = "rule"

// ErrResolved is an acknowledgement of an alert already resolved.
var ErrResolved = errors.New("the alert is resolved")

// Change is one change of a group's status.
type Change struct {
	Status  Status    `json:"status"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
	Verdict Verdict   `json:"verdict,omitempty"`
	// Alert is the id of the alert the change was made on.
	Alert string `json:"alert"`
	// From are the targets an acknowledgement came from (the pagerduty
	// notifiers whose webhook_secret signed PagerDuty's webhook): its
	// notification is not sent back to them, which know already.
	From []string `json:"from,omitempty"`
}

// State is a group's status, as the people who acted on it left it.
type State struct {
	Rule   string `json:"rule"`
	Status Status `json:"status"` // Acknowledged or Resolved
	// Acked is the acknowledgement of the group's open alerts, if Status
	// is Acknowledged, or of those the last resolve closed.
	Acked *Change `json:"acked,omitempty"`
	// Resolved is the last resolve: it closed every alert of the group
	// fired up to its time.
	Resolved *Change  `json:"resolved,omitempty"`
	History  []Change `json:"history,omitempty"`
}

// View is where one alert stands.
type View struct {
	Status   Status
	Acked    *Change // nil unless this alert was acknowledged
	Resolved *Change // nil unless this alert was resolved
}

// Of is where alert a of the group stands, given the group's state st
// (nil: nobody acted on the group).
func Of(st *State, a *alerter.Alert) View {
	if st == nil {
		return View{Status: Firing}
	}
	if r := st.Resolved; r != nil && !a.FiredAt.After(r.At) {
		v := View{Status: Resolved, Resolved: r}
		if k := st.Acked; k != nil && !k.At.After(r.At) {
			v.Acked = k
		}
		return v
	}
	if st.Status == Acknowledged {
		return View{Status: Acknowledged, Acked: st.Acked}
	}
	return View{Status: Firing}
}

// Ack acknowledges alert a, and with it the group's open alerts: c says by
// whom, when and why. It reports whether the state changed: an alert
// acknowledged already stays as it was. An alert resolved is not
// acknowledged (ErrResolved).
func Ack(st *State, a *alerter.Alert, c Change) (bool, error) {
	switch Of(st, a).Status {
	case Resolved:
		return false, ErrResolved
	case Acknowledged:
		return false, nil
	}
	c.Status, c.Alert, c.Verdict = Acknowledged, a.ID, ""
	st.Rule, st.Status, st.Acked = a.Rule, Acknowledged, &c
	st.record(c)
	return true, nil
}

// Resolve resolves alert a and every alert of its group fired up to c.At.
// It reports whether the state changed: an alert resolved already stays
// as it was, but for a verdict it did not have, which it takes.
func Resolve(st *State, a *alerter.Alert, c Change) bool {
	if v := Of(st, a); v.Status == Resolved {
		// A verdict given after the resolve (resolved from PagerDuty or by
		// a rule, or a verdict corrected) becomes the resolve's; who
		// resolved it, and when, stay.
		if c.Verdict == "" || c.Verdict == v.Resolved.Verdict {
			return false
		}
		r := *v.Resolved
		r.Verdict = c.Verdict
		st.Resolved = &r
		c.Status, c.Alert = Resolved, a.ID
		st.record(c)
		return true
	}
	c.Status, c.Alert, c.From = Resolved, a.ID, nil
	if c.At.Before(a.FiredAt) {
		// Clocks of replicas differ: a resolve covers the alert resolved.
		c.At = a.FiredAt
	}
	st.Rule, st.Status, st.Resolved = a.Rule, Resolved, &c
	st.record(c)
	return true
}

func (st *State) record(c Change) {
	st.History = append(st.History, c)
	if n := len(st.History); n > MaxHistory {
		st.History = st.History[n-MaxHistory:]
	}
}

// The ends of the ids of an alert's notices: one resolve notification and
// one acknowledgement notification per alert, so that storing one again
// (an act retried) is recognised.
const (
	NoticeSuffix = alerter.ResolvedSuffix
	AckSuffix    = alerter.AckedSuffix
)

// Notice is the notice of alert a for the targets that got it, as v says
// a stands (docs/notifications.md, The alert lifecycle): resolved, its
// resolve notification, a copy of a with status resolved, by whom, when
// and the verdict, and Resolves naming a; acknowledged, its
// acknowledgement notification, a copy with status acknowledged, by whom
// and when, and Acknowledges naming a. A firing alert has none (nil). The
// copy shares a's lists and maps: neither is to be modified.
func Notice(a *alerter.Alert, v View, targets []string) *alerter.Alert {
	n := *a
	switch v.Status {
	case Resolved:
		n.ID, n.Resolves = a.ID+NoticeSuffix, a.ID
	case Acknowledged:
		n.ID, n.Acknowledges = a.ID+AckSuffix, a.ID
	default:
		return nil
	}
	n.Notify = targets
	v.Fill(&n)
	return &n
}

// NoticeOf is the id of the alert that notice a is about (Notice), ""
// when a is an alert, not a notice: a notice is no alert to act on.
func NoticeOf(a *alerter.Alert) string {
	if a.Resolves != "" {
		return a.Resolves
	}
	return a.Acknowledges
}

// Fill sets a's status fields (status, acknowledged_by, ..., verdict) to
// what v says.
func (v View) Fill(a *alerter.Alert) {
	a.Status = string(v.Status)
	a.AcknowledgedBy, a.AcknowledgedAt, a.ResolvedBy, a.ResolvedAt, a.Verdict = "", nil, "", nil, ""
	if c := v.Acked; c != nil {
		a.AcknowledgedBy, a.AcknowledgedAt = c.By, &c.At
	}
	if c := v.Resolved; c != nil {
		a.ResolvedBy, a.ResolvedAt, a.Verdict = c.By, &c.At, string(c.Verdict)
	}
}
