package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
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
func TestQueueResolveOncePerTarget(t *testing.T) {
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
			acts := NewActs(nil, tt.sent, tt.incident, &got, nil, slog.New(slog.DiscardHandler))
			if err := acts.QueueNotices(t.Context(), tt.resolved, View{Status: Resolved}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("queued %q, want %q", got, tt.want)
			}
		})
	}
}
