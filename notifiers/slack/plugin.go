package slack

import (
	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Type is the type: of a slack notifier.
const Type = "slack"

// DefaultAPIURL is the Web API base unless api_url says otherwise.
const DefaultAPIURL = "https://slack.com/api"

// Config are the keys of a slack notifier (docs/notifications.md, Slack).
type Config struct {
	// WebhookURL is an incoming-webhook URL; a Secret because it embeds
	// the token. Or else Token (a bot token) and Channel, sent through
	// chat.postMessage of APIURL.
	WebhookURL config.Secret `yaml:"webhook_url,omitempty" json:"webhook_url,omitempty"`
	Token      config.Secret `yaml:"token,omitempty" json:"token,omitempty"`
	Channel    string        `yaml:"channel,omitempty" json:"channel,omitempty"`
	// APIURL is the Web API base; default https://slack.com/api.
	APIURL string `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	// SigningSecret is the Slack app's signing secret, with a token only:
	// with it, alert messages carry the buttons Acknowledge, Resolve and
	// Silence 1h, and POST /slack/interactions takes the app's requests
	// (docs/notifications.md, Slack buttons).
	SigningSecret config.Secret `yaml:"signing_secret,omitempty" json:"signing_secret,omitempty"`
}

// Validate implements config.Validator.
func (c *Config) Validate(v *config.Checker) {
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	tokenForm := c.Token != "" || c.Channel != ""
	switch {
	case c.WebhookURL != "" && tokenForm:
		v.Errorf(v.Entry(), "%s: give webhook_url, or token and channel, not both", v.Label())
	case c.WebhookURL != "":
		v.URL("webhook_url", c.WebhookURL.Value())
	case !tokenForm:
		if !v.Bad("webhook_url") {
			v.Errorf(v.Entry(), "%s: a slack notifier needs webhook_url, or token and channel", v.Label())
		}
	case c.Token == "":
		v.Missing("token", "%s: channel needs token (a bot token with chat:write)", v.Label())
	case c.Channel == "":
		v.Missing("channel", "%s: token needs channel", v.Label())
	}
	if c.SigningSecret != "" && c.Token == "" {
		v.Errorf(v.At("signing_secret"), "%s: signing_secret needs token and channel: buttons need a bot token to update their message", v.Label())
	}
	v.URL("api_url", c.APIURL)
}

// Plugin is the slack notifier type.
type Plugin struct{}

// Type implements config.Plugin.
func (Plugin) Type() string { return Type }

// Config implements config.Plugin.
func (Plugin) Config() config.Validator { return new(Config) }

// DefaultRate is Slack's limit per webhook and channel: one message a
// second.
func (Plugin) DefaultRate() float64 { return 1 }

// New implements notifiers.Plugin.
func (Plugin) New(nc config.Notifier, d notifiers.Deps) (notifiers.Notifier, error) {
	return New(nc, Options{ExternalURL: d.ExternalURL, Logger: d.Logger})
}

// Preview implements notifiers.Plugin: the message's text and blocks.
func (Plugin) Preview(a *alerter.Alert, nc config.Notifier, externalURL string) notifiers.Preview {
	m := Render(a, externalURL)
	if settings(nc).SigningSecret != "" && a.Resolves == "" {
		m = withButtons(m, a)
	}
	return notifiers.Preview{Text: m.Text, Body: map[string]any{"text": m.Text, "blocks": m.Blocks}}
}

func settings(nc config.Notifier) Config {
	c, _ := nc.Settings.(Config)
	return c
}
