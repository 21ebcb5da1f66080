// Package playground tries rules before they are loaded (docs/api.md,
// POST /api/v1/evaluate): a rule text is compiled against the running
// rules' macros and lists and the configured notifiers, and run over
// events given, or over the stored ones (a backtest), alone, with fresh
// windows; the answer tells what each event did and what each target
// would be sent.
package playground

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/ruletest"
)

// Request is what POST /api/v1/evaluate takes: a rule file (or one rule,
// as a mapping) and events in any supported format.
type Request struct {
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
	// backtestShown is how many events a backtest answers with.
	backtestShown = 100
)

// Timeout is how long one request of the playground, which runs rules
// anyone who reaches the API can write (docs/api.md), may evaluate in
// all (each rule on each event has its own engine.EvalTimeout besides);
// the caller bounds the context with it.
const Timeout = 10 * time.Second

// ErrStopping is the cause of a context that ended because alerter stops.
var ErrStopping = errors.New("alerter is stopping")

// Live is what the running alerter evaluates with.
type Live interface {
	// Rules is the rule set in force.
	Rules() *rules.Set
	// Lists are the lists rules see live: their set's with those loaded
	// from Confluence groups on top; nil when there are none of the
	// latter (the set's own).
	Lists() map[string][]string
	// Enrich fills in what the evaluator fills in before rules see an
	// event (the actor's Confluence groups), where that is configured.
	Enrich(ctx context.Context, ev *event.Event)
}

// Events reads the stored events.
type Events interface {
	// NewestEvents are the events stored since start, the newest max of
	// them; truncated tells that older ones were left out.
	NewestEvents(ctx context.Context, start time.Time, max int) (evs []event.Event, truncated bool, err error)
}

// Playground evaluates rules as they are tried.
type Playground struct {
	live      Live
	events    Events
	notifiers notifiers.Registry
	// backtest is held by the one backtest running (each holds up to
	// backtestEvents events in memory).
	backtest chan struct{}
}

// New is a playground trying rules against live, backtesting on events,
// and showing what the notifier types of reg would send.
func New(live Live, events Events, reg notifiers.Registry) *Playground {
	return &Playground{live: live, events: events, notifiers: reg, backtest: make(chan struct{}, 1)}
}

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
	// Escalations, Resolves and Digests count the alert lifecycle's
	// (docs/rules.md, Escalations, Resolving and Digests): made by events
	// and by the deadlines the events' time moved past.
	Escalations int `json:"escalations"`
	Resolves    int `json:"resolves"`
	Digests     int `json:"digests"`
	// Shown is how many events are in the results (the first in event
	// time): those that matched, and those before which a deadline made
	// something.
	Shown int `json:"shown"`
	// Running is, for each rule tried that has the id of a loaded rule,
	// how many alerts the loaded one fired over the same events: what the
	// change does.
	Running map[string]int `json:"running,omitempty"`
	// ByDay counts the pages by UTC day: alerts, escalations and digests,
	// each on the day of the event that made it (or whose time moved past
	// the deadline that did): the pages a day the rule would cost.
	ByDay []DayCount `json:"by_day"`
}

// DayCount is a number of pages (alerts, escalations and digests) on a
// day (YYYY-MM-DD, UTC).
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
	// Escalations are group alerts sent again by their rule's escalate:
	// steps (Alert.Escalation), Resolves the groups resolved, and Digests
	// the digests of groups whose digest period ended (Alert.Digest)
	// (docs/rules.md, Escalations, Resolving and Digests). Those made by
	// deadlines that fell due before the event lead, as alerts do.
	Escalations []*alerter.Alert `json:"escalations"`
	Resolves    []Resolve        `json:"resolves"`
	Digests     []*alerter.Alert `json:"digests"`
	Errors      []string         `json:"errors"`
	// Notifications are what the targets of each alert, escalation and
	// digest would be sent.
	Notifications []Notification `json:"notifications"`
	// Distinct maps each matching rule with threshold.distinct to the
	// distinct values its group's window holds after this event (empty
	// once the window fired or was suppressed).
	Distinct map[string][][]string `json:"distinct,omitempty"`
	// LastSeen maps each matching new_value rule to the time its group
	// last saw the event's tuple before this event: null if it did not
	// (docs/rules.md, First-seen values).
	LastSeen map[string]*time.Time `json:"last_seen,omitempty"`
	// Chains maps each matching sequence rule to its group's partial
	// chain closest to completing after this event: empty once a chain
	// completed, which clears them (docs/rules.md, Sequences).
	Chains map[string][]engine.ChainStep `json:"partial_chain,omitempty"`
}

// Resolve is a group resolved by its rule (docs/rules.md, Resolving):
// by an event that met resolve.when (EventID), or by resolve.after, after
// After without a match (then Time is the deadline's).
type Resolve struct {
	Rule     string            `json:"rule"`
	Group    map[string]string `json:"group"`
	DedupKey string            `json:"dedup_key"`
	EventID  string            `json:"event_id,omitempty"`
	After    string            `json:"after,omitempty"`
	Time     time.Time         `json:"time"`
}

// Pending is a deadline still to come after the last event: time moves
// only as far as the events go, as in alerter replay.
type Pending struct {
	Rule  string            `json:"rule"`
	Group map[string]string `json:"group"`
	// Kind is what it does when it falls due: "resolve" (resolve.after),
	// "escalate" (escalate: step Step, unless the group is acknowledged or
	// resolved first), "digest" (the digest of the Count matches
	// suppressed so far), or "alert" (an absence's or a quiet group's).
	Kind  string    `json:"kind"`
	Due   time.Time `json:"due"`
	Step  int       `json:"step,omitempty"`
	Count int64     `json:"count,omitempty"`
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
	// hold only the events that matched or that deadlines made something
	// before, the first Backtest.Shown of them.
	Backtest *Backtest `json:"backtest,omitempty"`
	// Pending are the deadlines still to come after the last event, in
	// time order.
	Pending []Pending `json:"pending"`
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
func playgroundTests(ctx context.Context, cfg *config.Config, set *rules.Set, shift int) []EvalTest {
	out := []EvalTest{}
	for _, r := range ruletest.Run(ctx, set, set.Router(cfg.Routes)) {
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
// and the notifiers of cfg, and runs events through it alone, with fresh
// windows, in event-time order: the playground's question "would this
// rule fire on this event, and what would it say?".
func (s *Playground) Evaluate(ctx context.Context, cfg *config.Config, req Request) EvalResponse {
	resp := EvalResponse{Errors: []EvalError{}, Rules: []string{}, Results: []EvalResult{}, Tests: []EvalTest{}, Pending: []Pending{}}
	set, shift, errs := s.compilePlayground(cfg, req.Rule)
	if len(errs) > 0 {
		resp.Errors = errs
		return resp
	}
	resp.Tests = playgroundTests(ctx, cfg, set, shift)
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
		s.live.Enrich(ctx, &evs[i])
	}
	lists, route := s.liveLists(cfg, set), set.Router(cfg.Routes)
	var clock time.Time
	store := &engine.MemStore{}
	eng := engine.New(set, store, engine.WithClock(func() time.Time { return clock }), engine.WithEventClock())
	for i := range evs {
		if stopped(ctx, &resp) {
			return resp
		}
		ev := &evs[i]
		clock = ev.Time
		// The deadlines due before the event fire first (absences, quiet
		// sources, the alert lifecycle's): what they make is shown with
		// the event that moved time past them.
		res, ferr := eng.Advance(ctx, ev.Time)
		plan := eng.Plan(ctx, ev, lists)
		seen := lastSeen(store, plan.Matches)
		applied, err := eng.Apply(ctx, plan)
		res.Merge(applied)
		err = errors.Join(ferr, err)
		if bt != nil && !bt.count(ev, res, err) {
			continue
		}
		r := s.evalResult(cfg, ev, res, err, route)
		r.Distinct, r.LastSeen = distinctWindows(store, res.Matches), seen
		r.Chains = partialChains(store, res.Matches)
		resp.Results = append(resp.Results, r)
	}
	if bt != nil {
		bt.Running = s.runningAlerts(ctx, cfg, set, evs)
	}
	if stopped(ctx, &resp) {
		return resp
	}
	pending, perr := pendingDeadlines(ctx, eng, store, set)
	if perr != nil {
		resp.Errors = append(resp.Errors, EvalError{File: playgroundRule, Message: perr.Error()})
		return resp
	}
	resp.Pending, resp.OK = pending, true
	return resp
}

// pendingDeadlines are the deadlines eng keeps that are still to come,
// with the next escalate: step and the digest's count from the groups'
// states in store.
func pendingDeadlines(ctx context.Context, eng *engine.Engine, store *engine.MemStore, set *rules.Set) ([]Pending, error) {
	dls, err := eng.Pending(ctx)
	if err != nil {
		return nil, err
	}
	out := []Pending{}
	for _, d := range dls {
		r := set.Rule(d.Rule)
		if r == nil {
			continue
		}
		p := Pending{Rule: d.Rule, Group: engine.GroupMap(r, d.Group), Kind: d.Kind, Due: d.Due}
		st, _ := store.Get(engine.StateKey(d.Rule, d.Group))
		switch tm := st.Timers(r); d.Kind {
		case engine.KindRule:
			p.Kind = "alert"
		case engine.KindEscalate:
			p.Step = tm.EscalateStep
		case engine.KindDigest:
			p.Count = tm.DigestCount
		}
		out = append(out, p)
	}
	return out, nil
}

// distinctWindows are the distinct values in the windows of the matches'
// groups whose rules count distinct values, as store holds them now.
func distinctWindows(store *engine.MemStore, matches []engine.Match) map[string][][]string {
	var out map[string][][]string
	for _, m := range matches {
		if m.Rule.Threshold == nil || len(m.Rule.Threshold.Distinct) == 0 {
			continue
		}
		if out == nil {
			out = map[string][][]string{}
		}
		st, _ := store.Get(engine.StateKey(m.Rule.ID, m.Group))
		out[m.Rule.ID] = nonNil(st.DistinctValues())
	}
	return out
}

// partialChains are the partial chains of the matches' groups whose rules
// are sequences, as store holds them now.
func partialChains(store *engine.MemStore, matches []engine.Match) map[string][]engine.ChainStep {
	var out map[string][]engine.ChainStep
	for _, m := range matches {
		if m.Rule.Sequence == nil {
			continue
		}
		if out == nil {
			out = map[string][]engine.ChainStep{}
		}
		st, _ := store.Get(engine.StateKey(m.Rule.ID, m.Group))
		out[m.Rule.ID] = nonNil(st.PartialChain(m.Rule.Sequence))
	}
	return out
}

// lastSeen are, for the matches of new_value rules, the times their
// groups last saw the matches' tuples, as store holds them now.
func lastSeen(store *engine.MemStore, matches []engine.Match) map[string]*time.Time {
	var out map[string]*time.Time
	for _, m := range matches {
		if m.Rule.NewValue == nil {
			continue
		}
		if out == nil {
			out = map[string]*time.Time{}
		}
		st, _ := store.Get(engine.StateKey(m.Rule.ID, m.Group))
		if t, ok := st.LastSeen(m.Tuple); ok {
			out[m.Rule.ID] = &t
		} else {
			out[m.Rule.ID] = nil
		}
	}
	return out
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
	case errors.Is(cause, ErrStopping):
		msg = "the evaluation was stopped: " + cause.Error()
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("the evaluation was stopped after %v, the limit of a playground request: try it on fewer events, or with a rule that does less", Timeout)
	}
	resp.OK = false
	resp.Errors = append(resp.Errors, EvalError{File: playgroundRule, Message: msg})
	return true
}

// playgroundEvents are the events a rule is tried on: those given, or for
// a backtest (since) the stored ones, with the backtest's summary to fill
// in. release frees the backtest's place when the caller is done.
func (s *Playground) playgroundEvents(ctx context.Context, req Request) (evs []event.Event, bt *Backtest, release func(), _ *EvalError) {
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
		if evs, bt.Truncated, err = s.events.NewestEvents(ctx, time.Now().Add(-d), backtestEvents); err != nil {
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
// only what matched or what deadlines made is told, and only so much.
func (bt *Backtest) count(ev *event.Event, res engine.Result, err error) bool {
	// What deadlines made counts too: it came before the event, which
	// need not match.
	pages := len(res.Alerts) + len(res.Escalations) + len(res.Digests)
	if len(res.Matches) == 0 && len(res.Errors) == 0 && err == nil && pages == 0 && len(res.Resolves) == 0 && len(res.Suppressed) == 0 {
		return false
	}
	if len(res.Matches) > 0 {
		bt.Matched++
	}
	bt.Alerts += len(res.Alerts)
	bt.Suppressed += len(res.Suppressed)
	bt.Escalations += len(res.Escalations)
	bt.Resolves += len(res.Resolves)
	bt.Digests += len(res.Digests)
	if pages > 0 {
		day := ev.Time.UTC().Format(time.DateOnly)
		if n := len(bt.ByDay); n > 0 && bt.ByDay[n-1].Day == day {
			bt.ByDay[n-1].Alerts += pages
		} else {
			bt.ByDay = append(bt.ByDay, DayCount{Day: day, Alerts: pages})
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
func (s *Playground) evalResult(cfg *config.Config, ev *event.Event, res engine.Result, err error, route alerter.Router) EvalResult {
	r := EvalResult{Event: ev, Matches: []string{}, Alerts: nonNil(res.Alerts), Suppressed: nonNil(res.Suppressed),
		Escalations: nonNil(res.Escalations), Resolves: []Resolve{}, Digests: nonNil(res.Digests), Errors: []string{}, Notifications: []Notification{}}
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	for _, m := range res.Matches {
		r.Matches = append(r.Matches, m.Rule.ID)
	}
	for _, a := range slices.Concat(r.Alerts, r.Escalations, r.Digests) {
		a.Notify = nonNil(route.Route(a))
		for _, t := range a.Notify {
			if nc := cfg.Notifier(t); nc != nil {
				r.Notifications = append(r.Notifications, s.preview(a, nc, cfg.Server.ExternalURL))
			}
		}
	}
	for _, rv := range res.Resolves {
		x := Resolve{Rule: rv.Rule, Group: rv.Group, DedupKey: rv.DedupKey, EventID: rv.EventID, Time: rv.Time}
		if rv.After > 0 {
			x.After = rv.After.String()
		}
		r.Resolves = append(r.Resolves, x)
	}
	for _, e := range res.Errors {
		r.Errors = append(r.Errors, e.Error())
	}
	_ = ev.LoadRaw()
	return r
}

// runningAlerts runs the loaded rules that have the ids of tried's over
// evs, as they run now, and counts their alerts by rule id.
func (s *Playground) runningAlerts(ctx context.Context, cfg *config.Config, tried *rules.Set, evs []event.Event) map[string]int {
	running := s.live.Rules()
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
	lists := s.liveLists(cfg, loaded)
	var clock time.Time
	eng := engine.New(loaded, &engine.MemStore{}, engine.WithClock(func() time.Time { return clock }), engine.WithEventClock())
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
func (s *Playground) liveLists(cfg *config.Config, set *rules.Set) map[string][]string {
	dynamic := cfg.DynamicLists()
	live := s.live.Lists()
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

// compilePlayground compiles the playground's rule text. A single rule
// (a mapping with id:) is wrapped into a rule file, and error positions
// are given back in the text as typed. The running set's macros and lists
// are available to it, unless it defines its own of the same name.
func (s *Playground) compilePlayground(cfg *config.Config, text string) (set *rules.Set, shift int, errs []EvalError) {
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
	running := s.live.Rules()
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

// preview renders what the notifier nc would send for a, without sending
// and without its credentials.
func (s *Playground) preview(a *alerter.Alert, nc *config.Notifier, externalURL string) Notification {
	n := Notification{Alert: a.ID, Target: nc.Name, Type: nc.Type, Subject: a.Title, Text: a.Text}
	p, ok := s.notifiers.Lookup(nc.Type)
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

// nonNil is s, or an empty slice for nil: JSON answers say [] rather
// than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
