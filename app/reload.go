package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/rules"
)

// reloadTimeout bounds the building of a reloaded config.
const reloadTimeout = time.Minute

// reloader swaps in new configs and rule sets, one at a time.
type reloader struct {
	mu         sync.Mutex
	status     api.ReloadStatus
	ok, failed counter
	// lastFailed tells whether status is a rejection, without the lock
	// a reload holds while it builds.
	lastFailed atomic.Bool
	// run runs the parts of the generations once Run started.
	run *runner
}

// Reload reads the config file again (when alerter runs with one) and
// compiles the rule files again, and swaps in the new config and set
// whole; a config or set with any error is rejected, its errors logged and
// kept for the API, and the running ones stay (docs/running.md,
// "Reloading"). Window and dedup state is keyed by rule id and group, so
// it carries over to the new set; alerts waiting for a notifier stay in
// ALERTS, for the notifier of that name in the new config. It reports
// whether the new config and set run.
func (s *App) Reload(trigger string) bool {
	return s.reloadBy(context.Background(), trigger, actions.Alerter(trigger))
}

// reloadBy is Reload asked by who; a new set that runs is published as
// alerter's own action (actions.RulesReloaded), with the rules it added
// and removed.
func (s *App) reloadBy(ctx context.Context, trigger string, who actions.Identity) bool {
	s.reload.mu.Lock()
	defer s.reload.mu.Unlock()
	st := api.ReloadStatus{At: time.Now().UTC(), Trigger: trigger, By: who.Name}
	old := s.current()
	cfg, set, err := s.loadConfig(old.cfg)
	var g *generation
	if err == nil && cfg != old.cfg {
		// Building waits for NATS (a cluster electing a leader) only so
		// long: the reload holds the next one up.
		bctx, cancel := context.WithTimeout(ctx, reloadTimeout)
		g, err = s.build(bctx, cfg, old)
		cancel()
	}
	if err != nil {
		s.reload.failed.Add(1)
		cur := s.eng.Rules()
		st.Version, st.Rules, st.Errors = cur.Version, len(cur.Rules), errorLines(err)
		s.log.Error("config and rules not reloaded; the running ones stay", "trigger", trigger, "by", who.Name, "errors", len(st.Errors), "first", st.Errors[0])
		s.reload.status = st
		s.reload.lastFailed.Store(true)
		return false
	}
	if g != nil {
		s.swap(old, g)
		s.log.Info("config reloaded", "trigger", trigger, "by", who.Name)
	}
	st.OK, st.Version, st.Rules = true, set.Version, len(set.Rules)
	s.reload.status = st
	s.reload.lastFailed.Store(false)
	prev := s.eng.Rules()
	changed := set.Version != prev.Version
	if changed || g != nil {
		// A new config's lists and notifiers are the set's too, whatever
		// its files.
		s.eng.Swap(set)
	}
	if !changed {
		return true
	}
	s.reload.ok.Add(1)
	s.log.Info("rules reloaded", "trigger", trigger, "by", who.Name, "rules", len(set.Rules), "version", set.Version)
	s.actions.Publish(ctx, actions.Reload(who, trigger, prev, set))
	return true
}

// loadConfig reads the config again (cur when alerter runs without a
// file, or when it did not change) and the rules it points to.
func (s *App) loadConfig(cur *config.Config) (*config.Config, *rules.Set, error) {
	cfg := cur
	if s.opt.LoadConfig != nil {
		c, err := s.opt.LoadConfig()
		if err != nil {
			return nil, nil, err
		}
		if err := s.needsRestart(cur, c); err != nil {
			return nil, nil, err
		}
		if !reflect.DeepEqual(c, cur) {
			cfg = c
		}
	}
	set, err := rules.Load(cfg.Rules.Paths, cfg.RuleOptions())
	if err != nil {
		return nil, nil, err
	}
	return cfg, set, nil
}

// swap puts g in force in place of old: the parts of old that g does not
// carry over stop (a deliverer finishes the sends under way; the alerts
// it did not take stay in its queue), then g's new parts start.
func (s *App) swap(old, g *generation) {
	kept := map[*part]bool{}
	for _, p := range g.parts {
		kept[p] = true
	}
	for _, p := range old.parts {
		if !kept[p] {
			p.halt()
		}
	}
	s.gen.Store(g)
	s.silenceStore.SetPolicy(silencePolicy(g.cfg, s.eng))
	s.handler.set(g.handler)
	if s.reload.run != nil {
		for _, p := range g.parts {
			s.reload.run.start(p)
		}
	}
}

// needsRestart refuses a config that changes what alerter sets up once,
// at start, naming each key (docs/running.md, "Reloading"): the whole
// reload is rejected, rather than half of it applied.
func (s *App) needsRestart(cur, cfg *config.Config) error {
	keys := changedKeys("nats", cur.NATS, cfg.NATS)
	keys = append(keys, changedKeys("server.listen", cur.Server.Listen, cfg.Server.Listen)...)
	keys = append(keys, changedKeys("rules", cur.Rules, cfg.Rules)...)
	keys = append(keys, changedKeys("engine", cur.Engine, cfg.Engine)...)
	var errs []error
	for _, k := range keys {
		errs = append(errs, fmt.Errorf("%s changes need a restart", k))
	}
	if ttl := deliveriesTTL(cfg); ttl > s.deliveriesTTL {
		errs = append(errs, fmt.Errorf("notifiers: a max_age this long needs a restart: delivery outcomes are kept for %s, set at start", s.deliveriesTTL))
	}
	if !s.enriching && enriches(cfg) {
		errs = append(errs, errors.New("sources: enrich_groups needs a restart: alerter started without a source that fills actor groups"))
	}
	return errors.Join(errs...)
}

// changedKeys are the config keys under key that differ between a and b,
// values of one config type, named by their yaml tags.
func changedKeys(key string, a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() != reflect.Struct {
		if reflect.DeepEqual(a, b) {
			return nil
		}
		return []string{key}
	}
	var out []string
	for i := range va.NumField() {
		f := va.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		out = append(out, changedKeys(key+"."+name, va.Field(i).Interface(), vb.Field(i).Interface())...)
	}
	return out
}

// errorLines are the lines of err for the reload status: one per problem.
func errorLines(err error) []string {
	var ye yamlx.Errors
	if errors.As(err, &ye) {
		out := make([]string, len(ye))
		for i, e := range ye {
			out[i] = e.Error()
		}
		return out
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// ReloadStatus returns the outcome of the last reload.
func (s *App) ReloadStatus() api.ReloadStatus {
	s.reload.mu.Lock()
	defer s.reload.mu.Unlock()
	return s.reload.status
}

// watchRules reloads when a rule file changes. Editors save in bursts
// (write, rename, chmod), so changes are gathered for a moment first.
func (s *App) watchRules(ctx context.Context) error {
	paths := s.config().Rules.Paths
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	// Folders are watched, not files: an editor replacing a file by rename
	// would end a watch on the file itself.
	dirs := map[string]bool{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if !st.IsDir() {
			p = filepath.Dir(p)
		}
		_ = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs[path] = true
			}
			return nil
		})
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			s.log.Warn("cannot watch a rules folder; reload with SIGHUP or POST /-/reload", "dir", d, "err", err)
		}
	}
	var pending <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if isRuleFile(ev.Name) {
				pending = time.After(200 * time.Millisecond)
			}
			if ev.Op&fsnotify.Create != 0 {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					_ = w.Add(ev.Name)
				}
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.log.Warn("watching rule files", "err", err)
		case <-pending:
			pending = nil
			s.Reload("watch")
		}
	}
}

func isRuleFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}
