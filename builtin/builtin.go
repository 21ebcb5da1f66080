// Package builtin is the one list of the plug-ins alerter is built with:
// the notifier types (docs/notifications.md) and the source types
// (docs/running.md, Sources). Every command that reads a config (run,
// validate, test, notify, replay...) takes them from here, so that adding
// a type to a list adds it everywhere.
package builtin

import (
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/ingest/confluence"
	"github.com/alerter/alerter/ingest/filetail"
	"github.com/alerter/alerter/ingest/natsource"
	"github.com/alerter/alerter/ingest/webhook"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/console"
	"github.com/alerter/alerter/notifiers/email"
	"github.com/alerter/alerter/notifiers/pagerduty"
	"github.com/alerter/alerter/notifiers/slack"
	"github.com/alerter/alerter/notifiers/teams"
	webhooknotifier "github.com/alerter/alerter/notifiers/webhook"
)

// Notifiers are the notifier types, in the order messages list them.
func Notifiers() notifiers.Registry {
	return notifiers.Registry{
		slack.Plugin{},
		email.Plugin{},
		pagerduty.Plugin{},
		webhooknotifier.Plugin{},
		console.Plugin{},
		teams.Plugin{},
	}
}

// Sources are the source types, in the order messages list them.
func Sources() ingest.Registry {
	return ingest.Registry{
		webhook.Plugin{},
		natsource.Plugin{},
		confluence.Plugin{},
		filetail.Plugin{},
	}
}

// Plugins are the types as config reads them: config.Load(path, getenv,
// builtin.Plugins()).
func Plugins() config.Plugins {
	return config.Plugins{Notifiers: Notifiers().Config(), Sources: Sources().Config()}
}
