package silences

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/internal/natstest"
)

// Two replicas counting the alerts of one silence at once lose none; the
// count holds the first and last time, the rules and targets up to their
// bounds; a silence that muted nothing has no count, and a forgotten one
// neither.
func TestTallyCountsAcrossReplicas(t *testing.T) {
	env := natstest.Start(t)
	ctx := t.Context()
	var replicas [2]*Tally
	for i := range replicas {
		tl, err := OpenTally(ctx, env.JS, 1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		replicas[i] = tl
	}
	const perReplica = 25
	var wg sync.WaitGroup
	for i, tl := range replicas {
		wg.Go(func() {
			for k := range perReplica {
				a := &alerter.Alert{ID: fmt.Sprint(i, k), Rule: fmt.Sprintf("rule-%d", k), Notify: []string{"slack", fmt.Sprint("t", k%3)}}
				if err := tl.Count(ctx, []string{"S1", "S2"}, a, t0.Add(time.Duration(k)*time.Minute)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, id := range []string{"S1", "S2"} {
		c, ok, err := replicas[0].Get(ctx, id)
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", id, ok, err)
		}
		if c.Alerts != 2*perReplica || !c.First.Equal(t0) || !c.Last.Equal(t0.Add((perReplica-1)*time.Minute)) {
			t.Errorf("%s: %d alerts from %s to %s", id, c.Alerts, c.First, c.Last)
		}
		if len(c.Rules) != MaxCountRules || !c.MoreRules {
			t.Errorf("%s: rules %v (more: %v), want %d and more", id, c.Rules, c.MoreRules, MaxCountRules)
		}
		slices.Sort(c.Targets)
		if !slices.Equal(c.Targets, []string{"slack", "t0", "t1", "t2"}) {
			t.Errorf("%s: targets %v", id, c.Targets)
		}
	}
	if _, ok, err := replicas[1].Get(ctx, "S3"); ok || err != nil {
		t.Errorf("a silence that muted nothing has a count: %v %v", ok, err)
	}
	if err := replicas[1].Forget(ctx, "S1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := replicas[0].Get(ctx, "S1"); ok || err != nil {
		t.Errorf("a forgotten count is still there: %v %v", ok, err)
	}
}

type fixedMuter []string

func (m fixedMuter) Matching(*alerter.Alert, time.Time) []string { return m }

// An alert muted at every one of its targets is counted once, by its
// first target's deliverer; what the silences say is passed on as is.
func TestCountingCountsAtTheFirstTarget(t *testing.T) {
	env := natstest.Start(t)
	tl, err := OpenTally(t.Context(), env.JS, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a := &alerter.Alert{ID: "a1", Rule: "export-burst", Notify: []string{"pager", "slack"}}
	for _, target := range []string{"slack", "pager", "email"} {
		c := Counting{Silences: fixedMuter{"S1"}, Tally: tl, Target: target}
		if got := c.Matching(a, t0); !slices.Equal(got, []string{"S1"}) {
			t.Errorf("%s: matching %v", target, got)
		}
	}
	unmuted := Counting{Silences: fixedMuter(nil), Tally: tl, Target: "pager"}
	if got := unmuted.Matching(&alerter.Alert{ID: "a2", Rule: "x", Notify: []string{"pager"}}, t0); got != nil {
		t.Errorf("matching %v", got)
	}
	c, ok, err := tl.Get(t.Context(), "S1")
	if err != nil || !ok || c.Alerts != 1 || !slices.Equal(c.Rules, []string{"export-burst"}) {
		t.Errorf("count %+v %v %v, want one alert of export-burst", c, ok, err)
	}
}
