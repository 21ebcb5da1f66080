package pagerduty

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/pdtest"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

// TestVerify checks signatures as PagerDuty's "Verifying Signatures"
// describes them, against headers built independently (pdtest, and one
// HMAC computed outside Go).
func TestVerify(t *testing.T) {
	body := []byte(`{"event":{}}`)
	// hmac.new(b"whsec-test", body, hashlib.sha256).hexdigest(), in Python.
	const known = "v1=ecb4ec03083e2a4ca6691816a3cb3a7d780ba8a7bfdb7949d4fb93156b89075c"
	secrets := []config.Secret{"whsec-test"}
	rotated := []config.Secret{"old-secret", "whsec-test"}
	other := pdtest.Signature(body, "not-the-secret")
	for _, tc := range []struct {
		name    string
		header  string
		secrets []config.Secret
		want    bool
	}{
		{"the documented signature", known, secrets, true},
		{"signed by the contract fake", pdtest.Signature(body, "whsec-test"), secrets, true},
		{"several, one valid (rotation)", other + "," + known, secrets, true},
		{"several, the valid one first", known + "," + other, secrets, true},
		{"spaces around entries", " " + other + " , " + known + " ", secrets, true},
		{"the second of two secrets", known, rotated, true},
		{"no header", "", secrets, false},
		{"another secret's", other, secrets, false},
		{"upper-case hex is not what PagerDuty sends, but is the same bytes", "v1=" + strings.ToUpper(known[3:]), secrets, true},
		{"another version", "v2=" + known[3:], secrets, false},
		{"no version", known[3:], secrets, false},
		{"cut short", known[:len(known)-2], secrets, false},
		{"not hex", "v1=" + strings.Repeat("zz", 32), secrets, false},
		{"no secret configured", known, nil, false},
		{"an empty secret signs nothing", pdtest.Signature(body, ""), []config.Secret{""}, false},
		{"the body changed", pdtest.Signature([]byte(`{"event":{} }`), "whsec-test"), secrets, false},
	} {
		if got := Verify(body, tc.header, tc.secrets); got != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := Sign("whsec-test", body); got != known {
		t.Errorf("Sign = %s, want %s", got, known)
	}
	// A flood of entries costs at most maxSignatures compares: a valid
	// signature past them is not looked at.
	flood := strings.Repeat(other+",", maxSignatures) + known
	if Verify(body, flood, secrets) {
		t.Errorf("a signature after %d others was checked", maxSignatures)
	}
}

// TestParseWebhook reads the documented payloads.
func TestParseWebhook(t *testing.T) {
	at := time.Date(2020, 10, 2, 18, 45, 22, 169e6, time.UTC)
	ev, err := ParseWebhook(pdtest.Body(pdtest.Incident{EventType: IncidentAcknowledged, IncidentKey: "r:abc", Agent: "Tenex Engineer", OccurredAt: at}))
	if err != nil {
		t.Fatal(err)
	}
	if ev.EventType != IncidentAcknowledged || ev.ResourceType != "incident" || !ev.OccurredAt.Equal(at) ||
		ev.Agent == nil || ev.Agent.Summary != "Tenex Engineer" || ev.Agent.Type != "user_reference" ||
		ev.Data.Type != "incident" || ev.Data.IncidentKey != "r:abc" || ev.Data.Number != 2 ||
		ev.Data.HTMLURL != "https://acme.pagerduty.com/incidents/PGR0VU2" {
		t.Errorf("parsed %+v (agent %+v)", ev, ev.Agent)
	}
	// An event without an agent (null), and one of another type, whose data
	// is no incident.
	ev, err = ParseWebhook(pdtest.Body(pdtest.Incident{EventType: IncidentResolved, IncidentKey: "r:abc"}))
	if err != nil || ev.Agent != nil {
		t.Errorf("no agent: %+v, %v", ev, err)
	}
	note := `{"event":{"id":"x","event_type":"incident.annotated","resource_type":"incident","occurred_at":"2020-10-02T18:45:22.169Z","agent":null,` +
		`"data":{"incident":{"id":"PGR0VU2","type":"incident_reference"},"id":"P2LA89X","content":"note","trimmed":false,"type":"incident_note"}}}`
	if ev, err = ParseWebhook([]byte(note)); err != nil || ev.Data.Type != "incident_note" || ev.Data.IncidentKey != "" {
		t.Errorf("a note: %+v, %v", ev, err)
	}
	for _, bad := range []string{``, `null`, `[]`, `{}`, `{"event":{}}`, `{"event":{"event_type":"incident.resolved","occurred_at":"yesterday"}}`, `{"event":`} {
		if _, err := ParseWebhook([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestWebhookSecretConfig: the key is a secret, and an empty one is refused.
func TestWebhookSecretConfig(t *testing.T) {
	if err := notifiertest.Validate(Plugin{}, "{name: p, type: pagerduty, routing_key: "+testKey+", webhook_secret: ''}"); err == nil || !strings.Contains(err.Error(), "webhook_secret is empty") {
		t.Errorf("an empty webhook_secret: %v", err)
	}
	cfg, err := config.Parse("a.yaml", []byte(`
notifiers:
  - {name: p1, type: pagerduty, routing_key: `+testKey+`, webhook_secret: "${PD_WEBHOOK_SECRET}"}
  - {name: p2, type: pagerduty, routing_key: `+testKey+`}
`), func(k string) (string, bool) { return "whsec-from-env", k == "PD_WEBHOOK_SECRET" }, config.Plugins{Notifiers: []config.Plugin{Plugin{}}})
	if err != nil {
		t.Fatal(err)
	}
	got := WebhookSecrets(cfg)
	if len(got) != 1 || got[0].Value() != "whsec-from-env" || got[0].String() == "whsec-from-env" {
		t.Errorf("secrets %v", got)
	}
}

// TestSigners: a webhook came from the pagerduty notifiers whose
// webhook_secret signed it, during a rotation too, and from none when no
// secret did.
func TestSigners(t *testing.T) {
	cfg, err := config.Parse("a.yaml", []byte(`
notifiers:
  - {name: p1, type: pagerduty, routing_key: `+testKey+`, webhook_secret: whsec-a}
  - {name: p2, type: pagerduty, routing_key: `+testKey+`, webhook_secret: whsec-b}
  - {name: p3, type: pagerduty, routing_key: `+testKey+`, webhook_secret: whsec-a}
  - {name: p4, type: pagerduty, routing_key: `+testKey+`}
`), nil, config.Plugins{Notifiers: []config.Plugin{Plugin{}}})
	if err != nil {
		t.Fatal(err)
	}
	body := pdtest.Body(pdtest.Incident{EventType: IncidentAcknowledged, IncidentKey: "r:abc"})
	for _, tc := range []struct {
		header string
		want   []string
	}{
		{pdtest.Signature(body, "whsec-a"), []string{"p1", "p3"}},
		{pdtest.Signature(body, "whsec-retired", "whsec-b"), []string{"p2"}},
		{pdtest.Signature(body, "whsec-c"), nil},
		{pdtest.Signature([]byte("{}"), "whsec-a"), nil},
		{"", nil},
	} {
		if got := Signers(body, tc.header, cfg); !slices.Equal(got, tc.want) {
			t.Errorf("%q: signed by %v, want %v", tc.header, got, tc.want)
		}
	}
}

// FuzzPagerDutyWebhook feeds the webhook parser and the signature header
// parser hostile bytes: neither panics, signatures are bounded in number
// and length, and a body signed with the secret verifies whatever it is.
func FuzzPagerDutyWebhook(f *testing.F) {
	body := pdtest.Body(pdtest.Incident{EventType: IncidentAcknowledged, IncidentKey: "r:abc", Agent: "a"})
	f.Add(body, pdtest.Signature(body, "s"))
	f.Add([]byte(`{"event":{"event_type":"incident.resolved","data":{"type":"incident","incident_key":"x:y"}}}`), "v1=00,v1=")
	f.Add([]byte(`{"event":{"event_type":1}}`), ",,,v1=,v0=abc")
	f.Add([]byte(`{"event":{"agent":{"summary":"\u0000\n"},"occurred_at":"0000-00-00"}}`), strings.Repeat("v1=", 100))
	f.Add([]byte(`{"event":{"data":[]}}`), "v1="+strings.Repeat("a", 64))
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		_, _ = ParseWebhook(body)
		sigs := Signatures(header)
		if len(sigs) > maxSignatures {
			t.Fatalf("%d signatures", len(sigs))
		}
		for _, s := range sigs {
			if len(s) != 32 {
				t.Fatalf("a signature of %d bytes", len(s))
			}
		}
		if !Verify(body, header+","+Sign("s", body), []config.Secret{"s"}) && len(sigs) < maxSignatures {
			t.Fatal("a body signed with the secret did not verify")
		}
		if Verify(body, header, nil) {
			t.Fatal("verified without a secret")
		}
	})
}
