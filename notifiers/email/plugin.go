package email

import (
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Type is the type: of an email notifier.
const Type = "email"

// TLS modes.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
	TLSNone     = "none"
)

var tlsModes = []string{TLSStartTLS, TLSImplicit, TLSNone}

// Config are the keys of an email notifier (docs/notifications.md, Email).
type Config struct {
	// Host is the SMTP server.
	Host string `yaml:"host,omitempty" json:"host,omitempty"`
	// Port defaults by TLS: 587 for starttls, 465 for tls, 25 for none.
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
	// Username and Password authenticate to the SMTP server; both or
	// neither, and never over tls: none to another machine.
	Username string        `yaml:"username,omitempty" json:"username,omitempty"`
	Password config.Secret `yaml:"password,omitempty" json:"password,omitempty"`
	// TLS is starttls (default), tls (implicit, "SMTPS") or none.
	TLS  string   `yaml:"tls,omitempty" json:"tls,omitempty"`
	From string   `yaml:"from,omitempty" json:"from,omitempty"`
	To   []string `yaml:"to,omitempty" json:"to,omitempty"`
}

// Validate implements config.Validator.
func (c *Config) Validate(v *config.Checker) {
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	if !v.Has("port") {
		c.Port = defaultPort(c.TLS)
	}
	if c.Host == "" {
		v.Missing("host", "%s: an email notifier needs host", v.Label())
	} else if _, _, err := net.SplitHostPort(c.Host); err == nil || strings.Contains(c.Host, "/") {
		v.Errorf(v.At("host"), "%s: a host name or address; the port goes in port", v.Subject(v.At("host"), "host", c.Host))
	}
	if c.Port < 1 || c.Port > 65535 {
		v.Errorf(v.At("port"), "%s: a port is 1 to 65535", v.Subject(v.At("port"), "port", strconv.Itoa(c.Port)))
	}
	if !slices.Contains(tlsModes, c.TLS) {
		v.Errorf(v.At("tls"), "%s: one of starttls, tls or none", v.Subject(v.At("tls"), "tls", c.TLS))
	}
	if c.From == "" {
		v.Missing("from", "%s: an email notifier needs from", v.Label())
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		v.Errorf(v.At("from"), "%s: not an e-mail address", v.Subject(v.At("from"), "from", c.From))
	}
	if len(c.To) == 0 {
		v.Missing("to", "%s: an email notifier needs to (a list of addresses)", v.Label())
	}
	for i, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			at := v.At("to").Index(i)
			v.Errorf(at, "%s: not an e-mail address", v.Subject(at, "to", to))
		}
	}
	switch {
	case c.Username != "" && c.Password == "":
		v.Missing("password", "%s: username needs password", v.Label())
	case c.Username == "" && c.Password != "":
		v.Missing("username", "%s: password needs username", v.Label())
	case c.Password != "" && c.TLS == TLSNone && !loopback(c.Host):
		v.Errorf(v.At("tls"), "%s: tls none would send the SMTP password in clear text; use starttls or tls", v.Label())
	}
}

func defaultPort(mode string) int {
	switch mode {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	}
	return 587
}

// Plugin is the email notifier type.
type Plugin struct{}

// Type implements config.Plugin.
func (Plugin) Type() string { return Type }

// Config implements config.Plugin.
func (Plugin) Config() config.Validator { return new(Config) }

// New implements notifiers.Plugin.
func (Plugin) New(nc config.Notifier, d notifiers.Deps) (notifiers.Notifier, error) {
	return New(nc, Options{ExternalURL: d.ExternalURL, Logger: d.Logger})
}

// Preview implements notifiers.Plugin: the subject and the plain text.
func (Plugin) Preview(a *alerter.Alert, _ config.Notifier, externalURL string) notifiers.Preview {
	return notifiers.Preview{Subject: Subject(a), Text: Text(a, externalURL)}
}

func settings(nc config.Notifier) Config {
	c, _ := nc.Settings.(Config)
	return c
}
