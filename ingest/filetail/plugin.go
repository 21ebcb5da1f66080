package filetail

import "github.com/alerter/alerter/config"

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

// ConfigOf is the file keys of src.
func ConfigOf(src config.Source) Config {
	c, _ := src.Settings.(Config)
	return c
}
