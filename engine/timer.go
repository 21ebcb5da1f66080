package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// The kinds of a Deadline. A group has at most one deadline of each kind
// at a time: the rule's own (an absence's or a quiet group's), and those
// of its alert's lifecycle (docs/rules.md, Resolving, Escalations and
// Digests).
const (
	// KindRule is an absence's or a quiet group's deadline: it fires the
	// rule's alert.
	KindRule = ""
	// KindResolve is resolve.after's: the group had no match this long
	// after it alerted, and resolves.
	KindResolve = "resolve"
	// KindEscalate is an escalate: after step's, in wall-clock time live:
	// the group's alert is sent again, louder.
	KindEscalate = "escalate"
	// KindDigest ends a digest period: the group's suppressed matches
	// since it opened are summed up in one alert.
	KindDigest = "digest"
)

// Timer is one of a group's lifecycle deadlines (docs/rules.md, Resolving,
// Escalations and Digests), in Unix nanoseconds: Due is when it is to fire, 0 for
// none; Sched the deadline handed out to be kept durably, which may be
// earlier than Due (moved on since: when it fires, Due is handed out);
// Fired the due time of the last one that fired, so that a deadline handed
// over again acts again, identically.
type Timer struct {
	Due   int64 `json:"u,omitempty"`
	Sched int64 `json:"k,omitempty"`
	Fired int64 `json:"f,omitempty"`
}

// handOut brings Sched in line with Due, as GroupState.handOut does: it
// returns the deadline to hand out, if any, and whether the one handed
// out before is to be cancelled.
func (t *Timer) handOut() (due int64, cancel bool) {
	switch {
	case t.Due == 0 && t.Sched != 0:
		t.Sched = 0
		return 0, true
	case t.Due != 0 && (t.Sched == 0 || t.Sched > t.Due):
		t.Sched = t.Due
		return t.Due, false
	}
	return 0, false
}

// take applies the timer's deadline at due, whose time has come: it
// reports whether the deadline acts, because it is the timer's (which it
// then ends) or the one that acted last (handed over again).
func (t *Timer) take(due int64) bool {
	if t.Sched == due {
		t.Sched = 0
	}
	switch {
	case t.Fired == due:
		return true
	case t.Due == due:
		t.Due, t.Fired = 0, due
		return true
	}
	return false
}

// stop ends the timer: its deadline, kept or not, acts no more.
func (t *Timer) stop() { t.Due = 0 }

// timerHand is a lifecycle deadline a decision handed out or cancelled.
type timerHand struct {
	kind   string
	due    int64
	cancel bool
}

// resolveSlack is how much later than exactly a resolve.after deadline
// may fire, as a quiet group's (policy.slack): the deadline moves only
// with a match at least this much after the one it was set by.
func (p policy) resolveSlack() int64 { return p.resolveAfter / quietSlackDiv }

// timers applies a match (e, the matching event) or a deadline (e with
// no ID, at its time) whose decision is d to the group's lifecycle timers
// (docs/rules.md, Resolving, Escalations and Digests), and returns the
// deadlines to hand out or cancel. now is when an alert d fires counts
// from for escalate: after steps: the wall clock live, e's time by the
// event clock. e.Ref is where the event is kept (Plan.Ref), which a
// timer's deadline finds it by.
//   - A new alert arms resolve.after at its time plus after (plus its
//     slack), and the first escalate: after step at now plus its after;
//     every match of the group moves the resolve.after deadline on, at
//     most once per slack.
//   - A suppressed match counts in the group's digest period, and opens
//     one if none is open: its deadline is the match's time plus the
//     period.
//   - The event that fired an alert, redelivered, hands the timers' kept
//     deadlines out again: the process may have died before they were kept.
func (s *GroupState) timers(p policy, d decision, e Entry, now int64) []timerHand {
	if !p.timed() {
		return nil
	}
	var out []timerHand
	if d.fire && d.again {
		for _, k := range timerKinds() {
			if t := s.timer(k); t.Sched != 0 {
				out = append(out, timerHand{kind: k, due: t.Sched})
			}
		}
		return out
	}
	if s.DigestAt.Sched != 0 && slices.ContainsFunc(s.DigestOf, func(x Entry) bool { return x.ID == e.ID }) {
		// A suppressed match of the period redelivered: the deadline it
		// handed out may not have been kept.
		out = append(out, timerHand{kind: KindDigest, due: s.DigestAt.Sched})
	}
	match := e.ID != ""
	if d.fire && d.escalation == 0 {
		if e.Ref != 0 {
			s.FiredRef = e.Ref
		}
		// The deadlines that acted for the previous alert act no more,
		// should they be handed over again: they would act on this one.
		s.ResolveAt.Fired, s.EscalateAt.Fired = 0, 0
		s.EscalateFrom = now
		s.EscalateAt.Due = s.nextEscalation(p)
		s.Expires = max(s.Expires, s.EscalateAt.Due)
	}
	if p.resolveAfter > 0 {
		s.moveResolve(p, d, e.Time, match)
	}
	if p.digest > 0 && match && d.suppressed && !d.again {
		s.digest(p, e)
	}
	for _, k := range timerKinds() {
		if due, cancel := s.timer(k).handOut(); due != 0 || cancel {
			out = append(out, timerHand{kind: k, due: due, cancel: cancel})
		}
	}
	return out
}

// timed reports whether the rule has lifecycle timers: resolve.after,
// escalate: after steps or a digest.
func (p *policy) timed() bool {
	return p.resolveAfter != 0 || len(p.escalateAfter) > 0 || p.digest != 0
}

// timerKinds are the kinds of the lifecycle timers.
func timerKinds() [3]string { return [...]string{KindResolve, KindEscalate, KindDigest} }

// timer is the group's lifecycle timer of kind.
func (s *GroupState) timer(kind string) *Timer {
	switch kind {
	case KindResolve:
		return &s.ResolveAt
	case KindEscalate:
		return &s.EscalateAt
	}
	return &s.DigestAt
}

// moveResolve arms the group's resolve.after deadline on a new alert at
// t, or moves it on for a match at t.
func (s *GroupState) moveResolve(p policy, d decision, t int64, match bool) {
	span := p.resolveAfter + p.resolveSlack()
	switch {
	case d.fire && d.escalation == 0:
		s.ResolveAt.Due = max(s.ResolveAt.Due, t+span)
	case match && s.ResolveAt.Due != 0 && t >= s.ResolveAt.Due-span+p.resolveSlack():
		s.ResolveAt.Due = max(s.ResolveAt.Due, t+span)
	}
	s.Expires = max(s.Expires, s.ResolveAt.Due)
}

// digestExamples bounds the suppressed events a digest shows.
const digestExamples = 10

// digest counts the suppressed match e in the group's digest period,
// opening one if none is open.
func (s *GroupState) digest(p policy, e Entry) {
	if s.DigestAt.Due == 0 {
		s.DigestAt.Due = e.Time + p.digest
		s.DigestCount, s.DigestFirst, s.DigestLast, s.DigestOf = 0, e.Time, e.Time, nil
	}
	s.DigestCount++
	s.DigestFirst, s.DigestLast = min(s.DigestFirst, e.Time), max(s.DigestLast, e.Time)
	if len(s.DigestOf) < digestExamples {
		s.DigestOf = insert(s.DigestOf, e)
	}
	s.Expires = max(s.Expires, s.DigestAt.Due)
}

// nextEscalation is the due time of the group's first escalate: after step
// not taken since its last alert, or 0.
func (s *GroupState) nextEscalation(p policy) int64 {
	for k, after := range p.escalateAfter {
		if after > 0 && s.Escalated&(1<<k) == 0 {
			return s.EscalateFrom + after
		}
	}
	return 0
}

// stopTimers ends the lifecycle timers (resolve.after, escalate: after)
// of a group resolved at t, unless its last alert is not older (an event
// fired it, or it fired after) or none is running. It reports whether it
// stopped any.
func (s *GroupState) stopTimers(t int64) bool {
	if t <= s.LastAlert || (s.ResolveAt.Due == 0 && s.EscalateAt.Due == 0) {
		return false
	}
	s.ResolveAt.stop()
	s.EscalateAt.stop()
	return true
}

// decideResolve applies a resolve.after deadline at due, whose time has
// come, to the group's state (docs/rules.md, Resolving): it reports
// whether the group resolves, because the deadline is still its own (no
// match since moved it on) or is the one that resolved it last, handed
// over again. A group resolved ends its dedup window and its escalations,
// as one resolved by resolve.when does.
func decideResolve(s *GroupState, p policy, due int64) bool {
	if !s.ResolveAt.take(due) {
		return false
	}
	s.stopTimers(due)
	endDedup(s, p, due)
	return true
}

// decideEscalate applies an escalate: after deadline at due, whose time
// has come, to the group's state (docs/rules.md, Escalations): it returns
// the escalation it takes, the first after step not taken yet, or the one
// it took already if handed over again, and arms the next step.
func decideEscalate(s *GroupState, p policy, due int64) decision {
	if s.EscalateAt.Fired == due {
		for k, after := range p.escalateAfter {
			if after > 0 && s.EscalateFrom+after == due && s.Escalated&(1<<k) != 0 && len(s.Fired) > 0 {
				return s.escalation(k + 1)
			}
		}
		return decision{}
	}
	if !s.EscalateAt.take(due) || len(s.Fired) == 0 {
		return decision{}
	}
	for k, after := range p.escalateAfter {
		if after > 0 && s.Escalated&(1<<k) == 0 {
			s.Escalated |= 1 << k
			s.EscalateAt.Due = s.nextEscalation(p)
			s.Expires = max(s.Expires, s.EscalateAt.Due)
			return s.escalation(k + 1)
		}
	}
	return decision{}
}

// fireTimer applies a lifecycle deadline (KindResolve, KindEscalate,
// KindDigest) to its group and returns what it makes: a Resolve, an
// escalation or a digest.
func (e *Engine) fireTimer(ctx context.Context, s *snapshot, i int32, dl Deadline, lookup Lookup) (Result, error) {
	var res Result
	r, p := s.rules[i], s.pol[i]
	due := dl.Due.UnixNano()
	var resolved, digest bool
	var d decision
	var dg digested
	var hands []timerHand
	var last Entry
	err := e.store.Update(ctx, dl.stateKey(), stateTTL(r, p), func(g *GroupState) error {
		resolved, digest, d, dg = false, false, decision{}, digested{}
		switch dl.Kind {
		case KindResolve:
			resolved = decideResolve(g, p, due)
		case KindEscalate:
			d = decideEscalate(g, p, due)
			if len(g.Fired) > 0 {
				last = Entry{ID: g.Fired[len(g.Fired)-1], Ref: g.FiredRef, Time: g.LastAlert}
			}
		case KindDigest:
			dg, digest = decideDigest(g, due)
		}
		hands = g.timers(p, decision{}, Entry{Time: due}, due)
		if t := g.timer(dl.Kind); t.Sched != 0 && !slices.ContainsFunc(hands, func(h timerHand) bool { return h.kind == dl.Kind }) {
			// Not the deadline kept now, or handed over again: the one
			// kept now may have been handed out by a first attempt that
			// died before keeping it.
			hands = append(hands, timerHand{kind: dl.Kind, due: t.Sched})
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("rule %s: update group state: %w", r.ID, err)
	}
	res.handTimers(r, dl.Group, hands)
	switch {
	case resolved:
		res.Resolves = append(res.Resolves, Resolve{Rule: r.ID, Group: GroupMap(r, dl.Group), DedupKey: DedupKey(r.ID, dl.Group),
			Time: dl.Due, After: r.ResolveAfter(), Open: true, Applied: e.now().UTC(), values: dl.Group})
	case digest:
		a, err := e.digestAlert(ctx, s, i, dl, dg, lookup)
		if err != nil {
			return res, err
		}
		res.Digests = append(res.Digests, a)
	case d.escalation > 0:
		a, err := e.timedEscalation(ctx, s, i, dl, d, last, lookup)
		if err != nil {
			return res, err
		}
		res.Escalations = append(res.Escalations, a)
	}
	return res, nil
}

// timedEscalation makes the escalation d that an escalate: after step's
// deadline dl takes, on the event of the alert it escalates (last).
func (e *Engine) timedEscalation(ctx context.Context, s *snapshot, i int32, dl Deadline, d decision, last Entry, lookup Lookup) (*alerter.Alert, error) {
	ev, err := lookup(ctx, last)
	if err != nil {
		return nil, fmt.Errorf("rule %s: find event %s: %w", dl.Rule, last.ID, err)
	}
	if ev == nil {
		ev = &event.Event{ID: last.ID, Time: time.Unix(0, last.Time).UTC()}
	}
	a := e.escalation(ctx, s, Match{Rule: s.rules[i], index: i, Group: dl.Group}, ev, d, nil)
	// Made at its deadline, not on an event: its time and id are the
	// deadline's, the same whenever it is handed over.
	a.Time = dl.Due
	a.ID = alertID(a.DedupKey, fmt.Sprintf("%s\x00escalation %d", a.Escalates, d.escalation), dl.Due)
	return a, nil
}

// handTimers adds the lifecycle deadlines handed out or cancelled for
// rule r's group to the result.
func (res *Result) handTimers(r *rules.Rule, group []string, hands []timerHand) {
	for _, h := range hands {
		d := Deadline{Rule: r.ID, Group: group, Kind: h.kind}
		if h.cancel {
			res.Cancelled = append(res.Cancelled, d)
			continue
		}
		d.Due = time.Unix(0, h.due).UTC()
		res.Deadlines = append(res.Deadlines, d)
	}
}
