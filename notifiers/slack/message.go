package slack

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/notifiers"
)

// Slack's Block Kit limits (docs.slack.dev, "Blocks" and "Block elements"),
// and the tighter budgets this message keeps so that the whole message stays
// well under what Slack will render.
const (
	maxBlocks        = 50    // blocks in a message
	maxHeader        = 150   // header block text
	maxSectionText   = 3000  // section block text
	maxFields        = 10    // fields in a section
	maxFieldText     = 2000  // one field
	maxContextItems  = 10    // elements in a context block
	maxButtonText    = 75    // a button's label
	maxButtonURL     = 3000  // a button's url
	maxMessageText   = 40000 // the message's top-level text
	fallbackBudget   = 3000  // our fallback text: notifications only show its start
	listFieldBudget  = 1000  // objects, changes
	shortFieldBudget = 300   // actor, IP, time, counts
	contextBudget    = 500   // one context element
	maxListItems     = 10    // objects or changes listed before "… and N more"
)

// severityStyle is how a severity shows: an emoji shortcode (rendered in
// plain_text with emoji: true, and in mrkdwn) and a label.
var severityStyle = map[alerter.Severity]string{
	"critical": ":red_circle:",
	"high":     ":large_orange_circle:",
	"medium":   ":large_yellow_circle:",
	"low":      ":large_blue_circle:",
	"info":     ":white_circle:",
}

// Message is the Slack rendering of an alert: Text is the fallback that
// notifications and screen readers show, Blocks the Block Kit layout.
type Message struct {
	Text   string
	Blocks []slack.Block
}

// Render lays an alert out as a Block Kit message. externalURL is
// server.external_url; with it the message links to the alert in alerter's
// UI. Every piece of user-controlled text is escaped for mrkdwn (& < >), so
// an actor named "<!channel>" pings nobody and "<https://evil|click>" is no
// link, and every piece is cut (with "…") to Slack's limits.
//
// Layout, top to bottom:
//
//	header   ":red_circle: CRITICAL: <title>"
//	section  the alert's text
//	section  fields: Actor, IP, Time (UTC), Action, Objects, Changes, Count, Suppressed
//	context  rule id and name · group values · source, format and system · labels and tags · alert id
//	actions  buttons "Runbook", "View alert" and "Silence similar" (only for http(s) URLs)
//
// A resolve notification is laid out by renderResolve.
func Render(a *alerter.Alert, externalURL string) Message {
	if a.Resolves != "" {
		return renderResolve(a, externalURL)
	}
	label := Escape(strings.ToUpper(string(a.Severity)))
	if label == "" {
		label = "ALERT"
	}
	emoji := severityStyle[a.Severity]
	if emoji == "" {
		emoji = ":white_circle:"
	}
	title := notifiers.Title(a)

	var blocks []slack.Block
	blocks = append(blocks, slack.NewHeaderBlock(
		slack.NewTextBlockObject(slack.PlainTextType, truncate(emoji+" "+label+": "+Escape(title), maxHeader), true, false),
		slack.HeaderBlockOptionBlockID("header")))

	if t := strings.TrimSpace(crlf.Replace(a.Text)); t != "" {
		blocks = append(blocks, slack.NewSectionBlock(
			mrkdwn(truncate(Escape(t), maxSectionText)), nil, nil, slack.SectionBlockOptionBlockID("text")))
	}

	if fields := factFields(a); len(fields) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil, slack.SectionBlockOptionBlockID("facts")))
	}

	if ctx := contextElements(a); len(ctx) > 0 {
		blocks = append(blocks, slack.NewContextBlock("context", ctx...))
	}

	var buttons []slack.BlockElement
	if u, ok := linkURL(a.Runbook); ok {
		buttons = append(buttons, slack.NewButtonBlockElement("runbook", "",
			slack.NewTextBlockObject(slack.PlainTextType, "Runbook", false, false)).WithURL(u))
	}
	if u, ok := linkURL(notifiers.AlertURL(externalURL, a.ID)); ok {
		buttons = append(buttons, slack.NewButtonBlockElement("alert", "",
			slack.NewTextBlockObject(slack.PlainTextType, "View alert", false, false)).WithURL(u))
	}
	if u, ok := linkURL(notifiers.SilenceURL(externalURL, a.ID)); ok {
		buttons = append(buttons, slack.NewButtonBlockElement("silence", "",
			slack.NewTextBlockObject(slack.PlainTextType, "Silence similar", false, false)).WithURL(u))
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock("links", buttons...))
	}
	if len(blocks) > maxBlocks { // cannot happen with this layout; kept as the limit's guard
		blocks = blocks[:maxBlocks]
	}

	text := "[" + label + "] " + Escape(title)
	return Message{Text: truncate(text, min(fallbackBudget, maxMessageText)), Blocks: blocks}
}

// renderResolve lays out a resolve notification (docs/notifications.md,
// The alert lifecycle) as a message of its own, posted to the channel:
//
//	header   ":white_check_mark: Resolved: <title>"
//	section  "Resolved by <who> at <time> UTC, verdict: <verdict>"
//	context  rule · alert id
//	actions  button "View alert" (with server.external_url)
func renderResolve(a *alerter.Alert, externalURL string) Message {
	title := Escape(notifiers.Title(a))
	blocks := []slack.Block{
		slack.NewHeaderBlock(
			slack.NewTextBlockObject(slack.PlainTextType, truncate(":white_check_mark: Resolved: "+title, maxHeader), true, false),
			slack.HeaderBlockOptionBlockID("header")),
		slack.NewSectionBlock(mrkdwn(truncate(Escape(notifiers.ResolvedBy(a)), maxSectionText)), nil, nil,
			slack.SectionBlockOptionBlockID("resolved")),
		slack.NewContextBlock("context",
			mrkdwn(truncate("Rule *"+Escape(a.Rule)+"*", contextBudget)),
			mrkdwn(truncate("Alert "+Escape(a.Resolves), contextBudget))),
	}
	if u, ok := linkURL(notifiers.AlertURL(externalURL, a.Resolves)); ok {
		blocks = append(blocks, slack.NewActionBlock("links", slack.NewButtonBlockElement("alert", "",
			slack.NewTextBlockObject(slack.PlainTextType, "View alert", false, false)).WithURL(u)))
	}
	return Message{Text: resolvedText(a), Blocks: blocks}
}

// resolvedText is the fallback text of a resolve's messages, which
// notifications show: "Resolved: <title>".
func resolvedText(a *alerter.Alert) string {
	return truncate("Resolved: "+Escape(notifiers.Title(a)), fallbackBudget)
}

func factFields(a *alerter.Alert) []*slack.TextBlockObject {
	var fields []*slack.TextBlockObject
	add := func(name, value string, budget int) {
		if value == "" || len(fields) == maxFields {
			return
		}
		fields = append(fields, mrkdwn(truncate("*"+name+"*\n"+value, min(budget, maxFieldText))))
	}
	if e := a.Event; e != nil {
		add("Actor", actor(a), shortFieldBudget)
		add("IP", Escape(e.IP), shortFieldBudget)
	}
	if !a.Time.IsZero() {
		add("Time", a.Time.UTC().Format(time.DateTime)+" UTC", shortFieldBudget)
	}
	if e := a.Event; e != nil {
		action := Escape(e.Action)
		if e.Category != "" {
			action += " (" + Escape(e.Category) + ")"
		}
		add("Action", strings.TrimSpace(action), shortFieldBudget)
		var objs []string
		for _, o := range e.Objects {
			s := Escape(o.Name)
			if s == "" {
				s = Escape(o.ID)
			} else if o.ID != "" {
				s += " (" + Escape(o.ID) + ")"
			}
			if o.Type != "" {
				s = Escape(o.Type) + ": " + s
			}
			objs = append(objs, s)
		}
		add("Objects", list(objs), listFieldBudget)
		var changes []string
		for _, c := range e.Changes {
			changes = append(changes, Escape(c.Key)+": "+orNone(Escape(c.From))+" → "+orNone(Escape(c.To)))
		}
		add("Changes", list(changes), listFieldBudget)
	}
	add("Count", strconv.Itoa(a.Count), shortFieldBudget)
	add("Suppressed", strconv.FormatInt(a.Suppressed, 10), shortFieldBudget)
	return fields
}

func actor(a *alerter.Alert) string {
	act := a.Event.Actor
	var s string
	switch {
	case act.DisplayName != "" && act.Name != "" && act.DisplayName != act.Name:
		s = Escape(act.DisplayName) + " (" + Escape(act.Name) + ")"
	case act.DisplayName != "":
		s = Escape(act.DisplayName)
	case act.Name != "":
		s = Escape(act.Name)
	default:
		s = Escape(act.ID)
	}
	if act.Type != "" && act.Type != "user" {
		s = strings.TrimSpace(s + " [" + Escape(act.Type) + "]")
	}
	return s
}

func contextElements(a *alerter.Alert) []slack.MixedElement {
	var els []slack.MixedElement
	add := func(s string) {
		if s != "" && len(els) < maxContextItems {
			els = append(els, mrkdwn(truncate(s, contextBudget)))
		}
	}
	rule := "Rule *" + Escape(a.Rule) + "*"
	if a.Name != "" && a.Name != a.Rule {
		rule += " — " + Escape(a.Name)
	}
	add(rule)
	if len(a.Group) > 0 {
		add("Group " + pairs(a.Group, " = "))
	}
	if e := a.Event; e != nil {
		src := Escape(e.Source)
		if e.Format != "" {
			src += " (" + Escape(e.Format) + ")"
		}
		if e.System != "" {
			src += " · " + Escape(e.System)
		}
		if src != "" {
			add("Source " + src)
		}
	}
	var lt []string
	if len(a.Labels) > 0 {
		lt = append(lt, pairs(a.Labels, "="))
	}
	if len(a.Tags) > 0 {
		tags := make([]string, len(a.Tags))
		for i, t := range a.Tags {
			tags[i] = Escape(t)
		}
		lt = append(lt, strings.Join(tags, ", "))
	}
	if len(lt) > 0 {
		add("Labels " + strings.Join(lt, " · "))
	}
	if a.ID != "" {
		add("Alert " + Escape(a.ID))
	}
	return els
}

// pairs writes a map as "k<sep>v, k<sep>v" in key order, escaped.
func pairs(m map[string]string, sep string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = Escape(k) + sep + Escape(m[k])
	}
	return strings.Join(parts, ", ")
}

// list writes items one a line, at most maxListItems, then how many more.
func list(items []string) string {
	if len(items) == 0 {
		return ""
	}
	n := min(len(items), maxListItems)
	s := "• " + strings.Join(items[:n], "\n• ")
	if len(items) > n {
		s += "\n… and " + strconv.Itoa(len(items)-n) + " more"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// linkURL returns u if Slack will take it as a button's url: an absolute
// http(s) URL within the length limit. Anything else would make Slack
// refuse the whole message (invalid_blocks).
func linkURL(u string) (string, bool) {
	if u == "" || len(u) > maxButtonURL || strings.ContainsAny(u, " \t\r\n<>|") {
		return "", false
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", false
	}
	return u, true
}

// crlf makes CR LF and lone CR plain line breaks.
var crlf = strings.NewReplacer("\r\n", "\n", "\r", "\n")

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape makes user text inert in mrkdwn: & < > become entities, which is
// what Slack documents as the whole of its escaping. Mentions
// (<!channel>, <@U1>) and links (<https://x|y>) all need a raw "<", so none
// survives. Formatting characters (* _ ~ `) have no escape in mrkdwn; they
// can only change how text looks.
func Escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return escaper.Replace(s)
}

// length counts s as Slack does its limits, in the conservative reading:
// UTF-16 code units (a character outside the BMP counts twice).
func length(s string) int {
	n := 0
	for _, r := range s {
		n += runeLen16(r)
	}
	return n
}

func runeLen16(r rune) int {
	if w := utf16.RuneLen(r); w > 0 {
		return w
	}
	return 1 // invalid UTF-8 is sent as U+FFFD
}

// truncate cuts s to at most limit (counted as length counts), ending it
// with "…" when cut. It never cuts inside an entity that Escape wrote, so
// "&amp;" does not end up as a stray "&am".
func truncate(s string, limit int) string {
	if length(s) <= limit {
		return s
	}
	budget := limit - 1 // the ellipsis
	n, end := 0, 0
	for end < len(s) {
		r, size := utf8.DecodeRuneInString(s[end:])
		if n+runeLen16(r) > budget {
			break
		}
		n += runeLen16(r)
		end += size
	}
	cut := s[:end]
	// In escaped text every "&" starts an entity: one without its ";" was cut.
	if amp := strings.LastIndexByte(cut, '&'); amp >= 0 && !strings.Contains(cut[amp:], ";") {
		cut = cut[:amp]
	}
	return cut + "…"
}
