package pagerduty

import (
	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Type is the type: of a pagerduty notifier.
const Type = "pagerduty"

// DefaultURL is the Events API v2 endpoint unless url says otherwise.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Config are the keys of a pagerduty notifier (docs/notifications.md,
// PagerDuty).
type Config struct {
	// RoutingKey is the Events API v2 integration key.
	RoutingKey config.Secret `yaml:"routing_key,omitempty" json:"routing_key,omitempty"`
	// URL is the Events API v2 endpoint; default
	// https://events.pagerduty.com/v2/enqueue.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// WebhookSecret is the secret of a PagerDuty v3 webhook subscription
	// whose webhooks acknowledge and resolve alerts (POST
	// /pagerduty/webhook; docs/notifications.md, PagerDuty).
	WebhookSecret config.Secret `yaml:"webhook_secret,omitempty" json:"webhook_secret,omitempty"`
}

// Validate implements config.Validator.
func (c *Config) Validate(v *config.Checker) {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.RoutingKey == "" {
		v.Missing("routing_key", "%s: a pagerduty notifier needs routing_key", v.Label())
	}
	v.URL("url", c.URL)
	// An empty key would let anyone sign a webhook: a secret set from an
	// empty variable is an error, not a route left open.
	if v.Has("webhook_secret") && c.WebhookSecret == "" {
		at := v.At("webhook_secret")
		v.Errorf(at, "%s: %s is empty: give the secret of the PagerDuty webhook subscription, or leave the key out", v.Label(), v.Hidden(at, "webhook_secret"))
	}
}

// Plugin is the pagerduty notifier type.
type Plugin struct{}

// Type implements config.Plugin.
func (Plugin) Type() string { return Type }

// Config implements config.Plugin.
func (Plugin) Config() config.Validator { return new(Config) }

// DefaultRate keeps within PagerDuty's 120 events a minute per
// integration key.
func (Plugin) DefaultRate() float64 { return 2 }

// New implements notifiers.Plugin.
func (Plugin) New(nc config.Notifier, d notifiers.Deps) (notifiers.Notifier, error) {
	return New(nc, Options{ExternalURL: d.ExternalURL, Logger: d.Logger})
}

// Preview implements notifiers.Plugin: the event, without its routing key.
func (Plugin) Preview(a *alerter.Alert, _ config.Notifier, externalURL string) notifiers.Preview {
	ev := Preview(a, externalURL)
	return notifiers.Preview{Subject: ev.Payload.Summary, Body: ev}
}

func settings(nc config.Notifier) Config {
	c, _ := nc.Settings.(Config)
	return c
}
