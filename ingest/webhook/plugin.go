package webhook

import (
	"context"
	"path"
	"slices"
	"strings"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/ingest"
)

// Type is the type: of a webhook source.
const Type = "webhook"

// Config are the keys of a webhook source (docs/running.md, Sources).
type Config struct {
	// Path is the URL path it is served at; default /webhooks/<name>.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Secret checks an HMAC-SHA256 signature or bearer token; empty:
	// requests are not authenticated.
	Secret config.Secret `yaml:"secret,omitempty" json:"secret,omitempty"`
	// Insecure says that a webhook without a secret on a server.listen
	// reachable from other machines is meant: without it such a source is
	// refused, since anyone who reaches the port could forge its events.
	Insecure bool `yaml:"insecure,omitempty" json:"insecure,omitempty"`
}

// reservedPaths are served by alerter itself (docs/api.md).
var reservedPaths = []string{"/api", "/healthz", "/readyz", "/metrics"}

// Validate implements config.Validator.
func (c *Config) Validate(v *config.Checker) {
	name := v.Name()
	if c.Path == "" && name != "" {
		c.Path = "/webhooks/" + name
	}
	at := v.At("path")
	switch {
	case c.Path == "":
		// No name either; that is reported.
	case !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, "?# \t") || path.Clean(c.Path) != c.Path:
		v.Errorf(at, "%s: a URL path such as /webhooks/%s", v.Subject(at, "path", c.Path), name)
	case c.Path == "/" || slices.ContainsFunc(reservedPaths, func(r string) bool {
		return c.Path == r || strings.HasPrefix(c.Path, r+"/")
	}):
		v.Errorf(at, "%s: taken by alerter's own routes (/, /api/, /healthz, /readyz, /metrics)", v.Subject(at, "path", c.Path))
	}
	switch server := v.Server(); {
	case c.Secret == "" && !c.Insecure && server.Exposed():
		// Anyone who reaches the port could store events that fire
		// alerts, or bury real ones: docs/running.md, sources.
		v.Errorf(v.Entry(), "%s: a webhook without secret on server.listen %s takes events from anyone who reaches it: set secret, or insecure: true to say that is meant", v.Label(), server.Listen)
	case c.Secret != "" && c.Insecure:
		v.Errorf(v.At("insecure"), "%s: insecure: true with a secret; the secret is checked, leave insecure out", v.Label())
	}
	if c.Path != "" {
		if owner, taken := v.Claim("webhook path", c.Path); taken {
			v.Errorf(at, "%s: already the path of source %s", v.Subject(at, "path", c.Path), owner)
		}
	}
}

// Plugin is the webhook source type.
type Plugin struct{}

// Type implements config.Plugin.
func (Plugin) Type() string { return Type }

// Config implements config.Plugin.
func (Plugin) Config() config.Validator { return new(Config) }

// New implements ingest.Plugin: the handler of src, served at its path. A
// source with a secret remembers the signed requests it took (d.Replays).
func (Plugin) New(ctx context.Context, src config.Source, d ingest.Deps) (ingest.Source, error) {
	opt := Options{MaxBody: d.MaxBody, Limiter: d.Limiter, Log: d.Logger}
	if ConfigOf(src).Secret != "" && d.Replays != nil {
		r, err := d.Replays(ctx)
		if err != nil {
			return nil, err
		}
		opt.Replays = r
	}
	h, err := New(src, d.Sink, opt)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// ConfigOf is the webhook keys of src.
func ConfigOf(src config.Source) Config {
	c, _ := src.Settings.(Config)
	return c
}
