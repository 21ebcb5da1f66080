package slack

import (
	"cmp"
	"context"
	"errors"
	"strings"

	"github.com/slack-go/slack"

	"github.com/alerter/alerter"
)

// What follows an alert at a Slack channel (docs/notifications.md, The
// alert lifecycle). With a bot token, chat.postMessage answers where it
// put the message (channel and ts), which delivery records as the alert's
// ref at this target and hands back with what follows the alert:
//
//   - its resolve notification updates the message (chat.update: the
//     alert's blocks, no buttons, the "Resolved by" line that a press of
//     Resolve shows too), then replies in its thread, since an update
//     alone notifies nobody;
//   - its acknowledgement notification updates the message the same way
//     (the "Acknowledged by" line that a press of Acknowledge shows, the
//     Acknowledge button gone), and replies nothing: that someone is on
//     it needs no notification to the channel;
//   - an escalation replies in its thread, broadcast to the channel.
//
// Without a ref (a webhook, whose answer is "ok"; an alert sent before
// refs were kept; a ref that does not parse) each is a message of its own,
// but an acknowledgement, which is then nothing: a message per
// acknowledgement would be noise.

// ref is where a message is: its channel, as Slack answered it (an id),
// its ts, and for a reply, its thread's (the parent's ts). Its string
// form, channel/ts or channel/ts/thread, is the ref delivery records.
type ref struct {
	channel, ts, thread string
}

func (r ref) String() string {
	if r.channel == "" || r.ts == "" {
		return ""
	}
	s := r.channel + "/" + r.ts
	if r.thread != "" {
		s += "/" + r.thread
	}
	return s
}

// threadTS is the ts replies to the message go under: Slack threads have
// one level, so a reply's replies go under its parent.
func (r ref) threadTS() string {
	if r.thread != "" {
		return r.thread
	}
	return r.ts
}

// parseRef reads a ref that String wrote. It is ours, but read as any
// stored value: a ref whose parts are not a channel id and Slack
// timestamps does not parse, and the alert is posted as a message of its
// own.
func parseRef(s string) (ref, bool) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || !channelID(parts[0]) {
		return ref{}, false
	}
	r := ref{channel: parts[0], ts: parts[1]}
	if len(parts) == 3 {
		r.thread = parts[2]
	}
	if !slackTS(r.ts) || len(parts) == 3 && !slackTS(r.thread) {
		return ref{}, false
	}
	return r, true
}

// channelID tells a conversation id as Slack gives them (C0123ABCD).
func channelID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// slackTS tells a message timestamp as Slack gives them (1715681280.000100).
func slackTS(s string) bool {
	sec, frac, ok := strings.Cut(s, ".")
	return ok && digits(sec, 20) && digits(frac, 10)
}

func digits(s string, limit int) bool {
	if s == "" || len(s) > limit {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// follow posts a with a bot token: in the thread of the message at
// refText when a follows its alert there, else as a message of its own.
func (n *Notifier) follow(ctx context.Context, a *alerter.Alert, refText string) (string, error) {
	at, ok := parseRef(refText)
	if !ok && refText != "" {
		n.log.Warn("slack: a message ref that does not parse; posting a message of its own",
			"notifier", n.name, "alert", a.ID, "ref", refText)
	}
	var (
		posted ref
		err    error
	)
	switch {
	case a.Acknowledges != "":
		if ok {
			posted, err = at, n.acknowledge(ctx, a, at)
		}
	case ok && a.Resolves != "":
		posted, err = n.resolve(ctx, a, at)
	case ok && a.Escalation > 0:
		posted, err = n.post(ctx, a, n.message(a), at.threadTS(), true)
	default:
		posted, err = n.post(ctx, a, n.message(a), "", false)
	}
	return posted.String(), err
}

// goneErrors are the chat.update errors of a message that cannot be
// updated (deleted, not the app's, past the workspace's edit window): a
// resolve is then posted as a message of its own rather than lost.
var goneErrors = map[string]bool{
	"message_not_found":   true,
	"cant_update_message": true,
	"edit_window_closed":  true,
}

// acknowledge updates the message at of the alert that acknowledgement
// notification a acknowledges to show it acknowledged, as a press of
// Acknowledge does (RenderActed). A message that cannot be updated is
// left as it is: the acknowledgement is not worth a message of its own.
func (n *Notifier) acknowledge(ctx context.Context, a *alerter.Alert, at ref) error {
	_, err := n.updateAlert(ctx, a, at)
	return err
}

// resolve updates the message at of the alert that resolve notification a
// resolves to show it resolved, as a press of Resolve does (RenderActed),
// and says so in its thread; a message that cannot be updated gets the
// resolve as a message of its own.
func (n *Notifier) resolve(ctx context.Context, a *alerter.Alert, at ref) (ref, error) {
	gone, err := n.updateAlert(ctx, a, at)
	switch {
	case gone:
		return n.post(ctx, a, n.message(a), "", false)
	case err != nil:
		return ref{}, err
	}
	return n.post(ctx, a, resolvedReply(a), at.threadTS(), false)
}

// updateAlert replaces the message at of the alert that notice a is about
// with that alert as it stands (its status fields are the notice's). gone
// tells a message that can no longer be updated; the error is then nil.
func (n *Notifier) updateAlert(ctx context.Context, a *alerter.Alert, at ref) (gone bool, err error) {
	alert := *a
	alert.ID, alert.Resolves, alert.Acknowledges = cmp.Or(a.Resolves, a.Acknowledges), "", ""
	err = n.update(ctx, at, n.acted(&alert))
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && goneErrors[se.Err] {
		n.log.Info("slack: the alert's message cannot be updated", "notifier", n.name, "alert", alert.ID, "notice", a.ID, "why", se.Err)
		return true, nil
	}
	return false, err
}

// resolvedReply is the reply a resolve posts in the alert's thread: the
// line the updated message shows, with "Resolved: <title>" as the text
// that notifications show.
func resolvedReply(a *alerter.Alert) Message {
	return Message{Text: resolvedText(a), Blocks: []slack.Block{
		slack.NewSectionBlock(mrkdwn(truncate(resolvedLine(a), maxSectionText)), nil, nil, slack.SectionBlockOptionBlockID("resolved")),
	}}
}
