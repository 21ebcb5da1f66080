// Package httpapi is alerter's HTTP surface (docs/api.md): the API and its
// tokens and roles, the guard every request passes, the webhook sources'
// paths, health, readiness and metrics, and the web UI. Its handlers reach
// the rest of alerter only through the small interfaces below, which the
// composition root (package app) satisfies with the running parts; none
// of them knows a NATS subject or header.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/lifecycle"
	"github.com/alerter/alerter/playground"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/silences"
	"github.com/alerter/alerter/verdicts"
)

// Live is the running evaluation: the rules in force and what each did,
// the lists they see, and what the evaluator adds to an event.
type Live interface {
	Rules() *rules.Set
	Stats(rule string) *engine.RuleStats
	// Lists are the lists rules see live; nil: their set's own.
	Lists() map[string][]string
	// Enrich fills in what the evaluator fills in before rules see ev.
	Enrich(ctx context.Context, ev *event.Event)
}

// Alerts is the alert history (the ALERTS stream).
type Alerts interface {
	// AlertHistory calls fn with the alerts of rule ("" for all) stored
	// before sequence before (0: the newest), newest first, while fn
	// returns true; next continues from there.
	AlertHistory(ctx context.Context, before uint64, rule string, fn func(*alerter.Alert) bool) (next uint64, err error)
	// FindAlert is the alert of id and its stored bytes: bus.ErrNotFound
	// when there is none, bus.ErrUnreadable when it cannot be decoded.
	FindAlert(ctx context.Context, id string) (*alerter.Alert, []byte, error)
	// Alert is the stored alert of id and its sequence; an error when
	// there is none.
	Alert(ctx context.Context, id string) ([]byte, uint64, error)
	// PublishNotice queues the notification id (data) of alert of (a
	// resolve or an acknowledgement), of rule, to the targets it names;
	// storing it again queues nothing more.
	PublishNotice(ctx context.Context, rule, id, of string, data []byte) error
}

// DeadLetters are the notifications given up on.
type DeadLetters interface {
	DeadLetters(ctx context.Context, before uint64, notifier string, fn func(*alerter.DeadLetter) bool) (next uint64, err error)
	// PublishRedelivery stores a copy of an alert for target alone, the
	// handing back of revision rev of its delivery record.
	PublishRedelivery(ctx context.Context, rule, id, target string, rev uint64, data []byte) error
}

// Outcomes is the record of what became of each alert at each target.
type Outcomes interface {
	Get(ctx context.Context, target, alertID string) (alerter.Outcome, bool, error)
	// Requeue marks a dead delivery as handed back (see bus.Deliveries).
	Requeue(ctx context.Context, target, alertID string) (rev uint64, already, claimed bool, err error)
	// TTL is how long an outcome is kept: a dead letter older has none
	// left to hand back.
	TTL() time.Duration
}

// Events are the stored events (the EVENTS stream).
type Events interface {
	SearchEvents(ctx context.Context, before uint64, q bus.EventQuery, fn func(stored time.Time, ev *event.Event) bool) (next uint64, err error)
	// FindEvents are the events of ids stored between start and end (a
	// zero end: until now), by id.
	FindEvents(ctx context.Context, ids []string, start, end time.Time) (map[string]bus.StoredEvent, error)
	// EventsSince calls fn with the events stored since start, oldest
	// first (the order the evaluator takes them), until fn returns false
	// or the end of the stream.
	EventsSince(ctx context.Context, start time.Time, fn func(stored time.Time, ev *event.Event) bool) error
}

// State is the engine's stored state of rule groups.
type State interface {
	Get(ctx context.Context, key string) (engine.GroupState, bool, error)
}

// AlertStates are what people made of alert groups: acknowledged,
// resolved (lifecycle.Store).
type AlertStates interface {
	Get(ctx context.Context, a *alerter.Alert) (*lifecycle.State, error)
	Update(ctx context.Context, a *alerter.Alert, fn func(*lifecycle.State) (bool, error)) (*lifecycle.State, error)
}

// Acts acknowledge and resolve alert groups (lifecycle.Acts).
type Acts interface {
	Act(ctx context.Context, a *alerter.Alert, to lifecycle.Status, who actions.Identity, c lifecycle.Change) (lifecycle.Acted, error)
}

// Verdicts keep the verdicts of resolved alerts (verdicts.Store).
type Verdicts interface {
	Record(ctx context.Context, e verdicts.Entry) error
	// Recent are the entries of the last verdicts.Window.
	Recent(ctx context.Context) ([]verdicts.Entry, error)
}

// Silences are the silences and their store.
type Silences interface {
	List() []silences.Silence
	Get(id string) (silences.Silence, bool)
	CheckMatchers(sl *silences.Silence) error
	Add(ctx context.Context, sl silences.Silence) (silences.Silence, error)
	Expire(ctx context.Context, id string) (silences.Silence, error)
}

// Reloader reloads the config and the rules.
type Reloader interface {
	// Reload reloads, as asked by who; false: rejected, the running
	// config and rules stay.
	Reload(ctx context.Context, trigger string, who actions.Identity) bool
	Status() api.ReloadStatus
}

// Actions record what is done through the API as alerter's own events.
type Actions interface {
	Publish(ctx context.Context, act actions.Action)
}

// Playground tries rules (POST /api/v1/evaluate).
type Playground interface {
	Evaluate(ctx context.Context, cfg *config.Config, req playground.Request) playground.EvalResponse
}

// Readiness tells whether alerter can take and evaluate events, check by
// check (GET /readyz).
type Readiness interface {
	Ready(ctx context.Context) (checks map[string]string, ok bool)
}

// Notifier is the queue of one target (a delivery.Deliverer).
type Notifier interface {
	Name() string
	Stats() *delivery.Stats
	// Pending are the alerts in its queue, waiting or being tried.
	Pending(ctx context.Context) (uint64, error)
	// Send sends a at once, outside the queue, within the target's rate.
	Send(ctx context.Context, a *alerter.Alert) error
}

// SlackApp is a Slack app whose messages carry buttons, a slack notifier
// with a signing secret (slack.App): it tells its requests from others and
// answers the person who pressed a button.
type SlackApp interface {
	Name() string
	// Verify checks that a request of body with headers h was signed by
	// the app, at most 5 minutes ago.
	Verify(h http.Header, body []byte, now time.Time) error
	// Update replaces the message at channel and ts with a's as it stands
	// now, and note.
	Update(ctx context.Context, channel, ts string, a *alerter.Alert, note string) error
	// Tell answers the person who pressed a button with text only they
	// see, through the interaction's responseURL.
	Tell(ctx context.Context, responseURL, text string) error
}

// SignedRequests remember the signed requests taken (bus.Replays), so
// that one sent again within its signature's window is not taken twice:
// Claim records a key unless it is recorded already, atomically.
type SignedRequests interface {
	Claim(ctx context.Context, key string) (bool, error)
}

// Options are what the API is made of, the same for every config.
type Options struct {
	Log         *slog.Logger
	Live        Live
	Alerts      Alerts
	DeadLetters DeadLetters
	Outcomes    Outcomes
	Events      Events
	State       State
	Silences    Silences
	Reloader    Reloader
	Actions     Actions
	Playground  Playground
	Readiness   Readiness
	AlertStates AlertStates
	// Acts acknowledge and resolve the groups in AlertStates; without
	// both, alerts cannot be acted on here.
	Acts Acts
	// Verdicts, if not nil, keep the verdicts given when resolving, for
	// the rules' precision.
	Verdicts Verdicts
	// Stopping ends when alerter begins to stop: playground requests end
	// then, rather than hold the shutdown for their whole time.
	Stopping context.Context
}

// Generation is what the HTTP surface serves of one config: the config,
// its webhook sources by path, its notifiers' queues, and its metrics.
type Generation struct {
	Config    *config.Config
	Webhooks  map[string]http.Handler
	Notifiers []Notifier // in config order
	Metrics   http.Handler
	// SlackApps are the slack notifiers with a signing secret, whose
	// buttons POST /slack/interactions takes; SignedRequests, if not nil,
	// what it took already.
	SlackApps      []SlackApp
	SignedRequests SignedRequests
}

// Server makes the HTTP handler of each config; what is shared between
// them (the playground's places) it keeps.
type Server struct {
	opt Options
	// playground holds a place for each playground request running; a
	// request waits playgroundWait at most for one.
	playground     chan struct{}
	playgroundWait time.Duration
}

// Bounds of the playground, which runs rules anyone who reaches the API
// can write (docs/api.md): playgroundSlots requests run at a time; the
// others wait for a slot, up to playgroundWait.
const (
	playgroundSlots = 2
	playgroundWait  = 5 * time.Second
)

// New is the HTTP surface of alerter made of opt.
func New(opt Options) *Server {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Stopping == nil {
		opt.Stopping = context.Background()
	}
	return &Server{opt: opt, playground: make(chan struct{}, playgroundSlots), playgroundWait: playgroundWait}
}

// handler serves one generation, with the ports of opt.
type handler struct {
	*Server
	Options
	gen Generation
	cfg *config.Config // gen.Config
}
