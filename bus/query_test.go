package bus

import (
	"errors"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
)

func queryStreams(t *testing.T) *Streams {
	t.Helper()
	_, js := newEnv(t)
	s, err := EnsureStreams(t.Context(), js, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The alert history lists the stored alerts newest first, of one rule if
// asked, pages where the caller stops, and leaves out the copies that hand
// dead letters back and the resolve notifications; FindAlert finds one by
// its id, the alert and not its resolve notification.
func TestAlertHistory(t *testing.T) {
	ctx := t.Context()
	s := queryStreams(t)
	for _, a := range []alerter.Alert{{ID: "a1", Rule: "r1"}, {ID: "a2", Rule: "r2"}, {ID: "a3", Rule: "r1"}} {
		if _, err := s.PublishAlert(ctx, a.Rule, a.ID, mustJSON(t, a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PublishRedelivery(ctx, "r1", "a1", "slack", 7, mustJSON(t, alerter.Alert{ID: "a1", Rule: "r1"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishAlert(ctx, "r2", "broken", []byte("{")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a resolve retried: stored once
		if err := s.PublishNotice(ctx, "r2", "a2-resolved", "a2", mustJSON(t, alerter.Alert{ID: "a2-resolved", Rule: "r2", Resolves: "a2", Status: "resolved"})); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := s.Alerts.Info(ctx); err != nil || st.State.Msgs != 6 {
		t.Fatalf("ALERTS holds %v messages (err %v), want 6: the resolve notification stored once", st.State.Msgs, err)
	}
	list := func(before uint64, rule string, most int) (string, uint64) {
		t.Helper()
		var ids []string
		next, err := s.AlertHistory(ctx, before, rule, func(a *alerter.Alert) bool {
			ids = append(ids, a.ID)
			return len(ids) < most
		})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(ids, " "), next
	}
	if got, next := list(0, "", 10); got != "a3 a2 a1" || next != 0 {
		t.Errorf("all = %q, next %d; want a3 a2 a1, 0", got, next)
	}
	if got, _ := list(0, "r1", 10); got != "a3 a1" {
		t.Errorf("rule r1 = %q, want a3 a1", got)
	}
	got, next := list(0, "", 2)
	if got != "a3 a2" || next == 0 {
		t.Fatalf("first page = %q, next %d; want a3 a2 and a next page", got, next)
	}
	if got, next := list(next, "", 2); got != "a1" || next != 0 {
		t.Errorf("second page = %q, next %d; want a1, 0", got, next)
	}

	a, data, err := s.FindAlert(ctx, "a2")
	if err != nil || a.Rule != "r2" || a.Resolves != "" || !strings.Contains(string(data), `"a2"`) {
		t.Errorf("FindAlert(a2) = %+v, %s, %v", a, data, err)
	}
	if a, _, err := s.FindAlert(ctx, "a2-resolved"); err != nil || a.Resolves != "a2" {
		t.Errorf("FindAlert(a2-resolved) = %+v, %v; want the resolve notification", a, err)
	}
	if _, _, err := s.FindAlert(ctx, "none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindAlert(none): err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.FindAlert(ctx, "broken"); !errors.Is(err, ErrUnreadable) {
		t.Errorf("FindAlert(broken): err = %v, want ErrUnreadable", err)
	}
	if _, _, err := s.FindAlert(ctx, "a.b"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("FindAlert(a.b): err = %v, want an invalid id", err)
	}
}

func TestDeadLetters(t *testing.T) {
	ctx := t.Context()
	s := queryStreams(t)
	for _, dl := range []alerter.DeadLetter{
		{Notifier: "slack", Alert: &alerter.Alert{ID: "a1"}},
		{Notifier: "mail", Alert: &alerter.Alert{ID: "a2"}},
		{Notifier: "slack", Alert: &alerter.Alert{ID: "a3"}},
	} {
		if err := s.PublishDeadLetter(ctx, dl.Notifier, dl.Alert.ID, "", mustJSON(t, dl)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PublishDeadLetter(ctx, "slack", "a4", "", []byte(`{"notifier":"slack"}`)); err != nil {
		t.Fatal(err) // no alert: not listed
	}
	for notifier, want := range map[string]string{"": "slack/a3 mail/a2 slack/a1", "slack": "slack/a3 slack/a1", "pager": ""} {
		var got []string
		if _, err := s.DeadLetters(ctx, 0, notifier, func(dl *alerter.DeadLetter) bool {
			got = append(got, dl.Notifier+"/"+dl.Alert.ID)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("DeadLetters(%q) = %q, want %q", notifier, strings.Join(got, " "), want)
		}
	}
}

func TestSearchEvents(t *testing.T) {
	ctx := t.Context()
	s := queryStreams(t)
	for _, batch := range []struct{ source, lines string }{
		{"wiki", `{"id":"e1","action":"Page deleted","time":"2024-05-14T10:00:00Z","actor":{"name":"mchen"}}
{"id":"e2","action":"Global setting changed","time":"2024-05-14T11:00:00Z","actor":{"name":"mchen"}}`},
		{"hook", `{"id":"e3","action":"Global setting changed","time":"2024-05-14T12:00:00Z","actor":{"name":"akumar"}}`},
	} {
		events, err := event.Parse([]byte(batch.lines), event.Options{Source: batch.source})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Store(ctx, batch.source, events); err != nil {
			t.Fatal(err)
		}
	}
	at := func(h int) time.Time { return time.Date(2024, 5, 14, h, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name string
		q    EventQuery
		want string
	}{
		{"all", EventQuery{}, "e3 e2 e1"},
		{"source", EventQuery{Source: "wiki"}, "e2 e1"},
		{"words in any case", EventQuery{Words: []string{"GLOBAL", "mchen"}}, "e2"},
		{"since and until", EventQuery{Since: at(11), Until: at(12)}, "e2"},
		{"nothing", EventQuery{Words: []string{"nobody"}}, ""},
	} {
		var got []string
		if _, err := s.SearchEvents(ctx, 0, tc.q, func(stored time.Time, ev *event.Event) bool {
			if stored.IsZero() {
				t.Errorf("%s: %s without its store time", tc.name, ev.ID)
			}
			got = append(got, ev.ID)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, strings.Join(got, " "), tc.want)
		}
	}
}
