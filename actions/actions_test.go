package actions

import (
	"testing"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/rules"
)

var actionRules = &rules.Set{Version: "v2", Rules: []*rules.Rule{
	{ID: "admin-added", Name: "Admin added", Severity: alerter.Critical, Labels: map[string]string{"team": "security"}},
	{ID: "export-burst", Name: "Export burst", Severity: alerter.High, Labels: map[string]string{"team": "data"}},
	{ID: "page-created", Name: "Page created", Severity: alerter.Info},
}}

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
