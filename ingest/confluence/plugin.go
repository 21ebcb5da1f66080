package confluence

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/internal/yamlx"
)

// Type is the type: of a Confluence audit poller.
const Type = config.SourceConfluencePoll

// Confluence REST APIs a poller can read.
const (
	// APIAuditing is GET /rest/auditing/1.0/events (Data Center 7.x+).
	APIAuditing = "auditing"
	// APILegacy is GET /rest/api/audit (Server, Data Center, and Cloud's
	// /wiki/rest/api/audit, base_url including /wiki).
	APILegacy = "legacy"
)

// Config are the keys of a confluence-poll source (docs/running.md,
// Sources).
type Config struct {
	// BaseURL is the Confluence base URL, what precedes /rest/ (for Cloud,
	// https://SITE.atlassian.net/wiki); a trailing slash is removed. It is
	// also event.system.
	BaseURL string `yaml:"base_url,omitempty" json:"base_url,omitempty"`
	// Token is a personal access token (Data Center); or else Username and
	// Password (for Cloud: the account's e-mail and an API token).
	Token    config.Secret `yaml:"token,omitempty" json:"token,omitempty"`
	Username string        `yaml:"username,omitempty" json:"username,omitempty"`
	Password config.Secret `yaml:"password,omitempty" json:"password,omitempty"`
	// Interval between polls; default 30s.
	Interval yamlx.Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Lag keeps each poll this far behind now, for servers that write
	// records late; default 0.
	Lag yamlx.Duration `yaml:"lag,omitempty" json:"lag,omitempty"`
	// Overlap re-reads this much before the last poll's end, so that
	// records that appear late are not missed; the duplicates it reads are
	// dropped by event id. Default 1m (well inside the EVENTS stream's
	// dedup window); 0 turns it off.
	Overlap yamlx.Duration `yaml:"overlap,omitempty" json:"overlap,omitempty"`
	// API is auditing or legacy; default legacy for Cloud
	// (*.atlassian.net, which has only that one) and auditing otherwise.
	API string `yaml:"api,omitempty" json:"api,omitempty"`
	// EnrichGroups fills event.actor.groups, where the event has none,
	// with the actor's Confluence groups, read through this source's
	// credentials and cached per user: for events whose event.system is
	// this base URL, and for events with no system when this is the only
	// source that enriches.
	EnrichGroups bool `yaml:"enrich_groups,omitempty" json:"enrich_groups,omitempty"`
}

// Validate implements config.Validator.
func (c *Config) Validate(v *config.Checker) {
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if !v.Has("interval") {
		c.Interval = yamlx.Duration(30 * time.Second)
	}
	if !v.Has("overlap") {
		c.Overlap = yamlx.Duration(time.Minute)
	}
	if c.API == "" {
		c.API = APIAuditing
		if u, err := url.Parse(c.BaseURL); err == nil && strings.HasSuffix(strings.ToLower(u.Hostname()), ".atlassian.net") {
			c.API = APILegacy
		}
	}
	if c.BaseURL == "" {
		v.Missing("base_url", "%s: a confluence-poll source needs base_url", v.Label())
	} else {
		v.URL("base_url", c.BaseURL)
	}
	basic := c.Username != "" || c.Password != ""
	switch {
	case c.Token != "" && basic:
		v.Errorf(v.Entry(), "%s: give token, or username and password, not both", v.Label())
	case c.Token == "" && !basic:
		if !v.Bad("token") {
			v.Errorf(v.Entry(), "%s: a confluence-poll source needs token, or username and password", v.Label())
		}
	case basic && c.Username == "":
		v.Missing("username", "%s: password needs username", v.Label())
	case basic && c.Password == "":
		v.Missing("password", "%s: username needs password", v.Label())
	}
	v.Positive("interval", c.Interval)
	if c.API != APIAuditing && c.API != APILegacy {
		at := v.At("api")
		v.Errorf(at, "%s: one of auditing (/rest/auditing/1.0/events, Data Center 7.x+) or legacy (/rest/api/audit, also Cloud)", v.Subject(at, "api", c.API))
	}
}

// Plugin is the confluence-poll source type.
type Plugin struct{}

// Type implements config.Plugin.
func (Plugin) Type() string { return Type }

// Config implements config.Plugin.
func (Plugin) Config() config.Validator { return new(Config) }

// New implements ingest.Plugin: a poller that keeps its position in
// d.Checkpoints, and the directory of the same Confluence.
func (Plugin) New(_ context.Context, src config.Source, d ingest.Deps) (ingest.Source, error) {
	opt := Options{Logger: d.Logger}
	p, err := NewPoller(src, d.Sink, d.Checkpoints, opt)
	if err != nil {
		return nil, err
	}
	dir, err := NewDirectory(src, opt)
	if err != nil {
		return nil, err
	}
	return &Source{Poller: p, dir: dir}, nil
}

// Source is a confluence-poll source as the program runs it: its poller,
// and the directory of users and groups read with the same credentials,
// which the group lists and the enrichment of actor groups read
// (docs/running.md, Sources).
type Source struct {
	*Poller
	dir *Directory
}

// Directory is the source's directory of users and groups.
func (s *Source) Directory() *Directory { return s.dir }

// ConfigOf is the confluence-poll keys of src.
func ConfigOf(src config.Source) Config {
	c, _ := src.Settings.(Config)
	return c
}
