package filetail

import (
	"context"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/ingest"
)

// Type is the type: of a file source.
const Type = "file"

// Config are the keys of a file source (docs/running.md, Sources).
type Config struct {
	// Path is the audit log file to tail, or a glob pattern such as
	// /var/atlassian/confluence/log/audit/*.audit.log (Confluence Data
	// Center starts a new dated file daily and at 100 MB; the files are
	// read in name order).
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
}

// Validate implements config.Validator.
func (c *Config) Validate(v *config.Checker) {
	if c.Path == "" {
		v.Missing("path", "%s: a file source needs path", v.Label())
	}
}

// Plugin is the file source type.
type Plugin struct{}

// Type implements config.Plugin.
func (Plugin) Type() string { return Type }

// Config implements config.Plugin.
func (Plugin) Config() config.Validator { return new(Config) }

// New implements ingest.Plugin: a tail that keeps its position in
// d.Checkpoints.
func (Plugin) New(_ context.Context, src config.Source, d ingest.Deps) (ingest.Source, error) {
	t, err := New(src, d.Sink, d.Checkpoints, Options{Logger: d.Logger})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ConfigOf is the file keys of src.
func ConfigOf(src config.Source) Config {
	c, _ := src.Settings.(Config)
	return c
}
