package teams

import (
	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Type is the type: of a Microsoft Teams notifier.
const Type = "teams"

// Config are the keys of a teams notifier (docs/notifications.md,
// Microsoft Teams).
type Config struct {
	// WebhookURL is the channel's incoming webhook, or the URL of a
	// Workflows "When a Teams webhook request is received" flow; a Secret
	// because it carries the signature that lets anyone post.
	WebhookURL config.Secret `yaml:"webhook_url,omitempty" json:"webhook_url,omitempty"`
}

// Validate implements config.Validator.
func (c *Config) Validate(v *config.Checker) {
	if c.WebhookURL == "" {
		v.Missing("webhook_url", "%s: a teams notifier needs webhook_url", v.Label())
		return
	}
	v.URL("webhook_url", c.WebhookURL.Value())
}

// Plugin is the teams notifier type.
type Plugin struct{}

// Type implements config.Plugin.
func (Plugin) Type() string { return Type }

// Config implements config.Plugin.
func (Plugin) Config() config.Validator { return new(Config) }

// DefaultRate keeps within what Teams allows a webhook: 4 requests in a
// second, but only 60 in 30 seconds and 100 in an hour.
func (Plugin) DefaultRate() float64 { return 1 }

// New implements notifiers.Plugin.
func (Plugin) New(nc config.Notifier, d notifiers.Deps) (notifiers.Notifier, error) {
	return New(nc, Options{ExternalURL: d.ExternalURL, Logger: d.Logger})
}

// Preview implements notifiers.Plugin: the message with its card.
func (Plugin) Preview(a *alerter.Alert, _ config.Notifier, externalURL string) notifiers.Preview {
	m := Render(a, externalURL)
	return notifiers.Preview{Subject: m.Summary, Body: m}
}
