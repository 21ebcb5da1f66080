// Package ruletest runs the tests written in rule files: each test's events
// go through the real normalizers and the real engine, with the rule alone
// in a fresh state, and the alerts are checked against the expectation.
package ruletest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// Result is the outcome of one test.
type Result struct {
	Rule string
	Test string
	Pos  rules.Pos
	// Err says why the test failed; nil when it passed.
	Err error
}

// Run runs the tests of every rule in set, disabled rules included (a rule
// is tested before it is switched on).
func Run(ctx context.Context, set *rules.Set, route alerter.Router) []Result {
	var out []Result
	for _, r := range set.Rules {
		for _, t := range r.Tests {
			err := runOne(ctx, set, r, t, route)
			out = append(out, Result{Rule: r.ID, Test: t.Name, Pos: t.Pos, Err: err})
		}
	}
	return out
}

// outcome is what a test's events produced.
type outcome struct {
	alerts      []*alerter.Alert
	escalations []*alerter.Alert
	resolves    []engine.Resolve
	digests     []*alerter.Alert
	suppressed  int
	events      int
	matched     int
	errs        []string
	// pos maps an event's id to its 1-based position in the test's events.
	pos map[string]int
}

func runOne(ctx context.Context, set *rules.Set, r *rules.Rule, t rules.Test, route alerter.Router) error {
	one := *r
	one.Enabled = true
	lists := maps.Clone(set.Lists)
	maps.Copy(lists, t.Lists)
	single := &rules.Set{Rules: []*rules.Rule{&one}, Lists: lists, Version: set.Version}
	// fired_at is the firing event's time in tests, so that nothing in an
	// expectation depends on when the test runs.
	var clock time.Time
	eng := engine.New(single, &engine.MemStore{}, engine.WithClock(func() time.Time { return clock }), engine.WithEventClock())

	o := outcome{pos: map[string]int{}}
	for i, data := range t.Events {
		evs, err := event.Parse(data, event.Options{Format: event.FormatAuto, Source: "test"})
		if err != nil {
			return fmt.Errorf("event %d (%s): %w", i+1, t.EventPos[i], err)
		}
		for j := range evs {
			ev := &evs[j]
			clock = ev.Time
			o.pos[ev.ID] = i + 1
			res, err := eng.Process(ctx, ev)
			if err != nil {
				return fmt.Errorf("event %d: %w", i+1, err)
			}
			o.events++
			o.add(res, fmt.Sprintf("event %d", i+1))
		}
	}
	if !t.Until.IsZero() {
		// Time moves on: the deadlines due by then fire.
		clock = t.Until
		res, err := eng.Until(ctx, t.Until)
		if err != nil {
			return fmt.Errorf("until %s: %w", t.Until.Format(time.RFC3339), err)
		}
		o.add(res, "until")
	}
	if err := check(t.Expect, o, r, route); err != nil {
		return err
	}
	// A rule that fails at run time is broken even where the expectation
	// happens to hold (a crashing rule "passes" expect: none).
	if len(o.errs) > 0 {
		return fmt.Errorf("the rule failed to evaluate: %s", strings.Join(o.errs, "; "))
	}
	return nil
}

func check(x rules.Expect, o outcome, r *rules.Rule, route alerter.Router) error {
	var fails []string
	fail := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }
	if x.Alerts != nil {
		switch want := *x.Alerts; {
		case want == rules.AtLeastOne && len(o.alerts) == 0:
			fail("expected an alert, got none (%s)", o.why())
		case want >= 0 && len(o.alerts) != want:
			fail("expected %d alert(s), got %d (%s)", want, len(o.alerts), o.why())
		}
	}
	if x.Suppressed != nil && o.suppressed != *x.Suppressed {
		fail("expected %d suppressed, got %d", *x.Suppressed, o.suppressed)
	}
	if x.Escalations != nil && len(o.escalations) != *x.Escalations {
		fail("expected %d escalation(s), got %d (%s)", *x.Escalations, len(o.escalations), o.why())
	}
	if x.Resolves != nil && len(o.resolves) != *x.Resolves {
		fail("expected %d resolve(s), got %d (an event resolves its group when it meets resolve.when; resolve.after, once a group that alerted had no match that long, by the test's events or until:)", *x.Resolves, len(o.resolves))
	}
	if x.Digests != nil && len(o.digests) != *x.Digests {
		fail("expected %d digest(s), got %d (a digest is sent once its period, from the first suppressed match, has passed: by the test's events or until:)", *x.Digests, len(o.digests))
	}
	needAlert := x.Severity != nil || x.Group != nil || x.Title != nil || x.Text != nil || x.Notify != nil || x.Distinct != nil || x.EventIDs != nil
	if needAlert && len(o.alerts) == 0 {
		fail("expected an alert to check severity, group, title, text, notify or distinct on, got none (%s)", o.why())
	}
	if x.EventIDs != nil && len(o.alerts) > 0 {
		var got []int
		for _, id := range o.alerts[0].EventIDs {
			got = append(got, o.pos[id])
		}
		if !slices.Equal(x.EventIDs, got) {
			fail("event_ids: expected the events at %v, got %v", x.EventIDs, got)
		}
	}
	if needAlert && len(o.alerts) > 0 {
		a := o.alerts[0] // the first alert is the one checked
		if x.Distinct != nil && a.Distinct != *x.Distinct {
			fail("distinct: expected %d, got %d", *x.Distinct, a.Distinct)
		}
		if x.Severity != nil && a.Severity != *x.Severity {
			fail("severity: expected %s, got %s", *x.Severity, a.Severity)
		}
		if x.Group != nil && !maps.Equal(x.Group, a.Group) {
			fail("group: expected %v, got %v", x.Group, a.Group)
		}
		if x.Title != nil && strings.TrimSpace(*x.Title) != a.Title {
			fail("title: expected %q, got %q", strings.TrimSpace(*x.Title), a.Title)
		}
		if x.Text != nil && strings.TrimSpace(*x.Text) != a.Text {
			fail("text: expected %q, got %q", strings.TrimSpace(*x.Text), a.Text)
		}
		if x.Notify != nil {
			got := r.Notify
			if route != nil {
				got = route.Route(a)
			}
			if !slices.Equal(x.Notify, got) {
				fail("notify: expected %v, got %v", x.Notify, got)
			}
		}
	}
	if len(fails) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(fails, "; "))
}

// add counts what one event (or the end of a test's time) gave.
func (o *outcome) add(res engine.Result, at string) {
	o.matched += len(res.Matches)
	o.suppressed += len(res.Suppressed)
	o.alerts = append(o.alerts, res.Alerts...)
	o.escalations = append(o.escalations, res.Escalations...)
	o.resolves = append(o.resolves, res.Resolves...)
	o.digests = append(o.digests, res.Digests...)
	for _, e := range res.Errors {
		msg, _, _ := strings.Cut(e.Err.Error(), "\n") // drop expr's source snippet
		o.errs = append(o.errs, fmt.Sprintf("%s: %s", at, msg))
	}
}

// why explains an unexpected count, which is the first question a rule
// writer has.
func (o outcome) why() string {
	s := fmt.Sprintf("%d of %d event(s) matched, %d suppressed", o.matched, o.events, o.suppressed)
	if len(o.errs) > 0 {
		s += "; errors: " + strings.Join(o.errs, "; ")
	}
	return s
}
