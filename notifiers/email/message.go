package email

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/notifiers"
)

// Header names alerter adds, for mail filters and for recognising re-sends.
const (
	HeaderDedupKey = "X-Alerter-Dedup-Key"
	HeaderAlertID  = "X-Alerter-Alert-Id"
	HeaderRule     = "X-Alerter-Rule"
	HeaderSeverity = "X-Alerter-Severity"
)

// maxSubject caps the title in the subject line, in characters; the whole
// title is in the body.
const maxSubject = 200

// Subject is the message's subject: "[SEVERITY] title", on one line (control
// characters and line breaks become spaces) and at most about 200
// characters.
//
// A resolve notification's is "[RESOLVED] title".
func Subject(a *alerter.Alert) string {
	tag := strings.ToUpper(oneLine(string(a.Severity), 20))
	if a.Resolves != "" {
		tag = "RESOLVED"
	}
	return "[" + tag + "] " + oneLine(notifiers.Title(a), maxSubject)
}

// message builds the alert's mail, dated now.
func (n *Notifier) message(a *alerter.Alert, now time.Time) (*gomail.Msg, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	// Addresses go through net/mail.ParseAddress: no CR/LF gets in.
	if err := m.From(n.from); err != nil {
		return nil, err
	}
	if err := m.To(n.to...); err != nil {
		return nil, err
	}
	// Generic headers are RFC 2047-encoded by go-mail when they hold
	// anything but printable ASCII, and are cleaned to one line before:
	// event data cannot start a header of its own.
	m.Subject(Subject(a))
	m.SetDateWithValue(now)
	if id := msgIDLocal(a.ID); id != "" {
		m.SetMessageIDWithValue(n.msgID(a.ID))
	}
	var refs []string
	if a.DedupKey != "" {
		m.SetGenHeader(HeaderDedupKey, oneLine(a.DedupKey, 500))
		// Re-fires of one group reference one (never sent) root message,
		// so that mail clients thread them.
		sum := sha256.Sum256([]byte(a.DedupKey))
		refs = append(refs, "<group."+hex.EncodeToString(sum[:12])+"@"+n.domain+">")
	}
	if a.Resolves != "" && msgIDLocal(a.Resolves) != "" {
		// A resolve answers its alert's message, in the same thread.
		orig := "<" + n.msgID(a.Resolves) + ">"
		m.SetGenHeader(gomail.HeaderInReplyTo, orig)
		refs = append(refs, orig)
	}
	if len(refs) > 0 {
		m.SetGenHeader(gomail.HeaderReferences, strings.Join(refs, " "))
	}
	if a.ID != "" {
		m.SetGenHeader(HeaderAlertID, oneLine(a.ID, 100))
	}
	if a.Rule != "" {
		m.SetGenHeader(HeaderRule, oneLine(a.Rule, 200))
	}
	m.SetGenHeader(HeaderSeverity, oneLine(string(a.Severity), 20))
	// RFC 3834: no vacation replies to alerts.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	if a.Resolves == "" && (a.Severity == alerter.Critical || a.Severity == alerter.High) {
		m.SetGenHeader(gomail.HeaderImportance, "high")
		m.SetGenHeader(gomail.HeaderXPriority, "1")
	}
	m.SetUserAgent("alerter")

	v := newView(a, n.extURL)
	m.SetBodyString(gomail.TypeTextPlain, textBody(v))
	var html bytes.Buffer
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return nil, fmt.Errorf("rendering the HTML part: %w", err)
	}
	m.AddAlternativeString(gomail.TypeTextHTML, html.String())
	return m, nil
}

// view is what both parts show, cleaned: single-line fields have no line
// breaks or control characters, Text has "\n" line ends only.
type view struct {
	Subject, Severity, SeverityUpper, Title, Text string
	// Resolved says who resolved the alert and when, on a resolve
	// notification; else "".
	Resolved                               string
	Color                                  template.CSS
	Rule, RuleName                         string
	Time                                   string
	Actor, IP, Event, System, Method, Node string
	Objects                                []object
	Changes                                []change
	Attrs, Group, Labels                   []pair
	Tags                                   string
	Count                                  int
	Suppressed                             int64
	Runbook                                string
	RunbookURL, AlertURL, SilenceURL       string // http(s) only, else empty
	AlertID, DedupKey                      string
}

type object struct{ Type, Name, ID, URI, Link string }
type change struct{ Key, From, To string }
type pair struct{ Key, Value string }

var severityColors = map[alerter.Severity]template.CSS{
	alerter.Critical: "#b91c1c",
	alerter.High:     "#c2410c",
	alerter.Medium:   "#a16207",
	alerter.Low:      "#1d4ed8",
	alerter.Info:     "#4b5563",
}

// resolvedColor marks a resolve notification.
const resolvedColor template.CSS = "#15803d"

// Caps on what one message shows; the rest is counted, not listed.
const (
	maxField = 2000 // characters of one single-line value
	maxText  = 20000
	maxItems = 50 // objects, changes, attributes
)

func newView(a *alerter.Alert, extURL string) *view {
	v := &view{
		Subject:       Subject(a),
		Severity:      oneLine(string(a.Severity), 20),
		SeverityUpper: strings.ToUpper(oneLine(string(a.Severity), 20)),
		Title:         oneLine(notifiers.Or(a.Title, notifiers.Or(a.Name, a.Rule)), maxField),
		Text:          multiLine(a.Text, maxText),
		Color:         severityColors[a.Severity],
		Rule:          oneLine(a.Rule, maxField),
		RuleName:      oneLine(a.Name, maxField),
		Count:         a.Count,
		Suppressed:    a.Suppressed,
		Runbook:       oneLine(a.Runbook, maxField),
		RunbookURL:    notifiers.HTTPURL(a.Runbook),
		AlertID:       oneLine(a.ID, 200),
		DedupKey:      oneLine(a.DedupKey, 500),
		AlertURL:      notifiers.AlertURL(extURL, a.ID),
		SilenceURL:    notifiers.SilenceURL(extURL, a.ID),
		Group:         pairs(a.Group),
		Labels:        pairs(a.Labels),
	}
	if v.Color == "" {
		v.Color = severityColors[alerter.Info]
	}
	if a.Resolves != "" {
		v.SeverityUpper, v.Color, v.Resolved = "RESOLVED", resolvedColor, notifiers.ResolvedBy(a)
		v.AlertID = oneLine(a.Resolves, 200)
		v.AlertURL, v.SilenceURL = notifiers.AlertURL(extURL, a.Resolves), ""
	}
	if !a.Time.IsZero() {
		v.Time = a.Time.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	tags := make([]string, 0, len(a.Tags))
	for _, t := range a.Tags {
		tags = append(tags, oneLine(t, 100))
	}
	v.Tags = strings.Join(tags, ", ")
	if a.Event != nil {
		v.addEvent(a.Event)
	}
	return v
}

// addEvent adds what v shows of the event that fired the alert.
func (v *view) addEvent(e *event.Event) {
	act := e.Actor
	switch name, display := oneLine(act.Name, 200), oneLine(act.DisplayName, 200); {
	case name != "" && display != "" && name != display:
		v.Actor = display + " (" + name + ")"
	case display != "":
		v.Actor = display
	case name != "":
		v.Actor = name
	default:
		v.Actor = oneLine(act.ID, 200)
	}
	if act.Type != "" && act.Type != "user" {
		v.Actor = strings.TrimSpace(v.Actor + " [" + oneLine(act.Type, 20) + "]")
	}
	v.IP = oneLine(e.IP, 100)
	cat, action := oneLine(e.Category, 200), oneLine(e.Action, 200)
	switch {
	case cat != "" && action != "":
		v.Event = cat + ": " + action
	default:
		v.Event = cat + action
	}
	v.System = oneLine(e.System, 500)
	v.Method = oneLine(e.Method, 100)
	v.Node = oneLine(e.Node, 100)
	for _, o := range e.Objects[:min(len(e.Objects), maxItems)] {
		v.Objects = append(v.Objects, object{
			Type: oneLine(o.Type, 100), Name: oneLine(o.Name, 500), ID: oneLine(o.ID, 200),
			URI: oneLine(o.URI, 1000), Link: notifiers.HTTPURL(o.URI),
		})
	}
	if more := len(e.Objects) - maxItems; more > 0 {
		v.Objects = append(v.Objects, object{Name: fmt.Sprintf("… and %d more", more)})
	}
	for _, c := range e.Changes[:min(len(e.Changes), maxItems)] {
		v.Changes = append(v.Changes, change{Key: oneLine(c.Key, 500), From: oneLine(c.From, maxField), To: oneLine(c.To, maxField)})
	}
	if more := len(e.Changes) - maxItems; more > 0 {
		v.Changes = append(v.Changes, change{Key: fmt.Sprintf("… and %d more", more)})
	}
	v.Attrs = pairs(e.Attrs)
}

func pairs(m map[string]string) []pair {
	keys := slices.Sorted(maps.Keys(m))
	var ps []pair
	for _, k := range keys[:min(len(keys), maxItems)] {
		ps = append(ps, pair{oneLine(k, 200), oneLine(m[k], maxField)})
	}
	if more := len(keys) - maxItems; more > 0 {
		ps = append(ps, pair{"…", fmt.Sprintf("and %d more", more)})
	}
	return ps
}

// textBody is the plain-text part.
func textBody(v *view) string {
	var b strings.Builder
	b.WriteString(v.Subject)
	b.WriteString("\n")
	if v.Resolved != "" {
		b.WriteString("\n" + v.Resolved + ".\n")
	}
	if v.Text != "" {
		b.WriteString("\n")
		b.WriteString(v.Text)
		b.WriteString("\n")
	}
	b.WriteString("\n")
	textFields(&b, v)
	if len(v.Objects) > 0 {
		b.WriteString("\nObjects\n")
		for _, o := range v.Objects {
			b.WriteString("  - ")
			b.WriteString(objectLine(o))
			b.WriteString("\n")
		}
	}
	if len(v.Changes) > 0 {
		b.WriteString("\nChanges\n")
		for _, c := range v.Changes {
			b.WriteString("  - ")
			b.WriteString(c.Key)
			if c.From != "" || c.To != "" {
				b.WriteString(": " + c.From + " → " + c.To)
			}
			b.WriteString("\n")
		}
	}
	if len(v.Attrs) > 0 {
		b.WriteString("\nAttributes\n")
		for _, p := range v.Attrs {
			b.WriteString("  - " + p.Key + ": " + p.Value + "\n")
		}
	}
	if v.Runbook != "" || v.AlertURL != "" {
		b.WriteString("\n")
		writeField(&b, "Runbook", v.Runbook)
		writeField(&b, "Alert", v.AlertURL)
		writeField(&b, "Silence", v.SilenceURL)
	}
	b.WriteString("\n-- \nalerter")
	if v.AlertID != "" {
		b.WriteString(" · alert " + v.AlertID)
	}
	if v.DedupKey != "" {
		b.WriteString(" · dedup key " + v.DedupKey)
	}
	b.WriteString("\n")
	return b.String()
}

func objectLine(o object) string {
	s := o.Name
	if o.Type != "" {
		s = o.Type + ": " + s
	}
	if o.ID != "" {
		s += " (" + o.ID + ")"
	}
	if o.URI != "" {
		s += " <" + o.URI + ">"
	}
	return s
}

func suppressed(n int64) string {
	switch n {
	case 0:
		return "0"
	case 1:
		return "1 matching event since the previous alert of this group"
	}
	return strconv.FormatInt(n, 10) + " matching events since the previous alert of this group"
}

//go:embed message.html
var htmlSource string

var htmlTmpl = template.Must(template.New("message.html").Funcs(template.FuncMap{
	"suppressed": suppressed,
}).Parse(htmlSource))

// oneLine makes s a single line (notifiers.OneLine) of at most max
// characters.
func oneLine(s string, max int) string {
	return notifiers.Truncate(notifiers.OneLine(s), max)
}

// multiLine normalises line ends to "\n", drops other control characters
// but tabs, trims trailing blank lines and cuts to max characters.
func multiLine(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			return '\n'
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return notifiers.Truncate(strings.Trim(strings.Join(lines, "\n"), "\n"), max)
}

// msgIDLocal is id as the left-hand side of a Message-ID (RFC 5322
// dot-atom-text), "" if it has nothing usable. Alert ids are ULIDs.
func msgIDLocal(id string) string {
	ok := id != "" && len(id) <= 100 && !strings.HasPrefix(id, ".") && !strings.HasSuffix(id, ".") && !strings.Contains(id, "..")
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_+=", r)) {
			ok = false
			break
		}
	}
	if ok {
		return id
	}
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return "h" + hex.EncodeToString(sum[:16])
}

// msgID is the Message-ID of the message of alert id, without the angle
// brackets.
func (n *Notifier) msgID(id string) string {
	return "alert." + msgIDLocal(id) + "@" + n.domain
}

// msgIDDomain is the right-hand side of Message-IDs: the From address's
// domain, as recipients' systems expect, or "alerter.invalid".
func msgIDDomain(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	d = strings.ToLower(d)
	valid := d != "" && len(d) <= 253 && !strings.HasPrefix(d, ".") && !strings.HasSuffix(d, ".")
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			valid = false
			break
		}
	}
	if !valid {
		return "alerter.invalid"
	}
	return d
}

// Text is the plain-text part of the message for a: what the playground
// shows for an email target, under its Subject.
func Text(a *alerter.Alert, externalURL string) string {
	return textBody(newView(a, strings.TrimRight(externalURL, "/")))
}

// textFields writes the plain-text part's table of fields.
func textFields(b *strings.Builder, v *view) {
	field := func(k, val string) { writeField(b, k, val) }
	rule := v.Rule
	if v.RuleName != "" && v.RuleName != v.Rule {
		rule = v.RuleName + " (" + v.Rule + ")"
	}
	field("Rule", rule)
	field("Severity", v.Severity)
	field("Time", v.Time)
	field("Actor", v.Actor)
	field("IP", v.IP)
	field("Event", v.Event)
	field("System", v.System)
	field("Method", v.Method)
	field("Node", v.Node)
	field("Count", strconv.Itoa(v.Count))
	field("Suppressed", suppressed(v.Suppressed))
	for i, g := range v.Group {
		k := ""
		if i == 0 {
			k = "Group"
		}
		field(k, g.Key+" = "+g.Value)
	}
	field("Tags", v.Tags)
}

// writeField writes one line of the plain-text part's table, if val is
// not empty.
func writeField(b *strings.Builder, k, val string) {
	if val != "" {
		fmt.Fprintf(b, "%-11s %s\n", k, val)
	}
}
