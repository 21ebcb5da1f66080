// Package pdtest plays PagerDuty's side of its v3 webhooks in tests: it
// builds the incident events PagerDuty's developer documentation shows
// ("Webhooks: Overview", the incident data type) and sends them signed as
// "Verifying Signatures" describes: X-PagerDuty-Signature holds
// "v1=<hex HMAC-SHA256 of the raw body>" for each signing secret, comma
// separated. It signs on its own, not through the notifier's code, so that
// a mistake there is not repeated here.
package pdtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// Incident describes the incident event to build.
type Incident struct {
	EventType   string    // incident.acknowledged, incident.resolved, ...
	EventID     string    // event.id; a fixed one if empty
	IncidentKey string    // data.incident_key: the trigger's dedup_key
	Agent       string    // event.agent.summary; no agent (null) if empty
	OccurredAt  time.Time // event.occurred_at; now if zero
}

// Body is the webhook's body for in, with every field of the documented
// incident payload.
func Body(in Incident) []byte {
	if in.EventID == "" {
		in.EventID = "5ac64822-4adc-4fda-ade0-410becf0de4f"
	}
	if in.OccurredAt.IsZero() {
		in.OccurredAt = time.Now()
	}
	status := map[string]string{"incident.acknowledged": "acknowledged", "incident.resolved": "resolved"}[in.EventType]
	if status == "" {
		status = "triggered"
	}
	ref := func(kind, id, summary string) map[string]any {
		return map[string]any{
			"html_url": "https://acme.pagerduty.com/" + kind + "s/" + id, "id": id,
			"self": "https://api.pagerduty.com/" + kind + "s/" + id, "summary": summary, "type": kind + "_reference",
		}
	}
	var agent any
	if in.Agent != "" {
		agent = ref("user", "PLH1HKV", in.Agent)
	}
	data := map[string]any{
		"id": "PGR0VU2", "type": "incident",
		"self": "https://api.pagerduty.com/incidents/PGR0VU2", "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
		"number": 2, "status": status, "incident_key": in.IncidentKey,
		"created_at": in.OccurredAt.Add(-time.Minute).UTC().Format(time.RFC3339), "title": "A little bump in the road",
		"service":           ref("service", "PF9KMXH", "API Service"),
		"assignees":         []any{ref("user", "PTUXL6G", "User 123")},
		"escalation_policy": ref("escalation_policy", "PUS0KTE", "Default"),
		"teams":             []any{ref("team", "PFCVPS0", "Engineering")},
		"priority":          ref("priority", "PSO75BM", "P1"),
		"urgency":           "high",
		"conference_bridge": map[string]any{"conference_number": "+1 1234123412,,987654321#", "conference_url": "https://example.com"},
		"resolve_reason":    nil,
	}
	b, err := json.Marshal(map[string]any{"event": map[string]any{
		"id": in.EventID, "event_type": in.EventType, "resource_type": "incident",
		"occurred_at": in.OccurredAt.UTC().Format("2006-01-02T15:04:05.000Z"),
		"agent":       agent, "client": map[string]any{"name": "PagerDuty"}, "data": data,
	}})
	if err != nil {
		panic(err)
	}
	return b
}

// Signature is the X-PagerDuty-Signature header of body under secrets.
func Signature(body []byte, secrets ...string) string {
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write(body)
		sigs[i] = "v1=" + hex.EncodeToString(m.Sum(nil))
	}
	return strings.Join(sigs, ",")
}

// Send posts body to url as PagerDuty delivers a webhook, with signature
// as its X-PagerDuty-Signature (none if ""), and returns the status code
// and the answer's body.
func Send(ctx context.Context, url string, body []byte, signature string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "PagerDuty-Webhook/V3.0")
	req.Header.Set("X-Webhook-Id", "c0ffee00-0000-4000-8000-000000000001")
	req.Header.Set("X-Webhook-Subscription", "PY1OQGF")
	if signature != "" {
		req.Header.Set("X-PagerDuty-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, err = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes(), err
}
