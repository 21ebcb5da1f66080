package silences

import (
	"slices"
	"testing"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/rules"
)

var coverRules = &rules.Set{Version: "v2", Rules: []*rules.Rule{
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
		var sl Silence
		for _, m := range tt.matchers {
			pm, err := ParseMatcher(m)
			if err != nil {
				t.Fatal(err)
			}
			sl.Matchers = append(sl.Matchers, pm)
		}
		var got []string
		for _, r := range sl.CoveredRules(coverRules) {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v covers %v, want %v", tt.matchers, got, tt.want)
		}
	}
}
