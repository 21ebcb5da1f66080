package app

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest/confluence"
)

// groupEnricher fills event.actor.groups from the Confluence directories of
// the confluence-poll sources that have enrich_groups set.
type groupEnricher struct {
	bySystem map[string]*confluence.Directory // base URL → directory
	fallback *confluence.Directory            // for events without a system
	log      *slog.Logger
}

// enrich fills ev's actor groups if it has none and a directory knows its
// Confluence; a failed lookup leaves them empty (the directory keeps the
// last good answer per user, so this is a user never read).
func (g *groupEnricher) enrich(ctx context.Context, ev *event.Event) {
	if len(ev.Actor.Groups) > 0 || (ev.Actor.Name == "" && ev.Actor.ID == "") {
		return
	}
	d := g.fallback
	if ev.System != "" {
		d = g.bySystem[strings.TrimRight(ev.System, "/")]
	}
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var groups []string
	var err error
	if ev.Actor.Name != "" {
		groups, err = d.UserGroups(ctx, ev.Actor.Name)
	} else {
		groups, err = d.UserKeyGroups(ctx, ev.Actor.ID)
	}
	if err != nil {
		g.log.Warn("actor groups not filled", "event", ev.ID, "err", err)
		return
	}
	ev.Actor.Groups = groups
}
