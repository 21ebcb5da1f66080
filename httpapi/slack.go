package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/lifecycle"
	"github.com/alerter/alerter/notifiers/slack"
	"github.com/alerter/alerter/silences"
)

// SlackInteractions is the path Slack posts button presses to: the
// Interactivity Request URL of a Slack app (docs/notifications.md, Slack
// buttons). It is not under /api: Slack sends no token, its signature
// stands for one.
const SlackInteractions = "/slack/interactions"

// slackAnswerTime bounds what follows the answer to Slack: updating the
// message, or telling the person why nothing was done.
const slackAnswerTime = 10 * time.Second

// slackPressTime bounds doing what a button asks before answering Slack,
// which gives up after 3 seconds: past it, the press is refused (the
// person is told why) rather than done unseen.
const slackPressTime = 2500 * time.Millisecond

// slackInteraction takes a button press from a Slack app's message
// (Acknowledge, Resolve, Silence 1h). The request must be signed by the
// signing secret of one of the slack notifiers, at most 5 minutes ago
// (401 otherwise), its body at most 64 KiB (413). The press is acted on
// before the answer, so that a 200 means it is done; then the message is
// updated to show who did what and when, or, when the press was refused
// (an acknowledgement of a resolved alert, an alert alerter does not
// know), the person is told why in a message only they see.
func (h *handler) slackInteraction(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, slack.MaxInteractionBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody(fmt.Sprintf("the body is over %d bytes", slack.MaxInteractionBody)))
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, errorBody("reading the body: "+err.Error()))
		return
	}
	app, ok := h.slackApp(w, r, body)
	if !ok {
		return
	}
	in, err := slack.ParseInteraction(body)
	if err != nil {
		h.Log.Warn("refused a Slack interaction", "app", app.Name(), "err", err)
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	action, id := in.Action()
	if _, verdict := slack.VerdictActions[action]; !verdict && !slices.Contains([]string{slack.ActionAck, slack.ActionResolve, slack.ActionSilence}, action) {
		// A link button (Runbook, View alert) is reported too: nothing to do.
		w.WriteHeader(http.StatusOK)
		return
	}
	if h.slackSeen(r, body) {
		h.Log.Info("a Slack button press sent again; taken once", "app", app.Name(), "action", action, "alert", id, "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusOK)
		return
	}
	who := actions.Identity{Name: in.Who(), Role: config.RoleWriter}
	// Slack waits 3 seconds for the answer.
	pctx, pcancel := context.WithTimeout(r.Context(), slackPressTime)
	a, note, refused := h.pressed(pctx, action, id, who)
	pcancel()
	// An empty answer of a declared length is complete once flushed:
	// Slack has it while the message is updated.
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	// Slack may hang up once answered: what follows is bounded on its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), slackAnswerTime)
	defer cancel()
	if refused != "" {
		h.Log.Info("a Slack button press refused", "app", app.Name(), "action", action, "alert", id, "by", who.Name, "why", refused)
		if err := app.Tell(ctx, in.ResponseURL, refused); err != nil {
			h.Log.Warn("telling a Slack user why a press was refused", "app", app.Name(), "err", err)
		}
		return
	}
	if err := app.Update(ctx, in.Channel.ID, in.Message.TS, a, note); err != nil {
		h.Log.Warn("updating a Slack message after a button press", "app", app.Name(), "alert", a.ID, "err", err)
	}
}

// slackApp is the app whose signing secret signed the request: every
// app's is tried, since each Slack app has its own. None: 404 when no
// slack notifier has a signing secret, else 401.
func (h *handler) slackApp(w http.ResponseWriter, r *http.Request, body []byte) (SlackApp, bool) {
	if len(h.gen.SlackApps) == 0 {
		writeJSON(w, http.StatusNotFound, errorBody("no slack notifier has a signing_secret: Slack buttons are off"))
		return nil, false
	}
	now := time.Now()
	stale := true
	for _, app := range h.gen.SlackApps {
		err := app.Verify(r.Header, body, now)
		if err == nil {
			return app, true
		}
		stale = stale && errors.Is(err, slack.ErrStale)
	}
	why := slack.ErrSignature
	if stale {
		why = slack.ErrStale
	}
	h.Log.Warn("refused a Slack interaction", "why", why, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusUnauthorized, errorBody(why.Error()))
	return nil, false
}

// slackSeen tells whether the signed request r, of body, was taken
// already, and claims it if not. Its key is its timestamp and body, which
// the signature covers, hashed into a valid bucket key: not the signature
// header as written, whose hex may be spelled in either case. Should the
// bucket not answer, the request is taken: acknowledging and resolving
// twice change nothing.
func (h *handler) slackSeen(r *http.Request, body []byte) bool {
	if h.gen.SignedRequests == nil {
		return false
	}
	sum := sha256.New()
	sum.Write([]byte("slack\x00" + r.Header.Get("X-Slack-Request-Timestamp") + "\x00"))
	sum.Write(body)
	key := "slack-" + hex.EncodeToString(sum.Sum(nil))
	claimed, err := h.gen.SignedRequests.Claim(r.Context(), key)
	if err != nil {
		h.Log.Warn("cannot tell whether a Slack button press was taken already; taking it", "err", err)
		return false
	}
	return !claimed
}

// pressed does what a button (action) of alert id's message asks, as who:
// acknowledge or resolve it (act), or silence its rule and group for an
// hour (addSilenceAs, the API's own path and policy). It returns the alert
// as it stands then and a note for the message, or why it was refused.
func (h *handler) pressed(ctx context.Context, action, id string, who actions.Identity) (a *alerter.Alert, note, refused string) {
	if h.AlertStates == nil || h.Acts == nil {
		return nil, "", "alert states are not kept by this alerter"
	}
	a, _, err := h.Alerts.FindAlert(ctx, id)
	switch {
	case errors.Is(err, bus.ErrUnreadable):
		return nil, "", fmt.Sprintf("alert %s cannot be read: %v", id, err)
	case errors.Is(err, bus.ErrNotFound):
		return nil, "", fmt.Sprintf("alerter has no alert %q", id)
	case err != nil:
		return nil, "", fmt.Sprintf("alert %s cannot be read now (%v): press again", id, err)
	case lifecycle.NoticeOf(a) != "":
		return nil, "", fmt.Sprintf("%s is a notification of alert %s", a.ID, lifecycle.NoticeOf(a))
	}
	now := time.Now().UTC()
	if action == slack.ActionSilence {
		sl, err := h.addSilenceAs(ctx, who, silences.Silence{Matchers: groupMatchers(a), StartsAt: now,
			EndsAt: now.Add(slack.SilenceFor), CreatedBy: who.Name, Comment: "from Slack"})
		if err != nil {
			return nil, "", "the silence was refused: " + err.Error()
		}
		if err := h.statuses().fill(ctx, a); err != nil {
			h.Log.Warn("reading an alert's status", "alert", a.ID, "err", err)
		}
		return a, slack.SilenceNote(who.Name, sl.StartsAt, sl.EndsAt), ""
	}
	to, button, c := lifecycle.Acknowledged, "Acknowledge", lifecycle.Change{By: who.Name, At: now}
	if v, ok := slack.VerdictActions[action]; ok {
		// A verdict is given with a resolve, or to one made already.
		to, button, c.Verdict = lifecycle.Resolved, "the verdict", lifecycle.Verdict(v)
	} else if action == slack.ActionResolve {
		to, button = lifecycle.Resolved, "Resolve"
	}
	res, err := h.act(ctx, a, to, who, c)
	var nq lifecycle.ErrNotQueued
	switch {
	case errors.Is(err, lifecycle.ErrResolved):
		return nil, "", fmt.Sprintf("alert %s was resolved by %s at %s: it cannot be acknowledged",
			a.ID, res.View.Resolved.By, res.View.Resolved.At.UTC().Format(time.RFC3339))
	case errors.As(err, &nq):
		return nil, "", fmt.Sprintf("alert %s is %s, but its notifications are not queued: press %s again", a.ID, to, button)
	case err != nil:
		return nil, "", fmt.Sprintf("alert %s: %v", a.ID, err)
	}
	return a, "", ""
}

// groupMatchers are the matchers of a's rule and group: rule=RULE and
// group.EXPR=VALUE for each of its group's values.
func groupMatchers(a *alerter.Alert) []silences.Matcher {
	ms := []silences.Matcher{{Name: "rule", Value: a.Rule}}
	for _, k := range slices.Sorted(maps.Keys(a.Group)) {
		ms = append(ms, silences.Matcher{Name: "group." + k, Value: a.Group[k]})
	}
	return ms
}
