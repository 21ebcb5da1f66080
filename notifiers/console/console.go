// Package console is the notifier that prints one readable line per alert,
// for the embedded demo and for debugging.
package console

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/notifiers"
)

// Notifier writes alerts to w, one line each.
type Notifier struct {
	mu sync.Mutex
	w  io.Writer
}

// New returns a console notifier writing to w.
func New(w io.Writer) *Notifier { return &Notifier{w: w} }

// Notify writes the alert's line.
func (n *Notifier) Notify(ctx context.Context, a *alerter.Alert) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	line := Line(a)
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := io.WriteString(n.w, line+"\n"); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// Line is an alert as one line: time, severity, rule, title, then the
// facts an on-call engineer looks at first.
//
//	2024-05-14T10:08:00Z CRITICAL soteri-global-setting-changed "Jane Doe changed ..." actor=jdoe ip=10.1.2.3 count=1 suppressed=0 id=01J...
//
// A resolve notification is a line marked RESOLVED, at the time of the
// resolve, with who resolved it, the verdict and the alert it resolves:
//
//	2024-05-14T10:30:00Z RESOLVED soteri-global-setting-changed "Jane Doe changed ..." by=ann verdict=benign alert=01J... id=01J...-resolved
//
// An acknowledgement notification is a line marked ACKNOWLEDGED, at the
// time of the acknowledgement, with who acknowledged it and the alert:
//
//	2024-05-14T10:12:00Z ACKNOWLEDGED soteri-global-setting-changed "Jane Doe changed ..." by=ann alert=01J... id=01J...-acked
func Line(a *alerter.Alert) string {
	switch {
	case a.Resolves != "":
		return noticeLine(a, "RESOLVED", a.ResolvedAt, a.ResolvedBy, a.Verdict, a.Resolves)
	case a.Acknowledges != "":
		return noticeLine(a, "ACKNOWLEDGED", a.AcknowledgedAt, a.AcknowledgedBy, "", a.Acknowledges)
	}
	var b strings.Builder
	b.WriteString(a.Time.UTC().Format(time.RFC3339))
	b.WriteByte(' ')
	b.WriteString(notifiers.TerminalSafe(strings.ToUpper(string(a.Severity))))
	b.WriteByte(' ')
	b.WriteString(notifiers.TerminalSafe(a.Rule))
	b.WriteByte(' ')
	b.WriteString(strconv.Quote(notifiers.Truncate(notifiers.Title(a), maxTitle)))
	if e := a.Event; e != nil {
		field(&b, "actor", e.Actor.Name)
		if e.Actor.Name == "" {
			field(&b, "actor", e.Actor.DisplayName)
		}
		field(&b, "ip", e.IP)
	}
	keys := make([]string, 0, len(a.Group))
	for k := range a.Group {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		field(&b, strings.TrimPrefix(k, "event."), a.Group[k])
	}
	field(&b, "count", strconv.Itoa(a.Count))
	field(&b, "suppressed", strconv.FormatInt(a.Suppressed, 10))
	field(&b, "id", a.ID)
	return b.String()
}

// noticeLine is the line of a notice marked what, made at (else at the
// alert's time) by who, with the verdict if any, about alert of.
func noticeLine(a *alerter.Alert, what string, at *time.Time, by, verdict, of string) string {
	var b strings.Builder
	t := a.Time
	if at != nil {
		t = *at
	}
	b.WriteString(t.UTC().Format(time.RFC3339))
	b.WriteString(" " + what + " ")
	b.WriteString(notifiers.TerminalSafe(a.Rule))
	b.WriteByte(' ')
	b.WriteString(strconv.Quote(notifiers.Truncate(notifiers.Title(a), maxTitle)))
	field(&b, "by", by)
	field(&b, "verdict", verdict)
	field(&b, "alert", of)
	field(&b, "id", a.ID)
	return b.String()
}

// maxTitle and maxField bound what a line shows of a title and of each
// field, in characters: event fields are anyone's text (a 300 KB actor
// name), and a console line is read by people.
const (
	maxTitle = 500
	maxField = 200
)

func field(b *strings.Builder, k, v string) {
	if v == "" {
		return
	}
	v = notifiers.Truncate(v, maxField)
	b.WriteByte(' ')
	b.WriteString(k)
	b.WriteByte('=')
	if strings.ContainsAny(v, " \"=") {
		v = strconv.Quote(v)
	}
	b.WriteString(notifiers.TerminalSafe(v))
}
