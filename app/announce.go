package app

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/deadlines"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/silences"
	"github.com/alerter/alerter/silences/announce"
)

// announcing is what announces the lifecycle of silences
// (docs/notifications.md, When a silence ends): the counts of what each
// silence suppressed, the deadlines of the announcements, and the
// announcer that makes them.
type announcing struct {
	tally     *silences.Tally
	deadlines *deadlines.Store
	announcer *announce.Announcer
}

// openAnnouncements opens the bucket of counts and the deadline set
// "silences", and schedules again the announcements of the silences that
// have not ended, whose deadlines may have been lost. A count is kept
// longer than a silence may last (its end is announced with it), and a
// day for an announcement that is late.
func (s *App) openAnnouncements(ctx context.Context, cfg *config.Config) error {
	ttl := max(time.Duration(cfg.Silences.MaxDuration), silences.DefaultMaxDuration) + 24*time.Hour
	err := s.ensure(ctx, "the silenced bucket", func(ctx context.Context) (err error) {
		s.announcing.tally, err = silences.OpenTally(ctx, s.js, s.replicas, ttl)
		return err
	})
	if err != nil {
		return err
	}
	err = s.ensure(ctx, "the silences' deadlines", func(ctx context.Context) (err error) {
		s.announcing.deadlines, err = deadlines.Open(ctx, s.js, deadlines.Options{Name: "silences",
			Replicas: s.replicas, AckWait: s.opt.AckWait, Log: s.log})
		return err
	})
	if err != nil {
		return err
	}
	s.announcing.announcer = announce.New(announce.Options{
		Silences: s.silenceStore, Counts: s.announcing.tally, Deadlines: s.announcing.deadlines, Alerts: s.streams,
		Rules:       s.eng.Rules,
		Routes:      func() alerter.Routes { return s.config().Routes },
		ExternalURL: func() string { return s.config().Server.ExternalURL },
		Lead:        s.opt.silenceLead, Log: s.log,
	})
	if err := s.announcing.announcer.Reconcile(ctx); err != nil {
		s.log.Error("scheduling the announcements of the silences; those not scheduled are not made", "err", err)
	}
	return nil
}

// runAnnouncements makes the announcements whose time has come, and
// schedules those of every silence again now and then: a silence written
// into the bucket past the API, or one whose scheduling failed, is
// announced all the same (docs/notifications.md, When a silence ends).
func (s *App) runAnnouncements(ctx context.Context) error {
	every := cmp.Or(s.opt.silenceReconcile, announce.DefaultReconcile)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				if err := s.announcing.announcer.Reconcile(rctx); err != nil && rctx.Err() == nil {
					s.log.Warn("scheduling the announcements of the silences again; tried again later", "err", err)
				}
			}
		}
	})
	defer wg.Wait()
	defer cancel()
	return s.announcing.deadlines.Run(ctx, s.announcing.announcer.Fire)
}

// silencer is what the deliverer of target silences with: the silences
// in force, counting what they suppress.
func (s *App) silencer(target string) delivery.Silencer {
	return silences.Counting{Silences: s.silenceStore, Tally: s.announcing.tally, Target: target, Log: s.log}
}

// announcedSilences are the silences as the API changes them: a silence
// created, or expired early, has its announcements scheduled.
func (s *App) announcedSilences() announcedSilences {
	return announcedSilences{s.silenceStore, s.announcing.announcer, s.log}
}

// announcedSilences are the silences the API changes.
type announcedSilences struct {
	*silences.Store
	announcer *announce.Announcer
	log       *slog.Logger
}

func (a announcedSilences) Add(ctx context.Context, sl silences.Silence) (silences.Silence, error) {
	sl, err := a.Store.Add(ctx, sl)
	if err == nil {
		a.schedule(ctx, sl)
	}
	return sl, err
}

func (a announcedSilences) Expire(ctx context.Context, id string) (silences.Silence, error) {
	before, _ := a.Store.Get(id)
	sl, err := a.Store.Expire(ctx, id)
	if err == nil && !sl.EndsAt.Equal(before.EndsAt) {
		a.schedule(ctx, sl)
	}
	return sl, err
}

// schedule schedules sl's announcements. The silence is stored by then:
// a failure is logged, and the next start schedules them again.
func (a announcedSilences) schedule(ctx context.Context, sl silences.Silence) {
	if err := a.announcer.Schedule(context.WithoutCancel(ctx), sl); err != nil {
		a.log.Error("scheduling a silence's announcements; they are scheduled again at the next start", "silence", sl.ID, "err", err)
	}
}
