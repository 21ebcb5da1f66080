package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/event"
)

// States are the groups' states (a Store).
type States interface {
	Get(ctx context.Context, a *alerter.Alert) (*State, error)
	Update(ctx context.Context, a *alerter.Alert, fn func(*State) (bool, error)) (*State, error)
}

// Outcomes are what became of each alert at each target (the deliveries
// record).
type Outcomes interface {
	Get(ctx context.Context, target, alertID string) (alerter.Outcome, bool, error)
}

// Notices queue resolve and acknowledgement notifications (the ALERTS
// stream).
type Notices interface {
	// PublishNotice queues the notification id (data) of alert of, of
	// rule, to the targets it names; storing it again queues nothing
	// more.
	PublishNotice(ctx context.Context, rule, id, of string, data []byte) error
}

// Incidents find the alerts an alert's notices concern: the alert it
// escalates, or itself, followed by that alert's escalations, oldest
// first (the ALERTS stream).
type Incidents interface {
	Incident(ctx context.Context, a *alerter.Alert) ([]*alerter.Alert, error)
}

// Actions record acknowledgements and resolves as alerter's own events.
type Actions interface {
	Publish(ctx context.Context, act actions.Action)
}

// Acts acknowledges and resolves alert groups for whoever asks — a person
// through the API, a button, PagerDuty, or a rule's resolve.when — the
// same way (docs/notifications.md, The alert lifecycle).
type Acts struct {
	ActsOptions
}

// ActsOptions are what Acts work with. States, Outcomes, Notices, Actions
// and Log are required.
type ActsOptions struct {
	States   States
	Outcomes Outcomes
	// Incidents, if set, find an alert's escalations: a resolve reaches
	// the targets that got them too.
	Incidents Incidents
	Notices   Notices
	Actions   Actions
	// Observe, if set, is told of each acknowledgement and resolve that
	// moved a group (not of a verdict given later, nor of acting again):
	// the metrics of how long alerts waited for someone.
	Observe func(to Status, a *alerter.Alert, c Change)
	Log     *slog.Logger
}

// NewActs returns the acts on opt.States that record each change in
// opt.Actions and queue resolve and acknowledgement notifications in
// opt.Notices, to the targets opt.Outcomes say got the alert.
func NewActs(opt ActsOptions) *Acts { return &Acts{opt} }

// Acted is what an acknowledgement or a resolve made of an alert's group.
type Acted struct {
	State   *State
	View    View // where the alert stands now
	Changed bool // false: it stood there already
}

// ErrNotQueued is an acknowledgement or a resolve made whose
// notifications could not be queued: acting again queues them.
type ErrNotQueued struct{ Err error }

func (e ErrNotQueued) Error() string { return "notifications not queued: " + e.Err.Error() }

func (e ErrNotQueued) Unwrap() error { return e.Err }

// Act acknowledges or resolves (to) alert a, and with it its group, as
// who with c's comment and verdict: it records the change as one of
// alerter's own events, queues the notifications of where a stands then,
// acknowledged or resolved (again if it stood there already, so that
// acting again retries them: they are stored once), and fills in a's
// status fields. Acknowledging a resolved alert is ErrResolved, with the
// result's View saying who resolved it; an act whose notifications could
// not be queued is ErrNotQueued, the change made.
func (s *Acts) Act(ctx context.Context, a *alerter.Alert, to Status, who actions.Identity, c Change) (Acted, error) {
	var res Acted
	var moved bool
	st, err := s.States.Update(ctx, a, func(st *State) (bool, error) {
		var err error
		moved = Of(st, a).Status != to
		if to == Acknowledged {
			res.Changed, err = Ack(st, a, c)
		} else {
			res.Changed = Resolve(st, a, c)
		}
		return res.Changed, err
	})
	if st != nil {
		res.State, res.View = st, Of(st, a)
	}
	if err != nil {
		res.Changed = false
		return res, err
	}
	res.View.Fill(a)
	if res.Changed {
		s.record(ctx, who, a, c, to)
		if moved && s.Observe != nil {
			s.Observe(to, a, c)
		}
	}
	if err := s.QueueNotices(ctx, a, res.View); err != nil {
		s.Log.Error("queueing notifications", "alert", a.ID, "status", res.View.Status, "err", err)
		return res, ErrNotQueued{err}
	}
	return res, nil
}

// QueueNotices queues the notifications of a, standing as v says
// (acknowledged or resolved: Notice), to the targets that got it or, with
// Incidents, the alert it escalates or that alert's escalations
// (docs/notifications.md, What the targets receive on an acknowledgement
// or a resolve): those where a delivery was sent, not those where it was
// silenced, given up on or is still being tried, nor those an
// acknowledgement came from (Change.From). A target gets one
// notification, of the newest of them it got, so that a target that got
// an alert and its escalation hears once that someone is on it, or that
// it is over. Nothing is queued when no target got any.
func (s *Acts) QueueNotices(ctx context.Context, a *alerter.Alert, v View) error {
	incident := []*alerter.Alert{a}
	if s.Incidents != nil {
		found, err := s.Incidents.Incident(ctx, a)
		if err != nil {
			return fmt.Errorf("finding the escalations of alert %s: %w", a.ID, err)
		}
		if len(found) > 0 {
			incident = found
		}
	}
	var from []string
	if v.Status == Acknowledged && v.Acked != nil {
		from = v.Acked.From
	}
	newest := map[string]int{} // target → index in incident of the newest sent there
	for i, x := range incident {
		for _, t := range x.Notify {
			if slices.Contains(from, t) {
				continue
			}
			o, ok, err := s.Outcomes.Get(ctx, t, x.ID)
			if err != nil {
				return fmt.Errorf("reading the deliveries of alert %s: %w", x.ID, err)
			}
			if ok && o.Status == alerter.Sent {
				newest[t] = i
			}
		}
	}
	for i, x := range incident {
		var sent []string
		for _, t := range x.Notify {
			if j, ok := newest[t]; ok && j == i && !slices.Contains(sent, t) {
				sent = append(sent, t)
			}
		}
		n := Notice(x, v, sent)
		if len(sent) == 0 || n == nil {
			continue
		}
		data, err := json.Marshal(n)
		if err != nil {
			return err
		}
		if err := s.Notices.PublishNotice(ctx, x.Rule, n.ID, x.ID, data); err != nil {
			return err
		}
	}
	return nil
}

// record logs an acknowledgement or a resolve and stores it as one of
// alerter's own events (docs/rules.md, alerter's own actions).
func (s *Acts) record(ctx context.Context, who actions.Identity, a *alerter.Alert, c Change, to Status) {
	name := actions.AlertAcked
	if to == Resolved {
		name = actions.AlertResolved
	}
	s.Log.Info(name, "alert", a.ID, "rule", a.Rule, "by", who.Name)
	attrs := map[string]string{"alert_id": a.ID, "rule": a.Rule, "severity": string(a.Severity), "title": a.Title,
		"dedup_key": a.DedupKey, "comment": c.Comment}
	if c.Verdict != "" {
		attrs["verdict"] = string(c.Verdict)
	}
	s.Actions.Publish(ctx, actions.Action{Name: name, Who: who, Attrs: attrs,
		Objects: []event.Object{{Type: "alert", ID: a.ID, Name: a.Title}, {Type: "rule", ID: a.Rule, Name: a.Name}}})
}
