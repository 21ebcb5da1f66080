package pagerduty

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/config"
)

// PagerDuty's v3 webhooks (Webhook Subscriptions), as its developer
// documentation describes them ("Webhooks: Overview", "Verifying
// Signatures", "Behavior"): one JSON event per request, signed with the
// subscription's secret. alerter takes incident.acknowledged and
// incident.resolved to acknowledge and resolve the alert that triggered
// the incident (docs/notifications.md, PagerDuty).

// SignatureHeader holds the request's signatures: "v1=<hex>", several
// separated by commas while a secret is being rotated.
const SignatureHeader = "X-PagerDuty-Signature"

// MaxWebhookBody bounds a webhook's body: PagerDuty drops every webhook
// larger than 256 KB, so a larger body is not PagerDuty's.
const MaxWebhookBody = 256 << 10

// maxSignatures bounds the signatures of one header that are checked: a
// rotation has two; a header of thousands would cost an HMAC compare each.
const maxSignatures = 8

// The event types alerter acts on.
const (
	IncidentAcknowledged = "incident.acknowledged"
	IncidentResolved     = "incident.resolved"
)

// Webhook is the body of a v3 webhook.
type Webhook struct {
	Event WebhookEvent `json:"event"`
}

// WebhookEvent is what happened in PagerDuty. Data is an incident for the
// incident.* event types alerter takes (others carry notes, responders,
// services; their fields alerter reads are then empty).
type WebhookEvent struct {
	ID           string     `json:"id"`
	EventType    string     `json:"event_type"`
	ResourceType string     `json:"resource_type"`
	OccurredAt   time.Time  `json:"occurred_at"`
	Agent        *Reference `json:"agent"`
	Data         Incident   `json:"data"`
}

// Reference is a PagerDuty object as other objects name it: who did it
// (a user_reference, or a service_reference when an integration did).
type Reference struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
	HTMLURL string `json:"html_url"`
}

// Incident is the incident of an incident.* event. IncidentKey is the
// dedup_key of the Events API v2 trigger that opened it: alerter's
// DedupKey of the alert.
type Incident struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Number      int64  `json:"number"`
	Status      string `json:"status"`
	Title       string `json:"title"`
	IncidentKey string `json:"incident_key"`
	HTMLURL     string `json:"html_url"`
}

// ParseWebhook decodes a webhook's body. Fields it does not know are
// ignored: PagerDuty adds event types and fields over time.
func ParseWebhook(body []byte) (*WebhookEvent, error) {
	var w Webhook
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("not a PagerDuty v3 webhook: %w", err)
	}
	if w.Event.EventType == "" {
		return nil, errors.New("not a PagerDuty v3 webhook: no event.event_type")
	}
	return &w.Event, nil
}

// Signatures are the v1 signatures of an X-PagerDuty-Signature header,
// decoded, at most maxSignatures of them; entries of other versions or
// not hex are skipped.
func Signatures(header string) [][]byte {
	var out [][]byte
	for s := range strings.SplitSeq(header, ",") {
		hexed, ok := strings.CutPrefix(strings.TrimSpace(s), "v1=")
		if !ok || len(hexed) != 2*sha256.Size {
			continue
		}
		b, err := hex.DecodeString(hexed)
		if err != nil {
			continue
		}
		if out = append(out, b); len(out) == maxSignatures {
			break
		}
	}
	return out
}

// Sign is the v1 signature of body under secret, as PagerDuty sends it:
// "v1=" and the hex HMAC-SHA256 of the raw body.
func Sign(secret string, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, body))
}

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// Verify tells whether one of header's signatures is body's under one of
// secrets, compared in constant time. An empty secret signs nothing:
// anyone could compute its signature.
func Verify(body []byte, header string, secrets []config.Secret) bool {
	sigs := Signatures(header)
	ok := false
	for _, s := range secrets {
		if s.Value() == "" {
			continue
		}
		want := mac(s.Value(), body)
		for _, sig := range sigs {
			// Every pair is compared, so that the time taken does not say
			// which secret or signature nearly matched.
			ok = hmac.Equal(want, sig) || ok
		}
	}
	return ok
}

// WebhookSecrets are the webhook_secret of every pagerduty notifier of
// cfg that has one.
func WebhookSecrets(cfg *config.Config) []config.Secret {
	var out []config.Secret
	for _, nc := range cfg.Notifiers {
		if nc.Type != Type {
			continue
		}
		if s := settings(nc).WebhookSecret; s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Signers are the names of the pagerduty notifiers of cfg whose
// webhook_secret signed body (Verify): the targets a webhook came from,
// none when it is not PagerDuty's. Every secret is checked, so that the
// time taken does not say which one signed it.
func Signers(body []byte, header string, cfg *config.Config) []string {
	var names []string
	for _, nc := range cfg.Notifiers {
		if nc.Type != Type {
			continue
		}
		if s := settings(nc).WebhookSecret; s != "" && Verify(body, header, []config.Secret{s}) {
			names = append(names, nc.Name)
		}
	}
	return names
}

// DedupKey is the dedup_key alerter sends PagerDuty for an alert whose
// DedupKey is k (k itself unless longer than PagerDuty takes), and so the
// incident_key of the incident it opens.
func DedupKey(k string) string { return dedupKey(k) }
