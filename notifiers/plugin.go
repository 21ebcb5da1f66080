package notifiers

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
)

// Notifier sends one alert to one target. Its error is classified (Retry,
// Permanent); an unclassified one is retried.
type Notifier interface {
	Notify(ctx context.Context, a *alerter.Alert) error
}

// Plugin is a notifier type: its config (config.Plugin: its type name, its
// keys, their defaults and validation), how to build a target from a
// validated entry, and what a target would be sent. Each notifier package
// has one; a program knows the types of its Registry.
type Plugin interface {
	config.Plugin
	// New builds the notifier of entry nc, whose Settings its Validate
	// has checked.
	New(nc config.Notifier, d Deps) (Notifier, error)
	// Preview is what New(nc) would send for a, without its credentials,
	// for the playground (docs/rules.md) and explain.
	Preview(a *alerter.Alert, nc config.Notifier, externalURL string) Preview
}

// Deps are what a notifier is built with besides its config entry.
type Deps struct {
	// ExternalURL is server.external_url: with it, notifications link to
	// the alert at <ExternalURL>/alerts/<id>.
	ExternalURL string
	// Logger is for what the notifier logs.
	Logger *slog.Logger
	// Stdout is where a notifier that prints (console) writes.
	Stdout io.Writer
}

// Preview is a notification as the playground shows it. An empty Subject
// or Text is the alert's title or text.
type Preview struct {
	Subject string
	Text    string
	// Body is what is sent, when it is structured (JSON): a value that
	// marshals to it.
	Body any
}

// Registry are the notifier types of a program, in the order messages
// list them. It is built once, by the program (package builtin).
type Registry []Plugin

// Lookup returns the plug-in of type typ.
func (r Registry) Lookup(typ string) (Plugin, bool) { return config.Lookup(r, typ) }

// Config are the types as config reads them.
func (r Registry) Config() []config.Plugin { return config.AsPlugins(r) }

// New builds the notifier of entry nc with the plug-in of its type.
func (r Registry) New(nc config.Notifier, d Deps) (Notifier, error) {
	p, ok := r.Lookup(nc.Type)
	if !ok {
		return nil, fmt.Errorf("notifier %s: type %q is not in this build", nc.Name, nc.Type)
	}
	return p.New(nc, d)
}
