// Command alerter is a real-time alerting rules engine for security audit
// events. See README.md, or run `alerter help`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alerter/alerter/notifiers"
)

// safe is text from events, alerts or the server (which anyone who can
// post an event or a silence writes) as it may be printed: control
// characters escaped, so that it can neither drive the terminal nor forge
// a line (notifiers.TerminalSafe).
func safe(s string) string { return notifiers.TerminalSafe(s) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `alerter: real-time alerting rules for security audit events.

Usage:
  alerter run [--config FILE]       run the service (embedded defaults without a config)
  alerter validate [--config FILE] [PATH...]
                                    check rule files (and the config): every error as file:line:col
  alerter test [--config FILE] [PATH...]
                                    run the tests written in rule files
  alerter replay --rules PATH (--events FILE | --since 24h) [--config F] [--against PATH]
                                    print the alerts rules would have fired
                                    (with --against, only those a change adds,
                                    removes or changes)
  alerter alerts [--rule ID] [--since 24h]
                                    the alerts a running alerter fired, and their deliveries
  alerter silence add|list|expire   manage silences of a running alerter
  alerter notify test NOTIFIER      send a sample alert through one notifier
  alerter explain EVENT_ID          why an event did (not) alert, from a running alerter
  alerter explain --find WORDS      find a stored event's id by words
  alerter deadletters list|redeliver
                                    list dead letters; hand them back once a target is mended
  alerter help [COMMAND]            explain a command

PATH is a rule file or a folder of them (*.yaml, *.yml); the default is
the config's rules.paths, or examples/rules. The web UI and the HTTP API
are served by 'alerter run' (http://127.0.0.1:8080/ by default). Run
'alerter help COMMAND' for a command's flags.
`

// command is one subcommand.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, io stdio) int
}

type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func commands() []command {
	return []command{
		{"run", runUsage, runCmd},
		{"validate", validateUsage, validateCmd},
		{"test", testUsage, testCmd},
		{"replay", replayUsage, replayCmd},
		{"silence", silenceUsage, silenceCmd},
		{"notify", notifyUsage, notifyCmd},
		{"explain", explainUsage, explainCmd},
		{"deadletters", deadlettersUsage, deadlettersCmd},
		{"alerts", alertsUsage, alertsCmd},
		{"ack", ackUsage, ackCmd},
		{"resolve", resolveUsage, resolveCmd},
	}
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	s := stdio{in: in, out: out, err: errw}
	if len(args) == 0 {
		fmt.Fprint(errw, usage)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			for _, c := range commands() {
				if c.name == args[1] {
					fmt.Fprint(out, c.short)
					return 0
				}
			}
		}
		fmt.Fprint(out, usage)
		return 0
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], s)
		}
	}
	fmt.Fprintf(errw, "alerter: unknown command %q\n\n%s", name, usage)
	return 2
}
