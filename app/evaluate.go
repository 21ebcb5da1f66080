package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/ruletest"
)

// evaluateRequest is what POST /api/v1/evaluate takes: a rule file (or one
// rule, as a mapping) and events in any supported format.
type evaluateRequest struct {
	Rule string `json:"rule"`
	// Event is a JSON payload: one event, an array, a page of results.
	Event json.RawMessage `json:"event"`
	// Events is the same as text, e.g. JSON lines pasted from a log.
	Events string `json:"events"`
	Format string `json:"format"`
	// Since backtests instead: the rule runs over the events stored in
	// the last Since (e.g. "24h"), the newest backtestEvents of them.
	Since string `json:"since"`
}

// Bounds of a backtest, so that one request cannot hold the whole stream.
const (
	// backtestEvents is how many stored events a backtest reads at most
	// (the newest of the time asked for): about 60 MB held while it runs,
	// and one backtest runs at a time.
	backtestEvents = 20_000
	// backtestShown is how many matching events a backtest answers with.
	backtestShown = 100
)

// Bounds of the playground (POST /api/v1/evaluate), which runs rules
// anyone who reaches the API can write (docs/api.md).
const (
	// playgroundSlots is how many playground requests run at a time; the
	// others wait for a slot, up to playgroundWait.
	playgroundSlots = 2
	playgroundWait  = 5 * time.Second
	// playgroundTimeout is how long one request may evaluate in all (each
	// rule on each event has its own engine.EvalTimeout besides).
	playgroundTimeout = 10 * time.Second
)

// Backtest sums up a rule's run over stored events.
type Backtest struct {
	// Events were read; From and To are the first and last event time.
	Events int       `json:"events"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Truncated: more events were stored in the time asked for; the
	// oldest were left out.
	Truncated  bool `json:"truncated"`
	Matched    int  `json:"matched"`
	Alerts     int  `json:"alerts"`
	Suppressed int  `json:"suppressed"`
	// Shown is how many of the matching events are in the results (the
	// first in event time).
	Shown int `json:"shown"`
	// Running is, for each rule tried that has the id of a loaded rule,
	// how many alerts the loaded one fired over the same events: what the
	// change does.
	Running map[string]int `json:"running,omitempty"`
	// ByDay counts the alerts by the UTC day of the event that fired them:
	// the pages a day the rule would cost.
	ByDay []DayCount `json:"by_day"`
}

// DayCount is a number of alerts on a day (YYYY-MM-DD, UTC).
type DayCount struct {
	Day    string `json:"day"`
	Alerts int    `json:"alerts"`
}

// EvalError is a problem with a position: in the rule (file "rule") or in
// the events (file "events").
type EvalError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// EvalResult is what one event did.
type EvalResult struct {
	Event      *event.Event     `json:"event"`
	Matches    []string         `json:"matches"`
	Alerts     []*alerter.Alert `json:"alerts"`
	Suppressed []string         `json:"suppressed"`
	Errors     []string         `json:"errors"`
	// Notifications are what each alert's targets would be sent.
	Notifications []Notification `json:"notifications"`
}

// Notification is what one target would be sent for an alert: a subject
// or title line, the text, and for targets that take a structured body
// (Slack blocks, the PagerDuty event, the webhook's JSON), the body.
type Notification struct {
	Alert   string `json:"alert"`
	Target  string `json:"target"`
	Type    string `json:"type"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	Body    any    `json:"body,omitempty"`
}

// EvalResponse is the answer of POST /api/v1/evaluate.
type EvalResponse struct {
	OK      bool         `json:"ok"`
	Errors  []EvalError  `json:"errors"`
	Rules   []string     `json:"rules"`
	Results []EvalResult `json:"results"`
	// Backtest is set when the rule ran over stored events; Results then
	// hold only matching events, the first Backtest.Shown of them.
	Backtest *Backtest `json:"backtest,omitempty"`
	// Tests are the outcomes of the rules' own tests:, as alerter test
	// runs them.
	Tests []EvalTest `json:"tests"`
}

// EvalTest is the outcome of one test of a rule tried in the playground.
type EvalTest struct {
	Rule string `json:"rule"`
	Test string `json:"test"`
	// Line is where the test is in the rule text as typed.
	Line  int    `json:"line"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// playgroundTests runs the tests of the rules tried, routed as live;
// shift is how many lines the rule text was moved down to compile it.
func (s *App) playgroundTests(ctx context.Context, set *rules.Set, shift int) []EvalTest {
	out := []EvalTest{}
	for _, r := range ruletest.Run(ctx, set, set.Router(s.config().Routes)) {
		t := EvalTest{Rule: r.Rule, Test: r.Test, Line: max(r.Pos.Line-shift, 0), OK: r.Err == nil}
		if r.Err != nil {
			t.Error = r.Err.Error()
		}
		out = append(out, t)
	}
	return out
}

const playgroundRule = "rule"

// Evaluate compiles a rule against the running rule set's macros and lists
// and the configured notifiers, and runs events through it alone, with
// fresh windows, in event-time order: the playground's question "would
// this rule fire on this event, and what would it say?".
func (s *App) Evaluate(ctx context.Context, req evaluateRequest) EvalResponse {
	resp := EvalResponse{Errors: []EvalError{}, Rules: []string{}, Results: []EvalResult{}, Tests: []EvalTest{}}
	set, shift, errs := s.compilePlayground(req.Rule)
	if len(errs) > 0 {
		resp.Errors = errs
		return resp
	}
	resp.Tests = s.playgroundTests(ctx, set, shift)
	if stopped(ctx, &resp) {
		return resp
	}
	for _, r := range set.Rules {
		resp.Rules = append(resp.Rules, r.ID)
		r.Enabled = true // a rule is tried before it is switched on
	}
	evs, bt, release, err := s.playgroundEvents(ctx, req)
	defer release()
	if err != nil {
		resp.Errors = append(resp.Errors, *err)
		return resp
	}
	resp.Backtest = bt
	slices.SortStableFunc(evs, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	if bt != nil && len(evs) > 0 {
		bt.Events, bt.From, bt.To = len(evs), evs[0].Time, evs[len(evs)-1].Time
	}
	for i := range evs {
		s.enrichLive(ctx, &evs[i])
	}
	lists, route := s.liveLists(set), set.Router(s.config().Routes)
	var clock time.Time
	eng := engine.New(set, &engine.MemStore{}, engine.WithClock(func() time.Time { return clock }))
	for i := range evs {
		if stopped(ctx, &resp) {
			return resp
		}
		ev := &evs[i]
		clock = ev.Time
		res, err := eng.ProcessWithLists(ctx, ev, lists)
		if bt != nil && !bt.count(ev, res, err) {
			continue
		}
		resp.Results = append(resp.Results, s.evalResult(ev, res, err, route))
	}
	if bt != nil {
		bt.Running = s.runningAlerts(ctx, set, evs)
	}
	if stopped(ctx, &resp) {
		return resp
	}
	resp.OK = true
	return resp
}

// stopped tells whether ctx ended, and if so, says why in resp: the rules
// still running were stopped, and what they did so far is not the answer.
func stopped(ctx context.Context, resp *EvalResponse) bool {
	err := ctx.Err()
	if err == nil {
		return false
	}
	msg := "the evaluation was stopped: the request ended"
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errStopping):
		msg = "the evaluation was stopped: " + cause.Error()
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("the evaluation was stopped after %v, the limit of a playground request: try it on fewer events, or with a rule that does less", playgroundTimeout)
	}
	resp.OK = false
	resp.Errors = append(resp.Errors, EvalError{File: playgroundRule, Message: msg})
	return true
}

// playgroundEvents are the events a rule is tried on: those given, or for
// a backtest (since) the stored ones, with the backtest's summary to fill
// in. release frees the backtest's place when the caller is done.
func (s *App) playgroundEvents(ctx context.Context, req evaluateRequest) (evs []event.Event, bt *Backtest, release func(), _ *EvalError) {
	release = func() {}
	data := []byte(req.Events)
	if len(req.Event) > 0 && string(req.Event) != "null" {
		data = req.Event
	}
	given := len(strings.TrimSpace(string(data))) > 0
	switch {
	case req.Since != "" && given:
		return nil, nil, release, &EvalError{File: "events", Message: "give events or since (a backtest on stored events), not both"}
	case req.Since != "":
		d, err := time.ParseDuration(req.Since)
		if err != nil || d <= 0 {
			return nil, nil, release, &EvalError{File: "since", Message: fmt.Sprintf("since %q: a duration such as 24h", req.Since)}
		}
		select {
		case s.backtest <- struct{}{}:
			release = func() { <-s.backtest }
		default:
			return nil, nil, release, &EvalError{File: "since", Message: "another backtest is running; try again when it is done"}
		}
		bt := &Backtest{ByDay: []DayCount{}}
		if evs, bt.Truncated, err = s.storedEvents(ctx, time.Now().Add(-d), backtestEvents); err != nil {
			return nil, nil, release, &EvalError{File: "since", Message: err.Error()}
		}
		return evs, bt, release, nil
	case !given:
		return nil, nil, release, &EvalError{File: "events", Message: "no event given: paste one (any supported format)"}
	}
	evs, err := event.Parse(data, event.Options{Format: req.Format, Source: "playground", MaxEvents: 1000})
	if err != nil {
		e := eventError(err)
		return nil, nil, release, &e
	}
	return evs, nil, release, nil
}

// count adds what a rule made of one stored event to the backtest's sums,
// and tells whether the event is one of the results to show: over history,
// only what matched is told, and only so much.
func (bt *Backtest) count(ev *event.Event, res engine.Result, err error) bool {
	if len(res.Matches) == 0 && len(res.Errors) == 0 && err == nil {
		return false
	}
	bt.Matched++
	bt.Alerts += len(res.Alerts)
	bt.Suppressed += len(res.Suppressed)
	if len(res.Alerts) > 0 {
		day := ev.Time.UTC().Format(time.DateOnly)
		if n := len(bt.ByDay); n > 0 && bt.ByDay[n-1].Day == day {
			bt.ByDay[n-1].Alerts += len(res.Alerts)
		} else {
			bt.ByDay = append(bt.ByDay, DayCount{Day: day, Alerts: len(res.Alerts)})
		}
	}
	if bt.Shown == backtestShown {
		return false
	}
	bt.Shown++
	return true
}

// evalResult is what one event did: its matches, its alerts routed as
// live with what each target would be sent, and errors.
func (s *App) evalResult(ev *event.Event, res engine.Result, err error, route alerter.Router) EvalResult {
	r := EvalResult{Event: ev, Matches: []string{}, Alerts: []*alerter.Alert{}, Suppressed: nonNil(res.Suppressed), Errors: []string{}, Notifications: []Notification{}}
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	for _, m := range res.Matches {
		r.Matches = append(r.Matches, m.Rule.ID)
	}
	cfg := s.config()
	for _, a := range res.Alerts {
		a.Notify = nonNil(route.Route(a))
		r.Alerts = append(r.Alerts, a)
		for _, t := range a.Notify {
			if nc := cfg.Notifier(t); nc != nil {
				r.Notifications = append(r.Notifications, preview(a, nc, cfg.Server.ExternalURL))
			}
		}
	}
	for _, e := range res.Errors {
		r.Errors = append(r.Errors, e.Error())
	}
	_ = ev.LoadRaw()
	return r
}

// runningAlerts runs the loaded rules that have the ids of tried's over
// evs, as they run now, and counts their alerts by rule id.
func (s *App) runningAlerts(ctx context.Context, tried *rules.Set, evs []event.Event) map[string]int {
	running := s.eng.Rules()
	loaded := &rules.Set{Lists: running.Lists, Macros: running.Macros}
	for _, r := range tried.Rules {
		if lr := running.Rule(r.ID); lr != nil {
			loaded.Rules = append(loaded.Rules, lr)
		}
	}
	if len(loaded.Rules) == 0 {
		return nil
	}
	counts := map[string]int{}
	for _, r := range loaded.Rules {
		counts[r.ID] = 0
	}
	lists := s.liveLists(loaded)
	var clock time.Time
	eng := engine.New(loaded, &engine.MemStore{}, engine.WithClock(func() time.Time { return clock }))
	for i := range evs {
		if ctx.Err() != nil {
			return nil
		}
		clock = evs[i].Time
		res, _ := eng.ProcessWithLists(ctx, &evs[i], lists)
		for _, a := range res.Alerts {
			counts[a.Rule]++
		}
	}
	return counts
}

// liveLists are the lists rules compiled as set see live: set's own, and
// those loaded from Confluence groups; nil (set's own) without the latter.
func (s *App) liveLists(set *rules.Set) map[string][]string {
	dynamic := s.config().DynamicLists()
	live := s.lists()
	if live == nil || len(dynamic) == 0 {
		return nil
	}
	out := maps.Clone(set.Lists)
	if out == nil {
		out = map[string][]string{}
	}
	for _, name := range dynamic {
		if _, own := set.Lists[name]; !own {
			out[name] = live[name]
		}
	}
	return out
}

// enrichLive fills in what the evaluator fills in before rules see an
// event (the actor's Confluence groups), where that is configured.
func (s *App) enrichLive(ctx context.Context, ev *event.Event) {
	s.enrich(ctx, ev)
}

// storedEvents reads the events stored since start, the newest max of
// them; truncated tells that older ones were left out.
func (s *App) storedEvents(ctx context.Context, start time.Time, max int) (evs []event.Event, truncated bool, err error) {
	truncated, err = bus.ReadNewestEvents(ctx, s.js, start, max, func(m jetstream.Msg) error {
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

// compilePlayground compiles the playground's rule text. A single rule
// (a mapping with id:) is wrapped into a rule file, and error positions
// are given back in the text as typed. The running set's macros and lists
// are available to it, unless it defines its own of the same name.
func (s *App) compilePlayground(text string) (set *rules.Set, shift int, errs []EvalError) {
	if strings.TrimSpace(text) == "" {
		return nil, 0, []EvalError{{File: playgroundRule, Message: "no rule given"}}
	}
	var top map[string]yaml.Node
	wrapped := false
	if err := yaml.Unmarshal([]byte(text), &top); err == nil {
		if _, ok := top["rules"]; !ok {
			if _, ok := top["id"]; ok {
				wrapped = true
			}
		}
	}
	data := text
	if wrapped {
		var b strings.Builder
		b.WriteString("rules:\n")
		for i, line := range strings.Split(text, "\n") {
			if i == 0 {
				b.WriteString("- ")
			} else {
				b.WriteString("  ")
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
		data = b.String()
	}
	running := s.eng.Rules()
	own := map[string]map[string]yaml.Node{}
	var file struct {
		Lists  map[string]yaml.Node `yaml:"lists"`
		Macros map[string]yaml.Node `yaml:"macros"`
	}
	_ = yaml.Unmarshal([]byte(data), &file)
	own["lists"], own["macros"] = file.Lists, file.Macros

	files := []rules.File{{Name: playgroundRule, Data: []byte(data)}}
	macros := map[string]string{}
	for name, src := range running.Macros {
		if _, mine := own["macros"][name]; !mine {
			macros[name] = src
		}
	}
	if len(macros) > 0 {
		b, _ := yaml.Marshal(map[string]any{"macros": macros})
		files = append(files, rules.File{Name: "the loaded rules' macros", Data: b})
	}
	lists := map[string][]string{}
	for name, l := range running.Lists {
		if _, mine := own["lists"][name]; !mine {
			lists[name] = l
		}
	}
	if wrapped {
		shift = 1 // the "rules:" line put before the text
	}
	cfg := s.config()
	set, err := rules.Compile(files, rules.Options{Lists: lists, DynamicLists: cfg.DynamicLists(), Notifiers: cfg.NotifierNames()})
	if err == nil {
		return set, shift, nil
	}
	var ye yamlx.Errors
	if !errors.As(err, &ye) {
		return nil, 0, []EvalError{{File: playgroundRule, Message: err.Error()}}
	}
	out := make([]EvalError, 0, len(ye))
	for _, e := range ye {
		ee := EvalError{File: e.File, Line: e.Line, Column: e.Col, Message: e.Msg}
		if e.File == playgroundRule && wrapped && e.Line > 1 {
			ee.Line--
			ee.Column = max(ee.Column-2, 1)
		}
		out = append(out, ee)
	}
	return nil, 0, out
}

func eventError(err error) EvalError {
	e := EvalError{File: "events", Message: err.Error()}
	var se *event.SyntaxError
	var oe *event.ObjectError
	switch {
	case errors.As(err, &se):
		e.Line, e.Column = se.Line, se.Column
	case errors.As(err, &oe):
		e.Line, e.Column = oe.Line, oe.Column
	}
	return e
}

func (s *App) evaluate(w http.ResponseWriter, r *http.Request) {
	var req evaluateRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.config().Server.MaxBodyBytes))
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
	release, ok := s.playgroundSlot(r.Context())
	if !ok {
		if s.stopping.Err() != nil {
			writeJSON(w, http.StatusServiceUnavailable, errorBody(errStopping.Error()))
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(playgroundWait/time.Second)))
		writeJSON(w, http.StatusServiceUnavailable, errorBody(fmt.Sprintf("the playground is busy: %d evaluations are running; try again in a few seconds", playgroundSlots)))
		return
	}
	defer release()
	// The client leaving, or the request's time running out, stops the
	// rules where they are.
	ctx, cancel := context.WithTimeout(r.Context(), playgroundTimeout)
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer context.AfterFunc(s.stopping, func() { stop(errStopping) })()
	writeJSON(w, http.StatusOK, s.Evaluate(ctx, req))
}

// errStopping ends the playground's requests when the service stops.
var errStopping = errors.New("alerter is stopping")

// playgroundSlot waits for one of the playground's slots, up to
// s.playgroundWait and while ctx lasts; release gives it back.
func (s *App) playgroundSlot(ctx context.Context) (release func(), ok bool) {
	wait := time.NewTimer(s.playgroundWait)
	defer wait.Stop()
	select {
	case s.playground <- struct{}{}:
		return func() { <-s.playground }, true
	case <-wait.C:
	case <-ctx.Done():
	case <-s.stopping.Done():
	}
	return nil, false
}

// preview renders what the notifier nc would send for a, without sending
// and without its credentials.
func preview(a *alerter.Alert, nc *config.Notifier, externalURL string) Notification {
	n := Notification{Alert: a.ID, Target: nc.Name, Type: nc.Type, Subject: a.Title, Text: a.Text}
	p, ok := builtin.Notifiers().Lookup(nc.Type)
	if !ok {
		return n
	}
	pv := p.Preview(a, *nc, externalURL)
	if pv.Subject != "" {
		n.Subject = pv.Subject
	}
	if pv.Text != "" {
		n.Text = pv.Text
	}
	n.Body = pv.Body
	return n
}
