// Package app is the composition root of alerter run (docs/running.md,
// "The pipeline"): it connects to NATS, makes the streams, the state and
// the silences, the engine and the evaluator, and from the config the
// sources, the notifiers' queues and the HTTP server, each handed what it
// needs when it is made; it runs them, reloads the config, and stops them
// in the reverse order. Sources store events in the EVENTS stream, a
// durable consumer evaluates them and stores the alerts in ALERTS, and one
// durable consumer per notifier delivers them. It runs on an embedded
// nats-server, or on a NATS cluster shared by several replicas.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/deadlines"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/httpapi"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/ingest/confluence"
	"github.com/alerter/alerter/internal/busconfig"
	"github.com/alerter/alerter/lifecycle"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/playground"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/silences"
	"github.com/alerter/alerter/statestore"
	"github.com/alerter/alerter/verdicts"
)

// Options are what the config file does not say.
type Options struct {
	// Logger for alerter; default discards.
	Logger *slog.Logger
	// Stdout is where the console notifier prints; default os.Stdout.
	Stdout io.Writer
	// AckWait overrides nats.ack_wait.
	AckWait time.Duration
	// ShutdownTimeout bounds the graceful shutdown; default 15s.
	ShutdownTimeout time.Duration
	// LoadConfig reads the config again, for a reload; nil (the embedded
	// defaults): a reload reads the rules only.
	LoadConfig func() (*config.Config, error)
	// Notifiers and Sources are the plug-ins targets and sources are built
	// with; default: builtin's. They must be those cfg was loaded with.
	Notifiers notifiers.Registry
	Sources   ingest.Registry
	// silenceLead is how long before its end a silence is announced as
	// about to end; default an hour (tests shorten it).
	silenceLead time.Duration
	// silenceReconcile is how often the silences' announcements are
	// scheduled again (default announce.DefaultReconcile), for tests.
	silenceReconcile time.Duration
}

// App is a running alerter.
type App struct {
	opt      Options
	log      *slog.Logger
	replicas int // of streams, consumers and buckets
	// testNotifiers replace the configured targets of these names.
	testNotifiers map[string]delivery.Notifier
	// gen is everything built from the config, swapped whole by a reload.
	gen atomic.Pointer[generation]

	embedded *bus.Embedded
	nc       *nats.Conn
	js       jetstream.JetStream
	streams  *bus.Streams
	state    *statestore.Store
	eng      *engine.Engine
	eval     *evaluator.Evaluator
	// deadlines keeps the deadlines of absences, quiet groups and
	// resolve.after, which wait the engine's lateness for late events;
	// lifecycleDeadlines those of escalate: after steps, in wall-clock
	// time, which do not.
	deadlines          *deadlines.Store
	lifecycleDeadlines *deadlines.Store
	// checkpoints keep the positions of poll and file sources.
	checkpoints  *bus.Checkpoints
	deliveries   *bus.Deliveries
	replays      *bus.Replays // opened for the first signed webhook
	silenceStore *silences.Store
	// announcing announces when silences end.
	announcing announcing
	// alertStates are what people made of alert groups (acknowledged,
	// resolved).
	alertStates *lifecycle.Store
	// acts acknowledge and resolve alert groups, for the API and for the
	// rules' resolve.when.
	acts *lifecycle.Acts
	// verdicts keep the verdicts of resolves for 30 days, for the rules'
	// precision.
	verdicts *verdicts.Store
	// deliveriesTTL is how long outcomes are remembered.
	deliveriesTTL time.Duration
	// enriching: the evaluator fills actor groups (decided at start).
	enriching bool
	// watch makes losses of the streams loud.
	watch       *streamWatch
	evalLatency prometheus.Histogram
	lifecycle   lifecycleMetrics

	listener net.Listener
	srv      *http.Server
	// start says what New waits for; handler serves the starting answers
	// until New is done, then the generation's; serveErr is the HTTP
	// server's end.
	start    startup
	handler  swapHandler
	serveErr chan error
	ready    chan struct{}
	reload   reloader
	// actions stores what is done through alerter as its own events.
	actions    *actions.Publisher
	playground *playground.Playground
	// http makes the HTTP handler of each generation.
	http *httpapi.Server
	// stopping ends when the App begins to stop: playground requests end
	// then, rather than hold the shutdown for their whole time.
	stopping context.Context
	stop     context.CancelFunc
	// closers stop what New started, the last first.
	closers teardown
}

// streamBytes are the byte limits of the streams, by stream name.
func streamBytes(b config.StreamBytes) map[string]int64 {
	return map[string]int64{
		bus.EventsStream:   int64(b.Events),
		bus.AlertsStream:   int64(b.Alerts),
		bus.RejectedStream: int64(b.Rejected),
		bus.DeadStream:     int64(b.DeadLetters),
	}
}

// New starts what alerter stands on (NATS, streams, state, rules, the
// listener) and returns it ready to Run; any error is reported before
// anything is served. On error, what was started is stopped again.
func New(ctx context.Context, cfg *config.Config, opt Options) (*App, error) {
	return newApp(ctx, cfg, opt, nil)
}

// newApp is New with notifiers that replace the configured targets of
// their names (tests).
func newApp(ctx context.Context, cfg *config.Config, opt Options, notifiers map[string]delivery.Notifier) (s *App, err error) {
	s = &App{opt: withDefaults(opt, cfg), log: opt.Logger, replicas: max(cfg.NATS.Replicas, 1), testNotifiers: notifiers,
		ready: make(chan struct{})}
	s.log = s.opt.Logger
	s.stopping, s.stop = context.WithCancel(context.Background())
	s.closers.push(s.stop)
	// The returns below set s to nil: close what was built through its
	// own name.
	built := s
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	set, err := rules.Load(cfg.Rules.Paths, cfg.RuleOptions())
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	s.reload.status = api.ReloadStatus{At: time.Now().UTC(), OK: true, Trigger: "start", Version: set.Version, Rules: len(set.Rules)}
	if err := s.serve(cfg.Server.Listen); err != nil {
		return nil, err
	}
	if err := s.connect(ctx, cfg.NATS); err != nil {
		return nil, err
	}
	s.start.set("creating streams, consumers and buckets")
	if err := s.openStorage(ctx, cfg, set); err != nil {
		return nil, err
	}
	s.newHTTP()
	g, err := s.build(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	s.gen.Store(g)
	s.handler.set(g.handler)
	s.log.Info("alerter ready", "listen", s.Addr(), "rules", len(set.Rules), "rule_files", len(set.Files),
		"nats", s.natsDescription(cfg.NATS), "webhooks", slices.Collect(maps.Keys(g.webhooks)))
	return s, nil
}

func withDefaults(opt Options, cfg *config.Config) Options {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Stdout == nil {
		opt.Stdout = os.Stdout
	}
	if opt.Notifiers == nil {
		opt.Notifiers = builtin.Notifiers()
	}
	if opt.Sources == nil {
		opt.Sources = builtin.Sources()
	}
	if opt.AckWait <= 0 {
		opt.AckWait = time.Duration(cfg.NATS.AckWait)
	}
	if opt.AckWait <= 0 {
		opt.AckWait = 10 * time.Second
	}
	if opt.ShutdownTimeout <= 0 {
		opt.ShutdownTimeout = 15 * time.Second
	}
	return opt
}

// serve starts the HTTP server. It answers from the start, so that
// /readyz can say what alerter waits for while NATS is not ready for it
// (a cluster that is still forming).
func (s *App) serve(listen string) (err error) {
	s.listener, err = net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	s.start.set("connecting to NATS")
	s.handler.set(httpapi.Starting(s.startingWhat))
	s.srv = &http.Server{
		Handler:           &s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv, l, served := s.srv, s.listener, make(chan error, 1)
	s.serveErr = served
	go func() { served <- srv.Serve(l) }()
	// Closed already after a graceful shutdown; on a failed start, this
	// stops the starting answers.
	s.closers.push(func() { _ = srv.Close() })
	return nil
}

// openStorage creates the streams, consumers and buckets alerter keeps
// its state in, and the engine and evaluator that work on them.
func (s *App) openStorage(ctx context.Context, cfg *config.Config, set *rules.Set) error {
	n := cfg.NATS
	err := s.ensure(ctx, "streams", func(ctx context.Context) (err error) {
		s.streams, err = bus.EnsureStreams(ctx, s.js, bus.StreamOptions{Retention: time.Duration(n.Retention), Replicas: s.replicas, MaxBytes: streamBytes(n.MaxBytes)})
		return err
	})
	if err != nil {
		return err
	}
	err = s.ensure(ctx, "the state bucket", func(ctx context.Context) (err error) {
		s.state, err = statestore.New(ctx, s.js, statestore.Options{Replicas: s.replicas, FailOpen: n.FailOpen, Logger: s.log})
		return err
	})
	if err != nil {
		return err
	}
	err = s.ensure(ctx, "the deadlines stream", func(ctx context.Context) (err error) {
		s.deadlines, err = deadlines.Open(ctx, s.js, deadlines.Options{Name: "rules", Lateness: time.Duration(cfg.Engine.Lateness),
			Replicas: s.replicas, AckWait: s.opt.AckWait, Log: s.log})
		if err != nil {
			return err
		}
		s.lifecycleDeadlines, err = deadlines.Open(ctx, s.js, deadlines.Options{Name: "lifecycle",
			Replicas: s.replicas, AckWait: s.opt.AckWait, Log: s.log})
		return err
	})
	if err != nil {
		return err
	}
	s.eng = engine.New(set, s.state, engine.WithLogger(s.log))
	if err := s.newEvaluator(ctx, cfg); err != nil {
		return err
	}
	err = s.ensure(ctx, "the checkpoints bucket", func(ctx context.Context) (err error) {
		s.checkpoints, err = bus.NewCheckpoints(ctx, s.js, "", s.replicas)
		return err
	})
	if err != nil {
		return err
	}
	s.watch = newStreamWatch(s.streams, s.eval.Consumer(), s.checkpoints, s.log)
	err = s.ensure(ctx, "the silences bucket", func(ctx context.Context) (err error) {
		s.silenceStore, err = silences.Open(ctx, s.js, silences.Options{Replicas: s.replicas, Logger: s.log, Policy: silencePolicy(cfg, s.eng)})
		return err
	})
	if err != nil {
		return err
	}
	s.closers.push(s.silenceStore.Close)
	if err := s.openAnnouncements(ctx, cfg); err != nil {
		return err
	}
	// Outcomes are remembered as long as alerts can still be retried.
	s.deliveriesTTL = deliveriesTTL(cfg)
	err = s.ensure(ctx, "the deliveries bucket", func(ctx context.Context) (err error) {
		s.deliveries, err = bus.NewDeliveries(ctx, s.js, s.replicas, s.deliveriesTTL)
		return err
	})
	if err != nil {
		return err
	}
	// What became of an alert group is kept as long as its alerts are.
	err = s.ensure(ctx, "the alert states bucket", func(ctx context.Context) (err error) {
		s.alertStates, err = lifecycle.Open(ctx, s.js, s.replicas, time.Duration(cfg.NATS.Retention))
		return err
	})
	if err != nil {
		return err
	}
	// Verdicts are kept 30 days, whatever the retention of the alerts.
	return s.ensure(ctx, "the verdicts bucket", func(ctx context.Context) (err error) {
		s.verdicts, err = verdicts.Open(ctx, s.js, s.replicas)
		return err
	})
}

// newEvaluator makes the evaluator, routing with the rules in force when
// an alert fires and the routes of the generation in force (both reload).
func (s *App) newEvaluator(ctx context.Context, cfg *config.Config) error {
	s.evalLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "alerter_evaluation_duration_seconds",
		Help:    "Time to evaluate one event against the rules, state updates included.",
		Buckets: []float64{1e-6, 5e-6, 25e-6, 1e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1, 0.5, 2.5},
	})
	opt := evaluator.Options{Engine: s.eng, Alerts: s.streams, Router: s.router, Lists: s.lists, Log: s.log,
		Observe: func(d time.Duration) { s.evalLatency.Observe(d.Seconds()) },
		AckWait: s.opt.AckWait, Replicas: s.replicas, Deadlines: s.deadlines, Lifecycle: s.lifecycleDeadlines, Events: s.streams, Acked: s.acked,
		Resolve: s.resolveGroup, EventURL: s.eventURL}
	// Enriching puts each event through one more step; alerter takes it
	// only when the config at start asks for it (a reload cannot add it).
	if s.enriching = enriches(cfg); s.enriching {
		opt.Enrich = s.enrich
	}
	return s.ensure(ctx, "the evaluator's consumer", func(ctx context.Context) (err error) {
		s.eval, err = evaluator.New(ctx, s.js, opt)
		return err
	})
}

// newHTTP makes what answers over HTTP and what it stands on: the
// actions record, the playground and the API, on the parts of s.
func (s *App) newHTTP() {
	s.actions = actions.NewPublisher(s.streams, s.log)
	s.lifecycle = newLifecycleMetrics()
	s.acts = lifecycle.NewActs(lifecycle.ActsOptions{States: s.alertStates, Outcomes: outcomes{s}, Incidents: incidents{s},
		Notices: s.streams, Actions: s.actions, Observe: s.lifecycle.observe, Log: s.log})
	st := stored{Streams: s.streams, js: s.js}
	s.playground = playground.New(live{s}, st, s.opt.Notifiers)
	s.http = httpapi.New(httpapi.Options{
		Log: s.log, Live: live{s}, Alerts: s.streams, DeadLetters: s.streams, Outcomes: outcomes{s},
		Events: st, State: s.state, Silences: s.announcedSilences(), Reloader: reloads{s}, Actions: s.actions,
		Playground: s.playground, Readiness: readiness{s}, Stopping: s.stopping, AlertStates: s.alertStates,
		Acts: s.acts, Verdicts: s.verdicts,
	})
}

// router routes a fired alert with the rules in force and the routes of
// the generation in force.
func (s *App) router() alerter.Router {
	return s.eng.Rules().Router(s.config().Routes)
}

// lists are the rules' lists with those loaded from Confluence groups on
// top; nil (the rules' own) when the generation has none.
func (s *App) lists() map[string][]string {
	g := s.current()
	if g.merged == nil {
		return nil
	}
	return g.merged.get(s.eng.Rules())
}

// enrich fills the actor groups of ev through the generation's enricher.
func (s *App) enrich(ctx context.Context, ev *event.Event) {
	if g := s.current().enricher; g != nil {
		g.enrich(ctx, ev)
	}
}

// enriches tells whether a source of cfg fills actor groups.
func enriches(cfg *config.Config) bool {
	for _, src := range cfg.Sources {
		if src.Type == confluence.Type && confluence.ConfigOf(src).EnrichGroups {
			return true
		}
	}
	return false
}

// silencePolicy is the policy of cfg's silences, against the rules in force.
func silencePolicy(cfg *config.Config, eng *engine.Engine) silences.Policy {
	return silences.Policy{MaxDuration: time.Duration(cfg.Silences.MaxDuration), Rules: eng.Rules}
}

// deliveriesTTL is how long delivery outcomes are kept: as long as an
// alert of cfg can still be retried, and an hour.
func deliveriesTTL(cfg *config.Config) time.Duration {
	ttl := config.DefaultNotifierMaxAge
	for _, nc := range cfg.Notifiers {
		ttl = max(ttl, time.Duration(nc.MaxAge))
	}
	return ttl + time.Hour
}

// connect starts the embedded NATS server, or joins the cluster at
// nats.url.
func (s *App) connect(ctx context.Context, n config.NATS) error {
	c, err := bus.Open(ctx, busconfig.NATS(n, "alerter", s.log), s.log)
	if err != nil {
		return err
	}
	if c.Embedded != nil {
		s.embedded = c.Embedded
		s.closers.push(c.Embedded.Shutdown)
	}
	s.nc, s.js = c.NC, c.JS
	s.closers.push(func() { drain(s.nc) })
	return nil
}

// drain closes nc once the acks and publishes it still buffers are
// flushed, or after 5 seconds.
func drain(nc *nats.Conn) {
	if err := nc.Drain(); err != nil {
		nc.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); !nc.IsClosed() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	nc.Close()
}

func (s *App) natsDescription(n config.NATS) string {
	if s.embedded == nil {
		return "cluster"
	}
	if u := s.embedded.ClientURL(); u != "" {
		if n.Embedded.Token == "" {
			return "embedded, listening on " + u + " (token in " + bus.TokenFile(n.Embedded.StoreDir) + ")"
		}
		return "embedded, listening on " + u + " (token: nats.embedded.token)"
	}
	return "embedded at " + n.Embedded.StoreDir
}

// newDeliverer makes the deliverer of a notifier.
func (s *App) newDeliverer(ctx context.Context, nc config.Notifier, n delivery.Notifier) (d *delivery.Deliverer, err error) {
	p := delivery.Policy{
		MaxAttempts: nc.MaxAttempts,
		MaxAge:      time.Duration(nc.MaxAge),
		MaxBackoff:  time.Duration(nc.MaxBackoff),
		Timeout:     time.Duration(nc.Timeout),
		Rate:        nc.RatePerSecond,
	}
	err = s.ensure(ctx, "the queue of notifier "+nc.Name, func(ctx context.Context) (err error) {
		d, err = delivery.New(ctx, s.js, delivery.Options{Name: nc.Name, Notifier: n, Policy: p,
			Record: s.deliveries, DeadLetters: s.streams, Silencer: s.silencer(nc.Name),
			Log: s.log, Replicas: s.replicas, AckWait: s.opt.AckWait})
		return err
	})
	return d, err
}

// newNotifier builds the notifier of a config entry; nil for types not
// available in this build.
func (s *App) newNotifier(cfg *config.Config, nc config.Notifier) (delivery.Notifier, error) {
	if n, ok := s.testNotifiers[nc.Name]; ok {
		return n, nil
	}
	return s.opt.Notifiers.New(nc, notifiers.Deps{ExternalURL: cfg.Server.ExternalURL, Logger: s.log, Stdout: s.opt.Stdout})
}

// openReplays opens the bucket of signed webhook requests already taken,
// once, kept as long as EVENTS keeps their events (and an hour, as the
// deliveries are).
func (s *App) openReplays(ctx context.Context, n config.NATS) (*bus.Replays, error) {
	if s.replays != nil {
		return s.replays, nil
	}
	retention := time.Duration(n.Retention)
	if retention <= 0 {
		retention = bus.DefaultRetention
	}
	err := s.ensure(ctx, "the signed requests bucket", func(ctx context.Context) (err error) {
		s.replays, err = bus.NewReplays(ctx, s.js, s.replicas, retention+time.Hour)
		return err
	})
	return s.replays, err
}

// NATSURL is the client URL of the embedded NATS server, "" when it does
// not listen (nats.embedded.listen) or alerter joined a cluster.
func (s *App) NATSURL() string {
	if s.embedded == nil {
		return ""
	}
	return s.embedded.ClientURL()
}

// Ready is closed once every source takes events.
func (s *App) Ready() <-chan struct{} { return s.ready }

// Addr is the address the HTTP server listens on.
func (s *App) Addr() string { return s.listener.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully: it stops taking
// requests, lets those under way finish storing, finishes the events and
// alerts already taken, and stops NATS. What is not finished is not
// acknowledged, so it is redelivered on the next start.
func (s *App) Run(ctx context.Context) error {
	defer s.Close()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &runner{ctx: runCtx, cancel: cancel, log: s.log}
	s.reload.mu.Lock()
	s.reload.run = r
	g := s.current()
	r.start(&part{name: "evaluator", run: s.eval.Run})
	r.start(&part{name: "deadlines", run: func(ctx context.Context) error { return s.deadlines.Run(ctx, s.eval.Deadline) }})
	r.start(&part{name: "lifecycle deadlines", run: func(ctx context.Context) error { return s.lifecycleDeadlines.Run(ctx, s.eval.Deadline) }})
	r.start(&part{name: "stream watch", run: s.watch.run})
	r.start(&part{name: "silence announcements", run: s.runAnnouncements})
	for _, p := range g.parts {
		r.start(p)
	}
	if g.cfg.Rules.Watch {
		r.start(&part{name: "rules watch", run: s.watchRules})
	}
	s.reload.mu.Unlock()
	go s.waitReady(runCtx, g)
	var err error
	select {
	case <-runCtx.Done():
	case err = <-s.serveErr:
		err = fmt.Errorf("http server: %w", err)
		cancel(err)
	}
	s.log.Info("alerter stopping")
	s.stop()
	shutCtx, done := context.WithTimeout(context.WithoutCancel(ctx), s.opt.ShutdownTimeout)
	defer done()
	if serr := s.srv.Shutdown(shutCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		s.log.Warn("http shutdown", "err", serr)
	}
	// No reload starts anything from now on.
	s.reload.mu.Lock()
	r.stopped = true
	s.reload.mu.Unlock()
	cancel(nil)
	r.wg.Wait()
	return errors.Join(err, r.err())
}

// waitReady closes s.ready once every source of g takes events.
func (s *App) waitReady(ctx context.Context, g *generation) {
	for _, p := range g.parts {
		if p.ready == nil {
			continue
		}
		select {
		case <-p.ready:
		case <-ctx.Done():
			return
		}
	}
	close(s.ready)
}

// Close stops what New started, the last first. Run closes the App as it
// returns; Close is for an App that is not run. A second call does
// nothing.
func (s *App) Close() { s.closers.run() }

func itoa(n int) string { return strconv.Itoa(n) }

// counter is a statistic, safe for concurrent use.
type counter = atomic.Int64
