// Package alerter holds the domain types every part of alerter speaks:
// the Alert a rule fires, its Severity, where it is routed, and what
// became of it at each target. It imports nothing of alerter but event,
// so that notifiers, silences and storage can use alerts without the
// evaluator (ARCHITECTURE.md, Layers).
package alerter

import (
	"time"

	"github.com/alerter/alerter/event"
)

// Severity is how bad an alert is.
type Severity string

// Severities, least severe first.
const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Severities lists the valid severities, least severe first.
func Severities() []Severity { return []Severity{Info, Low, Medium, High, Critical} }

// Rank orders severities: 0 for info up to 4 for critical, -1 if invalid.
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 0
	case Low:
		return 1
	case Medium:
		return 2
	case High:
		return 3
	case Critical:
		return 4
	}
	return -1
}

// Alert is one firing of a rule for a group. Its JSON shape is the same
// everywhere: replay output, the webhook notifier's body, the API
// (docs/notifications.md, The alert).
type Alert struct {
	ID         string            `json:"id"`
	Rule       string            `json:"rule"`
	Name       string            `json:"name"`
	Severity   Severity          `json:"severity"`
	Title      string            `json:"title"`
	Text       string            `json:"text"`
	Runbook    string            `json:"runbook"`
	Labels     map[string]string `json:"labels"`
	Tags       []string          `json:"tags"`
	Group      map[string]string `json:"group"`
	DedupKey   string            `json:"dedup_key"`
	Time       time.Time         `json:"time"`
	FiredAt    time.Time         `json:"fired_at"`
	Count      int               `json:"count"`
	Suppressed int64             `json:"suppressed"`
	// Distinct is, for a rule with threshold.distinct, how many distinct
	// tuples of its distinct: values the window's events carried.
	Distinct int          `json:"distinct,omitempty"`
	Event    *event.Event `json:"event"`
	EventIDs []string     `json:"event_ids"`
	// Notify are the targets after routing, where routing has been done.
	Notify []string `json:"notify,omitempty"`
	// Status is where the alert stands (docs/notifications.md, The alert
	// lifecycle): firing, acknowledged or resolved, with by whom and when.
	// The API fills them in from what people did; an alert as fired and
	// sent has none of them.
	Status         string     `json:"status,omitempty"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	ResolvedBy     string     `json:"resolved_by,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	Verdict        string     `json:"verdict,omitempty"`
	// Resolves is, on a resolve notification (a copy of an alert sent to
	// the targets that got it once it is resolved), the id of the alert
	// it resolves; its Status is then "resolved".
	Resolves string `json:"resolves,omitempty"`
	// Acknowledges is, on an acknowledgement notification (a copy of an
	// alert sent to the targets that got it once it is acknowledged), the
	// id of the alert it acknowledges; its Status is then "acknowledged".
	Acknowledges string `json:"acknowledges,omitempty"`
	// Escalation is, on an escalation (the group's alert sent again by
	// its rule's escalate: step, docs/rules.md, Escalations), the step's
	// 1-based index; 0 on the alert itself.
	Escalation int `json:"escalation,omitempty"`
	// Escalates is, on an escalation, the id of the alert it escalates.
	Escalates string `json:"escalates,omitempty"`
	// Digest is, on a digest (one summary per period of the matches of a
	// group that its dedup window suppressed, docs/rules.md, Digests),
	// what it sums up; nil on any other alert.
	Digest *Digest `json:"digest,omitempty"`
}

// Digest is what a digest sums up: Count matches of its group suppressed
// between First and Last, and up to ten of them as examples, oldest first.
type Digest struct {
	Count    int64           `json:"count"`
	First    time.Time       `json:"first"`
	Last     time.Time       `json:"last"`
	Examples []DigestExample `json:"examples"`
}

// DigestExample is one of the suppressed events a digest shows.
type DigestExample struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Summary says what happened, and who did it, on one line.
	Summary string `json:"summary"`
	// URL is the event's page in alerter's web UI, or "" without
	// server.external_url.
	URL string `json:"url,omitempty"`
}

// The ends of the ids of an alert's notices, after the alert's id: its
// resolve notification's and its acknowledgement notification's (package
// lifecycle makes them; delivery tells by them whether an alert's resolve
// went out before its acknowledgement).
const (
	ResolvedSuffix = "-resolved"
	AckedSuffix    = "-acked"
)

// Router names the targets of an alert.
type Router interface {
	Route(*Alert) []string
}

// Routes are the config's routes: notifier names by severity, with
// "default" for a severity that has none (docs/notifications.md).
type Routes map[string][]string

// Targets returns where an alert goes: its rule's notify: list if it has
// one, else routes[severity], else routes["default"], else none (the
// alert is recorded but sent nowhere). The slice is shared, not a copy,
// because this runs for every alert: do not modify it.
func (r Routes) Targets(notify []string, severity Severity) []string {
	if len(notify) > 0 {
		return notify
	}
	if t := r[string(severity)]; len(t) > 0 {
		return t
	}
	return r["default"]
}

// Delivery outcomes.
const (
	Sent     = "sent"     // the target accepted it
	Silenced = "silenced" // a silence matched: recorded, not sent
	Dead     = "dead"     // given up on: in the dead letters
	Requeued = "requeued" // a dead letter handed back to be tried again
)

// Outcome is what became of one alert at one target.
type Outcome struct {
	Status   string    `json:"status"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
	Error    string    `json:"error,omitempty"`
	// Silences are the ids of the silences that matched.
	Silences []string `json:"silences,omitempty"`
	// Copy is, while requeued, the stream sequence of the copy being tried
	// (the deliveries record's claim on it).
	Copy uint64 `json:"copy,omitempty"`
	// Ref is, once sent, where the target put the alert, in the target's
	// own terms (a Slack message's channel and ts), for the target to find
	// the message again when the alert is resolved or escalated
	// (docs/notifications.md, The alert lifecycle); "" when the target
	// keeps none. Only the target's notifier reads it.
	Ref string `json:"ref,omitempty"`
}

// DeadLetter is a notification given up on, as stored in the dead letters
// and listed by the API.
type DeadLetter struct {
	Notifier string    `json:"notifier"`
	Alert    *Alert    `json:"alert"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	Error    string    `json:"error"`
	At       time.Time `json:"at"`
}
