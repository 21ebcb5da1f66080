package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/playground"
)

// evaluate is the playground (POST /api/v1/evaluate): a rule tried on
// events given, or on the stored ones.
func (h *handler) evaluate(w http.ResponseWriter, r *http.Request) {
	var req playground.Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.cfg.Server.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody(fmt.Sprintf(`the body must be {"rule": "<YAML>", "event": <JSON> or "events": "<text>", "format": "auto"}: %v`, err)))
		return
	}
	if req.Format != "" {
		if err := event.CheckFormat(req.Format); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
			return
		}
	}
	release, ok := h.playgroundSlot(r.Context())
	if !ok {
		if h.Stopping.Err() != nil {
			writeJSON(w, http.StatusServiceUnavailable, errorBody(playground.ErrStopping.Error()))
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(playgroundWait/time.Second)))
		writeJSON(w, http.StatusServiceUnavailable, errorBody(fmt.Sprintf("the playground is busy: %d evaluations are running; try again in a few seconds", playgroundSlots)))
		return
	}
	defer release()
	// The client leaving, or the request's time running out, stops the
	// rules where they are.
	ctx, cancel := context.WithTimeout(r.Context(), playground.Timeout)
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer context.AfterFunc(h.Stopping, func() { stop(playground.ErrStopping) })()
	writeJSON(w, http.StatusOK, h.Playground.Evaluate(ctx, h.cfg, req))
}

// playgroundSlot waits for one of the playground's slots, up to
// playgroundWait and while ctx lasts; release gives it back.
func (srv *Server) playgroundSlot(ctx context.Context) (release func(), ok bool) {
	wait := time.NewTimer(srv.playgroundWait)
	defer wait.Stop()
	select {
	case srv.playground <- struct{}{}:
		return func() { <-srv.playground }, true
	case <-wait.C:
	case <-ctx.Done():
	case <-srv.opt.Stopping.Done():
	}
	return nil, false
}
