package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

const notifyUsage = `Usage: alerter notify test [--config FILE] [--severity SEVERITY] NOTIFIER

Sends a sample alert through one configured notifier, at once and once (no
queue, no retries), to check its address and credentials. The sample is a
Soteri "Global setting changed" alert; its title says it is a test. The
exit status is 1 if the target refused it, with the reason.
`

func notifyCmd(ctx context.Context, args []string, s stdio) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprint(s.err, notifyUsage)
		return 2
	}
	fs := newFlags("notify test", notifyUsage, s)
	cfgFile := fs.String("config", "", "config `FILE` that defines the notifier (default: embedded defaults)")
	sev := fs.String("severity", "high", "severity of the sample: info, low, medium, high or critical")
	if ok, code := parse(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(s.err, "alerter notify test: name one notifier")
		fs.Usage()
		return 2
	}
	if alerter.Severity(*sev).Rank() < 0 {
		fmt.Fprintf(s.err, "alerter notify test: --severity %q: use info, low, medium, high or critical\n", *sev)
		return 2
	}
	cfg, ok := loadConfig(*cfgFile, s)
	if !ok {
		return 1
	}
	name := fs.Arg(0)
	nc := cfg.Notifier(name)
	if nc == nil {
		fmt.Fprintf(s.err, "alerter notify test: no notifier %q (configured: %v)\n", name, cfg.NotifierNames())
		return 1
	}
	n, err := builtin.Notifiers().New(*nc, notifiers.Deps{ExternalURL: cfg.Server.ExternalURL, Stdout: s.out,
		Logger: slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintf(s.err, "alerter notify test: %v\n", err)
		return 1
	}
	a := notifiers.TestAlert(name, alerter.Severity(*sev), time.Now().UTC())
	timeout := time.Duration(nc.Timeout)
	if timeout <= 0 {
		timeout = config.DefaultNotifierTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := n.Notify(tctx, a); err != nil {
		retry, _ := notifiers.Classify(err)
		hint := "the target refused it: check the configuration"
		if retry {
			hint = "it may work later: the target is unreachable, busy or failing"
		}
		fmt.Fprintf(s.err, "alerter notify test: %s: %v\n(%s)\n", name, err, hint)
		return 1
	}
	fmt.Fprintf(s.err, "sent a test alert to %s (%s)\n", name, nc.Type)
	return 0
}
