// Package actions makes what people and alerter itself do through alerter
// (a silence created or expired, a dead letter handed back, a test
// notification, a reload) into events of source alerter, stored in EVENTS
// like any other, so that rules can alert on them (docs/rules.md,
// "alerter's own actions").
package actions

import (
	"context"
	"crypto/rand"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/silences"
)

// Actions alerter publishes about itself, as events of source alerter
// (event.action), so that rules can alert on them: a silence over a
// critical rule, a silence longer than a day, rules removed by a reload.
// docs/rules.md, "alerter's own actions", lists their fields.
const (
	SilenceCreated   = "Silence created"
	SilenceExpired   = "Silence expired"
	AlertRedelivered = "Alert redelivered"
	AlertAcked       = "Alert acknowledged"
	AlertResolved    = "Alert resolved"
	TestNotification = "Test notification sent"
	RulesReloaded    = "Rules reloaded"
)

// ownCategory is event.category (and event.system) of alerter's own
// events. Rules match on it and the action; a configured source cannot
// be named alerter, so event.source == "alerter" tells them from forged
// ones.
const ownCategory = "alerter"

// maxCovered bounds the rules a silence event lists as covered, so that a
// silence over a large rule set makes an event of reasonable size; the
// attributes still count them all.
const maxCovered = 100

// Identity is who did an action: for a request to the API, the name of
// the token it carried and that token's role, or, when no tokens are
// configured, the remote address (with the role admin: anyone who reaches
// the port may do anything, which config only allows on loopback).
type Identity struct {
	Name string
	Role string
	// Token says Name is a token's name rather than an address.
	Token bool
}

// Alerter is the identity of what alerter does on its own (a reload on a
// file change or a signal).
func Alerter(trigger string) Identity {
	return Identity{Name: "alerter (" + trigger + ")", Role: config.RoleAdmin}
}

// Action is one of alerter's own actions, as it becomes an event.
type Action struct {
	Name    string // one of the constants above
	Who     Identity
	Attrs   map[string]string
	Objects []event.Object
}

// Publisher stores actions as events.
type Publisher struct {
	sink ingest.Sink
	log  *slog.Logger
}

// NewPublisher stores actions through sink, the one the sources store
// events through, and logs what it fails to store to log.
func NewPublisher(sink ingest.Sink, log *slog.Logger) *Publisher {
	return &Publisher{sink: sink, log: log}
}

// Publish stores act in the EVENTS stream through the sink the sources
// use, so that it is evaluated like any event. The action has happened by
// then, so a failure to store it does not undo it: it is logged as an
// error, with what was done.
func (p *Publisher) Publish(ctx context.Context, act Action) {
	ev := Event(act, time.Now().UTC())
	// The request that did it may be gone; its record must not be.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := p.sink.Store(ctx, config.OwnSource, []event.Event{ev}); err != nil {
		p.log.Error("storing alerter's own action as an event failed; rules will not see it",
			"action", act.Name, "by", act.Who.Name, "attrs", act.Attrs, "err", err)
	}
}

// Event is act, done at now, as the event of source alerter it is stored
// as, with an id of its own.
func Event(act Action, now time.Time) event.Event {
	actorType := "address"
	if act.Who.Token {
		actorType = "token"
	}
	ev := event.Event{
		ID:       "alerter-" + ulid.MustNew(ulid.Timestamp(now), rand.Reader).String(),
		Time:     now,
		Source:   config.OwnSource,
		Format:   event.FormatJSON,
		System:   ownCategory,
		Category: ownCategory,
		Action:   act.Name,
		Summary:  act.Name + " by " + act.Who.Name,
		Actor:    event.Actor{ID: act.Who.Name, Name: act.Who.Name, Type: actorType, Groups: []string{}},
		Objects:  act.Objects,
		Changes:  []event.Change{},
		Attrs:    act.Attrs,
	}
	if ev.Objects == nil {
		ev.Objects = []event.Object{}
	}
	if !act.Who.Token {
		ev.IP = act.Who.Name
	}
	return ev
}

// Silence is the action of a silence created or expired: who, the
// matchers, when it runs, and which rules of set (those loaded) it covers.
func Silence(name string, who Identity, sl silences.Silence, set *rules.Set) Action {
	matchers := make([]string, len(sl.Matchers))
	for i, m := range sl.Matchers {
		matchers[i] = m.String()
	}
	d := sl.EndsAt.Sub(sl.StartsAt).Round(time.Second)
	attrs := map[string]string{
		"silence_id":       sl.ID,
		"matchers":         strings.Join(matchers, ", "),
		"created_by":       sl.CreatedBy,
		"identity":         sl.Identity,
		"comment":          sl.Comment,
		"starts_at":        sl.StartsAt.UTC().Format(time.RFC3339),
		"ends_at":          sl.EndsAt.UTC().Format(time.RFC3339),
		"duration":         d.String(),
		"duration_seconds": strconv.FormatInt(int64(d/time.Second), 10),
	}
	objects := []event.Object{{Type: "silence", ID: sl.ID, Name: attrs["matchers"]}}
	covered := sl.CoveredRules(set)
	ids := make([]string, 0, len(covered))
	top := alerter.Severity("")
	critical := 0
	for _, r := range covered {
		ids = append(ids, r.ID)
		if r.Severity.Rank() > top.Rank() {
			top = r.Severity
		}
		if r.Severity == alerter.Critical {
			critical++
		}
		if len(objects) <= maxCovered {
			objects = append(objects, event.Object{Type: "rule", ID: r.ID, Name: r.Name})
		}
	}
	attrs["covered_rules"] = strconv.Itoa(len(covered))
	attrs["covered_critical"] = strconv.Itoa(critical)
	attrs["covered_severity"] = string(top)
	if len(ids) > maxCovered {
		ids = append(ids[:maxCovered], "…")
	}
	attrs["covered_rule_ids"] = strings.Join(ids, ",")
	return Action{Name: name, Who: who, Attrs: attrs, Objects: objects}
}

// Reload is the action of a rule set swapped in for old: what was added
// and removed, and who or what asked.
func Reload(who Identity, trigger string, old, set *rules.Set) Action {
	if old == nil {
		old = &rules.Set{}
	}
	var before, after []string
	for _, r := range old.Rules {
		before = append(before, r.ID)
	}
	for _, r := range set.Rules {
		after = append(after, r.ID)
	}
	var added, removed []string
	var objects []event.Object
	for _, id := range after {
		if !slices.Contains(before, id) {
			added = append(added, id)
		}
	}
	for _, r := range old.Rules {
		if !slices.Contains(after, r.ID) {
			removed = append(removed, r.ID)
			objects = append(objects, event.Object{Type: "rule", ID: r.ID, Name: r.Name})
		}
	}
	attrs := map[string]string{
		"trigger":          trigger,
		"version":          set.Version,
		"rules":            strconv.Itoa(len(set.Rules)),
		"added":            strconv.Itoa(len(added)),
		"removed":          strconv.Itoa(len(removed)),
		"added_rules":      strings.Join(added, ","),
		"removed_rules":    strings.Join(removed, ","),
		"previous_version": old.Version,
	}
	return Action{Name: RulesReloaded, Who: who, Attrs: attrs, Objects: objects}
}
