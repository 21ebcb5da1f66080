package console

import (
	"os"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Type is the type: of a console notifier.
const Type = "console"

// Plugin is the console notifier type. It has no keys of its own.
type Plugin struct{}

// Type implements config.Plugin.
func (Plugin) Type() string { return Type }

// Config implements config.Plugin: console takes only the common keys.
func (Plugin) Config() config.Validator { return nil }

// New implements notifiers.Plugin: a notifier printing on d.Stdout
// (os.Stdout when nil).
func (Plugin) New(_ config.Notifier, d notifiers.Deps) (notifiers.Notifier, error) {
	if d.Stdout == nil {
		return New(os.Stdout), nil
	}
	return New(d.Stdout), nil
}

// Preview implements notifiers.Plugin: the line.
func (Plugin) Preview(a *alerter.Alert, _ config.Notifier, _ string) notifiers.Preview {
	return notifiers.Preview{Text: Line(a)}
}
