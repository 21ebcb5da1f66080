package confluence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alerter/alerter/config"
)

const defaultRefresh = 10 * time.Minute

// Lists keeps the dynamic lists of the config (a ListSpec with
// ConfluenceGroup) filled with their groups' members, each refreshed on its
// interval. A list keeps its last good members when a refresh fails. It is
// safe for concurrent use.
type Lists struct {
	lists map[string]*dynList
	log   *slog.Logger
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	snap    atomic.Pointer[map[string][]string]
	version atomic.Uint64 // counts snapshots, so users can cache what they derive
	mu      sync.Mutex    // serializes snapshot updates; guards the status in each dynList
}

type dynList struct {
	name    string
	spec    config.ListSpec
	dir     *Directory
	refresh time.Duration
	status  ListStatus
}

// ListStatus is how a dynamic list is doing, for readiness and metrics.
type ListStatus struct {
	Group   string
	Source  string
	Members int       // in the current value
	Loaded  bool      // read successfully at least once
	Updated time.Time // of the last successful read; zero before
	Checked time.Time // of the last read, good or not
	// Err is the last read's error, nil when it succeeded. While set, the
	// list holds the members of Updated (none if never Loaded).
	Err error
}

// Age is how old the list's members are at now; 0 before the first read.
func (s ListStatus) Age(now time.Time) time.Duration {
	if s.Updated.IsZero() {
		return 0
	}
	return now.Sub(s.Updated)
}

// NewLists returns the dynamic lists of specs (static ones are skipped),
// each read through dirs[spec.Source]. Until a list is first read it is
// empty.
func NewLists(specs map[string]config.ListSpec, dirs map[string]*Directory, opt Options) (*Lists, error) {
	opt = opt.withDefaults()
	l := &Lists{lists: map[string]*dynList{}, log: opt.Logger, now: opt.Now, sleep: opt.Sleep}
	snap := map[string][]string{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		spec := specs[name]
		if !spec.Dynamic() {
			continue
		}
		dir := dirs[spec.Source]
		if dir == nil {
			errs = append(errs, fmt.Errorf("list %s: no confluence-poll source %q to read group %q through", name, spec.Source, spec.ConfluenceGroup))
			continue
		}
		refresh := time.Duration(spec.Refresh)
		if refresh <= 0 {
			refresh = defaultRefresh
		}
		l.lists[name] = &dynList{name: name, spec: spec, dir: dir, refresh: refresh,
			status: ListStatus{Group: spec.ConfluenceGroup, Source: spec.Source}}
		snap[name] = []string{}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	l.snap.Store(&snap)
	return l, nil
}

// Snapshot returns the lists by name. It is shared and must not be
// modified: each refresh replaces it whole, so a snapshot never changes.
func (l *Lists) Snapshot() map[string][]string { return *l.snap.Load() }

// Version changes whenever Snapshot does.
func (l *Lists) Version() uint64 { return l.version.Load() }

// Status returns the status of the list name, and whether there is one.
func (l *Lists) Status(name string) (ListStatus, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.lists[name]
	if !ok {
		return ListStatus{}, false
	}
	return d.status, true
}

// Statuses returns the status of every dynamic list.
func (l *Lists) Statuses() map[string]ListStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]ListStatus, len(l.lists))
	for name, d := range l.lists {
		out[name] = d.status
	}
	return out
}

// Loaded tells whether every list has been read at least once.
func (l *Lists) Loaded() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range l.lists {
		if !d.status.Loaded {
			return false
		}
	}
	return true
}

// Refresh reads every list now, returning the errors joined. Call it before
// serving, so that rules do not start with empty lists.
func (l *Lists) Refresh(ctx context.Context) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(l.lists)) {
		if err := l.refresh(ctx, l.lists[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run refreshes each list at once and then on its interval until ctx is
// done, then returns nil (at once when there are no dynamic lists). A list
// whose read failed is tried again sooner (within a minute).
func (l *Lists) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, d := range l.lists {
		wg.Go(func() {
			for {
				wait := d.refresh
				if l.refresh(ctx, d) != nil {
					wait = min(d.refresh, errRetry)
				}
				if ctx.Err() != nil || l.sleep(ctx, wait) != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return nil
}

func (l *Lists) refresh(ctx context.Context, d *dynList) error {
	members, err := d.dir.GroupMembers(ctx, d.spec.ConfluenceGroup)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	d.status.Checked = now
	if err != nil {
		d.status.Err = err
		l.log.Warn("confluence list not refreshed; keeping its last members", "list", d.name,
			"group", d.spec.ConfluenceGroup, "members", d.status.Members, "updated", d.status.Updated, "error", err)
		return fmt.Errorf("list %s: %w", d.name, err)
	}
	old := l.Snapshot()
	if !d.status.Loaded || !slices.Equal(old[d.name], members) {
		next := maps.Clone(old)
		next[d.name] = members
		l.snap.Store(&next)
		l.version.Add(1)
		l.log.Info("confluence list loaded", "list", d.name, "group", d.spec.ConfluenceGroup, "members", len(members))
	}
	d.status.Err = nil
	d.status.Loaded = true
	d.status.Updated = now
	d.status.Members = len(members)
	return nil
}
