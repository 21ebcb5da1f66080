package app

import (
	"context"
	"crypto/rand"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/silences"
)

// Actions alerter publishes about itself, as events of source alerter
// (event.action), so that rules can alert on them: a silence over a
// critical rule, a silence longer than a day, rules removed by a reload.
// docs/rules.md, "alerter's own actions", lists their fields.
const (
	ActionSilenceCreated   = "Silence created"
	ActionSilenceExpired   = "Silence expired"
	ActionAlertRedelivered = "Alert redelivered"
	ActionTestNotification = "Test notification sent"
	ActionRulesReloaded    = "Rules reloaded"
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

// action is one of alerter's own actions, as it becomes an event.
type action struct {
	name    string // one of the Action constants
	who     Identity
	attrs   map[string]string
	objects []event.Object
}

// publishAction stores act in the EVENTS stream through the sink the
// sources use, so that it is evaluated like any event. The action has
// happened by then, so a failure to store it does not undo it: it is
// logged as an error, with what was done.
func (s *App) publishAction(ctx context.Context, act action) {
	if s.streams == nil {
		return // not started: nothing stores events
	}
	now := time.Now().UTC()
	actorType := "address"
	if act.who.Token {
		actorType = "token"
	}
	ev := event.Event{
		ID:       "alerter-" + ulid.MustNew(ulid.Timestamp(now), rand.Reader).String(),
		Time:     now,
		Source:   config.OwnSource,
		Format:   event.FormatJSON,
		System:   ownCategory,
		Category: ownCategory,
		Action:   act.name,
		Summary:  act.name + " by " + act.who.Name,
		Actor:    event.Actor{ID: act.who.Name, Name: act.who.Name, Type: actorType, Groups: []string{}},
		Objects:  act.objects,
		Changes:  []event.Change{},
		Attrs:    act.attrs,
	}
	if ev.Objects == nil {
		ev.Objects = []event.Object{}
	}
	if !act.who.Token {
		ev.IP = act.who.Name
	}
	// The request that did it may be gone; its record must not be.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.streams.Store(ctx, config.OwnSource, []event.Event{ev}); err != nil {
		s.log.Error("storing alerter's own action as an event failed; rules will not see it",
			"action", act.name, "by", act.who.Name, "attrs", act.attrs, "err", err)
	}
}

// silenceAction is the event of a silence created or expired: who, the
// matchers, when it runs, and which of the loaded rules it covers.
func (s *App) silenceAction(name string, who Identity, sl silences.Silence) action {
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
	covered := coveredRules(sl, s.eng.Rules())
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
	return action{name: name, who: who, attrs: attrs, objects: objects}
}

// coveredRules are the rules of set whose alerts sl may mute: those its
// matchers on rule, severity and labels match. Matchers on group values
// and dedup keys depend on the event, so they are taken to match: a rule
// is listed when some of its alerts may be muted.
func coveredRules(sl silences.Silence, set *rules.Set) []*rules.Rule {
	if set == nil {
		return nil
	}
	static := sl
	static.Matchers = slices.DeleteFunc(slices.Clone(sl.Matchers), func(m silences.Matcher) bool {
		return m.Name != "rule" && m.Name != "severity" && !strings.HasPrefix(m.Name, "label.")
	})
	var out []*rules.Rule
	for _, r := range set.Rules {
		if static.MatchesAlert(&alerter.Alert{Rule: r.ID, Severity: r.Severity, Labels: r.Labels}) {
			out = append(out, r)
		}
	}
	return out
}

// reloadAction is the event of a rule set swapped in: what was added and
// removed, and who or what asked.
func reloadAction(who Identity, trigger string, old, set *rules.Set) action {
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
	return action{name: ActionRulesReloaded, who: who, attrs: attrs, objects: objects}
}

// alerterIdentity is the identity of what alerter does on its own (a reload on a
// file change or a signal).
func alerterIdentity(trigger string) Identity {
	return Identity{Name: "alerter (" + trigger + ")", Role: config.RoleAdmin}
}
