// Package busconfig reads the nats section of the config file
// (docs/configuration.md) as package bus takes it. It stands apart from
// both: config is imported by every plug-in, which must not pull in the
// NATS server with it, and bus takes plain values, so that it does not
// depend on the shape of the file. alerter run and the commands that read
// what it stored (alerter replay) connect through it alike.
package busconfig

import (
	"log/slog"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/config"
)

// NATS is n as bus takes it, its secrets revealed, for a connection named
// name (shown in the server's connection list); log receives the
// connection's disconnects and errors (nil discards them).
func NATS(n config.NATS, name string, log *slog.Logger) bus.NATS {
	var tls *bus.TLSFiles
	if n.TLS != (config.TLS{}) {
		tls = &bus.TLSFiles{CA: n.TLS.CA, Cert: n.TLS.Cert, Key: n.TLS.Key}
	}
	return bus.NATS{
		URL: n.URL,
		Connect: bus.ConnectOptions{CredsFile: n.Credentials, User: n.User, Password: n.Password.Value(),
			Token: n.Token.Value(), TLS: tls, Name: name, Logger: log},
		Embedded: bus.EmbeddedOptions{StoreDir: n.Embedded.StoreDir, Listen: n.Embedded.Listen,
			Token: n.Embedded.Token.Value(), SyncAlways: n.Sync == "always"},
	}
}
