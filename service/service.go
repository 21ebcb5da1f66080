// Package service is alerter as an always-on service (docs/running.md, The pipeline): sources
// store events in the EVENTS stream, a durable consumer evaluates them and
// stores the alerts in ALERTS, and one durable consumer per notifier
// delivers them. It runs on an embedded nats-server, or on a NATS cluster
// shared by several replicas.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/evaluator"
	"github.com/alerter/alerter/ingest/confluence"
	"github.com/alerter/alerter/ingest/filetail"
	"github.com/alerter/alerter/ingest/natsource"
	"github.com/alerter/alerter/ingest/webhook"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/silences"
	"github.com/alerter/alerter/statestore"
)

// Options are what the config file does not say.
type Options struct {
	// Logger for the service; default discards.
	Logger *slog.Logger
	// Stdout is where the console notifier prints; default os.Stdout.
	Stdout io.Writer
	// AckWait overrides nats.ack_wait.
	AckWait time.Duration
	// ShutdownTimeout bounds the graceful shutdown; default 15s.
	ShutdownTimeout time.Duration

	// notifiers replace the configured targets of these names (tests).
	notifiers map[string]Notifier
}

// input is a source that runs on its own (all but webhooks).
type input struct {
	name  string
	run   func(context.Context) error
	ready <-chan struct{} // closed once it takes events; nil: at once
}

// Service is a running alerter.
type Service struct {
	cfg      *config.Config
	opt      Options
	log      *slog.Logger
	embedded *bus.Embedded
	nc       *nats.Conn
	js       jetstream.JetStream
	streams  *bus.Streams
	state    *statestore.Store
	eng      *engine.Engine
	eval     *evaluator.Evaluator
	deliver  []*delivery.Deliverer
	webhooks map[string]*webhook.Handler
	inputs   []input
	// checkpoints keep the positions of poll and file sources.
	checkpoints  *bus.Checkpoints
	deliveries   *bus.Deliveries
	silenceStore *silences.Store
	// dirs read Confluence's users and groups, per confluence-poll source.
	dirs     map[string]*confluence.Directory
	lists    *confluence.Lists // loaded from Confluence groups; nil without
	listener net.Listener
	srv      *http.Server
	ready    chan struct{}
	reload   reloader
	enricher *groupEnricher // when a source enriches actor groups
	// evalLists are the lists rules see, with those of Confluence groups;
	// nil: the rule set's own.
	evalLists func() map[string][]string
	// sourceStats and evalLatency feed /metrics.
	sourceStats []sourceStats
	evalLatency prometheus.Histogram
	// backtest is held by the one backtest running (each holds up to
	// backtestEvents events in memory).
	backtest chan struct{}
	// playground holds a place for each playground request running; a
	// request waits playgroundWait at most for one.
	playground     chan struct{}
	playgroundWait time.Duration
	// stopping ends when the service begins to stop: playground requests
	// end then, rather than hold the shutdown for their whole time.
	stopping context.Context
	stop     context.CancelFunc
	// deliveriesTTL is how long outcomes are remembered.
	deliveriesTTL time.Duration
	// start says what New waits for; handler serves the starting answers
	// until New is done; serveErr is the HTTP server's end.
	start    startup
	handler  swapHandler
	serveErr chan error
	// watch makes losses of the streams loud.
	watch *streamWatch
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

// New starts what the service stands on (NATS, streams, state, rules, the
// listener) and returns it ready to Run; any error is reported before
// anything is served. On error, what was started is stopped again.
func New(ctx context.Context, cfg *config.Config, opt Options) (s *Service, err error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Stdout == nil {
		opt.Stdout = os.Stdout
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
	s = &Service{cfg: cfg, opt: opt, log: opt.Logger, webhooks: map[string]*webhook.Handler{}, ready: make(chan struct{}), backtest: make(chan struct{}, 1), playground: make(chan struct{}, playgroundSlots), playgroundWait: playgroundWait}
	s.stopping, s.stop = context.WithCancel(context.Background())
	built := s
	defer func() {
		if err != nil {
			built.close()
		}
	}()

	set, err := s.loadRules()
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	s.reload.status = ReloadStatus{At: time.Now().UTC(), OK: true, Trigger: "start", Version: set.Version, Rules: len(set.Rules)}
	// The HTTP server answers from the start, so that /readyz can say
	// what alerter waits for while NATS is not ready for it (a cluster
	// that is still forming).
	s.listener, err = net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	s.start.set("connecting to NATS")
	s.handler.set(s.startingHandler())
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

	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	s.start.set("creating streams, consumers and buckets")
	replicas := max(cfg.NATS.Replicas, 1)
	err = s.ensure(ctx, "streams", func(ctx context.Context) (err error) {
		s.streams, err = bus.EnsureStreams(ctx, s.js, bus.StreamOptions{Retention: time.Duration(cfg.NATS.Retention), Replicas: replicas, MaxBytes: streamBytes(cfg.NATS.MaxBytes)})
		return err
	})
	if err != nil {
		return nil, err
	}
	err = s.ensure(ctx, "the state bucket", func(ctx context.Context) (err error) {
		s.state, err = statestore.New(ctx, s.js, statestore.Options{Replicas: replicas, FailOpen: cfg.NATS.FailOpen, Logger: s.log})
		return err
	})
	if err != nil {
		return nil, err
	}
	s.eng = engine.New(set, s.state, engine.WithLogger(s.log))
	if err := s.openCheckpoints(ctx, replicas); err != nil {
		return nil, err
	}
	s.evalLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "alerter_evaluation_duration_seconds",
		Help:    "Time to evaluate one event against the rules, state updates included.",
		Buckets: []float64{1e-6, 5e-6, 25e-6, 1e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1, 0.5, 2.5},
	})
	err = s.ensure(ctx, "the silences bucket", func(ctx context.Context) (err error) {
		s.silenceStore, err = silences.Open(ctx, s.js, silences.Options{Replicas: replicas, Logger: s.log,
			Policy: silences.Policy{MaxDuration: time.Duration(cfg.Silences.MaxDuration), Rules: s.eng.Rules}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := s.notifiers(ctx, replicas); err != nil {
		return nil, err
	}
	if err := s.sources(ctx, replicas); err != nil {
		return nil, err
	}
	if err := s.dynamicLists(ctx); err != nil {
		return nil, err
	}
	if err := s.evaluator(ctx, replicas); err != nil {
		return nil, err
	}
	s.watch = newStreamWatch(s.streams, s.eval.Consumer(), s.checkpoints, s.log)
	s.handler.set(s.httpHandler())
	s.log.Info("alerter ready", "listen", s.Addr(), "rules", len(set.Rules), "rule_files", len(set.Files),
		"nats", s.natsDescription(), "webhooks", s.webhookPaths())
	return s, nil
}

func (s *Service) connect(ctx context.Context) error {
	n := s.cfg.NATS
	var err error
	if n.URL == "" {
		var token string
		if token, err = embeddedToken(n.Embedded); err != nil {
			return err
		}
		s.embedded, err = bus.StartEmbedded(ctx, bus.EmbeddedOptions{
			StoreDir:   n.Embedded.StoreDir,
			Listen:     n.Embedded.Listen,
			SyncAlways: n.Sync == "always",
			Token:      token,
		}, s.log)
		if err != nil {
			return err
		}
		s.nc, err = s.embedded.Connect()
	} else {
		var tls *bus.TLSFiles
		if n.TLS != (config.TLS{}) {
			tls = &bus.TLSFiles{CA: n.TLS.CA, Cert: n.TLS.Cert, Key: n.TLS.Key}
		}
		s.nc, err = bus.Connect(ctx, n.URL, bus.ConnectOptions{
			CredsFile: n.Credentials,
			User:      n.User,
			Password:  n.Password.Value(),
			Token:     n.Token.Value(),
			TLS:       tls,
			Name:      "alerter",
			Logger:    s.log,
		})
	}
	if err != nil {
		return err
	}
	s.js, err = jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

// embeddedToken is the token the embedded server requires: the configured
// one, or, when it listens, the one kept in its store dir (made on the
// first start). Without a listener and a configured token only alerter's
// in-process connection reaches it, and it needs none.
func embeddedToken(e config.Embedded) (string, error) {
	switch {
	case e.Token != "":
		return e.Token.Value(), nil
	case e.Listen == "":
		return "", nil
	}
	return bus.EmbeddedToken(e.StoreDir)
}

func (s *Service) natsDescription() string {
	if s.embedded == nil {
		return "cluster"
	}
	if u := s.embedded.ClientURL(); u != "" {
		if s.cfg.NATS.Embedded.Token == "" {
			return "embedded, listening on " + u + " (token in " + bus.TokenFile(s.cfg.NATS.Embedded.StoreDir) + ")"
		}
		return "embedded, listening on " + u + " (token: nats.embedded.token)"
	}
	return "embedded at " + s.cfg.NATS.Embedded.StoreDir
}

// evaluator builds the evaluator, once what it works with is built.
func (s *Service) evaluator(ctx context.Context, replicas int) error {
	opt := evaluator.Options{Engine: s.eng, Alerts: s.streams, Lists: s.evalLists, Log: s.log,
		// Routed with the rules in force when the alert fires (they reload).
		Router:  func() alerter.Router { return s.eng.Rules().Router(s.cfg.Routes) },
		Observe: func(d time.Duration) { s.evalLatency.Observe(d.Seconds()) },
		AckWait: s.opt.AckWait, Replicas: replicas}
	if s.enricher != nil {
		opt.Enrich = s.enricher.enrich
	}
	return s.ensure(ctx, "the evaluator's consumer", func(ctx context.Context) (err error) {
		s.eval, err = evaluator.New(ctx, s.js, opt)
		return err
	})
}

func (s *Service) notifiers(ctx context.Context, replicas int) error {
	// Outcomes are remembered as long as alerts can still be retried.
	ttl := config.DefaultNotifierMaxAge
	for _, nc := range s.cfg.Notifiers {
		ttl = max(ttl, time.Duration(nc.MaxAge))
	}
	s.deliveriesTTL = ttl + time.Hour
	err := s.ensure(ctx, "the deliveries bucket", func(ctx context.Context) (err error) {
		s.deliveries, err = bus.NewDeliveries(ctx, s.js, replicas, s.deliveriesTTL)
		return err
	})
	if err != nil {
		return err
	}
	for _, nc := range s.cfg.Notifiers {
		n, err := s.newNotifier(nc)
		if err != nil {
			return fmt.Errorf("notifier %s: %w", nc.Name, err)
		}
		if n == nil {
			s.log.Warn("notifier type not available yet; its alerts stay queued in ALERTS", "notifier", nc.Name, "type", nc.Type)
			continue
		}
		p := delivery.Policy{
			MaxAttempts: nc.MaxAttempts,
			MaxAge:      time.Duration(nc.MaxAge),
			MaxBackoff:  time.Duration(nc.MaxBackoff),
			Timeout:     time.Duration(nc.Timeout),
			Rate:        nc.RatePerSecond,
		}
		var d *delivery.Deliverer
		err = s.ensure(ctx, "the queue of notifier "+nc.Name, func(ctx context.Context) (err error) {
			d, err = delivery.New(ctx, s.js, delivery.Options{Name: nc.Name, Notifier: n, Policy: p,
				Record: s.deliveries, DeadLetters: s.streams, Silencer: s.silenceStore,
				Log: s.log, Replicas: replicas, AckWait: s.opt.AckWait})
			return err
		})
		if err != nil {
			return err
		}
		s.deliver = append(s.deliver, d)
	}
	return nil
}

// newNotifier builds the notifier of a config entry.
func (s *Service) newNotifier(nc config.Notifier) (Notifier, error) {
	if n, ok := s.opt.notifiers[nc.Name]; ok {
		return n, nil
	}
	return builtin.Notifiers().New(nc, notifiers.Deps{ExternalURL: s.cfg.Server.ExternalURL, Logger: s.log, Stdout: s.opt.Stdout})
}

// Notifier sends one alert to one target.
type Notifier interface {
	Notify(ctx context.Context, a *alerter.Alert) error
}

// openReplays opens the bucket of signed webhook requests already taken,
// kept as long as EVENTS keeps their events (and an hour, as the
// deliveries are).
func (s *Service) openReplays(ctx context.Context, replicas int) (r *bus.Replays, err error) {
	retention := time.Duration(s.cfg.NATS.Retention)
	if retention <= 0 {
		retention = bus.DefaultRetention
	}
	err = s.ensure(ctx, "the signed requests bucket", func(ctx context.Context) (err error) {
		r, err = bus.NewReplays(ctx, s.js, replicas, retention+time.Hour)
		return err
	})
	return r, err
}

// openCheckpoints opens the checkpoint bucket, once, for the sources that
// keep a position.
func (s *Service) openCheckpoints(ctx context.Context, replicas int) error {
	if s.checkpoints != nil {
		return nil
	}
	return s.ensure(ctx, "the checkpoints bucket", func(ctx context.Context) (err error) {
		s.checkpoints, err = bus.NewCheckpoints(ctx, s.js, "", replicas)
		return err
	})
}

func (s *Service) sources(ctx context.Context, replicas int) error {
	// One limit for all webhook sources: it bounds the memory of the
	// process, whichever source the bodies come to.
	limiter := webhook.NewLimiter(s.cfg.Server.MaxIngestBytes)
	var replays webhook.Replays
	for _, src := range s.cfg.Sources {
		switch src.Type {
		case webhook.Type:
			secret := webhook.ConfigOf(src).Secret
			if replays == nil && secret != "" {
				r, err := s.openReplays(ctx, replicas)
				if err != nil {
					return err
				}
				replays = r
			}
			opt := webhook.Options{MaxBody: s.cfg.Server.MaxBodyBytes, Limiter: limiter, Log: s.log}
			if secret != "" {
				opt.Replays = replays
			}
			h, err := webhook.New(src, s.streams, opt)
			if err != nil {
				return err
			}
			path := webhook.ConfigOf(src).Path
			if path == "" {
				path = "/webhooks/" + src.Name
			}
			s.webhooks[path] = h
			s.sourceStats = append(s.sourceStats, sourceStats{src.Name, src.Type, h.Counters()})
		case natsource.Type:
			n, err := natsource.New(src, s.nc, s.js, s.streams, s.streams, natsource.Options{Logger: s.log, Replicas: replicas})
			if err != nil {
				return err
			}
			s.inputs = append(s.inputs, input{"source " + src.Name, n.Run, n.Ready()})
			s.sourceStats = append(s.sourceStats, sourceStats{src.Name, src.Type, n.Counters()})
		case filetail.Type:
			if err := s.openCheckpoints(ctx, replicas); err != nil {
				return err
			}
			f, err := filetail.New(src, s.streams, s.checkpoints, filetail.Options{Logger: s.log})
			if err != nil {
				return err
			}
			s.inputs = append(s.inputs, input{"source " + src.Name, f.Run, nil})
			s.sourceStats = append(s.sourceStats, sourceStats{src.Name, src.Type, f.Counters()})
		case confluence.Type:
			if err := s.openCheckpoints(ctx, replicas); err != nil {
				return err
			}
			copt := confluence.Options{Logger: s.log}
			p, err := confluence.NewPoller(src, s.streams, s.checkpoints, copt)
			if err != nil {
				return err
			}
			s.inputs = append(s.inputs, input{"source " + src.Name, p.Run, nil})
			s.sourceStats = append(s.sourceStats, sourceStats{src.Name, src.Type, p.Counters()})
			d, err := confluence.NewDirectory(src, copt)
			if err != nil {
				return err
			}
			if s.dirs == nil {
				s.dirs = map[string]*confluence.Directory{}
			}
			s.dirs[src.Name] = d
			if confluence.ConfigOf(src).EnrichGroups {
				s.enrichFrom(src, d)
			}
		default:
			return fmt.Errorf("source %s: type %s is not available yet", src.Name, src.Type)
		}
	}
	return nil
}

// NATSURL is the client URL of the embedded NATS server, "" when it does
// not listen (nats.embedded.listen) or alerter joined a cluster.
func (s *Service) NATSURL() string {
	if s.embedded == nil {
		return ""
	}
	return s.embedded.ClientURL()
}

// enrichFrom makes the evaluator fill actor groups through d for events
// of src's Confluence.
func (s *Service) enrichFrom(src config.Source, d *confluence.Directory) {
	g := s.enricher
	if g == nil {
		g = &groupEnricher{bySystem: map[string]*confluence.Directory{}, log: s.log}
		s.enricher = g
		g.fallback = d
	} else {
		g.fallback = nil // several: events without a system are ambiguous
	}
	g.bySystem[strings.TrimRight(confluence.ConfigOf(src).BaseURL, "/")] = d
}

// Ready is closed once every source takes events.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// dynamicLists loads the lists of Confluence groups before anything is
// evaluated, so that rules do not start on empty lists, and keeps them
// fresh. A group that cannot be read at start is an empty list until it
// can (logged, and shown by /readyz).
func (s *Service) dynamicLists(ctx context.Context) error {
	if len(s.cfg.DynamicLists()) == 0 {
		return nil
	}
	specs := map[string]config.ListSpec{}
	for name, spec := range s.cfg.Lists {
		if spec.Dynamic() {
			if spec.Source == "" {
				spec.Source = s.onlyPollSource()
			}
			specs[name] = spec
		}
	}
	l, err := confluence.NewLists(specs, s.dirs, confluence.Options{Logger: s.log})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := l.Refresh(rctx); err != nil {
		s.log.Error("lists from Confluence groups not loaded; they are empty until they are", "err", err)
	}
	s.lists = l
	m := &mergedLists{dynamic: l}
	s.evalLists = func() map[string][]string { return m.get(s.eng.Rules()) }
	s.inputs = append(s.inputs, input{"lists", l.Run, nil})
	return nil
}

func (s *Service) onlyPollSource() string {
	name := ""
	for _, src := range s.cfg.Sources {
		if src.Type == config.SourceConfluencePoll {
			if name != "" {
				return ""
			}
			name = src.Name
		}
	}
	return name
}

// Addr is the address the HTTP server listens on.
func (s *Service) Addr() string { return s.listener.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully: it stops taking
// requests, lets those under way finish storing, finishes the events and
// alerts already taken, and stops NATS. What is not finished is not
// acknowledged, so it is redelivered on the next start.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	errs := make(chan error, 2+len(s.deliver)+len(s.inputs))
	start := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(runCtx); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel(err)
			}
		})
	}
	start("evaluator", s.eval.Run)
	start("stream watch", s.watch.run)
	for _, d := range s.deliver {
		start("notifier "+d.Name(), d.Run)
	}
	for _, in := range s.inputs {
		start(in.name, in.run)
	}
	if s.cfg.Rules.Watch {
		start("rules watch", s.watchRules)
	}
	go func() {
		for _, in := range s.inputs {
			if in.ready == nil {
				continue
			}
			select {
			case <-in.ready:
			case <-runCtx.Done():
				return
			}
		}
		close(s.ready)
	}()
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
	cancel(nil)
	wg.Wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	return err
}

// close stops NATS; it is safe on a partly built Service.
func (s *Service) close() {
	if s.stop != nil {
		s.stop()
	}
	if s.srv != nil {
		// Closed already after a graceful shutdown; on a failed start,
		// this stops the starting answers.
		_ = s.srv.Close()
	}
	if s.nc != nil {
		// Drain flushes acks and publishes still buffered.
		if err := s.nc.Drain(); err != nil {
			s.nc.Close()
		}
		for deadline := time.Now().Add(5 * time.Second); !s.nc.IsClosed() && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		s.nc.Close()
	}
	if s.silenceStore != nil {
		s.silenceStore.Close()
	}
	if s.embedded != nil {
		s.embedded.Shutdown()
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// counter is a statistic, safe for concurrent use.
type counter = atomic.Int64
