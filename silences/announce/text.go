package announce

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/silences"
)

// The pseudo-rules of the announcements: their alerts' rule ids. The ':'
// keeps them apart from every rule's id, which has none.
const (
	ExpiringRule = "alerter:silence-expiring"
	ExpiredRule  = "alerter:silence-expired"
)

// Kind is which announcement: a silence about to end, or one that ended.
type Kind string

// The kinds of announcement.
const (
	Expiring Kind = "expiring"
	Expired  Kind = "expired"
)

// rule is the pseudo-rule of k's announcements.
func (k Kind) rule() string {
	if k == Expiring {
		return ExpiringRule
	}
	return ExpiredRule
}

// Bounds on the silence's own text in an announcement: the author, the
// comment and the matchers are whatever the creator wrote (docs/api.md),
// and an announcement goes to the on-call channels.
const (
	maxAuthor   = 64
	maxComment  = 200
	maxMatchers = 300
	maxID       = 64
)

// clean is s on one line (no line a notifier would take for a header or a
// row of its own), without bidirectional overrides (which would make the
// rest of a line read backwards), and at most max characters.
func clean(s string, max int) string {
	return notifiers.Truncate(notifiers.OneLine(s), max)
}

// stamp writes a time as an announcement does.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// Input is what an announcement is made of: the silence, what it
// suppressed (nil: nothing), the rules in force and their routes, the
// server's external URL, and the time.
type Input struct {
	Silence     silences.Silence
	Count       *silences.Count
	Rules       *rules.Set
	Routes      alerter.Routes
	ExternalURL string
	Now         time.Time
}

// Alert is the announcement of kind k as an alert of its pseudo-rule,
// sent to Targets(in): severity info, its id the same for the same
// silence, kind and end, so that an announcement made twice is one alert
// (ALERTS and the deliveries record drop the second). Its event is one of
// alerter's own (source alerter), which no silence mutes: the silence it
// announces may well match it.
func Alert(k Kind, in Input) *alerter.Alert {
	sl := &in.Silence
	id := ID(k, sl.ID, sl.EndsAt)
	title, text := words(k, in)
	act := actions.Silence(actionOf(k), actions.Alerter("silence lifecycle"), *sl, in.Rules)
	if c := in.Count; c != nil {
		act.Attrs["suppressed"] = strconv.FormatInt(c.Alerts, 10)
		act.Attrs["suppressed_rules"] = strings.Join(c.Rules, ",")
	}
	ev := actions.Event(act, in.Now.UTC())
	ev.ID, ev.Summary = id, title
	return &alerter.Alert{
		ID:       id,
		Rule:     k.rule(),
		Name:     string(actionOf(k)),
		Severity: alerter.Info,
		Title:    title,
		Text:     text,
		Runbook:  silencesPage(in.ExternalURL),
		Labels:   map[string]string{},
		Tags:     []string{"silence"},
		Group:    map[string]string{"silence": sl.ID},
		DedupKey: k.rule() + ":" + sl.ID,
		Time:     in.Now.UTC(),
		FiredAt:  in.Now.UTC(),
		Count:    1,
		Event:    &ev,
		EventIDs: []string{},
		Notify:   Targets(in),
	}
}

// The actions of the announcements' events.
const (
	actionExpiring = "Silence ending"
	actionExpired  = "Silence ended"
)

func actionOf(k Kind) string {
	if k == Expiring {
		return actionExpiring
	}
	return actionExpired
}

// ID is the id of the announcement of kind k of silence id ending at
// ends: made of them alone, so that announcing again is recognised.
func ID(k Kind, id string, ends time.Time) string {
	h := sha256.Sum256([]byte(string(k) + "\x00" + id + "\x00" + ends.UTC().Format(time.RFC3339Nano)))
	return "silence-" + string(k) + "-" + hex.EncodeToString(h[:12])
}

// silencesPage is the web UI's page of silences, "" without an external
// URL.
func silencesPage(externalURL string) string {
	if u := notifiers.HTTPURL(externalURL); u != "" {
		return strings.TrimRight(u, "/") + "/silences"
	}
	return ""
}

// words are the announcement's title and text.
func words(k Kind, in Input) (title, text string) {
	sl := &in.Silence
	id, author := clean(sl.ID, maxID), clean(sl.CreatedBy, maxAuthor)
	who := fmt.Sprintf("Silence %s by %s (%s) over %s", id, author, clean(sl.Comment, maxComment), matchers(sl))
	var b strings.Builder
	if k == Expiring {
		title = fmt.Sprintf("Silence %s by %s ends at %s", id, author, stamp(sl.EndsAt))
		fmt.Fprintf(&b, "%s ends at %s; %s suppressed so far.\n", who, stamp(sl.EndsAt), suppressed(in.Count))
		b.WriteString(extend(sl, in.ExternalURL))
		return title, b.String()
	}
	c := in.Count
	title = fmt.Sprintf("Silence %s ended; it suppressed %s", id, suppressed(c))
	fmt.Fprintf(&b, "%s ended at %s; it suppressed %s", who, stamp(sl.EndsAt), suppressed(c))
	switch {
	case c == nil:
	case c.First.Equal(c.Last):
		fmt.Fprintf(&b, " at %s", stamp(c.First))
	default:
		fmt.Fprintf(&b, " between %s and %s", stamp(c.First), stamp(c.Last))
	}
	b.WriteString("; new alerts are sent again.")
	if p := silencesPage(in.ExternalURL); p != "" {
		b.WriteString("\nSilences: " + p)
	}
	return title, b.String()
}

// matchers are the silence's, as the CLI writes them, bounded.
func matchers(sl *silences.Silence) string {
	ms := make([]string, len(sl.Matchers))
	for i, m := range sl.Matchers {
		ms[i] = m.String()
	}
	return clean(strings.Join(ms, ", "), maxMatchers)
}

// suppressed says what c counted: "N alerts of rules X, Y".
func suppressed(c *silences.Count) string {
	if c == nil || c.Alerts == 0 {
		return "no alerts"
	}
	n := "1 alert"
	if c.Alerts != 1 {
		n = strconv.FormatInt(c.Alerts, 10) + " alerts"
	}
	if len(c.Rules) == 0 {
		return n
	}
	rs := strings.Join(c.Rules, ", ")
	if c.MoreRules {
		rs += " and more"
	}
	if len(c.Rules) == 1 && !c.MoreRules {
		return n + " of rule " + rs
	}
	return n + " of rules " + rs
}

// extend says how to keep the silence on: a new silence with the same
// matchers, from the CLI (the matchers quoted for a shell: they are
// whatever the creator wrote) or the web UI.
func extend(sl *silences.Silence, externalURL string) string {
	ms := make([]string, len(sl.Matchers))
	for i, m := range sl.Matchers {
		ms[i] = shellQuote(clean(m.String(), 2*maxMatchers))
	}
	cmd := "alerter silence add --for 2h --comment '...' " + strings.Join(ms, " ")
	if len(cmd) > 2*maxMatchers {
		cmd = "alerter silence add --for 2h --comment '...' <the same matchers>"
	}
	s := "To extend it, add a silence before it ends: `" + cmd + "`"
	if p := silencesPage(externalURL); p != "" {
		s += ", or in the web UI: " + p
	}
	return s + "."
}

// shellQuote quotes s for a POSIX shell: nothing in it is expanded.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Targets are where an announcement goes: the targets the silence's
// suppressed alerts were routed to; when it suppressed none yet, where
// the alerts of the rules it covers go (each rule's notify: list, else the
// routes of its severity, as the evaluator routes), sorted.
func Targets(in Input) []string {
	var out []string
	if in.Count != nil && len(in.Count.Targets) > 0 {
		out = slices.Clone(in.Count.Targets)
	} else if in.Rules != nil {
		router := in.Rules.Router(in.Routes)
		for _, r := range in.Silence.CoveredRules(in.Rules) {
			if r.Enabled {
				out = append(out, router.Route(&alerter.Alert{Rule: r.ID, Severity: r.Severity, Labels: r.Labels})...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
