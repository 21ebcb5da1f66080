package service

import (
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
)

// storedEventView is an event of the EVENTS history with when it was
// stored.
type storedEventView struct {
	Stored time.Time    `json:"stored"`
	Event  *event.Event `json:"event"`
}

// listEvents pages through the stored events, newest first, so that an
// event can be found (and explained) without knowing its id. Query: source,
// q (words that must all appear in the action, category, summary, actor,
// IP or objects, in any case), since and until (RFC 3339, on the event's
// time), limit (default 50, at most 500), before (the "next" of the
// previous page).
func (s *Service) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	source := q.Get("source")
	if source != "" && source != config.OwnSource && s.config().Source(source) == nil {
		writeJSON(w, http.StatusBadRequest, errorBody("source: no source "+source))
		return
	}
	hq, ok := historyParams(w, r)
	if !ok {
		return
	}
	words := strings.Fields(strings.ToLower(q.Get("q")))
	events := []storedEventView{}
	next, err := newestFirst(r.Context(), s.streams.Events, hq.before, func(m *jetstream.RawStreamMsg) bool {
		if source != "" && m.Subject != bus.EventsSubject+"."+source {
			return true
		}
		ev, err := event.Decode(m.Data)
		if err != nil || (!hq.since.IsZero() && ev.Time.Before(hq.since)) || (!hq.until.IsZero() && !ev.Time.Before(hq.until)) ||
			!hasWords(&ev, words) {
			return true
		}
		events = append(events, storedEventView{Stored: m.Time.UTC(), Event: &ev})
		return len(events) < hq.limit
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody("reading events: "+err.Error()))
		return
	}
	page(w, "events", events, next)
}

// hasWords reports whether every word appears in one of the event's
// fields that people search by.
func hasWords(ev *event.Event, words []string) bool {
	if len(words) == 0 {
		return true
	}
	fields := []string{ev.ID, ev.Action, ev.ActionKey, ev.Category, ev.Summary, ev.IP,
		ev.Actor.ID, ev.Actor.Name, ev.Actor.DisplayName}
	for _, o := range ev.Objects {
		fields = append(fields, o.Name, o.ID)
	}
	text := strings.ToLower(strings.Join(fields, "\x00"))
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}
