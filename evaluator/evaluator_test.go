package evaluator

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/natstest"
	"github.com/alerter/alerter/rules"
)

// What the evaluator is built with is what it uses: the lists and the
// enricher the rules see, the router the alerts are routed with, the
// observer of each evaluation. Alerts are stored routed, each group's first
// event firing; a stored message that is no event is dropped, not retried.
func TestEvaluatorUsesWhatItIsBuiltWith(t *testing.T) {
	env := natstest.Start(t)
	ctx := t.Context()
	set, err := rules.Compile([]rules.File{{Name: "t.yaml", Data: []byte(`lists:
  vips: [zed] # the set's own; the evaluator's Lists replace it
rules:
  - id: vip
    severity: high
    when: event.actor.name in lists.vips && "admins" in event.actor.groups
    dedup: {by: [event.actor.name], window: 1h}
    title: "{{ event.actor.name }}"
  - id: paged
    severity: low
    when: event.action == "page"
    notify: [pager]
`)}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var observed atomic.Int64
	v, err := New(ctx, env.JS, Options{
		Engine: engine.New(set, &engine.MemStore{}),
		Alerts: env.Streams,
		Router: func() alerter.Router { return set.Router(alerter.Routes{"default": {"console"}}) },
		Lists:  func() map[string][]string { return map[string][]string{"vips": {"ann", "bob"}} },
		Enrich: func(_ context.Context, ev *event.Event) {
			if ev.Actor.Name != "cy" {
				ev.Actor.Groups = []string{"admins"}
			}
		},
		Observe: func(time.Duration) { observed.Add(1) },
		AckWait: time.Second,
		Workers: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	var events []event.Event
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	for i := range 30 {
		actor := []string{"ann", "bob", "cy"}[i%3]
		events = append(events, event.Event{ID: fmt.Sprint("e", i), Action: "login", Time: base.Add(time.Duration(i) * time.Second),
			Actor: event.Actor{Name: actor}})
	}
	events = append(events, event.Event{ID: "p", Action: "page", Time: base})
	if _, err := env.Streams.Store(ctx, "src", events); err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.Publish(ctx, bus.EventsSubject+".src", []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for v.Stats().Events.Load() < int64(len(events)) || v.Stats().Poison.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("evaluated %d events, dropped %d; want %d and 1", v.Stats().Events.Load(), v.Stats().Poison.Load(), len(events))
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	var got []string
	for _, data := range env.Alerts(t) {
		var a alerter.Alert
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %v", a.Rule, a.Event.ID, a.Title, a.Notify))
	}
	slices.Sort(got)
	want := []string{"paged p paged [pager]", "vip e0 ann [console]", "vip e1 bob [console]"}
	if !slices.Equal(got, want) {
		t.Errorf("alerts stored:\n%q\nwant\n%q", got, want)
	}
	if n := observed.Load(); n != int64(len(events)) {
		t.Errorf("%d evaluations observed, want %d", n, len(events))
	}
	if n := v.Stats().Alerts.Load(); n != 3 {
		t.Errorf("%d alerts counted, want 3", n)
	}
	if n, err := v.Pending(ctx); err != nil || n != 0 {
		t.Errorf("pending %d (%v), want 0", n, err)
	}
}

// An event is applied in one part per group, each in its group's order:
// every event counts toward a threshold on one group that all share, and
// toward a dedup group of its own, and fires a stateless rule. The shared
// group fires on every 5th event in stream order, whatever the other
// parts of the events did meanwhile.
func TestEvaluatorOrdersEachGroup(t *testing.T) {
	env := natstest.Start(t)
	ctx := t.Context()
	set, err := rules.Compile([]rules.File{{Name: "t.yaml", Data: []byte(`rules:
  - id: every-fifth
    severity: low
    when: event.action == "login"
    threshold: {count: 5, within: 1h}
    dedup: {window: 1ns}
  - id: per-actor
    severity: low
    when: event.action == "login"
    dedup: {by: [event.actor.name], window: 1h}
  - id: stateless
    severity: info
    when: event.action == "login"
`)}}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(ctx, env.JS, Options{
		Engine:  engine.New(set, &engine.MemStore{}),
		Alerts:  env.Streams,
		Router:  func() alerter.Router { return set.Router(alerter.Routes{"default": {"console"}}) },
		AckWait: time.Second,
		Workers: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var events []event.Event
	base := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	for i := range n {
		events = append(events, event.Event{ID: fmt.Sprintf("e%03d", i), Action: "login", Time: base.Add(time.Duration(i) * time.Second),
			Actor: event.Actor{Name: fmt.Sprint("actor", i)}})
	}
	if _, err := env.Streams.Store(ctx, "src", events); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- v.Run(runCtx) }()
	deadline := time.Now().Add(20 * time.Second)
	for v.Stats().Events.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("evaluated %d events, want %d", v.Stats().Events.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	count := map[string]int{}
	var fifth []string
	for _, data := range env.Alerts(t) {
		var a alerter.Alert
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatal(err)
		}
		count[a.Rule]++
		if a.Rule == "every-fifth" {
			fifth = append(fifth, fmt.Sprint(a.EventIDs))
		}
	}
	if count["per-actor"] != n || count["stateless"] != n || count["every-fifth"] != n/5 {
		t.Errorf("alerts per rule %v, want %d, %d and %d", count, n, n, n/5)
	}
	slices.Sort(fifth)
	for k, ids := range fifth {
		var want []string
		for i := range 5 {
			want = append(want, fmt.Sprintf("e%03d", 5*k+i))
		}
		if w := fmt.Sprint(want); ids != w {
			t.Errorf("threshold alert %d counted %s, want %s: the group's events were applied out of order", k, ids, w)
		}
	}
}
