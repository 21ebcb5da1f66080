package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/internal/natstest"
)

// deliveries are outcomes by "target/alert id".
type deliveries map[string]string

func (d deliveries) Get(_ context.Context, target, alertID string) (alerter.Outcome, bool, error) {
	st, ok := d[target+"/"+alertID]
	return alerter.Outcome{Status: st}, ok, nil
}

// incident is a fixed incident: the alert and its escalations.
type incident []*alerter.Alert

func (in incident) Incident(context.Context, *alerter.Alert) ([]*alerter.Alert, error) {
	return in, nil
}

// notices records what was queued, as "alert id → targets".
type notices []string

func (n *notices) PublishNotice(_ context.Context, _, _, of string, data []byte) error {
	var a alerter.Alert
	if err := json.Unmarshal(data, &a); err != nil {
		return err
	}
	*n = append(*n, fmt.Sprintf("%s → %v", of, a.Notify))
	return nil
}

// A resolve reaches each target that got the alert or one of its
// escalations once, with the newest of them it got.
func TestQueueNoticesOncePerTarget(t *testing.T) {
	alert := &alerter.Alert{ID: "a", Rule: "r", Notify: []string{"chat"}}
	esc1 := &alerter.Alert{ID: "e1", Rule: "r", Escalation: 1, Escalates: "a", Notify: []string{"chat"}}
	esc2 := &alerter.Alert{ID: "e2", Rule: "r", Escalation: 2, Escalates: "a", Notify: []string{"pager", "chat"}}
	for _, tt := range []struct {
		name     string
		incident incident
		resolved *alerter.Alert
		sent     deliveries
		want     []string
	}{
		{"an alert alone", incident{alert}, alert, deliveries{"chat/a": alerter.Sent}, []string{"a → [chat]"}},
		{"its escalation to the same target: one resolve, the escalation's", incident{alert, esc1}, alert,
			deliveries{"chat/a": alerter.Sent, "chat/e1": alerter.Sent}, []string{"e1 → [chat]"}},
		{"resolved through the escalation: the same", incident{alert, esc1}, esc1,
			deliveries{"chat/a": alerter.Sent, "chat/e1": alerter.Sent}, []string{"e1 → [chat]"}},
		{"an escalation to another target: each hears once", incident{alert, esc2}, alert,
			deliveries{"chat/a": alerter.Sent, "chat/e2": alerter.Silenced, "pager/e2": alerter.Sent}, []string{"a → [chat]", "e2 → [pager]"}},
		{"the newest of two escalations", incident{alert, esc1, esc2}, esc2,
			deliveries{"chat/a": alerter.Sent, "chat/e1": alerter.Sent, "chat/e2": alerter.Sent, "pager/e2": alerter.Sent}, []string{"e2 → [pager chat]"}},
		{"nothing sent, nothing queued", incident{alert, esc1}, alert,
			deliveries{"chat/a": alerter.Dead, "chat/e1": alerter.Silenced}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got notices
			acts := NewActs(ActsOptions{Outcomes: tt.sent, Incidents: tt.incident, Notices: &got, Log: slog.New(slog.DiscardHandler)})
			if err := acts.QueueNotices(t.Context(), tt.resolved, View{Status: Resolved}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("queued %q, want %q", got, tt.want)
			}
		})
	}
}

// An acknowledgement reaches the targets that got the alert, as a resolve
// does: not those where it was silenced or given up on, nor those it came
// from; acking again (a retry) queues nothing new, and a resolved alert is
// not acknowledged. Acts runs on the real store and streams: the notices
// are read back from ALERTS.
func TestActQueuesAcknowledgement(t *testing.T) {
	at := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	type act struct {
		to      Status
		by      string
		from    []string
		verdict Verdict
	}
	for _, tt := range []struct {
		name     string
		acts     []act
		want     []string // "id acknowledges|resolves → targets by"
		observed []string // "status after source"
	}{
		{"an ack reaches the targets that got the alert", []act{{Acknowledged, "ann", nil, ""}},
			[]string{"a-acked acknowledges a → [chat pager] ann"}, []string{"acknowledged 1m0s api"}},
		{"acking again queues nothing new", []act{{Acknowledged, "ann", nil, ""}, {Acknowledged, "bob", nil, ""}},
			[]string{"a-acked acknowledges a → [chat pager] ann"}, []string{"acknowledged 1m0s api"}},
		{"an ack from PagerDuty is not sent back there", []act{{Acknowledged, "pagerduty:ann", []string{"pager"}, ""}},
			[]string{"a-acked acknowledges a → [chat] pagerduty:ann"}, []string{"acknowledged 1m0s pagerduty"}},
		{"a resolve after the ack follows it", []act{{Acknowledged, "slack:ann", nil, ""}, {Resolved, "bob", nil, ""}},
			[]string{"a-acked acknowledges a → [chat pager] slack:ann", "a-resolved resolves a → [chat pager] bob"},
			[]string{"acknowledged 1m0s slack", "resolved 2m0s api"}},
		{"a resolved alert is not acknowledged; a verdict given later moves nothing", []act{{Resolved, ByRule, nil, ""}, {Acknowledged, "ann", nil, ""}, {Resolved, "ann", nil, Benign}},
			[]string{"a-resolved resolves a → [chat pager] rule"}, []string{"resolved 1m0s rule"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := natstest.Start(t)
			store, err := Open(t.Context(), env.JS, 1, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.DiscardHandler)
			sent := deliveries{"chat/a": alerter.Sent, "pager/a": alerter.Sent, "mail/a": alerter.Dead, "muted/a": alerter.Silenced}
			var observed []string
			acts := NewActs(ActsOptions{States: store, Outcomes: sent, Notices: env.Streams, Actions: actions.NewPublisher(env.Streams, log), Log: log,
				Observe: func(to Status, a *alerter.Alert, c Change) {
					observed = append(observed, fmt.Sprint(to, " ", c.At.Sub(a.FiredAt), " ", c.Source()))
				}})
			for i, x := range tt.acts {
				a := &alerter.Alert{ID: "a", Rule: "r", DedupKey: "r:0123456789abcdef", FiredAt: at,
					Notify: []string{"chat", "pager", "mail", "muted", "later"}}
				c := Change{By: x.by, At: at.Add(time.Duration(i+1) * time.Minute), From: x.from, Verdict: x.verdict}
				if _, err := acts.Act(t.Context(), a, x.to, actions.Identity{Name: x.by}, c); err != nil && !errors.Is(err, ErrResolved) {
					t.Fatal(err)
				}
			}
			var got []string
			for _, data := range env.Alerts(t) {
				var n alerter.Alert
				if err := json.Unmarshal(data, &n); err != nil {
					t.Fatal(err)
				}
				switch {
				case n.Acknowledges != "":
					got = append(got, fmt.Sprintf("%s acknowledges %s → %v %s", n.ID, n.Acknowledges, n.Notify, n.AcknowledgedBy))
				case n.Resolves != "":
					got = append(got, fmt.Sprintf("%s resolves %s → %v %s", n.ID, n.Resolves, n.Notify, n.ResolvedBy))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("queued\n %q\nwant\n %q", got, tt.want)
			}
			if !slices.Equal(observed, tt.observed) {
				t.Errorf("observed %q, want %q", observed, tt.observed)
			}
		})
	}
}
