// Package event defines the normalized audit event that rules see, and the
// normalizers that turn Confluence audit records, webhook bodies and generic
// JSON into it.
package event

import (
	"time"
)

// Formats a payload can be normalized from. FormatAuto detects the format
// from the payload's shape.
const (
	FormatAuto               = "auto"
	FormatConfluenceAudit    = "confluence-audit"
	FormatConfluenceAuditing = "confluence-auditing"
	FormatConfluenceWebhook  = "confluence-webhook"
	FormatJSON               = "json"
)

// Event is one normalized audit event. Its JSON field names are part of the
// product contract (alerts, the API and the webhook notifier carry it), and
// its expr names are what rules write after "event.".
type Event struct {
	ID          string            `json:"id" expr:"id"`
	Time        time.Time         `json:"time" expr:"time"`
	Source      string            `json:"source" expr:"source"`
	Format      string            `json:"format" expr:"format"`
	System      string            `json:"system" expr:"system"`
	Category    string            `json:"category" expr:"category"`
	CategoryKey string            `json:"category_key" expr:"category_key"`
	Action      string            `json:"action" expr:"action"`
	ActionKey   string            `json:"action_key" expr:"action_key"`
	Summary     string            `json:"summary" expr:"summary"`
	Area        string            `json:"area" expr:"area"`
	Level       string            `json:"level" expr:"level"`
	Actor       Actor             `json:"actor" expr:"actor"`
	IP          string            `json:"ip" expr:"ip"`
	Node        string            `json:"node" expr:"node"`
	Method      string            `json:"method" expr:"method"`
	Objects     []Object          `json:"objects" expr:"objects"`
	Changes     []Change          `json:"changes" expr:"changes"`
	Attrs       map[string]string `json:"attrs" expr:"attrs"`
	Raw         map[string]any    `json:"raw" expr:"raw"`

	// rawJSON is the original payload of this event. Raw is decoded from it
	// only when something needs it (a rule that reads event.raw, an alert),
	// because decoding every payload twice would halve ingest throughput.
	rawJSON []byte
}

// Actor is who did it.
type Actor struct {
	ID          string   `json:"id" expr:"id"`
	Name        string   `json:"name" expr:"name"`
	DisplayName string   `json:"display_name" expr:"display_name"`
	Type        string   `json:"type" expr:"type"`
	Sysadmin    bool     `json:"sysadmin" expr:"sysadmin"`
	Groups      []string `json:"groups" expr:"groups"`
}

// Object is an affected or associated object: a page, a space, a group, a
// scanning rule.
type Object struct {
	Type string `json:"type" expr:"type"`
	ID   string `json:"id" expr:"id"`
	Name string `json:"name" expr:"name"`
	URI  string `json:"uri" expr:"uri"`
}

// Change is one changed value.
type Change struct {
	Key  string `json:"key" expr:"key"`
	From string `json:"from" expr:"from"`
	To   string `json:"to" expr:"to"`
}
