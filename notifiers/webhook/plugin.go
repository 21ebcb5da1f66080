package webhook

import (
	"maps"
	"slices"
	"strings"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Type is the type: of a webhook notifier.
const Type = "webhook"

// Config are the keys of a webhook notifier (docs/notifications.md,
// Webhook).
type Config struct {
	// URL is the target.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// Secret signs the body with HMAC-SHA256.
	Secret config.Secret `yaml:"secret,omitempty" json:"secret,omitempty"`
	// Headers are added to every request; their values are Secrets
	// because they are where tokens usually go.
	Headers map[string]config.Secret `yaml:"headers,omitempty" json:"headers,omitempty"`
}

// Validate implements config.Validator.
func (c *Config) Validate(v *config.Checker) {
	if c.URL == "" {
		v.Missing("url", "%s: a webhook notifier needs url", v.Label())
	} else {
		v.URL("url", c.URL)
	}
	headers := v.At("headers")
	for _, h := range slices.Sorted(maps.Keys(c.Headers)) {
		switch {
		case !headerName.MatchString(h):
			v.Errorf(headers.Key(h), "headers: %q is not a header name", h)
		case strings.ContainsAny(c.Headers[h].Value(), "\r\n\x00"):
			at := headers.Value(h)
			v.Errorf(at, "%s: a header value cannot hold line breaks", v.Hidden(at, "headers."+h))
		}
	}
}

// Plugin is the webhook notifier type.
type Plugin struct{}

// Type implements config.Plugin.
func (Plugin) Type() string { return Type }

// Config implements config.Plugin.
func (Plugin) Config() config.Validator { return new(Config) }

// New implements notifiers.Plugin.
func (Plugin) New(nc config.Notifier, d notifiers.Deps) (notifiers.Notifier, error) {
	return New(nc, Options{ExternalURL: d.ExternalURL, Logger: d.Logger})
}

// Preview implements notifiers.Plugin: the body is the alert.
func (Plugin) Preview(a *alerter.Alert, _ config.Notifier, _ string) notifiers.Preview {
	return notifiers.Preview{Body: a}
}

func settings(nc config.Notifier) Config {
	c, _ := nc.Settings.(Config)
	return c
}
