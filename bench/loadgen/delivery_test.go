package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/notifiers"
	slacknotifier "github.com/alerter/alerter/notifiers/slack"
	"github.com/alerter/alerter/rules"
)

// The ordinary events of the mixed streams match no example rule, at
// office hours and off hours (some rules look at the hour in Berlin), by
// the pool's actors and by new ones; and the events a mix draws as
// matching do match.
func TestOrdinaryEventsMatchNothing(t *testing.T) {
	rulesDir, eventsDir := exampleDirs(t)
	set, err := rules.Load([]string{rulesDir}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(set, &engine.MemStore{})
	ordinary, err := templates(ordinaryEntities(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ordinary) < 5 {
		t.Fatalf("%d ordinary templates", len(ordinary))
	}
	actions := map[string]bool{}
	for _, base := range []time.Time{
		time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC), // Tuesday, office hours in Berlin
		time.Date(2026, 11, 28, 2, 15, 0, 0, time.UTC),  // Saturday night
		time.Date(2026, 11, 25, 19, 5, 0, 0, time.UTC),  // Wednesday evening
	} {
		for _, actors := range []uint64{0, 1000} {
			gen := newGenerator(ordinary, actors, 0)
			gen.base = base
			for range 4 * len(ordinary) {
				body, _ := gen.next(nil)
				evs, err := event.Parse(body, event.Options{Source: webhookSource})
				if err != nil || len(evs) != 1 {
					t.Fatalf("%s: %v", body, err)
				}
				actions[evs[0].Action] = true
				if m, errs := eng.Evaluate(&evs[0]); len(m) > 0 || len(errs) > 0 {
					var ids []string
					for _, x := range m {
						ids = append(ids, x.Rule.ID)
					}
					t.Fatalf("ordinary %q at %s matches %v (errors %v)", evs[0].Action, evs[0].Time, ids, errs)
				}
			}
		}
	}
	if len(actions) != len(ordinary) {
		t.Errorf("ordinary actions seen: %v", actions)
	}

	fixtures, err := loadFixtures(eventsDir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := classify(fixtures, rulesDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.matching) == 0 || len(c.ordinary) != len(ordinary) {
		t.Fatalf("classified: %d matching, %d ordinary", len(c.matching), len(c.ordinary))
	}
	// A 5% mix: one event in 20 comes from the matching templates and
	// matches a rule; the others match none.
	gen := newGenerator(c.matching, 1000, 0).mixed(c.ordinary, 0.05)
	const n = 2000
	matched := 0
	for range n {
		body, seq := gen.next(nil)
		evs, err := event.Parse(body, event.Options{Source: webhookSource})
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %v", body, err)
		}
		m, _ := eng.Evaluate(&evs[0])
		if gen.matching(seq) {
			matched++
			if len(m) == 0 {
				t.Errorf("event %d (%q) was drawn as matching but matches no rule", seq, evs[0].Action)
			}
		} else if len(m) > 0 {
			t.Errorf("event %d (%q) was drawn as ordinary but matches %d rule(s)", seq, evs[0].Action, len(m))
		}
	}
	if matched < n/20-1 || matched > n/20+1 {
		t.Errorf("%d of %d events matching, want %d", matched, n, n/20)
	}
}

func TestParseMixes(t *testing.T) {
	got, err := parseMixes("security, 0.05,5%,20%")
	if err != nil {
		t.Fatal(err)
	}
	want := []mix{securityMix, {Name: "5% match", Frac: 0.05}, {Name: "20% match", Frac: 0.2}}
	if !slices.Equal(got, want) {
		t.Errorf("parseMixes = %v, want %v", got, want)
	}
	if got := defaults().Mixes; !slices.Equal(got, want[:2]) {
		t.Errorf("default mixes %v, want %v", got, want[:2])
	}
	for _, bad := range []string{"", "0", "1.5", "-0.1", "lots"} {
		if _, err := parseMixes(bad); err == nil {
			t.Errorf("parseMixes(%q) accepted", bad)
		}
	}
}

// The fake Slack webhook refuses during the storm as Slack does (429 with
// Retry-After: 1, which the real notifier reads as retry after 1s), finds
// the alert id in what the real notifier posts, and its tally tells a
// clean delivery from one with a duplicate, a missing alert or a stranger.
func TestSlackSinkAccounting(t *testing.T) {
	sink := newSlackSink()
	srv := httptest.NewServer(sink)
	defer srv.Close()
	n, err := slacknotifier.New(config.Notifier{Name: slackTarget, Type: "slack", Settings: slacknotifier.Config{WebhookURL: config.Secret(srv.URL + slackPath)}},
		slacknotifier.Options{ExternalURL: loadExternalURL})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"01JX0000000000000000000001", "01JX0000000000000000000002", "01JX0000000000000000000003"}
	alert := func(id string) *alerter.Alert {
		return &alerter.Alert{ID: id, Rule: "r", Name: "R", Severity: "critical", Title: "t", Text: "x", FiredAt: time.Now()}
	}
	ctx := context.Background()

	sink.stormUntil.Store(time.Now().Add(time.Hour).UnixNano())
	err = n.Notify(ctx, alert(ids[0]))
	retry, after := notifiers.Classify(err)
	if err == nil || !retry || after != time.Second {
		t.Fatalf("during the storm: %v (retry %v after %s), want a retry after 1s", err, retry, after)
	}
	sink.stormUntil.Store(0)
	for _, id := range ids[:2] {
		if err := n.Notify(ctx, alert(id)); err != nil {
			t.Fatal(err)
		}
	}
	if got := sink.tally(ids[:2]); !got.ExactlyOnce() || got.Received != 2 || got.Fired != 2 {
		t.Errorf("clean run: %+v, exactly once %v", got, got.ExactlyOnce())
	}
	if sink.refused.Load() != 1 || sink.attempts.Load() != 3 {
		t.Errorf("refused %d of %d attempts, want 1 of 3", sink.refused.Load(), sink.attempts.Load())
	}
	// A duplicate of the first, the third missing.
	if err := n.Notify(ctx, alert(ids[0])); err != nil {
		t.Fatal(err)
	}
	if got := sink.tally(ids); got.ExactlyOnce() || got.Duplicates != 1 || got.Missing != 1 || got.Received != 2 || got.Unexpected != 0 {
		t.Errorf("duplicate and missing: %+v", got)
	}
	// Something that did not fire, and a message without an alert id.
	if err := n.Notify(ctx, alert("01JX0000000000000000000009")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+slackPath, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := sink.tally(ids); got.Unexpected != 2 {
		t.Errorf("strangers: %+v, want 2 unexpected", got)
	}
	if got := sink.tally(nil); got.ExactlyOnce() {
		t.Errorf("nothing fired counts as exactly once: %+v", got)
	}
}

// A tiny delivery-429 run: Slack refuses the alerts of the storm and then
// gets every alert exactly once, and the webhook target gets them all.
func TestDelivery429Tiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts alerter")
	}
	rulesDir, eventsDir := exampleDirs(t)
	s := defaults()
	s.Scenarios = []string{"delivery-429"}
	s.Duration = time.Second
	s.FloorDuration = 100 * time.Millisecond
	s.LatencyConns = 2
	s.DeliveryRate = 50
	s.DeliveryWait = time.Minute
	s.Rules, s.Events = rulesDir, eventsDir
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := run(ctx, s, testWriter{t}, false)
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Details["delivery-429"]
	if d == nil {
		t.Fatalf("no details: %v", rep.Details)
	}
	if d["events"] != 50 || d["alerts_fired"] != 50 || d["slack_received"] != 50 || d["slack_duplicates"] != 0 ||
		d["slack_missing"] != 0 || d["slack_unexpected"] != 0 || d["slack_exactly_once"] != true || d["hook_missing"] != 0 {
		t.Errorf("accounting: %v", d)
	}
	// The first alerts fire well within the half-second storm.
	if attempts, _ := d["slack_attempts"].(int64); attempts <= 50 {
		t.Errorf("%v Slack attempts for 50 alerts: the storm refused none", d["slack_attempts"])
	}
	var row *Row
	for i := range rep.Rows {
		if rep.Rows[i].Unit == "alerts" {
			row = &rep.Rows[i]
		}
	}
	if row == nil || row.Result != 50 || row.Floor != 50 || row.Pass == nil || !*row.Pass {
		t.Errorf("exactly-once row: %+v", row)
	}
}

func TestFindAlertID(t *testing.T) {
	const id = "01JX0000000000000000000001"
	for body, want := range map[string]string{
		`{"url":"` + loadExternalURL + `/alerts/` + id + `"}`: id,
		`{"text":"Rule r · Alert ` + id + `"}`:                id,
		`{"text":"no id"}`:                                    "",
		`{"url":"/alerts/01JX"}`:                              "",
	} {
		if got := findAlertID([]byte(body)); got != want {
			t.Errorf("findAlertID(%s) = %q, want %q", body, got, want)
		}
	}
}
