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
	var b strings.Builder
	b.WriteString("Resolved")
	if by := OneLine(a.ResolvedBy); by != "" {
		b.WriteString(" by " + Truncate(by, 200))
	}
	if a.ResolvedAt != nil {
		b.WriteString(" at " + a.ResolvedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if v := OneLine(a.Verdict); v != "" {
		b.WriteString(", verdict: " + Truncate(strings.ReplaceAll(v, "_", " "), 40))
	}
	return b.String()
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
