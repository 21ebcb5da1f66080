package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/lifecycle"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/rules"
)

// The running parts as the HTTP API (package httpapi) and the playground
// see them: each is a view of the App, so that what they read is what is
// in force when they read it (a reload swaps the generation and the
// rules).

// live is the running evaluation: the engine's rules and counts, the
// lists and the enricher of the generation in force.
type live struct{ s *App }

func (l live) Rules() *rules.Set                           { return l.s.eng.Rules() }
func (l live) Stats(rule string) *engine.RuleStats         { return l.s.eng.Stats(rule) }
func (l live) Lists() map[string][]string                  { return l.s.lists() }
func (l live) Enrich(ctx context.Context, ev *event.Event) { l.s.enrich(ctx, ev) }

// reloads is the reloader of the App.
type reloads struct{ s *App }

func (r reloads) Reload(ctx context.Context, trigger string, who actions.Identity) bool {
	return r.s.reloadBy(ctx, trigger, who)
}
func (r reloads) Status() api.ReloadStatus { return r.s.ReloadStatus() }

// outcomes is the deliveries record, and how long it keeps an outcome (set
// at start).
type outcomes struct{ s *App }

func (o outcomes) Get(ctx context.Context, target, alertID string) (alerter.Outcome, bool, error) {
	return o.s.deliveries.Get(ctx, target, alertID)
}
func (o outcomes) Requeue(ctx context.Context, target, alertID string) (rev uint64, already, claimed bool, err error) {
	return o.s.deliveries.Requeue(ctx, target, alertID)
}
func (o outcomes) TTL() time.Duration { return o.s.deliveriesTTL }

// stored are the streams with the queries that read EVENTS by time.
type stored struct {
	*bus.Streams
	js jetstream.JetStream
}

// FindEvents are the events of ids stored between start and end (zero:
// until now), by id.
func (st stored) FindEvents(ctx context.Context, ids []string, start, end time.Time) (map[string]bus.StoredEvent, error) {
	return bus.FindEvents(ctx, st.js, ids, start, end)
}

// EventsSince calls fn with the events stored since start, oldest first,
// until fn returns false.
func (st stored) EventsSince(ctx context.Context, start time.Time, fn func(stored time.Time, ev *event.Event) bool) error {
	err := bus.ReadEvents(ctx, st.js, start, func(m jetstream.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		ev, err := event.Decode(m.Data())
		if err == nil && !fn(md.Timestamp, &ev) { // else not an event; the evaluator drops it too
			return bus.ErrStop
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the stored events: %w", err)
	}
	return nil
}

// NewestEvents reads the events stored since start, the newest max of
// them; truncated tells that older ones were left out.
func (st stored) NewestEvents(ctx context.Context, start time.Time, max int) (evs []event.Event, truncated bool, err error) {
	truncated, err = bus.ReadNewestEvents(ctx, st.js, start, max, func(m jetstream.Msg) error {
		if ev, err := event.Decode(m.Data()); err == nil { // else not an event; the evaluator drops it too
			evs = append(evs, ev)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("reading the stored events: %w", err)
	}
	return evs, truncated, nil
}

// readiness is ready when events can be stored and evaluated: NATS
// connected, the streams there, rules loaded, every source taking events.
type readiness struct{ s *App }

func (rd readiness) Ready(ctx context.Context) (map[string]string, bool) {
	s := rd.s
	checks := map[string]string{}
	ok := true
	if st := s.nc.Status(); st != nats.CONNECTED {
		checks["nats"] = "not connected: " + st.String()
		ok = false
	} else {
		checks["nats"] = "ok"
	}
	if _, err := s.streams.Events.Info(ctx); err != nil {
		checks["streams"] = "EVENTS stream unavailable: " + err.Error()
		ok = false
	} else if p := s.watch.problems(); len(p) > 0 {
		// Not a reason to stop taking events, but to be seen.
		checks["streams"] = "ok; " + strings.Join(p, "; ")
	} else {
		checks["streams"] = "ok"
	}
	if set := s.eng.Rules(); set == nil {
		checks["rules"] = "not loaded"
		ok = false
	} else {
		checks["rules"] = "ok: " + itoa(len(set.Rules)) + " rules"
	}
	if l := s.current().lists; l != nil {
		if l.Loaded() {
			checks["lists"] = "ok"
		} else {
			// Not a reason to stop taking events: rules run on the lists
			// they have, and the events wait for nothing.
			checks["lists"] = "some Confluence group lists not loaded yet"
		}
	}
	select {
	case <-s.ready:
		checks["sources"] = "ok"
	default:
		checks["sources"] = "starting"
		ok = false
	}
	return checks, ok
}

// eventURL is a stored event's page in the web UI of the config in
// force, for the links of digests (docs/rules.md, Digests).
func (s *App) eventURL(id string) string {
	return notifiers.EventURL(s.config().Server.ExternalURL, id)
}

// acked tells the evaluator whether the alert an escalation escalates was
// acknowledged or resolved (docs/rules.md, Escalations): where that alert
// stands in its group's lifecycle. An alert no longer stored stands as the
// escalation does, fired now.
func (s *App) acked(ctx context.Context, esc *alerter.Alert) (bool, error) {
	st, err := s.alertStates.Get(ctx, esc)
	if err != nil || st == nil {
		return false, err
	}
	a, _, err := s.streams.FindAlert(ctx, esc.Escalates)
	switch {
	case errors.Is(err, bus.ErrNotFound), errors.Is(err, bus.ErrUnreadable):
		a = esc
	case err != nil:
		return false, err
	}
	return lifecycle.Of(st, a).Status != lifecycle.Firing, nil
}

// resolveGroup resolves, by "rule", the open alert of the group of r, an
// event that met its rule's resolve.when or a resolve.after deadline
// (docs/rules.md, Resolving), and queues its resolve notifications to the
// targets that got it, as a resolve from the API does. The group's alert
// is its newest among the rule's alerts one page of the history reads; a
// group with none there, or whose newest alert was resolved already (by
// someone, or by another event), is left alone. The same event or
// deadline resolving again (redelivered) queues what may not have been
// queued.
func (s *App) resolveGroup(ctx context.Context, r engine.Resolve) error {
	at := r.Applied
	if at.IsZero() {
		at = time.Now().UTC()
	}
	a, err := s.newestAlert(ctx, r.Rule, r.DedupKey, at)
	if err != nil || a == nil {
		return err
	}
	st, err := s.alertStates.Get(ctx, a)
	if err != nil {
		return err
	}
	comment := fmt.Sprintf("resolve.when of rule %s met by event %s", r.Rule, r.EventID)
	if r.After > 0 {
		comment = fmt.Sprintf("resolve.after of rule %s: no match for %s, until %s", r.Rule, r.After, r.Time.Format(time.RFC3339))
	}
	if v := lifecycle.Of(st, a); v.Status == lifecycle.Resolved && (v.Resolved.By != lifecycle.ByRule || v.Resolved.Comment != comment) {
		return nil
	}
	c := lifecycle.Change{By: lifecycle.ByRule, At: at, Comment: comment}
	_, err = s.acts.Act(ctx, a, lifecycle.Resolved, actions.Alerter("rule "+r.Rule), c)
	return err
}

// incidents find the alerts a resolve concerns in ALERTS
// (lifecycle.Incidents).
type incidents struct{ s *App }

// Incident is the alert a escalates, or a, followed by that alert's
// escalations, oldest first, as far as one page of the rule's alert
// history reaches.
func (in incidents) Incident(ctx context.Context, a *alerter.Alert) ([]*alerter.Alert, error) {
	s := in.s
	base := a
	if a.Escalates != "" {
		b, _, err := s.streams.FindAlert(ctx, a.Escalates)
		switch {
		case errors.Is(err, bus.ErrNotFound), errors.Is(err, bus.ErrUnreadable):
			return []*alerter.Alert{a}, nil
		case err != nil:
			return nil, err
		}
		base = b
	}
	var escalations []*alerter.Alert
	_, err := s.streams.AlertHistory(ctx, 0, base.Rule, func(x *alerter.Alert) bool {
		if x.ID == base.ID {
			return false // older alerts are not its escalations
		}
		if x.Escalates == base.ID {
			escalations = append(escalations, x)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("reading the alerts of rule %s: %w", base.Rule, err)
	}
	slices.Reverse(escalations)
	return append([]*alerter.Alert{base}, escalations...), nil
}

// newestAlert is the newest stored alert of rule with dedupKey fired up to
// upTo, nil if one page of the rule's history has none: the group's next
// event may have fired a new alert before a resolve applied earlier gets
// here. A digest is passed over: it sums up the alert's suppressed
// matches, and the alert is what resolves.
func (s *App) newestAlert(ctx context.Context, rule, dedupKey string, upTo time.Time) (*alerter.Alert, error) {
	var found *alerter.Alert
	_, err := s.streams.AlertHistory(ctx, 0, rule, func(a *alerter.Alert) bool {
		if a.DedupKey == dedupKey && a.Digest == nil && !a.FiredAt.After(upTo) {
			found = a
			return false
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("reading the alerts of rule %s: %w", rule, err)
	}
	return found, nil
}
