package actions

import (
	"slices"
	"testing"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/silences"
)

var actionRules = &rules.Set{Version: "v2", Rules: []*rules.Rule{
	{ID: "admin-added", Name: "Admin added", Severity: alerter.Critical, Labels: map[string]string{"team": "security"}},
	{ID: "export-burst", Name: "Export burst", Severity: alerter.High, Labels: map[string]string{"team": "data"}},
	{ID: "page-created", Name: "Page created", Severity: alerter.Info},
}}

// A silence covers the rules its matchers on rule, severity and labels
// match; matchers on what depends on the event are taken to match.
func TestCoveredRules(t *testing.T) {
	tests := []struct {
		matchers []string
		want     []string
	}{
		{[]string{"severity=critical"}, []string{"admin-added"}},
		{[]string{"rule=~.*-.*", "severity!=info"}, []string{"admin-added", "export-burst"}},
		{[]string{"label.team=security"}, []string{"admin-added"}},
		{[]string{"group.event.actor.name=svc-backup"}, []string{"admin-added", "export-burst", "page-created"}},
		{[]string{"rule=export-burst", "dedup_key=abc"}, []string{"export-burst"}},
		{[]string{"rule=gone"}, nil},
	}
	for _, tt := range tests {
		var sl silences.Silence
		for _, m := range tt.matchers {
			pm, err := silences.ParseMatcher(m)
			if err != nil {
				t.Fatal(err)
			}
			sl.Matchers = append(sl.Matchers, pm)
		}
		var got []string
		for _, r := range coveredRules(sl, actionRules) {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v covers %v, want %v", tt.matchers, got, tt.want)
		}
	}
}

// A reload's event says what it added and removed, against the set before.
func TestReloadAction(t *testing.T) {
	old := &rules.Set{Version: "v1", Rules: []*rules.Rule{
		{ID: "admin-added", Name: "Admin added"}, {ID: "soteri-disabled", Name: "Soteri disabled"}, {ID: "page-created"},
	}}
	act := Reload(Identity{Name: "ops", Role: "admin", Token: true}, "api", old, actionRules)
	want := map[string]string{"trigger": "api", "rules": "3", "added": "1", "added_rules": "export-burst",
		"removed": "1", "removed_rules": "soteri-disabled", "version": "v2", "previous_version": "v1"}
	for k, v := range want {
		if act.Attrs[k] != v {
			t.Errorf("attrs[%s] = %q, want %q", k, act.Attrs[k], v)
		}
	}
	if act.Name != RulesReloaded || act.Who.Name != "ops" || len(act.Objects) != 1 || act.Objects[0].ID != "soteri-disabled" {
		t.Errorf("action %+v", act)
	}
}
