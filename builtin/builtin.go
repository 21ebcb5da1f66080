// Package builtin is the one list of the plug-ins alerter is built with:
// the notifier types (docs/notifications.md). Every command that reads a
// config (run, validate, test, notify, replay...) takes them from here, so
// that adding a type to the list adds it everywhere.
package builtin

import (
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/console"
	"github.com/alerter/alerter/notifiers/email"
	"github.com/alerter/alerter/notifiers/pagerduty"
	"github.com/alerter/alerter/notifiers/slack"
	"github.com/alerter/alerter/notifiers/teams"
	"github.com/alerter/alerter/notifiers/webhook"
)

// Notifiers are the notifier types, in the order messages list them.
func Notifiers() notifiers.Registry {
	return notifiers.Registry{
		slack.Plugin{},
		email.Plugin{},
		pagerduty.Plugin{},
		webhook.Plugin{},
		console.Plugin{},
		teams.Plugin{},
	}
}

// Plugins are the types as config reads them: config.Load(path, getenv,
// builtin.Plugins()).
func Plugins() config.Plugins {
	return config.Plugins{Notifiers: Notifiers().Config()}
}
