package silences

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/internal/natstest"
	"github.com/alerter/alerter/internal/syncbuf"
	"github.com/alerter/alerter/rules"
)

// loaded is a rule set of two enabled rules and a disabled one, as the
// engine holds it.
func loaded() *rules.Set {
	return &rules.Set{Rules: []*rules.Rule{
		{ID: "soteri-export", Severity: "high", Enabled: true, Labels: map[string]string{"team": "security"},
			GroupBy: []rules.Expr{{Source: "event.actor.name"}}},
		{ID: "login-failed", Severity: "medium", Enabled: true, Labels: map[string]string{"team": "security"}},
		{ID: "old-rule", Severity: "low", Enabled: false},
	}}
}

// A matcher that takes every value is refused whatever else the silence
// names; one that takes many values is not.
func TestMatchesEveryValue(t *testing.T) {
	for _, tc := range []struct {
		matcher string
		all     bool
	}{
		{"rule=~.*", true},
		{"rule=~(?s).*", true},
		{"rule=~.+|^$", true},
		{"rule=~[\\s\\S]*", true},
		{"rule=~^.*$", true},
		{"label.team=~(.*)", true},
		{"dedup_key=~.*|x", true},
		{"group.event.actor.name=~(?:.|\\n)*", true},
		{"rule!~a^", true},        // the regex matches nothing
		{"rule!~[^\\s\\S]", true}, // nor does this one
		{"severity!~$^x", true},
		{"rule=~.+", false}, // not ""; the loaded rules decide (TestCheckScope)
		{"rule=~soteri-.*", false},
		{"rule!~soteri-.*", false},
		{"rule!=", false},
		{"rule!=x", false},
		{"rule=", false},
		{"rule!~.*", false},
		{"rule!~a|b", false},
		{"label.team!~security{2,5}", false},
		{"rule!~\\bx", false},
		{"group.event.actor.name=~[a-z]*", false},
	} {
		m, err := ParseMatcher(tc.matcher)
		if err != nil {
			t.Fatalf("%s: %v", tc.matcher, err)
		}
		if got := m.matchesAll(); got != tc.all {
			t.Errorf("%s matches every value: %v, want %v", tc.matcher, got, tc.all)
		}
		s := silence("rule=soteri-export", tc.matcher)
		err = s.Check(t0)
		if refused := err != nil && strings.Contains(err.Error(), "matches every value"); refused != tc.all {
			t.Errorf("silence rule=soteri-export %s: %v", tc.matcher, err)
		}
	}
}

// A silence that an alert of every loaded rule satisfies, whatever its
// event, is refused; one that leaves any rule's alerts through is not.
func TestCheckScope(t *testing.T) {
	p := Policy{Rules: loaded}
	for _, tc := range []struct {
		matchers []string
		refused  bool
	}{
		{[]string{`rule!=`}, true},
		{[]string{`rule=~.+`}, true},
		{[]string{`rule=~soteri-export|login-failed`}, true},
		{[]string{`severity=~high|medium`}, true},
		{[]string{`severity!=critical`}, true},
		{[]string{`label.team=security`}, true},
		{[]string{`label.team=~.+`, `rule!=x`}, true},
		{[]string{`dedup_key=~[a-z-]+:[0-9a-f]+`}, true},
		{[]string{`group.event.ip!=10.0.0.1`, `rule=~.+`}, true},      // no rule groups by ip: "" for all
		{[]string{`rule!=old-rule`}, true},                            // the disabled rule fires nothing
		{[]string{`rule=~.+`, `group.event.actor.name!=mchen`}, true}, // all but one actor's
		{[]string{`rule=~.+`, `group.event.actor.name!~svc-.*`}, true},
		{[]string{`rule=soteri-export`, `group.event.actor.name!=mchen`}, false},
		{[]string{`rule=~.+`, `group.event.actor.name=mchen`}, false},
		{[]string{`rule=soteri-export`}, false},
		{[]string{`severity=high`}, false},
		{[]string{`label.team=security`, `severity=high`}, false},
		{[]string{`dedup_key=~soteri-export:.*`}, false},
		{[]string{`rule!=login-failed`, `label.team=security`}, false},
		{[]string{`label.owner=x`}, false},
	} {
		s := silence(tc.matchers...)
		if err := s.CheckMatchers(); err != nil && !tc.refused {
			t.Fatalf("%v: %v", tc.matchers, err)
		}
		err := p.CheckScope(&s)
		if refused := err != nil; refused != tc.refused {
			t.Errorf("%v: %v, want refused %v", tc.matchers, err, tc.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "mute everything") {
			t.Errorf("%v: %v, want the reason", tc.matchers, err)
		}
	}
	// Without rules, or none enabled, there is nothing to decide against.
	s := silence("rule=~.+")
	_ = s.CheckMatchers()
	for _, set := range []*rules.Set{nil, {}, {Rules: []*rules.Rule{{ID: "x", Severity: "low"}}}} {
		if err := (Policy{Rules: func() *rules.Set { return set }}).CheckScope(&s); err != nil {
			t.Errorf("rules %v: %v", set, err)
		}
	}
}

func TestCheckDuration(t *testing.T) {
	p := Policy{MaxDuration: 24 * time.Hour}
	for _, tc := range []struct {
		start, end time.Duration // from t0
		want       string
	}{
		{0, 24 * time.Hour, ""},
		{time.Hour, 25 * time.Hour, ""},
		{0, 24*time.Hour + time.Second, "lasts 24h0m1s, longer than silences.max_duration (24h0m0s)"},
		{0, 100 * 365 * 24 * time.Hour, "lasts 3.65e+04 days, longer than silences.max_duration"},
		{48 * time.Hour, 49 * time.Hour, "starts 2 days from now, further ahead than silences.max_duration"},
	} {
		s := silence("rule=soteri-export")
		s.StartsAt, s.EndsAt = t0.Add(tc.start), t0.Add(tc.end)
		err := p.Check(&s, t0)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s to %s: %v, want %q", tc.start, tc.end, err, tc.want)
		}
	}
	s := silence("rule=soteri-export")
	s.EndsAt = t0.Add(31 * 24 * time.Hour)
	if err := (Policy{}).Check(&s, t0); err == nil || !strings.Contains(err.Error(), "(30 days)") {
		t.Errorf("31 days with the default cap: %v", err)
	}
}

// The bucket can be written past the API (anyone on the NATS port): a
// silence there that the API would refuse is not applied, and is counted.
func TestStoreRefusesWhatTheBucketHolds(t *testing.T) {
	env := natstest.Start(t)
	ctx := t.Context()
	var logs syncbuf.Buffer
	st, err := Open(ctx, env.JS, Options{Replicas: 1, Policy: Policy{MaxDuration: 24 * time.Hour, Rules: loaded},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv, err := env.JS.KeyValue(ctx, Bucket)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	write := func(id string, end time.Duration, ms ...string) {
		s := silence(ms...)
		s.ID, s.StartsAt, s.EndsAt = id, now.Add(-time.Minute), now.Add(end)
		b, _ := json.Marshal(s)
		if _, err := kv.Put(ctx, id, b); err != nil {
			t.Fatal(err)
		}
	}
	write("everything", time.Hour, "severity=~.*")
	write("every-rule", time.Hour, "rule!=")
	write("century", 100*365*24*time.Hour, "rule=soteri-export")
	write("garbage", time.Hour, "rule=~(")
	write("fine", time.Hour, "rule=login-failed")
	write("expired", -30*time.Second, "rule=~.*") // from before the checks: listed, applies to nothing
	wait(t, func() bool { _, ok := st.Get("expired"); return ok })
	wait(t, func() bool { return len(st.Refused()) == 4 })
	a := alert() // soteri-export: every refused silence would mute it
	if ids := st.Matching(a, time.Now()); len(ids) != 0 {
		t.Errorf("applied: %v", ids)
	}
	if _, ok := st.Get("fine"); !ok {
		t.Error("the valid silence was not loaded")
	}
	if _, ok := st.Refused()["expired"]; ok {
		t.Error("an expired silence was refused")
	}
	reasons := st.Refused()
	for id, want := range map[string]string{"everything": "matches every value", "every-rule": "mute everything",
		"century": "silences.max_duration", "garbage": "missing closing )"} {
		if !strings.Contains(reasons[id], want) {
			t.Errorf("%s refused for %q, want %q", id, reasons[id], want)
		}
	}
	if !strings.Contains(logs.String(), `msg="silence in the bucket refused; not applied" key=everything`) {
		t.Errorf("no log line for a refused silence:\n%s", logs.String())
	}
	// Replaced by a valid one, it applies and is no longer counted.
	write("century", time.Hour, "rule=soteri-export")
	wait(t, func() bool { return len(st.Matching(a, time.Now())) == 1 })
	if n := len(st.Refused()); n != 3 {
		t.Errorf("%d refused, want 3", n)
	}
	// A restarted replica refuses them too.
	st2, err := Open(ctx, env.JS, Options{Replicas: 1, Policy: Policy{MaxDuration: 24 * time.Hour, Rules: loaded}})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if n := len(st2.Refused()); n != 3 {
		t.Errorf("a restarted store refused %d, want 3", n)
	}
}

// Add refuses what the policy refuses, naming why.
func TestAddRefuses(t *testing.T) {
	env := natstest.Start(t)
	ctx := t.Context()
	st, err := Open(ctx, env.JS, Options{Replicas: 1, Policy: Policy{Rules: loaded}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		s    Silence
		want string
	}{
		{silence("rule=~.+"), "would mute everything"},
		{silence("rule=soteri-export"), "longer than silences.max_duration (30 days)"},
	} {
		tc.s.StartsAt, tc.s.EndsAt = time.Time{}, time.Now().Add(40*24*time.Hour)
		if _, err := st.Add(ctx, tc.s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.s.Matchers, err, tc.want)
		}
	}
	if n := len(st.List()); n != 0 {
		t.Errorf("%d silences stored", n)
	}
}
