// Package verdicts keeps the verdicts people give when they resolve alerts
// (true positive, false positive, benign) for 30 days, and reads them back
// as each rule's precision and, where a rule's false positives share a
// value, a suggested exclusion (docs/notifications.md, Verdicts and
// precision).
//
// An Entry is one resolved cycle of an alert group: what was judged, by
// whom, and the values of the alert's event worth excluding on. Summarize
// and Suggest are pure; Store keeps the entries in a key-value bucket that
// outlives the alerts themselves (nats.retention may be a week).
package verdicts

import (
	"cmp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/lifecycle"
)

// Window is how far back precision is computed and entries are kept.
const Window = 30 * 24 * time.Hour

// MinFalsePositives is the fewest false positives a rule needs before an
// exclusion is suggested: two could be chance.
const MinFalsePositives = 3

// maxValue bounds each string an entry keeps, in bytes.
const maxValue = 256

// Entry is one verdict: the resolve of one cycle of an alert group.
type Entry struct {
	Rule       string            `json:"rule"`
	Group      string            `json:"group"` // the group's dedup_key
	Alert      string            `json:"alert"` // the alert resolved
	Verdict    lifecycle.Verdict `json:"verdict"`
	By         string            `json:"by"`
	ResolvedAt time.Time         `json:"resolved_at"`
	// Values are the alert's event's values worth excluding on, by the
	// expression that reads them (event.actor.name, event.ip, ...); empty
	// ones are left out.
	Values map[string]string `json:"values,omitempty"`
}

// field is a value of an event a suggestion may exclude: the expression
// that reads it in a rule, and how to read it here.
type field struct {
	expr string
	of   func(*event.Event) string
}

func space(ev *event.Event) *event.Object {
	for i := range ev.Objects {
		if ev.Objects[i].Type == "Space" {
			return &ev.Objects[i]
		}
	}
	return nil
}

// fields, in the order a suggestion prefers them when two exclude as many
// false positives: a name reads better than an id.
func fields() []field {
	return []field{
		{"event.actor.name", func(ev *event.Event) string { return ev.Actor.Name }},
		{"event.actor.id", func(ev *event.Event) string { return ev.Actor.ID }},
		{"event.ip", func(ev *event.Event) string { return ev.IP }},
		{`object("Space")?.name`, func(ev *event.Event) string {
			if s := space(ev); s != nil {
				return s.Name
			}
			return ""
		}},
		{`object("Space")?.id`, func(ev *event.Event) string {
			if s := space(ev); s != nil {
				return s.ID
			}
			return ""
		}},
	}
}

// New is the verdict of c, a resolve of alert a with a verdict.
func New(a *alerter.Alert, c lifecycle.Change) Entry {
	e := Entry{Rule: a.Rule, Group: a.DedupKey, Alert: a.ID, Verdict: c.Verdict, By: bound(c.By), ResolvedAt: c.At}
	if a.Event == nil {
		return e
	}
	for _, f := range fields() {
		// A value too long or not UTF-8 (no event decoded from JSON has
		// one) is not one to suggest on: expr literals cannot write it.
		if v := f.of(a.Event); v != "" && len(v) <= maxValue && utf8.ValidString(v) {
			if e.Values == nil {
				e.Values = map[string]string{}
			}
			e.Values[f.expr] = v
		}
	}
	return e
}

// bound cuts s to maxValue bytes, at a rune boundary.
func bound(s string) string {
	if len(s) <= maxValue {
		return s
	}
	return strings.ToValidUTF8(s[:maxValue], "")
}

// Tally counts a rule's verdicts.
type Tally struct {
	TruePositive, FalsePositive, Benign int
}

// Precision is TruePositive / (TruePositive + FalsePositive); ok is false
// when there is neither. Benign verdicts (a right detection of something
// harmless) count for neither.
func (t Tally) Precision() (p float64, ok bool) {
	n := t.TruePositive + t.FalsePositive
	if n == 0 {
		return 0, false
	}
	return float64(t.TruePositive) / float64(n), true
}

// Summary is what the verdicts of one rule say.
type Summary struct {
	Tally
	// Suggestion, if not nil, is an exclusion that removes most of the
	// rule's false positives and none of its true ones.
	Suggestion *Suggestion
}

// Suggestion is a condition to add to a rule's when: to exclude a value
// its false positives share.
type Suggestion struct {
	Field                 string   // the expression read: event.actor.name
	Values                []string // the values excluded
	Condition             string   // !(FIELD in ["VALUE"])
	FalsePositivesRemoved int
	TruePositivesKept     int
}

// Summarize tallies the entries resolved since since, by rule, and
// suggests an exclusion for each rule where one fits.
func Summarize(entries []Entry, since time.Time) map[string]*Summary {
	byRule := map[string][]Entry{}
	for _, e := range entries {
		if !e.ResolvedAt.Before(since) {
			byRule[e.Rule] = append(byRule[e.Rule], e)
		}
	}
	out := make(map[string]*Summary, len(byRule))
	for rule, es := range byRule {
		s := &Summary{}
		for _, e := range es {
			switch e.Verdict {
			case lifecycle.TruePositive:
				s.TruePositive++
			case lifecycle.FalsePositive:
				s.FalsePositive++
			case lifecycle.Benign:
				s.Benign++
			}
		}
		s.Suggestion = Suggest(es)
		out[rule] = s
	}
	return out
}

// Suggest returns the exclusion fitting one rule's entries, or nil: with
// at least MinFalsePositives false positives, the value of one field
// shared by at least half of them and by no true positive, the one shared
// by the most (ties: the first of fields).
func Suggest(entries []Entry) *Suggestion {
	var fps, tps int
	for _, e := range entries {
		switch e.Verdict {
		case lifecycle.FalsePositive:
			fps++
		case lifecycle.TruePositive:
			tps++
		}
	}
	if fps < MinFalsePositives {
		return nil
	}
	var best *Suggestion
	for _, f := range fields() {
		count, inTP := map[string]int{}, map[string]bool{}
		for _, e := range entries {
			v, ok := e.Values[f.expr]
			switch {
			case !ok:
			case e.Verdict == lifecycle.FalsePositive:
				count[v]++
			case e.Verdict == lifecycle.TruePositive:
				inTP[v] = true
			}
		}
		for v, n := range count {
			if 2*n < fps || inTP[v] {
				continue
			}
			if best == nil || n > best.FalsePositivesRemoved ||
				n == best.FalsePositivesRemoved && best.Field == f.expr && cmp.Less(v, best.Values[0]) {
				best = &Suggestion{Field: f.expr, Values: []string{v}, FalsePositivesRemoved: n, TruePositivesKept: tps}
			}
		}
	}
	if best != nil {
		best.Condition = Exclude(best.Field, best.Values)
	}
	return best
}

// Exclude is the condition that is false for an event whose expr is one
// of values: !(expr in ["v1", "v2"]). The values are quoted as expr
// string literals, so that any text, quotes and backslashes included,
// stands for itself.
func Exclude(expr string, values []string) string {
	var b strings.Builder
	b.WriteString("!(" + expr + " in [")
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(v))
	}
	b.WriteString("])")
	return b.String()
}
