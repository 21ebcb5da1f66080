package silences

import (
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/internal/natstest"
)

var t0 = time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)

func alert() *alerter.Alert {
	return &alerter.Alert{Rule: "soteri-export", Severity: "high", DedupKey: "soteri-export:ab12",
		Labels: map[string]string{"team": "security"}, Group: map[string]string{"event.actor.name": "mchen"}}
}

func silence(ms ...string) Silence {
	s := Silence{StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: "oncall", Comment: "maintenance"}
	for _, m := range ms {
		mm, _ := ParseMatcher(m) // Check reports what is wrong
		s.Matchers = append(s.Matchers, mm)
	}
	return s
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		matchers []string
		at       time.Time
		want     bool
	}{
		{[]string{"rule=soteri-export"}, t0, true},
		{[]string{"rule=soteri-export"}, t0.Add(-time.Second), false}, // pending
		{[]string{"rule=soteri-export"}, t0.Add(time.Hour), false},    // ended on time
		{[]string{"rule=other"}, t0, false},
		{[]string{"rule=~soteri-.*", "severity=high"}, t0, true},
		{[]string{"rule=~soteri", "severity=high"}, t0, false}, // anchored
		{[]string{"rule=soteri-export", "severity!=critical"}, t0, true},
		{[]string{"rule=soteri-export", "severity!~high|critical"}, t0, false},
		{[]string{"label.team=security"}, t0, true},
		{[]string{"label.owner=security"}, t0, false},
		{[]string{"group.event.actor.name=mchen", "rule=soteri-export"}, t0, true},
		{[]string{"dedup_key=soteri-export:ab12"}, t0, true},
	} {
		s := silence(tc.matchers...)
		if err := s.Check(t0); err != nil {
			t.Fatalf("%v: %v", tc.matchers, err)
		}
		if got := s.Matches(alert(), tc.at); got != tc.want {
			t.Errorf("%v at %s: %v, want %v", tc.matchers, tc.at.Format(time.TimeOnly), got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		s    Silence
		want string
	}{
		{Silence{}, "ends_at is required"},
		{silence(), "at least one matcher"},
		{silence("rule=~.*"), "matches every value"},
		{silence("severity!=low"), "could match every alert"},
		{silence("rule=~("), "missing closing )"},
		{silence("rule=~(a|b){1,1000}"), "a regex of 4001 steps; at most 1000"},
		{silence("rule=~[a-z]{0,300}", "label.team=~[a-z]{0,300}"), "the regexes add up to 1204 steps; at most 1000"},
		{silence("actor=x"), `name "actor": one of rule, severity`},
		{Silence{Matchers: []Matcher{{Name: "rule", Value: "x"}}, EndsAt: t0}, "created_by is required"},
	} {
		err := tc.s.Check(t0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
	}
	if _, err := ParseMatcher("rule"); err == nil {
		t.Error("a matcher without an operator parsed")
	}
	for _, in := range []string{"rule=a", "rule!=a", "rule=~a.*", "rule!~a|b"} {
		m, err := ParseMatcher(in)
		if err != nil || m.String() != in {
			t.Errorf("ParseMatcher(%q) = %v, %v", in, m, err)
		}
	}
}

// Silences are shared through the bucket: a second store (another
// replica) sees what the first added and expired.
func TestStoreSharesSilences(t *testing.T) {
	env := natstest.Start(t)
	ctx := t.Context()
	a, err := Open(ctx, env.JS, Options{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, env.JS, Options{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	s := silence("rule=soteri-export")
	s.StartsAt, s.EndsAt = time.Time{}, now.Add(time.Hour)
	added, err := a.Add(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, func() bool { return len(b.Matching(alert(), time.Now())) == 1 })
	if _, err := b.Expire(ctx, added.ID); err != nil {
		t.Fatal(err)
	}
	wait(t, func() bool { return len(a.Matching(alert(), time.Now())) == 0 })
	got, ok := a.Get(added.ID)
	if !ok || got.State(time.Now()) != Expired || len(a.List()) != 1 {
		t.Errorf("after expiry: %+v %v %d", got, ok, len(a.List()))
	}
	if _, err := a.Expire(ctx, "nope"); err == nil {
		t.Error("expiring an unknown silence succeeded")
	}
	past := silence("rule=x")
	past.StartsAt, past.EndsAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
	if _, err := a.Add(ctx, past); err == nil || !strings.Contains(err.Error(), "in the past") {
		t.Errorf("adding an ended silence: %v", err)
	}
	// A restarted replica loads them.
	c, err := Open(ctx, env.JS, Options{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.List()) != 1 {
		t.Errorf("a new store loaded %d silences, want 1", len(c.List()))
	}
}

func wait(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FuzzParseMatcher: matchers come from the CLI and the API; none may crash
// the parser or a match, and what parses prints back to itself.
func FuzzParseMatcher(f *testing.F) {
	for _, s := range []string{"rule=a", "severity!=low", "group.event.actor.name=~svc-.*", "label.team!~a|b", "=x", "rule=~(", "a=b=c"} {
		f.Add(s)
	}
	a := alert()
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseMatcher(in)
		if err != nil {
			return
		}
		back, err := ParseMatcher(m.String())
		if err != nil || back.String() != m.String() {
			t.Fatalf("%q parsed as %q, which parses as %q (%v)", in, m.String(), back.String(), err)
		}
		s := Silence{Matchers: []Matcher{m}, StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: "f", Comment: "f"}
		if s.Check(t0) == nil {
			s.Matches(a, t0)
		}
	})
}
