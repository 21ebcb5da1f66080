package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alerter/alerter/app"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
)

const runUsage = `Usage: alerter run [--config FILE] [--log-level LEVEL] [--log-format FORMAT]

Runs the service: webhook, NATS, Confluence-poll and audit-file sources
store events in the EVENTS stream; rules evaluate them; alerts are stored
in the ALERTS stream and delivered to the notifiers.

Without --config it runs on embedded defaults: an embedded NATS JetStream
server storing under ./data/nats, the rules in examples/rules, a webhook
source at http://127.0.0.1:8080/webhooks/default, and alerts printed on
standard output. Try it:

  alerter run
  curl -H 'Content-Type: application/json' \
       --data @examples/events/soteri-global-setting.json \
       http://127.0.0.1:8080/webhooks/default

SIGINT or SIGTERM stops it gracefully: requests under way finish, and
nothing unfinished is acknowledged, so it is taken up on the next start.
SIGHUP (or POST /-/reload, or a change to a rule file when rules.watch is
on) reloads the config file given with --config and the rules: sources,
notifiers, routes, lists and tokens change without a restart, and alerts
waiting for a notifier stay queued for it. A config or rule set with any
error is rejected, its errors are logged and shown by GET /api/v1/rules,
and the running ones stay; so is a change to what is set up only at start
(nats.*, server.listen, rules.paths, rules.watch), naming the key.
See docs/running.md, "Reloading".
`

func runCmd(ctx context.Context, args []string, s stdio) int {
	fs := newFlags("run", runUsage, s)
	cfgFile := fs.String("config", "", "config `FILE` (alerter.yaml); default: embedded defaults")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "auto", "log format: json, text, or auto (text on a terminal, else json)")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.err, "alerter run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	log, err := newLogger(s.err, *level, *format)
	if err != nil {
		fmt.Fprintf(s.err, "alerter run: %v\n", err)
		return 2
	}
	cfg, ok := loadConfig(*cfgFile, s)
	if !ok {
		return 1
	}
	opt := app.Options{Logger: log, Stdout: s.out}
	if *cfgFile != "" {
		opt.LoadConfig = func() (*config.Config, error) { return config.Load(*cfgFile, os.LookupEnv, builtin.Plugins()) }
	}
	svc, err := app.New(ctx, cfg, opt)
	if err != nil {
		printErr(s, fmt.Errorf("run: %w", err))
		return 1
	}
	// SIGHUP reloads the config and the rules, as most daemons do.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				svc.Reload("signal")
			}
		}
	}()
	if err := svc.Run(ctx); err != nil {
		log.Error("alerter stopped on an error", "err", err)
		return 1
	}
	return 0
}

// loadConfig reads the config file, or gives the embedded defaults when
// there is none; errors are printed.
func loadConfig(path string, s stdio) (*config.Config, bool) {
	if path == "" {
		return config.Default(builtin.Plugins()), true
	}
	cfg, err := config.Load(path, os.LookupEnv, builtin.Plugins())
	if err != nil {
		printErr(s, err)
		return nil, false
	}
	return cfg, true
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "auto":
		if isTerminal(w) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use json, text or auto", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
