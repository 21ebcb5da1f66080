package teams

import (
	"strconv"
	"strings"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/notifiers"
)

// Message is what a Teams webhook takes: a message whose one attachment is
// an Adaptive Card (Microsoft Teams, "Send Adaptive Cards using an
// Incoming Webhook").
type Message struct {
	Type        string       `json:"type"` // "message"
	Summary     string       `json:"summary,omitempty"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment holds the card.
type Attachment struct {
	ContentType string  `json:"contentType"` // application/vnd.microsoft.card.adaptive
	ContentURL  *string `json:"contentUrl"`  // null: the card is inline
	Content     Card    `json:"content"`
}

// Card is an Adaptive Card, version 1.4 (what Teams renders from a
// webhook).
type Card struct {
	Schema  string    `json:"$schema"`
	Type    string    `json:"type"` // "AdaptiveCard"
	Version string    `json:"version"`
	Body    []Element `json:"body"`
	Actions []Action  `json:"actions,omitempty"`
	MSTeams struct {
		Width string `json:"width"`
	} `json:"msteams"`
}

// Element is a TextBlock or a FactSet.
type Element struct {
	Type   string `json:"type"`
	Text   string `json:"text,omitempty"`
	Size   string `json:"size,omitempty"`
	Weight string `json:"weight,omitempty"`
	Color  string `json:"color,omitempty"`
	Wrap   bool   `json:"wrap,omitempty"`
	Facts  []Fact `json:"facts,omitempty"`
}

// Fact is one line of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Action is an Action.OpenUrl button.
type Action struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Budgets that keep a card well under the 28 KB Teams takes in a message.
const (
	maxTitle = 200
	maxText  = 3000
	maxFact  = 300
)

// colors are the Adaptive Card colors of the severities.
var colors = map[alerter.Severity]string{
	alerter.Critical: "attention",
	alerter.High:     "attention",
	alerter.Medium:   "warning",
	alerter.Low:      "accent",
}

// Render lays an alert out as a Teams message: the severity and title, the
// alert's text, its facts, and buttons to the runbook and to the alert in
// alerter's UI (with externalURL). Text from events is escaped: Teams
// reads TextBlocks as Markdown, so an actor named "[click](https://evil)"
// would otherwise be a link.
//
// A resolve notification (docs/notifications.md, The alert lifecycle) is
// a card of its own: "Resolved: title" in green, who resolved the alert,
// when and the verdict, and a button to the alert.
func Render(a *alerter.Alert, externalURL string) Message {
	if a.Resolves != "" {
		return renderResolve(a, externalURL)
	}
	label := strings.ToUpper(notifiers.Or(string(a.Severity), "alert"))
	title := notifiers.Or(a.Title, notifiers.Or(a.Name, a.Rule))
	summary := notifiers.Truncate(notifiers.OneLine("["+label+"] "+title), maxTitle)
	card := newCard()
	card.Body = append(card.Body, Element{Type: "TextBlock", Size: "Large", Weight: "Bolder", Wrap: true,
		Color: colors[a.Severity], Text: escape(summary)})
	if t := strings.TrimSpace(a.Text); t != "" {
		card.Body = append(card.Body, Element{Type: "TextBlock", Wrap: true, Text: escape(notifiers.Truncate(t, maxText))})
	}
	card.Body = append(card.Body, Element{Type: "FactSet", Facts: facts(a)})
	if u := notifiers.HTTPURL(a.Runbook); u != "" {
		card.Actions = append(card.Actions, Action{Type: "Action.OpenUrl", Title: "Runbook", URL: u})
	}
	if u := notifiers.AlertURL(externalURL, a.ID); u != "" {
		card.Actions = append(card.Actions, Action{Type: "Action.OpenUrl", Title: "View alert", URL: u})
	}
	if u := notifiers.SilenceURL(externalURL, a.ID); u != "" {
		card.Actions = append(card.Actions, Action{Type: "Action.OpenUrl", Title: "Silence similar", URL: u})
	}
	return message(summary, card)
}

func newCard() Card {
	card := Card{Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: "1.4"}
	card.MSTeams.Width = "Full"
	return card
}

func message(summary string, card Card) Message {
	return Message{Type: "message", Summary: summary, Attachments: []Attachment{{
		ContentType: "application/vnd.microsoft.card.adaptive", Content: card}}}
}

func renderResolve(a *alerter.Alert, externalURL string) Message {
	summary := notifiers.Truncate(notifiers.OneLine("Resolved: "+notifiers.Title(a)), maxTitle)
	card := newCard()
	card.Body = []Element{
		{Type: "TextBlock", Size: "Large", Weight: "Bolder", Wrap: true, Color: "good", Text: escape(summary)},
		{Type: "TextBlock", Wrap: true, Text: escape(notifiers.ResolvedBy(a))},
		{Type: "FactSet", Facts: []Fact{{Title: "Rule", Value: escape(notifiers.Truncate(notifiers.OneLine(a.Rule), maxFact))},
			{Title: "Alert", Value: escape(notifiers.Truncate(notifiers.OneLine(a.Resolves), maxFact))}}},
	}
	if u := notifiers.AlertURL(externalURL, a.Resolves); u != "" {
		card.Actions = append(card.Actions, Action{Type: "Action.OpenUrl", Title: "View alert", URL: u})
	}
	return message(summary, card)
}

func facts(a *alerter.Alert) []Fact {
	var out []Fact
	add := func(title, value string) {
		if value = strings.TrimSpace(value); value != "" {
			out = append(out, Fact{Title: title, Value: escape(notifiers.Truncate(notifiers.OneLine(value), maxFact))})
		}
	}
	add("Rule", a.Rule)
	if e := a.Event; e != nil {
		actor := e.Actor.DisplayName
		if e.Actor.Name != "" && e.Actor.Name != actor {
			actor = strings.TrimSpace(actor + " (" + e.Actor.Name + ")")
		}
		add("Actor", actor)
		add("IP", e.IP)
		add("Action", e.Action)
		add("Source", e.Source)
	}
	if !a.Time.IsZero() {
		add("Time (UTC)", a.Time.UTC().Format(time.RFC3339))
	}
	add("Count", strconv.Itoa(a.Count))
	if a.Suppressed > 0 {
		add("Suppressed", strconv.FormatInt(a.Suppressed, 10))
	}
	add("Alert", a.ID)
	return out
}

// escape backslash-escapes what Teams' Markdown would read as emphasis,
// code or a link, and drops control characters.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case strings.ContainsRune("\\`*_[]", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString("\n\n") // a paragraph: a single newline is not one
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
