package natsource

import (
	"context"
	"slices"
	"strings"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/ingest"
)

// Type is the type: of a NATS source.
const Type = "nats"

// Config are the keys of a nats source (docs/running.md, Sources).
type Config struct {
	// Subject is the subject to subscribe to; wildcards allowed.
	Subject string `yaml:"subject,omitempty" json:"subject,omitempty"`
}

// ownSubjects are alerter's own (bus.EventsSubject, bus.AlertsSubject...):
// a source that subscribes to them would read back what alerter itself
// publishes.
var ownSubjects = []string{"events", "alerts", "rejected", "deadletters"}

// Validate implements config.Validator.
func (c *Config) Validate(v *config.Checker) {
	if c.Subject == "" {
		v.Missing("subject", "%s: a nats source needs subject", v.Label())
		return
	}
	at := v.At("subject")
	tokens := strings.Split(c.Subject, ".")
	for i, t := range tokens {
		if t == "" || strings.ContainsAny(t, " \t\r\n") || (t != "*" && t != ">" && strings.ContainsAny(t, "*>")) || (t == ">" && i != len(tokens)-1) {
			v.Errorf(at, "%s: not a NATS subject (dot-separated tokens; * stands for one token, a final > for the rest)", v.Subject(at, "subject", c.Subject))
			return
		}
	}
	switch t := tokens[0]; {
	case strings.HasPrefix(t, "$"):
		v.Errorf(at, "%s: subjects starting with $ are NATS's own", v.Subject(at, "subject", c.Subject))
	case t == "*" || t == ">" || slices.Contains(ownSubjects, t):
		v.Errorf(at, "%s: overlaps alerter's own subjects (events.>, alerts.>, rejected.>, deadletters.>); publish audit events under another prefix", v.Subject(at, "subject", c.Subject))
	}
}

// Plugin is the nats source type.
type Plugin struct{}

// Type implements config.Plugin.
func (Plugin) Type() string { return Type }

// Config implements config.Plugin.
func (Plugin) Config() config.Validator { return new(Config) }

// New implements ingest.Plugin: a source on d.NATS, which keeps the
// messages that are no event aside through d.Rejecter.
func (Plugin) New(_ context.Context, src config.Source, d ingest.Deps) (ingest.Source, error) {
	s, err := New(src, d.NATS, d.JetStream, d.Sink, d.Rejecter, Options{Logger: d.Logger, Replicas: d.Replicas})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// ConfigOf is the nats keys of src.
func ConfigOf(src config.Source) Config {
	c, _ := src.Settings.(Config)
	return c
}
