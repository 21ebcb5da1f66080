package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/pdtest"
	"github.com/alerter/alerter/notifiers/pagerduty"
)

// TestPagerDutyWebhookRefusals: what is refused before any alert is read.
func TestPagerDutyWebhookRefusals(t *testing.T) {
	withSecret := &config.Config{Notifiers: []config.Notifier{{Name: "pd", Type: pagerduty.Type, Settings: pagerduty.Config{WebhookSecret: "s3cret"}}}}
	without := &config.Config{Notifiers: []config.Notifier{{Name: "pd", Type: pagerduty.Type, Settings: pagerduty.Config{}}}}
	body := pdtest.Body(pdtest.Incident{EventType: pagerduty.IncidentAcknowledged, IncidentKey: "r:k"})
	for _, tc := range []struct {
		name string
		cfg  *config.Config
		body string
		sig  string
		want int
	}{
		{"no notifier has a secret", without, string(body), pdtest.Signature(body, ""), 404},
		{"no signature", withSecret, string(body), "", 401},
		{"a wrong signature", withSecret, string(body), pdtest.Signature(body, "guess"), 401},
		{"too large", withSecret, string(body) + strings.Repeat(" ", pagerduty.MaxWebhookBody), pdtest.Signature(body, "s3cret"), 413},
		{"signed, not a webhook", withSecret, `{"hello":1}`, pdtest.Signature([]byte(`{"hello":1}`), "s3cret"), 400},
		{"signed, another event type", withSecret, `{"event":{"event_type":"service.updated","data":{"type":"service"}}}`,
			pdtest.Signature([]byte(`{"event":{"event_type":"service.updated","data":{"type":"service"}}}`), "s3cret"), 200},
	} {
		srv := httptest.NewServer(New(Options{}).Handler(Generation{Config: tc.cfg}))
		code, _, err := pdtest.Send(t.Context(), srv.URL+"/pagerduty/webhook", []byte(tc.body), tc.sig)
		srv.Close()
		if err != nil || code != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.name, code, err, tc.want)
		}
	}
}

func TestPagerDutyAgent(t *testing.T) {
	for _, tc := range []struct {
		agent *pagerduty.Reference
		want  string
	}{
		{nil, "pagerduty"},
		{&pagerduty.Reference{Summary: "  "}, "pagerduty"},
		{&pagerduty.Reference{Summary: "Ann Oncall", Type: "user_reference"}, "pagerduty:Ann Oncall"},
		{&pagerduty.Reference{Summary: "Ann\nOncall"}, "pagerduty:Ann Oncall"},
		{&pagerduty.Reference{Summary: strings.Repeat("x", 500)}, "pagerduty:" + strings.Repeat("x", 199) + "…"},
	} {
		if got := pagerDutyAgent(tc.agent).Name; got != tc.want {
			t.Errorf("agent %+v: %q, want %q", tc.agent, got, tc.want)
		}
	}
	for s, want := range map[string]bool{"setting-changed": true, "a1": true, "": false, "Rule": false, "a.b": false, "a*": false, "a>": false} {
		if ruleShaped(s) != want {
			t.Errorf("ruleShaped(%q) = %v", s, !want)
		}
	}
}
