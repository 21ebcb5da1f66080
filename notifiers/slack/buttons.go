package slack

import (
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/notifiers"
)

// The action_ids of the buttons that act on an alert (docs/notifications.md,
// Slack buttons). Each button's value is the alert's id.
const (
	ActionAck     = "alerter_ack"
	ActionResolve = "alerter_resolve"
	ActionSilence = "alerter_silence_1h"
)

// VerdictActions are the buttons a resolved alert's message carries until
// it has a verdict, by action_id: each gives the resolve its verdict
// (docs/notifications.md, Verdicts and precision).
var VerdictActions = map[string]string{
	"alerter_verdict_true_positive":  "true_positive",
	"alerter_verdict_false_positive": "false_positive",
	"alerter_verdict_benign":         "benign",
}

// SilenceFor is how long the Silence button silences an alert's group.
const SilenceFor = time.Hour

// withButtons appends to m the buttons that still apply to a, as its
// status says: Acknowledge while it fires, Resolve and Silence 1h until it
// is resolved, then the verdicts until it has one.
func withButtons(m Message, a *alerter.Alert) Message {
	var buttons []slack.BlockElement
	button := func(actionID, label string) {
		buttons = append(buttons, slack.NewButtonBlockElement(actionID, a.ID,
			slack.NewTextBlockObject(slack.PlainTextType, label, false, false)))
	}
	switch a.Status {
	case "resolved":
		if a.Verdict == "" {
			button("alerter_verdict_true_positive", "True positive")
			button("alerter_verdict_false_positive", "False positive")
			button("alerter_verdict_benign", "Benign")
		}
	case "acknowledged":
		button(ActionResolve, "Resolve")
		button(ActionSilence, "Silence 1h")
	default:
		button(ActionAck, "Acknowledge")
		button(ActionResolve, "Resolve")
		button(ActionSilence, "Silence 1h")
	}
	if len(buttons) > 0 && len(m.Blocks) < maxBlocks {
		m.Blocks = append(m.Blocks, slack.NewActionBlock("lifecycle", buttons...))
	}
	return m
}

// RenderActed is a's message as it stands after someone acted on it: the
// message Render lays out, then a section saying who acknowledged or
// resolved it and when (from a's status fields), and note (such as a
// silence made from the message) if not "", then the buttons that still
// apply. It replaces the posted message (chat.update).
func RenderActed(a *alerter.Alert, externalURL, note string) Message {
	return withButtons(renderStatus(a, externalURL, note), a)
}

// renderStatus is RenderActed's message without buttons.
func renderStatus(a *alerter.Alert, externalURL, note string) Message {
	m := Render(a, externalURL)
	var lines []string
	if a.AcknowledgedBy != "" && a.AcknowledgedAt != nil {
		lines = append(lines, ":eyes: *Acknowledged* by "+person(notifiers.Truncate(notifiers.OneLine(a.AcknowledgedBy), 200))+" at "+clock(*a.AcknowledgedAt))
	}
	if a.ResolvedBy != "" && a.ResolvedAt != nil {
		lines = append(lines, resolvedLine(a))
	}
	if note != "" {
		lines = append(lines, note)
	}
	if len(lines) > 0 && len(m.Blocks) < maxBlocks {
		m.Blocks = append(m.Blocks, slack.NewSectionBlock(mrkdwn(truncate(strings.Join(lines, "\n"), maxSectionText)), nil, nil,
			slack.SectionBlockOptionBlockID("status")))
	}
	return m
}

// resolvedLine says who resolved a, when, and the verdict, as the
// message shows it once resolved, by a press of Resolve or elsewhere:
// ":white_check_mark: *Resolved* by @ann at 10:30 UTC, verdict: benign".
func resolvedLine(a *alerter.Alert) string {
	s := ":white_check_mark: *Resolved*"
	if a.ResolvedBy != "" {
		s += " by " + person(notifiers.Truncate(notifiers.OneLine(a.ResolvedBy), 200))
	}
	if a.ResolvedAt != nil {
		s += " at " + clock(*a.ResolvedAt)
	}
	if v := notifiers.OneLine(a.Verdict); v != "" {
		s += ", verdict: " + Escape(notifiers.Truncate(strings.ReplaceAll(v, "_", " "), 40))
	}
	return s
}

// SilenceNote is the note RenderActed shows for a silence made from the
// message by who (an identity such as slack:ann) at from, until until.
func SilenceNote(who string, from, until time.Time) string {
	return ":no_bell: *Silenced* for 1h by " + person(who) + " at " + clock(from) + ", until " + clock(until)
}

// person shows who acted: a Slack user (slack:ann) as @ann, anyone else
// (an API token's name) as named; escaped either way.
func person(who string) string {
	if name, ok := strings.CutPrefix(who, "slack:"); ok {
		return "@" + Escape(name)
	}
	return Escape(who)
}

// clock is a time of day in UTC, as the buttons' notes show it.
func clock(t time.Time) string { return t.UTC().Format("15:04") + " UTC" }
