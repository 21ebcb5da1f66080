package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
)

// digested is what a digest period counted, as decideDigest hands it on.
type digested struct {
	count       int64
	first, last int64
	of          []Entry
}

// decideDigest applies a digest deadline at due, whose time has come, to
// the group's state (docs/rules.md, Digests): it returns what the period
// counted, and whether a digest is to be sent, because the deadline is
// the period's or is the one sent last, handed over again. The period's
// counts move to Sent, where they stay until the next period's digest
// fires, so a deadline handed over again sends the same digest whether or
// not a suppressed match opened the next period meanwhile.
func decideDigest(s *GroupState, due int64) (digested, bool) {
	if s.DigestAt.Sched == due {
		s.DigestAt.Sched = 0
	}
	switch {
	case s.DigestAt.Due == due:
		s.DigestAt.Due, s.DigestAt.Fired = 0, due
		s.Sent = DigestCounts{Count: s.DigestCount, First: s.DigestFirst, Last: s.DigestLast, Of: s.DigestOf}
		s.DigestCount, s.DigestFirst, s.DigestLast, s.DigestOf = 0, 0, 0, nil
	case s.DigestAt.Fired == due:
	default:
		return digested{}, false
	}
	d := digested{count: s.Sent.Count, first: s.Sent.First, last: s.Sent.Last, of: s.Sent.Of}
	return d, d.count > 0
}

// digestAlert makes the digest of rule i's group for the period that
// ended at dl.Due: an alert of the group, on its last example event, with
// Digest set, a title and text saying what it sums up, and an id made of
// the group and the deadline, the same whenever it is handed over.
func (e *Engine) digestAlert(ctx context.Context, s *snapshot, i int32, dl Deadline, dg digested, lookup Lookup) (*alerter.Alert, error) {
	sum := &alerter.Digest{Count: dg.count, First: time.Unix(0, dg.first).UTC(), Last: time.Unix(0, dg.last).UTC()}
	var ev *event.Event
	ids := make([]string, 0, len(dg.of))
	for _, en := range dg.of {
		found, err := lookup(ctx, en)
		if err != nil {
			return nil, fmt.Errorf("rule %s: find event %s: %w", dl.Rule, en.ID, err)
		}
		x := alerter.DigestExample{ID: en.ID, Time: time.Unix(0, en.Time).UTC(), Summary: summary(found)}
		if found != nil {
			ev = found
		}
		sum.Examples = append(sum.Examples, x)
		ids = append(ids, en.ID)
	}
	if ev == nil {
		ev = &event.Event{ID: ids[len(ids)-1], Time: sum.Examples[len(ids)-1].Time}
	}
	a, _, _ := e.alert(ctx, s, i, dl.Group, ev, "", dl.Due, decision{digest: true, count: int(dg.count), ids: ids}, nil)
	a.ID = alertID(a.DedupKey, "digest\x00"+strconv.FormatInt(dl.Due.UnixNano(), 10), dl.Due)
	a.Digest = sum
	a.Title = fmt.Sprintf("Digest: %d more of %s between %s and %s", sum.Count, alerterTitle(a), sum.First.Format(time.RFC3339), sum.Last.Format(time.RFC3339))
	a.Text = DigestText(sum)
	return a, nil
}

// alerterTitle is the alert's title, or its rule's name or id.
func alerterTitle(a *alerter.Alert) string {
	switch {
	case a.Title != "":
		return a.Title
	case a.Name != "":
		return a.Name
	}
	return a.Rule
}

// summaryMax bounds an example's summary.
const summaryMax = 200

// summary says on one line what the event is and who did it; "" for an
// event no longer stored.
func summary(ev *event.Event) string {
	if ev == nil {
		return ""
	}
	what := ev.Summary
	if what == "" {
		what = ev.Action
	}
	who := ev.Actor.DisplayName
	if who == "" {
		who = ev.Actor.Name
	}
	if who != "" {
		what += " by " + who
	}
	what = strings.Join(strings.Fields(what), " ")
	if len(what) > summaryMax {
		what = strings.ToValidUTF8(what[:summaryMax], "") + "…"
	}
	return what
}

// DigestText is a digest's text (docs/rules.md, Digests): how many matches
// were suppressed and when, then one line per example, with the link to
// its page where it has one. Every target shows it as an alert's text.
func DigestText(d *alerter.Digest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d matches of this alert's group were suppressed by its dedup window between %s and %s.",
		d.Count, d.First.Format(time.RFC3339), d.Last.Format(time.RFC3339))
	if len(d.Examples) > 0 {
		b.WriteString(" The first of them:")
	}
	for _, x := range d.Examples {
		what := x.Summary
		if what == "" {
			what = "event " + x.ID + " (no longer stored)"
		}
		fmt.Fprintf(&b, "\n- %s %s", x.Time.Format(time.RFC3339), what)
		if x.URL != "" {
			b.WriteString(": " + x.URL)
		}
	}
	return b.String()
}
