package engine

import (
	"slices"
	"time"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// Outcome is what a group's state says became of one matching event.
type Outcome string

// Outcomes of Explain.
const (
	// Fired: the event is one of those behind the group's last alert (the
	// firing one last: evaluated again, it fires that alert again).
	Fired Outcome = "fired"
	// Counted: the event waits in the group's threshold window, which does
	// not hold enough events yet.
	Counted Outcome = "counted"
	// Suppressed: the event falls within the dedup window of the group's
	// last alert, either side of it.
	Suppressed Outcome = "suppressed"
	// Forgotten: the state holds nothing of the event: the threshold
	// window it was in moved on, the state expired, or the event was not
	// evaluated yet.
	Forgotten Outcome = "forgotten"
	// Remembered: a new_value rule's group remembers the event's tuple
	// and it did not alert: the group had seen it, the rule was learning,
	// or the alert was suppressed.
	Remembered Outcome = "remembered"
	// Chained: the event is in one of a sequence rule's partial chains,
	// which wait for their later steps.
	Chained Outcome = "chained"
)

// Verdict is what the threshold and dedup windows made of one matching
// event, as far as its group's state tells.
type Verdict struct {
	Outcome Outcome
	// LastAlert is the event time of the group's last alert; zero if the
	// state knows of none.
	LastAlert time.Time
	// InWindow is, for Counted, how many events the threshold window holds.
	InWindow int
	// LastSeen is, for a new_value rule, the last-seen time of the event's
	// tuple in its group; zero if the group does not remember it.
	LastSeen time.Time
}

// Explain tells what the windows of m's rule made of ev, whose match m
// is, given its group's state as stored now (nil: none). It asks decide, the function
// evaluation runs, on a copy of the state with ev forgotten, so it writes
// nothing and cannot disagree with evaluation about the windows.
func Explain(m Match, ev *event.Event, st *GroupState) Verdict {
	var cp GroupState
	if st != nil {
		cp = st.clone()
	}
	var v Verdict
	if cp.Alerted || len(cp.Fired) > 0 {
		v.LastAlert = time.Unix(0, cp.LastAlert).UTC()
	}
	last, remembered := cp.LastSeen(m.Tuple)
	if m.Rule.NewValue != nil {
		v.LastSeen = last
	}
	switch {
	case slices.Contains(cp.Fired, ev.ID):
		v.Outcome = Fired
		return v
	case m.Rule.NewValue != nil:
		// The tuple's last-seen time moved on to this event, so deciding
		// again cannot tell whether it was new: only an alert tells.
		v.Outcome = Forgotten
		if remembered {
			v.Outcome = Remembered
		}
		return v
	case m.Rule.Sequence != nil:
		// Completed and suppressed chains are cleared, so only a partial
		// chain tells anything of the event.
		v.Outcome = Forgotten
		for _, c := range cp.Chains {
			if slices.ContainsFunc(c, func(e Entry) bool { return e.ID == ev.ID }) {
				v.Outcome = Chained
			}
		}
		return v
	case slices.ContainsFunc(cp.Window, func(e Entry) bool { return e.ID == ev.ID }):
		v.Outcome, v.InWindow = Counted, len(cp.Window)
		return v
	}
	// Only a fingerprint in Seen is left of a suppressed event, or of one
	// whose window moved on: decide tells which, the event taken anew.
	fp := fingerprint(ev.ID)
	cp.Seen = slices.DeleteFunc(cp.Seen, func(s uint64) bool { return s == fp })
	if d := decide(&cp, policyOf(m.Rule), ev.Time.UnixNano(), ev.ID, m.Tuple); d.suppressed {
		v.Outcome = Suppressed
		return v
	}
	v.Outcome = Forgotten
	return v
}

// DistinctValues are the distinct tuples of a distinct threshold's window,
// in the order they joined it, each as TupleValues shows it.
func (s *GroupState) DistinctValues() [][]string {
	var keys []string
	for _, e := range s.Window {
		if !slices.Contains(keys, e.Tuple) {
			keys = append(keys, e.Tuple)
		}
	}
	out := make([][]string, len(keys))
	for i, k := range keys {
		out[i] = TupleValues(k)
	}
	return out
}

// LastSeen is the time a new_value rule's group last saw the tuple (a
// tupleKey), and whether it remembers the tuple.
func (s *GroupState) LastSeen(tuple string) (time.Time, bool) {
	i := slices.IndexFunc(s.Values, func(v Value) bool { return v.Tuple == tuple })
	if i < 0 {
		return time.Time{}, false
	}
	return time.Unix(0, s.Values[i].Last).UTC(), true
}

// ChainStep is one step of a sequence's partial chain: the event that met
// it and that event's time.
type ChainStep struct {
	Step    string    `json:"step"`
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
}

// PartialChain is the partial chain of sequence sq's group closest to
// completing (the one of most steps), its k-th event named for step k, or
// nil.
func (s *GroupState) PartialChain(sq *rules.Sequence) []ChainStep {
	for k := len(s.Chains) - 1; k >= 0; k-- {
		if len(s.Chains[k]) == 0 {
			continue
		}
		var out []ChainStep
		for i, e := range s.Chains[k] {
			if i < len(sq.Steps) {
				out = append(out, ChainStep{Step: sq.Steps[i].Name, EventID: e.ID, Time: time.Unix(0, e.Time).UTC()})
			}
		}
		return out
	}
	return nil
}

// clone is a copy of s that shares nothing with it.
func (s *GroupState) clone() GroupState {
	cp := *s
	cp.Window = slices.Clone(s.Window)
	cp.Fired = slices.Clone(s.Fired)
	cp.Seen = slices.Clone(s.Seen)
	cp.Values = slices.Clone(s.Values)
	cp.DigestOf = slices.Clone(s.DigestOf)
	cp.Sent.Of = slices.Clone(s.Sent.Of)
	cp.Chains = make([][]Entry, len(s.Chains))
	for k, c := range s.Chains {
		cp.Chains[k] = slices.Clone(c)
	}
	if s.Chains == nil {
		cp.Chains = nil
	}
	return cp
}

// Timers are a group's lifecycle timers that are set (docs/rules.md,
// Resolving, Escalations and Digests), as its state holds them: a zero
// time for one that is not.
type Timers struct {
	// Resolve is when resolve.after resolves the group unless a match
	// moves it on.
	Resolve time.Time
	// Escalate is when the next escalate: after step fires, unless the
	// group is acknowledged or resolved first; EscalateStep is that
	// step's 1-based index in the rule's escalate: list.
	Escalate     time.Time
	EscalateStep int
	// Digest is when the open digest period ends; DigestCount counts the
	// suppressed matches in it so far, the first at DigestFirst and the
	// last at DigestLast.
	Digest                  time.Time
	DigestCount             int64
	DigestFirst, DigestLast time.Time
}

// Timers are the lifecycle timers of the group of rule r that s is the
// state of.
func (s *GroupState) Timers(r *rules.Rule) Timers {
	var t Timers
	if s.ResolveAt.Due != 0 {
		t.Resolve = time.Unix(0, s.ResolveAt.Due).UTC()
	}
	if s.EscalateAt.Due != 0 {
		t.Escalate = time.Unix(0, s.EscalateAt.Due).UTC()
		for k, after := range policyOf(r).escalateAfter {
			if after > 0 && s.Escalated&(1<<k) == 0 {
				t.EscalateStep = k + 1
				break
			}
		}
	}
	if s.DigestAt.Due != 0 {
		t.Digest = time.Unix(0, s.DigestAt.Due).UTC()
		t.DigestCount = s.DigestCount
		t.DigestFirst, t.DigestLast = time.Unix(0, s.DigestFirst).UTC(), time.Unix(0, s.DigestLast).UTC()
	}
	return t
}
