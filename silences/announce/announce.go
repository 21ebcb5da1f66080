// Package announce announces the lifecycle of silences
// (docs/notifications.md, When a silence ends): an hour before a silence
// ends, that it is about to, and once it has ended, what it suppressed.
// Each announcement is an alert of a pseudo-rule (ExpiringRule,
// ExpiredRule) stored in ALERTS for the targets the silenced alerts went
// to, so that delivery, retries, dead letters and the alert list treat it
// as any alert; no silence mutes it.
//
// When is kept in durable deadlines (package deadlines, a set of its own):
// Schedule sets them when a silence is created or expired early, and
// Reconcile at start for the silences whose deadlines may have been lost
// (written past the API, or a crash between storing and scheduling).
// What a silence suppressed is counted by silences.Counting as alerts are
// delivered; Fire reads it when the deadline comes.
package announce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/deadlines"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/silences"
)

// DefaultLead is how long before a silence ends it is announced as about
// to: an hour.
const DefaultLead = time.Hour

// DefaultReconcile is how often the announcements of every silence are
// scheduled again (Reconcile), for those scheduled nowhere: a silence
// written into the bucket past the API is announced at most this late.
const DefaultReconcile = time.Minute

// Silences are the silences in force (silences.Store).
type Silences interface {
	Get(id string) (silences.Silence, bool)
	List() []silences.Silence
}

// Counts are what each silence suppressed (silences.Tally).
type Counts interface {
	Get(ctx context.Context, id string) (silences.Count, bool, error)
	Forget(ctx context.Context, id string) error
}

// Deadlines keep when to announce (a deadlines.Store of its own set).
type Deadlines interface {
	Schedule(ctx context.Context, key string, due time.Time, payload []byte) error
	Cancel(ctx context.Context, key string) error
}

// Alerts store the announcements (bus.Streams).
type Alerts interface {
	PublishAlert(ctx context.Context, rule, id string, data []byte) (dup bool, err error)
}

// Options are what an Announcer works with; all but Lead and Log are
// required.
type Options struct {
	Silences  Silences
	Counts    Counts
	Deadlines Deadlines
	Alerts    Alerts
	// Rules, Routes and ExternalURL are those in force when an
	// announcement is made (they reload).
	Rules       func() *rules.Set
	Routes      func() alerter.Routes
	ExternalURL func() string
	// Lead is how long before its end a silence is announced as about to
	// end; default DefaultLead. A silence that lasts no longer is not.
	Lead time.Duration
	Log  *slog.Logger
}

// Announcer schedules and makes the announcements of silences.
type Announcer struct {
	opt Options
	now func() time.Time
	// reconciled are the ends Reconcile scheduled, by silence id: it
	// schedules again only what changed since.
	mu         sync.Mutex
	reconciled map[string]time.Time
}

// New returns an Announcer working with opt.
func New(opt Options) *Announcer {
	if opt.Lead <= 0 {
		opt.Lead = DefaultLead
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Announcer{opt: opt, now: time.Now}
}

// key is the deadline key of sl's announcement of kind k.
func key(k Kind, id string) string { return string(k) + "/" + id }

// Schedule sets the deadlines of sl's announcements, once it is created
// or its end moved (expired early): the end, at its end (at once, for one
// expired now), and the warning Lead before it, for a silence that lasts
// longer than Lead and has not reached that point; else the warning is
// cancelled. Scheduling again replaces what was scheduled.
func (an *Announcer) Schedule(ctx context.Context, sl silences.Silence) error {
	warn := sl.EndsAt.Add(-an.opt.Lead)
	var err error
	if sl.EndsAt.Sub(sl.StartsAt) > an.opt.Lead && warn.After(an.now()) {
		err = an.opt.Deadlines.Schedule(ctx, key(Expiring, sl.ID), warn, nil)
	} else {
		err = an.opt.Deadlines.Cancel(ctx, key(Expiring, sl.ID))
	}
	return errors.Join(err, an.opt.Deadlines.Schedule(ctx, key(Expired, sl.ID), sl.EndsAt, nil))
}

// Reconcile schedules the announcements of the silences that have not
// ended, as Schedule does: their deadlines may have been lost (a crash
// between storing a silence and scheduling, a silence written into the
// bucket past the API). What it schedules again that was scheduled is
// replaced by the same.
//
// Run again (every DefaultReconcile), it schedules only the silences it
// has not scheduled with their end as it stands: the first run of a
// process schedules every one.
func (an *Announcer) Reconcile(ctx context.Context) error {
	var errs []error
	now := an.now()
	an.mu.Lock()
	defer an.mu.Unlock()
	if an.reconciled == nil {
		an.reconciled = map[string]time.Time{}
	}
	seen := map[string]bool{}
	for _, sl := range an.opt.Silences.List() {
		seen[sl.ID] = true
		if sl.State(now) == silences.Expired {
			continue
		}
		if end, ok := an.reconciled[sl.ID]; ok && end.Equal(sl.EndsAt) {
			continue
		}
		if err := an.Schedule(ctx, sl); err != nil {
			errs = append(errs, err)
			continue
		}
		an.reconciled[sl.ID] = sl.EndsAt
	}
	for id := range an.reconciled {
		if !seen[id] {
			delete(an.reconciled, id)
		}
	}
	return errors.Join(errs...)
}

// staleTries is how often the end of a silence whose copy here says it
// has not ended is tried again: the copy follows the bucket, and may not
// yet have the early expiry another replica made.
const staleTries = 5

// Fire makes the announcement of a deadline of the set (deadlines.Handler).
// A deadline that no longer matches its silence (ended early, before its
// warning) announces nothing.
func (an *Announcer) Fire(ctx context.Context, d deadlines.Deadline) error {
	kindText, id, ok := strings.Cut(d.Key, "/")
	k := Kind(kindText)
	if !ok || (k != Expiring && k != Expired) {
		an.opt.Log.Error("a silence announcement deadline of no known kind; dropped", "key", d.Key)
		return nil
	}
	sl, ok := an.opt.Silences.Get(id)
	if !ok {
		an.opt.Log.Warn("the silence of an announcement is gone; nothing announced", "silence", id, "kind", k)
		return nil
	}
	now := an.now()
	if k == Expiring {
		if sl.State(now) != silences.Active || !sl.EndsAt.Equal(d.Due.Add(an.opt.Lead)) {
			return nil // expired early, or not the end this was scheduled for
		}
		return an.announce(ctx, k, sl, now)
	}
	if sl.EndsAt.After(now) {
		if d.Attempt < staleTries {
			return fmt.Errorf("silence %s: ends at %s here: not yet the early expiry", id, sl.EndsAt.Format(time.RFC3339))
		}
		an.opt.Log.Warn("a silence announced as ended has not; its end is announced when it comes", "silence", id, "ends_at", sl.EndsAt)
		return nil
	}
	return an.announce(ctx, k, sl, now)
}

// announce stores sl's announcement of kind k, made at now. The end of a
// silence that suppressed nothing is not announced; once announced, its
// count is forgotten.
func (an *Announcer) announce(ctx context.Context, k Kind, sl silences.Silence, now time.Time) error {
	c, counted, err := an.opt.Counts.Get(ctx, sl.ID)
	if err != nil {
		return err
	}
	in := Input{Silence: sl, Rules: an.opt.Rules(), Routes: an.opt.Routes(), ExternalURL: an.opt.ExternalURL(), Now: now}
	if counted {
		in.Count = &c
	}
	if k == Expired && !counted {
		return nil
	}
	a := Alert(k, in)
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if _, err := an.opt.Alerts.PublishAlert(ctx, a.Rule, a.ID, data); err != nil {
		return fmt.Errorf("storing the announcement of silence %s: %w", sl.ID, err)
	}
	an.opt.Log.Info("silence announced", "silence", sl.ID, "kind", k, "alert", a.ID, "targets", a.Notify)
	if k == Expired {
		return an.opt.Counts.Forget(ctx, sl.ID)
	}
	return nil
}
