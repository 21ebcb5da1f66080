package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
)

// listEvents pages through the stored events, newest first, so that an
// event can be found (and explained) without knowing its id. Query: source,
// q (words that must all appear in the action, category, summary, actor,
// IP or objects, in any case), since and until (RFC 3339, on the event's
// time), limit (default 50, at most 500), before (the "next" of the
// previous page).
func (h *handler) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	source := q.Get("source")
	if source != "" && source != config.OwnSource && h.cfg.Source(source) == nil {
		writeJSON(w, http.StatusBadRequest, errorBody("source: no source "+source))
		return
	}
	hq, ok := historyParams(w, r)
	if !ok {
		return
	}
	query := bus.EventQuery{Source: source, Words: strings.Fields(q.Get("q")), Since: hq.since, Until: hq.until}
	page := api.Events{Events: []api.StoredEvent{}}
	next, err := h.Events.SearchEvents(r.Context(), hq.before, query, func(stored time.Time, ev *event.Event) bool {
		page.Events = append(page.Events, api.StoredEvent{Stored: stored, Event: ev})
		return len(page.Events) < hq.limit
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody("reading events: "+err.Error()))
		return
	}
	page.Next = cursor(next)
	writeJSON(w, http.StatusOK, page)
}
