package main

import (
	"context"
	"fmt"
	"time"

	"github.com/alerter/alerter/api"
)

const ackUsage = `Usage: alerter ack [--url URL] [--comment TEXT] ID...

Acknowledges alerts through a running alerter's HTTP API: the alert's
group (its rule and group values) is acknowledged, so its later alerts are
too, until it is resolved. Acknowledging twice changes nothing; a resolved
alert cannot be acknowledged.

--url defaults to $ALERTER_URL, else http://127.0.0.1:8080; the API token is
read from $ALERTER_API_TOKEN and needs the role writer or admin.
`

const resolveUsage = `Usage: alerter resolve [--url URL] [--comment TEXT] [--verdict V] ID...

Resolves alerts through a running alerter's HTTP API: every alert of the
alert's group fired up to now is resolved; a later one opens the group
again. --verdict is true_positive, false_positive or benign.

--url defaults to $ALERTER_URL, else http://127.0.0.1:8080; the API token is
read from $ALERTER_API_TOKEN and needs the role writer or admin.
`

func ackCmd(ctx context.Context, args []string, s stdio) int {
	return actCmd(ctx, "ack", args, s)
}

func resolveCmd(ctx context.Context, args []string, s stdio) int {
	return actCmd(ctx, "resolve", args, s)
}

// actCmd acknowledges or resolves (verb) the alerts named in args.
func actCmd(ctx context.Context, verb string, args []string, s stdio) int {
	c, fs := apiFlags(verb, s)
	usage := ackUsage
	if verb == "resolve" {
		usage = resolveUsage
	}
	fs.Usage = func() { fmt.Fprint(s.err, usage); fs.PrintDefaults() }
	comment := fs.String("comment", "", "why (shown with the change)")
	var verdict *string
	if verb == "resolve" {
		verdict = fs.String("verdict", "", "true_positive, false_positive or benign")
	}
	if ok, code := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(s.err, "alerter %s: name the alert IDs\n", verb)
		return 2
	}
	code := 0
	for _, id := range fs.Args() {
		var out api.AlertActed
		var err error
		if verdict != nil {
			out, err = c.Resolve(ctx, id, *comment, *verdict)
		} else {
			out, err = c.Ack(ctx, id, *comment)
		}
		if err != nil {
			fmt.Fprintf(s.err, "alerter %s %s: %s\n", verb, safe(id), safeErr(err))
			code = 1
			continue
		}
		fmt.Fprintln(s.out, actedLine(out))
	}
	return code
}

// actedLine says where an alert stands after an ack or a resolve.
func actedLine(out api.AlertActed) string {
	line := fmt.Sprintf("%s %s", safe(out.ID), safe(out.Status))
	switch {
	case out.ResolvedAt != nil:
		line += fmt.Sprintf(" by %s at %s", safe(out.ResolvedBy), out.ResolvedAt.Format(time.RFC3339))
		if out.Verdict != "" {
			line += " (" + safe(out.Verdict) + ")"
		}
	case out.AcknowledgedAt != nil:
		line += fmt.Sprintf(" by %s at %s", safe(out.AcknowledgedBy), out.AcknowledgedAt.Format(time.RFC3339))
	}
	if !out.Changed {
		line += " (already)"
	}
	return line + ": " + safe(out.Title)
}
