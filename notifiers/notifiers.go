// Package notifiers holds what every alert target shares: how a failed
// delivery says whether to try again, and when, and what a notifier type
// provides (Plugin). The types are the sub-packages, each with its Plugin;
// package builtin lists them.
package notifiers

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/retry"
)

// Error is a failed delivery, classified. A notifier returns one (through
// Retry or Permanent) so that the delivery queue knows whether trying again
// can help; an unclassified error counts as retryable, since most failures
// (network, timeouts) pass.
type Error struct {
	// Retryable: the same notification may succeed later (a timeout, 429,
	// 5xx). Not retryable: it never will (401, 400 invalid payload, a
	// revoked token); it goes to the dead letters at once.
	Retryable bool
	// After is how long the target asked us to wait (Retry-After), 0 if
	// it did not say.
	After time.Duration
	Err   error
}

func (e *Error) Error() string {
	kind := "permanent"
	if e.Retryable {
		kind = "retryable"
		if e.After > 0 {
			kind = fmt.Sprintf("retryable after %s", e.After)
		}
	}
	return fmt.Sprintf("%v (%s)", e.Err, kind)
}

func (e *Error) Unwrap() error { return e.Err }

// Retry marks err as worth trying again, after the wait the target asked
// for (0: none asked).
func Retry(err error, after time.Duration) error {
	return &Error{Retryable: true, After: after, Err: err}
}

// Permanent marks err as one that trying again cannot fix.
func Permanent(err error) error {
	return &Error{Retryable: false, Err: err}
}

// Classify tells how to handle err: whether to retry it, and the wait the
// target asked for.
func Classify(err error) (retry bool, after time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable, e.After
	}
	return true, 0
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP date, relative to now. Missing, malformed or past: 0; capped at an
// hour, so a broken header cannot park a queue for days.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	d, _ := retry.After(v, now)
	return d
}

// TestAlert is the sample alert a test notification sends to target: the
// Sample, its title saying it is a test.
func TestAlert(target string, severity alerter.Severity, now time.Time) *alerter.Alert {
	a := Sample(severity, now)
	a.Title = "Test notification from alerter: " + a.Title
	a.Notify = []string{target}
	return a
}

// Sample is the alert `alerter notify test` sends and the notifiers' golden
// files render: realistic, with every field filled, and with the characters
// that each target must escape (mrkdwn's & < >, HTML, CR LF in headers).
func Sample(severity alerter.Severity, now time.Time) *alerter.Alert {
	ev := &event.Event{
		ID:          "3f2a9c0d5e6b7a8190a1b2c3d4e5f607",
		Time:        time.Date(2024, 5, 14, 10, 8, 0, 0, time.UTC),
		Source:      "confluence",
		Format:      event.FormatConfluenceAuditing,
		System:      "https://confluence.example.com",
		Category:    "Soteri Security for Confluence",
		CategoryKey: "soteri.security.confluence.audit.category",
		Action:      "Global setting changed",
		ActionKey:   "soteri.security.confluence.audit.global-setting-changed",
		Summary:     "Global setting changed",
		Actor: event.Actor{ID: "8a7f808a8b1c2d3e018b1c2e11220001", Name: "mchen", DisplayName: "Ming <Chen> & Co",
			Type: "user", Groups: []string{"confluence-users"}},
		IP:      "198.51.100.7",
		Node:    "node-2",
		Method:  "Browser",
		Objects: []event.Object{{Type: "Space", ID: "98305", Name: "Finance & Payroll", URI: "https://confluence.example.com/display/FIN"}},
		Changes: []event.Change{{Key: "Security hook (scan content on publish)", From: "Enabled", To: "Disabled"}},
		Attrs:   map[string]string{"Setting": "securityHook"},
	}
	return &alerter.Alert{
		ID:       "01HXV8VQSYBTC29ZQ6YHKQYR13",
		Rule:     "soteri-protection-weakened",
		Name:     "Soteri protection weakened",
		Severity: severity,
		Title:    "Ming <Chen> & Co (mchen) weakened Soteri protection",
		Text: "Ming <Chen> & Co (mchen) changed Soteri's global settings from 198.51.100.7:\n" +
			"Security hook (scan content on publish): Enabled → Disabled\r\nBcc: injected@example.com",
		Runbook:    "https://wiki.example.com/runbooks/soteri-settings",
		Labels:     map[string]string{"team": "security"},
		Tags:       []string{"soteri", "configuration"},
		Group:      map[string]string{"event.actor.name": "mchen"},
		DedupKey:   "soteri-protection-weakened:6b1f0c2d9e8a7b44",
		Time:       ev.Time,
		FiredAt:    now,
		Count:      1,
		Suppressed: 2,
		Event:      ev,
		EventIDs:   []string{ev.ID},
	}
}

// HTTPClient is the client a notifier sends with: a copy of base (nil: a
// client with the timeout, config.DefaultNotifierTimeout if timeout <= 0)
// that does not follow redirects unless base says how. A redirect from a
// target is a misconfiguration to report, not a place to send the alert
// (and its credentials) to.
func HTTPClient(base *http.Client, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = config.DefaultNotifierTimeout
	}
	if base == nil {
		base = &http.Client{Timeout: timeout}
	}
	hc := *base
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &hc
}
