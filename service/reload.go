package service

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/rules"
)

// ReloadStatus is the outcome of the last rule reload.
type ReloadStatus struct {
	At      time.Time `json:"at"`
	OK      bool      `json:"ok"`
	Trigger string    `json:"trigger"` // start, signal, api, watch
	Version string    `json:"version"` // of the rule set running now
	Rules   int       `json:"rules"`
	// By is who asked: the API token's name (or the remote address without
	// tokens) for trigger api, else alerter itself.
	By string `json:"by,omitempty"`
	// Errors are the problems of a rejected set, file:line:col: message.
	Errors []string `json:"errors,omitempty"`
}

// reloader swaps in new rule sets, one at a time.
type reloader struct {
	mu         sync.Mutex
	status     ReloadStatus
	ok, failed counter
}

func (s *Service) loadRules() (*rules.Set, error) {
	return rules.Load(s.cfg.Rules.Paths, s.cfg.RuleOptions())
}

// Reload compiles the rule files again and swaps the new set in whole; a
// set with any error is rejected, its errors logged and kept for the API,
// and the running set stays. Window and dedup state is keyed by rule id
// and group, so it carries over to the new set. It reports whether the
// new set runs.
func (s *Service) Reload(trigger string) bool {
	return s.reloadBy(context.Background(), trigger, alerterIdentity(trigger))
}

// reloadBy is Reload asked by who; a new set that runs is published as
// alerter's own action (ActionRulesReloaded), with the rules it added and
// removed.
func (s *Service) reloadBy(ctx context.Context, trigger string, who Identity) bool {
	s.reload.mu.Lock()
	defer s.reload.mu.Unlock()
	set, err := s.loadRules()
	st := ReloadStatus{At: time.Now().UTC(), Trigger: trigger, By: who.Name}
	if err != nil {
		s.reload.failed.Add(1)
		cur := s.eng.Rules()
		st.Version, st.Rules = cur.Version, len(cur.Rules)
		var ye yamlx.Errors
		if errors.As(err, &ye) {
			for _, e := range ye {
				st.Errors = append(st.Errors, e.Error())
			}
		} else {
			st.Errors = []string{err.Error()}
		}
		s.log.Error("rules not reloaded; the running set stays", "trigger", trigger, "by", who.Name, "errors", len(st.Errors), "first", st.Errors[0])
		s.reload.status = st
		return false
	}
	if set.Version == s.eng.Rules().Version {
		st.OK, st.Version, st.Rules = true, set.Version, len(set.Rules)
		s.reload.status = st
		return true
	}
	old := s.eng.Rules()
	s.eng.Swap(set)
	s.reload.ok.Add(1)
	st.OK, st.Version, st.Rules = true, set.Version, len(set.Rules)
	s.reload.status = st
	s.log.Info("rules reloaded", "trigger", trigger, "by", who.Name, "rules", len(set.Rules), "version", set.Version)
	s.publishAction(ctx, reloadAction(who, trigger, old, set))
	return true
}

// ReloadStatus returns the outcome of the last reload.
func (s *Service) ReloadStatus() ReloadStatus {
	s.reload.mu.Lock()
	defer s.reload.mu.Unlock()
	return s.reload.status
}

func (s *Service) reloadHandler(w http.ResponseWriter, r *http.Request) {
	ok := s.reloadBy(r.Context(), "api", identity(r))
	code := http.StatusOK
	if !ok {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, s.ReloadStatus())
}

// watchRules reloads when a rule file changes. Editors save in bursts
// (write, rename, chmod), so changes are gathered for a moment first.
func (s *Service) watchRules(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	// Folders are watched, not files: an editor replacing a file by rename
	// would end a watch on the file itself.
	dirs := map[string]bool{}
	for _, p := range s.cfg.Rules.Paths {
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
