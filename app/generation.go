package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/httpapi"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/ingest/confluence"
	"github.com/alerter/alerter/ingest/webhook"
)

// generation is everything built from one config: the config itself, and
// the sources, deliverers, group lists, enricher and HTTP handler made
// from it. It is built whole and swapped in whole (docs/running.md,
// "Reloading"), so that a reader holding one sees one config: the routes,
// the notifiers and the webhooks of the same file. A generation is never
// changed once swapped in.
type generation struct {
	cfg   *config.Config
	parts []*part
	// Indexes of parts, for the readers.
	webhooks    map[string]http.Handler // by path
	deliver     []*delivery.Deliverer   // in config order
	sourceStats []sourceStats
	dirs        map[string]*confluence.Directory // by confluence-poll source
	lists       *confluence.Lists                // Confluence group lists; nil without
	merged      *mergedLists
	enricher    *groupEnricher // nil when no source enriches
	limiter     *ingest.Limiter
	handler     http.Handler
}

// part is what a generation builds from one config entry: a source, a
// notifier's deliverer, or the refreshing of group lists. A reload carries
// a part whose spec did not change over to the new generation, running;
// it stops the others and starts the new ones.
type part struct {
	name  string
	spec  any                         // what it was built from
	run   func(context.Context) error // nil: nothing runs
	ready <-chan struct{}             // closed once it takes events; nil: at once

	webhook http.Handler
	path    string
	stats   *sourceStats
	dir     *confluence.Directory
	deliver *delivery.Deliverer
	lists   *confluence.Lists

	// stop and done are set once it runs.
	stop context.CancelFunc
	done chan struct{}
}

// halt stops p and waits until it is done: a deliverer finishes the
// sends under way, so that a restarted one does not send them twice.
func (p *part) halt() {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
}

// sourceSpec is what a source is built from: its entry, and for a webhook
// the limits of the server.
type sourceSpec struct {
	Source            config.Source
	MaxBody, MaxInput int64
}

// notifierSpec is what a deliverer is built from.
type notifierSpec struct {
	Notifier    config.Notifier
	ExternalURL string
}

// listsSpec is what the group lists are built from: the dynamic lists and
// the confluence-poll sources whose directories they read.
type listsSpec struct {
	Lists map[string]config.ListSpec
	Polls []config.Source
}

// current is the generation in force.
func (s *App) current() *generation { return s.gen.Load() }

// config is the config in force. A reader that reads it more than once
// takes it once, so that it sees one config.
func (s *App) config() *config.Config { return s.current().cfg }

// build makes the generation of cfg. Parts of old (nil at start) whose
// spec is unchanged are carried over, running; the others are made anew,
// not started yet. On error, what it made is dropped.
func (s *App) build(ctx context.Context, cfg *config.Config, old *generation) (*generation, error) {
	g := &generation{cfg: cfg, webhooks: map[string]http.Handler{}, dirs: map[string]*confluence.Directory{}}
	// One limit for all webhook sources: it bounds the memory of the
	// process, whichever source the bodies come to.
	g.limiter = ingest.NewLimiter(cfg.Server.MaxIngestBytes)
	carried := map[string]*part{}
	if old != nil {
		if old.cfg.Server.MaxIngestBytes == cfg.Server.MaxIngestBytes {
			g.limiter = old.limiter
		}
		for _, p := range old.parts {
			carried[p.name] = p
		}
	}
	reuse := func(name string, spec any, newPart func() (*part, error)) error {
		if p := carried[name]; p != nil && reflect.DeepEqual(p.spec, spec) {
			g.add(p)
			return nil
		}
		p, err := newPart()
		if err != nil {
			return err
		}
		p.name, p.spec = name, spec
		g.add(p)
		return nil
	}
	for _, src := range cfg.Sources {
		spec := sourceSpec{Source: src}
		if src.Type == webhook.Type {
			spec.MaxBody, spec.MaxInput = cfg.Server.MaxBodyBytes, cfg.Server.MaxIngestBytes
		}
		if err := reuse("source "+src.Name, spec, func() (*part, error) { return s.newSource(ctx, src, g) }); err != nil {
			return nil, fmt.Errorf("source %s: %w", src.Name, err)
		}
	}
	for _, nc := range cfg.Notifiers {
		spec := notifierSpec{nc, cfg.Server.ExternalURL}
		if err := reuse("notifier "+nc.Name, spec, func() (*part, error) { return s.newNotifierPart(ctx, cfg, nc) }); err != nil {
			return nil, fmt.Errorf("notifier %s: %w", nc.Name, err)
		}
	}
	if spec, ok := groupLists(cfg); ok {
		if err := reuse("lists", spec, func() (*part, error) { return s.newLists(ctx, spec, g.dirs) }); err != nil {
			return nil, err
		}
	}
	g.enricher = s.newEnricher(cfg, g.dirs)
	apps, signed, err := s.slackApps(ctx, cfg)
	if err != nil {
		return nil, err
	}
	g.handler = s.http.Handler(httpapi.Generation{Config: cfg, Webhooks: g.webhooks, Notifiers: g.notifiers(), Metrics: s.metrics(g),
		SlackApps: apps, SignedRequests: signed})
	return g, nil
}

// notifiers are the queues of g, as the HTTP API sees them.
func (g *generation) notifiers() []httpapi.Notifier {
	out := make([]httpapi.Notifier, len(g.deliver))
	for i, d := range g.deliver {
		out[i] = d
	}
	return out
}

// add puts p in g and its index.
func (g *generation) add(p *part) {
	g.parts = append(g.parts, p)
	switch {
	case p.webhook != nil:
		g.webhooks[p.path] = p.webhook
	case p.deliver != nil:
		g.deliver = append(g.deliver, p.deliver)
	case p.lists != nil:
		g.lists = p.lists
		g.merged = &mergedLists{dynamic: p.lists}
	}
	if p.stats != nil {
		g.sourceStats = append(g.sourceStats, *p.stats)
	}
	if p.dir != nil {
		g.dirs[p.spec.(sourceSpec).Source.Name] = p.dir
	}
}

// newSource builds the source of a config entry through the plug-in of
// its type.
func (s *App) newSource(ctx context.Context, src config.Source, g *generation) (*part, error) {
	in, err := s.opt.Sources.New(ctx, src, ingest.Deps{
		Sink: s.streams, Checkpoints: s.checkpoints, Rejecter: s.streams,
		NATS: s.nc, JetStream: s.js, Replicas: s.replicas,
		Replays: func(ctx context.Context) (ingest.Replays, error) {
			r, err := s.openReplays(ctx, g.cfg.NATS)
			if err != nil {
				return nil, err
			}
			return r, nil
		},
		MaxBody: g.cfg.Server.MaxBodyBytes, Limiter: g.limiter, Logger: s.log,
	})
	if err != nil {
		return nil, err
	}
	p := &part{run: in.Run, stats: &sourceStats{src.Name, src.Type, in.Counters()}}
	if r, ok := in.(ingest.Readier); ok {
		p.ready = r.Ready()
	}
	if h, ok := in.(ingest.Handler); ok {
		p.webhook, p.path = h, h.Path()
	}
	// The group lists and the enricher read the directories of the
	// confluence-poll sources.
	if d, ok := in.(interface{ Directory() *confluence.Directory }); ok {
		p.dir = d.Directory()
	}
	return p, nil
}

// newNotifierPart builds the deliverer of a notifier; a type not
// available in this build gets none (its alerts stay queued in ALERTS).
func (s *App) newNotifierPart(ctx context.Context, cfg *config.Config, nc config.Notifier) (*part, error) {
	n, err := s.newNotifier(cfg, nc)
	if err != nil {
		return nil, err
	}
	if n == nil {
		s.log.Warn("notifier type not available yet; its alerts stay queued in ALERTS", "notifier", nc.Name, "type", nc.Type)
		return &part{}, nil
	}
	d, err := s.newDeliverer(ctx, nc, n)
	if err != nil {
		return nil, err
	}
	return &part{run: d.Run, deliver: d}, nil
}

// groupLists is the spec of cfg's Confluence group lists; false without.
func groupLists(cfg *config.Config) (listsSpec, bool) {
	if len(cfg.DynamicLists()) == 0 {
		return listsSpec{}, false
	}
	spec := listsSpec{Lists: map[string]config.ListSpec{}}
	for _, src := range cfg.Sources {
		if src.Type == confluence.Type {
			spec.Polls = append(spec.Polls, src)
		}
	}
	for name, l := range cfg.Lists {
		if l.Dynamic() {
			if l.Source == "" && len(spec.Polls) == 1 {
				l.Source = spec.Polls[0].Name
			}
			spec.Lists[name] = l
		}
	}
	return spec, true
}

// newLists loads the lists of Confluence groups before anything is
// evaluated with them, so that rules do not start on empty lists, and
// keeps them fresh. A group that cannot be read now is an empty list until
// it can (logged, and shown by /readyz).
func (s *App) newLists(ctx context.Context, spec listsSpec, dirs map[string]*confluence.Directory) (*part, error) {
	l, err := confluence.NewLists(spec.Lists, dirs, confluence.Options{Logger: s.log})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := l.Refresh(rctx); err != nil {
		s.log.Error("lists from Confluence groups not loaded; they are empty until they are", "err", err)
	}
	return &part{run: l.Run, lists: l}, nil
}

// newEnricher is what fills actor groups through the directories of the
// confluence-poll sources that have enrich_groups set; nil for none.
func (s *App) newEnricher(cfg *config.Config, dirs map[string]*confluence.Directory) *groupEnricher {
	var g *groupEnricher
	for _, src := range cfg.Sources {
		d := dirs[src.Name]
		cc := confluence.ConfigOf(src)
		if src.Type != confluence.Type || !cc.EnrichGroups || d == nil {
			continue
		}
		if g == nil {
			g = &groupEnricher{bySystem: map[string]*confluence.Directory{}, log: s.log, fallback: d}
		} else {
			g.fallback = nil // several: events without a system are ambiguous
		}
		g.bySystem[strings.TrimRight(cc.BaseURL, "/")] = d
	}
	return g
}

// runner runs the parts of the generations for Run: a part that fails
// ends alerter, a part a reload stops does not. start and stopped are
// used under the reloader's lock.
type runner struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	log     *slog.Logger
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
	stopped bool // no part starts any more
}

// start runs p, if it has anything to run and the runner still runs.
func (r *runner) start(p *part) {
	if p.run == nil || p.stop != nil || r.stopped {
		return
	}
	ctx, stop := context.WithCancel(r.ctx)
	p.stop, p.done = stop, make(chan struct{})
	r.wg.Go(func() {
		defer close(p.done)
		err := p.run(ctx)
		switch {
		case err == nil:
		case ctx.Err() != nil && r.ctx.Err() == nil:
			r.log.Warn("stopped by a reload", "part", p.name, "err", err)
		default:
			r.mu.Lock()
			r.errs = append(r.errs, fmt.Errorf("%s: %w", p.name, err))
			r.mu.Unlock()
			r.cancel(err)
		}
	})
}

// err is what the parts ended on, once they all ended.
func (r *runner) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}
