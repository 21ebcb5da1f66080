// Package api holds the wire types of alerter's HTTP API (docs/api.md),
// which the server writes and the client reads, so that the two cannot
// drift apart, and Client, a typed client of the API for alerter's
// commands.
//
// Pages of a history (alerts, dead letters, events) list the newest first
// and carry Next, the cursor of the next page (sent back as ?before=),
// empty on the last page.
package api

import (
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/lifecycle"
	"github.com/alerter/alerter/silences"
)

// ErrorBody is the answer of every request that failed.
type ErrorBody struct {
	Error string `json:"error"`
}

// Identity is who made a request, as GET /api/v1/whoami answers: the name
// of its token and the token's role, or, when the server has no tokens,
// the remote address (role admin).
type Identity struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Token says Name is a token's name rather than an address.
	Token bool `json:"token"`
}

// Alert is an alert of the history, with ?deliveries=true what became of
// it at each target.
type Alert struct {
	*alerter.Alert
	Deliveries map[string]alerter.Outcome `json:"deliveries,omitempty"`
}

// Alerts is a page of GET /api/v1/alerts.
type Alerts struct {
	Alerts []Alert `json:"alerts"`
	Next   string  `json:"next,omitempty"`
}

// AlertDetail is GET /api/v1/alerts/{id}: an alert with what became of it
// at each target (pending where nothing is recorded yet), and, for an
// alert of several events (a threshold, a distinct count, a sequence's
// chain), those events as stored, in the order of its event_ids, and the
// ids of those the EVENTS stream no longer holds.
type AlertDetail struct {
	*alerter.Alert
	Deliveries    map[string]alerter.Outcome `json:"deliveries"`
	Events        []*event.Event             `json:"events,omitempty"`
	EventsMissing []string                   `json:"events_missing,omitempty"`
	// History are the changes people made to the alert's group
	// (acknowledged, resolved), oldest first.
	History []lifecycle.Change `json:"history,omitempty"`
}

// AlertAction is the body of POST /api/v1/alerts/{id}/ack and
// /api/v1/alerts/{id}/resolve; Verdict only for a resolve.
type AlertAction struct {
	Comment string `json:"comment,omitempty"`
	Verdict string `json:"verdict,omitempty"`
}

// AlertActed is the answer to an acknowledgement or a resolve: the alert
// with where it stands now, whether this request changed it (false: it
// was acknowledged or resolved already), and its group's changes.
type AlertActed struct {
	*alerter.Alert
	Changed bool               `json:"changed"`
	History []lifecycle.Change `json:"history"`
}

// RedeliverRequest is the body of POST /api/v1/alerts/{id}/redeliver.
type RedeliverRequest struct {
	Target string `json:"target"`
}

// Redelivery is the answer to a redelivery: Already when the dead letter
// was handed back before (by this request's twin, say).
type Redelivery struct {
	Alert   string `json:"alert"`
	Already bool   `json:"already"`
	Status  string `json:"status"`
	Target  string `json:"target"`
}

// DeadLetter is a dead letter with what became of its alert at the target
// since (Now): dead, requeued, sent, silenced; "expired" when the record
// is gone (it can no longer be handed back); empty when unknown.
type DeadLetter struct {
	alerter.DeadLetter
	Now string `json:"now,omitempty"`
}

// DeadLetters is a page of GET /api/v1/deadletters.
type DeadLetters struct {
	DeadLetters []DeadLetter `json:"deadletters"`
	Next        string       `json:"next,omitempty"`
}

// StoredEvent is an event of the EVENTS history with when it was stored.
type StoredEvent struct {
	Stored time.Time    `json:"stored"`
	Event  *event.Event `json:"event"`
}

// Events is a page of GET /api/v1/events.
type Events struct {
	Events []StoredEvent `json:"events"`
	Next   string        `json:"next,omitempty"`
}

// Silence is a silence with its state now (silences.Active, ...).
type Silence struct {
	silences.Silence
	State string `json:"state"`
}

// Silences is GET /api/v1/silences.
type Silences struct {
	Silences []Silence `json:"silences"`
}

// SilenceRequest is the body of POST /api/v1/silences: a silence with
// ends_at, or a Duration (such as "2h") from starts_at (default now).
type SilenceRequest struct {
	silences.Silence
	Duration string `json:"duration"`
}

// SilencePreview is the answer of POST /api/v1/silences/preview: of the
// Scanned newest alerts, how many the matchers would have muted, and the
// newest of those.
type SilencePreview struct {
	Alerts  []*alerter.Alert `json:"alerts"`
	Matched int              `json:"matched"`
	Scanned int              `json:"scanned"`
}

// Rule is a loaded rule with its counters, as GET /api/v1/rules lists it.
type Rule struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Severity    alerter.Severity  `json:"severity"`
	Tags        []string          `json:"tags"`
	Labels      map[string]string `json:"labels"`
	Enabled     bool              `json:"enabled"`
	When        string            `json:"when"`
	Title       string            `json:"title"`
	Text        string            `json:"text,omitempty"`
	Threshold   *Threshold        `json:"threshold,omitempty"`
	Dedup       *Dedup            `json:"dedup,omitempty"`
	Notify      []string          `json:"notify"`
	Runbook     string            `json:"runbook,omitempty"`
	File        string            `json:"file"`
	Line        int               `json:"line"`
	Tests       int               `json:"tests"`
	// Source is the rule's YAML, tests included, for editing it elsewhere
	// (the playground).
	Source string    `json:"source"`
	Stats  RuleStats `json:"stats"`
	// Verdicts are what people judged the rule's alerts over the last 30
	// days, where verdicts are kept (docs/notifications.md, Verdicts and
	// precision).
	Verdicts *RuleVerdicts `json:"verdicts,omitempty"`
	// Suggestion, if any, is an exclusion that removes most of the rule's
	// false positives and none of its true ones.
	Suggestion *Suggestion `json:"suggestion,omitempty"`
}

// RuleVerdicts count a rule's verdicts since Since. Precision is
// TruePositive / (TruePositive + FalsePositive), null when both are 0;
// benign verdicts count for neither.
type RuleVerdicts struct {
	TruePositive  int       `json:"true_positive"`
	FalsePositive int       `json:"false_positive"`
	Benign        int       `json:"benign"`
	Precision     *float64  `json:"precision"`
	Since         time.Time `json:"since"`
}

// Suggestion is a condition to add to a rule's when: that excludes a
// value most of its false positives share: Source is the rule's YAML with
// it added, to backtest in the playground.
type Suggestion struct {
	Field                 string   `json:"field"`
	Values                []string `json:"values"`
	Condition             string   `json:"condition"`
	FalsePositivesRemoved int      `json:"false_positives_removed"`
	TruePositivesKept     int      `json:"true_positives_kept"`
	Source                string   `json:"source"`
}

// Threshold is a rule's threshold: Count events within Within (a
// duration such as "10m0s") per group of By.
type Threshold struct {
	Count  int      `json:"count"`
	Within string   `json:"within"`
	By     []string `json:"by"`
}

// Dedup is a rule's dedup: one alert per group of By per Window.
type Dedup struct {
	By     []string `json:"by"`
	Window string   `json:"window"`
}

// RuleStats count what a rule did since alerter started.
type RuleStats struct {
	Evaluations int64      `json:"evaluations"`
	Matches     int64      `json:"matches"`
	Alerts      int64      `json:"alerts"`
	Suppressed  int64      `json:"suppressed"`
	Errors      int64      `json:"errors"`
	LastError   string     `json:"last_error,omitempty"`
	LastMatch   *time.Time `json:"last_match,omitempty"`
}

// Rules is GET /api/v1/rules: the rule set's version, its files and
// rules, and the status of the last reload.
type Rules struct {
	Files   []string     `json:"files"`
	Reload  ReloadStatus `json:"reload"`
	Rules   []Rule       `json:"rules"`
	Version string       `json:"version"`
}

// ReloadStatus is the outcome of the last reload of the config and the
// rules (docs/running.md, "Reloading"): the answer of POST /-/reload, and
// part of GET /api/v1/rules.
type ReloadStatus struct {
	At      time.Time `json:"at"`
	OK      bool      `json:"ok"`
	Trigger string    `json:"trigger"` // start, signal, api, watch
	Version string    `json:"version"` // of the rule set running now
	Rules   int       `json:"rules"`
	// By is who asked: the API token's name (or the remote address without
	// tokens) for trigger api, else alerter itself.
	By string `json:"by,omitempty"`
	// Errors are the problems of a rejected config or rule set,
	// file:line:col: message, or the keys that need a restart.
	Errors []string `json:"errors,omitempty"`
}

// Notifier is a configured target as GET /api/v1/notifiers shows it: no
// address or credential, only what it did.
type Notifier struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Pending are the alerts in its queue, waiting or being tried.
	Pending *uint64 `json:"pending,omitempty"`
	// Stats count what this replica did since it started.
	Stats map[string]int64 `json:"stats"`
}

// TestResult is the answer of POST /api/v1/notifiers/{name}/test.
type TestResult struct {
	OK bool `json:"ok"`
	// Error is the target's answer when it failed; Retryable says whether
	// it may work later (unreachable, busy) or was refused for good
	// (credentials, address, payload).
	Error     string `json:"error,omitempty"`
	Retryable bool   `json:"retryable,omitempty"`
}
