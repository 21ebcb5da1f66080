package notifiers

import (
	"strings"
	"time"

	"github.com/alerter/alerter"
)

// A resolve notification (alerter.Alert.Resolves set, status resolved)
// tells a target that got an alert that it is over, an acknowledgement
// notification (Acknowledges set, status acknowledged) that someone is on
// it (docs/notifications.md, The alert lifecycle). These are what the
// targets show of them.

// Title is the alert's title, or its rule's name or id when it has none;
// an escalation's (docs/rules.md, Escalations) is marked "Escalated: ".
func Title(a *alerter.Alert) string {
	t := Or(a.Title, Or(a.Name, a.Rule))
	if a.Escalation > 0 {
		t = "Escalated: " + t
	}
	return t
}

// ResolvedBy says who resolved the alert, when, and the verdict, on one
// line: "Resolved by ann at 2024-05-14 10:30:00 UTC, verdict: benign".
func ResolvedBy(a *alerter.Alert) string {
	s := actedBy("Resolved", a.ResolvedBy, a.ResolvedAt)
	if v := OneLine(a.Verdict); v != "" {
		s += ", verdict: " + Truncate(strings.ReplaceAll(v, "_", " "), 40)
	}
	return s
}

// AcknowledgedBy says who acknowledged the alert and when, on one line:
// "Acknowledged by ann at 2024-05-14 10:30:00 UTC".
func AcknowledgedBy(a *alerter.Alert) string {
	return actedBy("Acknowledged", a.AcknowledgedBy, a.AcknowledgedAt)
}

func actedBy(what, by string, at *time.Time) string {
	if by = OneLine(by); by != "" {
		what += " by " + Truncate(by, 200)
	}
	if at != nil {
		what += " at " + at.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return what
}

// SampleAck is the acknowledgement notification of Sample: acknowledged
// by "Ann <Lee> & Co" (characters each target must escape) at acked.
func SampleAck(severity alerter.Severity, fired, acked time.Time) *alerter.Alert {
	a := Sample(severity, fired)
	a.Acknowledges = a.ID
	a.ID += alerter.AckedSuffix
	a.Status, a.AcknowledgedBy, a.AcknowledgedAt = "acknowledged", "Ann <Lee> & Co", &acked
	return a
}

// SampleResolve is the resolve notification of Sample: resolved by
// "Ann <Lee> & Co" (characters each target must escape) at resolved,
// a false positive.
func SampleResolve(severity alerter.Severity, fired, resolved time.Time) *alerter.Alert {
	a := Sample(severity, fired)
	a.Resolves = a.ID
	a.ID += alerter.ResolvedSuffix
	a.Status, a.ResolvedBy, a.ResolvedAt, a.Verdict = "resolved", "Ann <Lee> & Co", &resolved, "false_positive"
	return a
}
