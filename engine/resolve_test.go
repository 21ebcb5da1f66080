package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

const resolveRule = `
rules:
  - id: off
    severity: high
    when: event.action == "off"
    dedup: {by: [event.actor.name], window: 1h}
    resolve: {when: 'event.action == "on"'}
`

func TestResolve(t *testing.T) {
	type step struct {
		action, actor string
		at            time.Duration
		id            string // default: the step's index
		// want is what the event gives: "alert", "suppressed",
		// "resolve ACTOR" or "".
		want string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a resolve ends the dedup window: the next match alerts", []step{
			{"off", "a", 0, "", "alert"},
			{"off", "a", time.Minute, "", "suppressed"},
			{"on", "a", 2 * time.Minute, "", "resolve a"},
			{"off", "a", 3 * time.Minute, "", "alert"},
		}},
		{"a resolve of another group leaves this one suppressed", []step{
			{"off", "a", 0, "", "alert"},
			{"on", "b", time.Minute, "", "resolve b"},
			{"off", "a", 2 * time.Minute, "", "suppressed"},
		}},
		{"a group that never alerted is resolved all the same", []step{
			{"on", "a", 0, "", "resolve a"},
			{"off", "a", time.Minute, "", "alert"},
		}},
		{"a resolve older than the last alert leaves it", []step{
			{"off", "a", 10 * time.Minute, "", "alert"},
			{"on", "a", 5 * time.Minute, "", "resolve a"},
			{"off", "a", 20 * time.Minute, "", "suppressed"},
		}},
		{"a match older than the resolve belongs to the resolved alert", []step{
			{"off", "a", 0, "", "alert"},
			{"on", "a", 2 * time.Minute, "", "resolve a"},
			{"off", "a", time.Minute, "", "suppressed"},
			{"off", "a", 3 * time.Minute, "", "alert"},
		}},
		{"an event evaluated again after the resolve (a crash) changes nothing", []step{
			{"off", "a", 0, "", "alert"},
			{"off", "a", time.Minute, "x", "suppressed"},
			{"on", "a", 2 * time.Minute, "", "resolve a"},
			{"off", "a", time.Minute, "x", ""},
			{"on", "a", 2 * time.Minute, "2", "resolve a"},
			{"off", "a", 3 * time.Minute, "", "alert"},
		}},
		{"other events do nothing", []step{
			{"off", "a", 0, "", "alert"},
			{"other", "a", time.Minute, "", ""},
			{"off", "a", 2 * time.Minute, "", "suppressed"},
		}},
	}
	// The resolve condition runs direct (direct.go) or in the VM.
	inVM := strings.Replace(resolveRule, `'event.action == "on"'`, `'event.action == "on" && len(event.actor.name) > 0'`, 1)
	for _, tt := range tests {
		for kind, src := range map[string]string{"direct": resolveRule, "vm": inVM} {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				e := New(compile(t, src), &MemStore{})
				if d := e.snap.Load().resolveDirect[0]; (d != nil) != (kind == "direct") {
					t.Fatalf("resolve.when runs direct: %v", d != nil)
				}
				for i, s := range tt.steps {
					id := s.id
					if id == "" {
						id = fmt.Sprint(i)
					}
					res, err := e.Process(t.Context(), ev(id, s.action, s.actor, s.at))
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for range res.Alerts {
						got = append(got, "alert")
					}
					for range res.Suppressed {
						got = append(got, "suppressed")
					}
					for _, r := range res.Resolves {
						got = append(got, "resolve "+r.Group["event.actor.name"])
					}
					if g := strings.Join(got, ", "); g != s.want {
						t.Fatalf("event %d (%s by %s): got %q, want %q", i, s.action, s.actor, g, s.want)
					}
				}
			})
		}
	}
}

func TestResolveNamesTheAlertsGroup(t *testing.T) {
	e := New(compile(t, resolveRule), &MemStore{})
	fired, err := e.Process(t.Context(), ev("1", "off", "a", 0))
	if err != nil || len(fired.Alerts) != 1 {
		t.Fatalf("got %v, %v; want one alert", fired.Alerts, err)
	}
	res, err := e.Process(t.Context(), ev("2", "on", "a", time.Minute))
	if err != nil || len(res.Resolves) != 1 {
		t.Fatalf("got %v, %v; want one resolve", res.Resolves, err)
	}
	rv, a := res.Resolves[0], fired.Alerts[0]
	if rv.Rule != "off" || rv.DedupKey != a.DedupKey || rv.EventID != "2" || !rv.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("got %+v, want rule off, dedup_key %s, event 2 at %s", rv, a.DedupKey, t0.Add(time.Minute))
	}
	if len(res.Matches) != 0 || len(res.Alerts) != 0 {
		t.Errorf("a resolve event that does not meet when is no match: got %v", res.Matches)
	}
}

// TestIndexOffersResolves holds the index to running every rule: an event
// that can meet a rule's resolve.when, though not its when, reaches it.
func TestIndexOffersResolves(t *testing.T) {
	conds := []string{
		`event.action == "a"`, `event.action in ["b", "c"]`, `event.category == "x" && event.action == "d"`,
		`event.action == "a" || event.category == "y"`, `!(event.action == "a")`,
		`event.action_key == "k1" || event.action == "b"`, `event.actor.type == "user" && event.action in ["a", "d"]`,
	}
	var src strings.Builder
	src.WriteString("rules:\n")
	for i, c := range conds {
		for j, r := range conds {
			if i != j {
				fmt.Fprintf(&src, "  - {id: r%d-%d, severity: low, when: '%s', dedup: {by: [event.actor.name], window: 1h}, resolve: {when: '%s'}}\n", i, j, c, r)
			}
		}
	}
	set := compile(t, src.String())
	e := New(set, &MemStore{})
	brute := New(set, &MemStore{}, withoutIndex())
	actions, cats, keys := []string{"a", "b", "c", "d"}, []string{"x", "y"}, []string{"", "k1"}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		x := ev(fmt.Sprint(i), actions[rng.IntN(len(actions))], "a", 0)
		x.Category = cats[rng.IntN(len(cats))]
		x.ActionKey = keys[rng.IntN(len(keys))]
		if rng.IntN(2) == 0 {
			x.Actor.Type = "user"
		}
		got, want := e.Plan(t.Context(), x, nil), brute.Plan(t.Context(), x, nil)
		if g, w := resolvedRules(got.Resolves), resolvedRules(want.Resolves); !slices.Equal(g, w) {
			t.Fatalf("event action=%s action_key=%s category=%s actor.type=%s: index resolves %v, all rules %v",
				x.Action, x.ActionKey, x.Category, x.Actor.Type, g, w)
		}
		if len(got.Matches) != len(want.Matches) {
			t.Fatalf("event %d: index matches %d rules, all rules %d", i, len(got.Matches), len(want.Matches))
		}
	}
}

func resolvedRules(rs []Resolve) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.Rule)
	}
	return ids
}

// An event that meets both conditions counts as a match of the group as
// it stood, then resolves it: the event that fires an alert keeps it
// open, a suppressed one ends it, and the next match alerts.
func TestResolveAndMatch(t *testing.T) {
	e := New(compile(t, strings.Replace(resolveRule, `'event.action == "on"'`, `'event.action in ["on", "off"]'`, 1)), &MemStore{})
	for i, want := range []string{"1 alerts, 0 suppressed, 1 resolves", "0 alerts, 1 suppressed, 1 resolves", "1 alerts, 0 suppressed, 1 resolves"} {
		res, err := e.Process(t.Context(), ev(fmt.Sprint(i), "off", "a", time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%d alerts, %d suppressed, %d resolves", len(res.Alerts), len(res.Suppressed), len(res.Resolves)); got != want {
			t.Fatalf("event %d: got %s, want %s", i, got, want)
		}
	}
}

// A new_value rule's group forgets nothing it learned on a resolve; its
// dedup window ends.
func TestResolveNewValue(t *testing.T) {
	e := New(compile(t, `
rules:
  - id: new-ip
    severity: low
    when: event.action == "off"
    new_value: {of: [event.ip], by: [event.actor.name], history: 30d}
    dedup: {window: 1h}
    resolve: {when: 'event.action == "on"'}
`), &MemStore{})
	step := func(id, action, ip string, at time.Duration) string {
		x := ev(id, action, "a", at)
		x.IP = ip
		res, err := e.Process(t.Context(), x)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d/%d/%d", len(res.Alerts), len(res.Suppressed), len(res.Resolves))
	}
	for _, s := range []struct {
		id, action, ip string
		want           string
	}{
		{"1", "off", "10.0.0.1", "1/0/0"},
		{"2", "off", "10.0.0.2", "0/1/0"}, // new, within the dedup window
		{"3", "on", "", "0/0/1"},
		{"4", "off", "10.0.0.1", "0/0/0"}, // known: not new
		{"5", "off", "10.0.0.3", "1/0/0"}, // new, the window ended
	} {
		if got := step(s.id, s.action, s.ip, time.Minute*time.Duration(s.id[0]-'0')); got != s.want {
			t.Fatalf("event %s: got alerts/suppressed/resolves %s, want %s", s.id, got, s.want)
		}
	}
}

// A resolved alert escalates no more: a late match, suppressed as part of
// it, takes no escalate: step; the group's next alert takes them anew.
// An event that meets resolve.when of a group with nothing to end writes
// nothing.
func TestResolvedAlertEscalatesNoMore(t *testing.T) {
	src := strings.Replace(resolveRule, "    resolve:", "    escalate: [{after_suppressed: 1, severity: critical}]\n    resolve:", 1)
	store := &writingStore{}
	e := New(compile(t, src), store)
	steps := []struct {
		action string
		at     time.Duration
		want   string
	}{
		{"off", 0, "alert"},
		{"on", 10 * time.Minute, "resolve"},
		{"off", 5 * time.Minute, "suppressed"},
		{"on", 11 * time.Minute, "resolve"},
		{"off", 20 * time.Minute, "alert"},
		{"off", 21 * time.Minute, "suppressed, escalation"},
	}
	for i, s := range steps {
		writes := store.writes
		res, err := e.Process(t.Context(), ev(fmt.Sprint(i), s.action, "a", s.at))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for range res.Alerts {
			got = append(got, "alert")
		}
		for range res.Suppressed {
			got = append(got, "suppressed")
		}
		for range res.Escalations {
			got = append(got, "escalation")
		}
		for _, r := range res.Resolves {
			got = append(got, "resolve")
			// Only the first finds an alert open to resolve.
			if r.Open != (i == 1) || r.Applied.IsZero() {
				t.Errorf("event %d: resolve open %v, applied at %s", i, r.Open, r.Applied)
			}
		}
		if g := strings.Join(got, ", "); g != s.want {
			t.Errorf("event %d (%s at %s): got %q, want %q", i, s.action, s.at, g, s.want)
		}
		if i == 3 && store.writes != writes {
			t.Errorf("a resolve of a group already resolved wrote its state")
		}
	}
}

// writingStore is a MemStore that counts the states it writes.
type writingStore struct {
	MemStore
	writes int
}

func (c *writingStore) Update(ctx context.Context, key string, ttl time.Duration, fn func(*GroupState) error) error {
	return c.MemStore.Update(ctx, key, ttl, func(g *GroupState) error {
		err := fn(g)
		if err == nil {
			c.writes++
		}
		return err
	})
}
