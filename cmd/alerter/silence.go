package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/silences"
)

const silenceUsage = `Usage:
  alerter silence add [--url URL] --for 2h --comment TEXT [--author NAME] MATCHER...
  alerter silence add [--url URL] --dry-run MATCHER...
  alerter silence list [--url URL] [--all]
  alerter silence expire [--url URL] ID...

Manages silences through a running alerter's HTTP API. A silenced alert is
recorded as silenced at its targets instead of being sent.

A MATCHER is NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX, where NAME
is rule, severity, dedup_key, label.NAME or group.EXPR (a group's
by-expression as written in the rule). An alert is silenced when every
matcher matches. For example:

  alerter silence add --for 2h --comment "migration" rule=soteri-export-burst group.event.actor.name=svc-backup

The server refuses a silence that would mute every alert of its rules
(rule!="", rule=~.+, a matcher that takes every value) or that lasts longer
than its silences.max_duration (30 days unless configured).

--dry-run creates nothing: it lists which of the newest 1,000 alerts the
matchers would have muted, to check them first.

--author is optional. The server records, besides it, who created the
silence as it authenticated them: the API token's name (or the remote
address when it has no tokens); list shows that name in brackets when it
differs from the author.

--url defaults to $ALERTER_URL, else http://127.0.0.1:8080; the API token
(server.api_token or one of server.tokens) is read from $ALERTER_API_TOKEN.
Adding and expiring silences needs a token of role writer or admin.
`

func silenceCmd(ctx context.Context, args []string, s stdio) int {
	return subcommand(ctx, "silence", silenceUsage, map[string]func(context.Context, []string, stdio) int{
		"add": silenceAdd, "list": silenceList, "ls": silenceList, "expire": silenceExpire, "rm": silenceExpire,
	}, args, s)
}

// subcommand runs the subcommand args[0] of command name, or prints usage.
func subcommand(ctx context.Context, name, usage string, subs map[string]func(context.Context, []string, stdio) int, args []string, s stdio) int {
	if len(args) == 0 {
		fmt.Fprint(s.err, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(s.out, usage)
		return 0
	}
	if run, ok := subs[args[0]]; ok {
		return run(ctx, args[1:], s)
	}
	fmt.Fprintf(s.err, "alerter %s: unknown subcommand %q\n\n%s", name, args[0], usage)
	return 2
}

// apiFlags are the flags of a command that talks to a running alerter,
// and the client they configure.
func apiFlags(name string, s stdio) (*api.Client, *flag.FlagSet) {
	fs := newFlags(name, silenceUsage, s)
	c := &api.Client{HTTP: &http.Client{Timeout: 30 * time.Second}, Token: os.Getenv("ALERTER_API_TOKEN")}
	def := os.Getenv("ALERTER_URL")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	fs.StringVar(&c.BaseURL, "url", def, "`URL` of the running alerter")
	fs.DurationVar(&c.HTTP.Timeout, "timeout", c.HTTP.Timeout, "how long one request to the API may take (a search of the stored events reads up to 20,000 of them)")
	return c, fs
}

// safeErr is err as it may be printed: the server's message may quote
// what was sent or stored, and be several problems, a line each.
func safeErr(err error) string {
	var se *api.StatusError
	if errors.As(err, &se) && se.Message != "" {
		// The server's message is the data; its status is alerter's own.
		return safeLines(se.Message) + fmt.Sprintf(" (%d)", se.Code)
	}
	return safeLines(err.Error())
}

func safeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = safe(lines[i])
	}
	return strings.Join(lines, "\n")
}

func silenceAdd(ctx context.Context, args []string, s stdio) int {
	c, fs := apiFlags("silence add", s)
	dur := fs.Duration("for", 0, "how long the silence lasts, e.g. 2h (required)")
	comment := fs.String("comment", "", "why (required)")
	author := fs.String("author", os.Getenv("USER"), "who silences, recorded as created_by; optional: default $USER, and without it\nthe server records the API token's name (or your address when it has no tokens)")
	dryRun := fs.Bool("dry-run", false, "create nothing: list the recent alerts the matchers would have muted")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 || (!*dryRun && (*dur <= 0 || *comment == "")) {
		fmt.Fprintln(s.err, "alerter silence add: --for, --comment and at least one MATCHER are required")
		fs.Usage()
		return 2
	}
	sl := silences.Silence{CreatedBy: *author, Comment: *comment, EndsAt: time.Now().Add(*dur)}
	for _, a := range fs.Args() {
		m, err := silences.ParseMatcher(a)
		if err != nil {
			fmt.Fprintf(s.err, "alerter silence add: %v\n", err)
			return 2
		}
		sl.Matchers = append(sl.Matchers, m)
	}
	if *dryRun {
		return silencePreview(ctx, c, sl.Matchers, s)
	}
	out, err := c.AddSilence(ctx, sl)
	if err != nil {
		fmt.Fprintf(s.err, "alerter silence add: %s\n", safeErr(err))
		return 1
	}
	fmt.Fprintln(s.out, safe(out.ID))
	return 0
}

// silencePreview prints which recent alerts matchers would have muted.
func silencePreview(ctx context.Context, c *api.Client, matchers []silences.Matcher, s stdio) int {
	out, err := c.PreviewSilence(ctx, matchers)
	if err != nil {
		fmt.Fprintf(s.err, "alerter silence add --dry-run: %s\n", safeErr(err))
		return 1
	}
	fmt.Fprintf(s.out, "would silence %d of the last %d alerts", out.Matched, out.Scanned)
	if len(out.Alerts) < out.Matched {
		fmt.Fprintf(s.out, "; the newest %d:", len(out.Alerts))
	} else if out.Matched > 0 {
		fmt.Fprint(s.out, ":")
	}
	fmt.Fprintln(s.out)
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	for _, a := range out.Alerts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.Time.Local().Format(time.DateTime), safe(string(a.Severity)), safe(a.Rule), safe(a.Title))
	}
	_ = tw.Flush()
	return 0
}

func silenceList(ctx context.Context, args []string, s stdio) int {
	c, fs := apiFlags("silence list", s)
	all := fs.Bool("all", false, "include expired silences")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	list, err := c.Silences(ctx)
	if err != nil {
		fmt.Fprintf(s.err, "alerter silence list: %s\n", safeErr(err))
		return 1
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tENDS\tBY\tMATCHERS\tCOMMENT")
	for _, sl := range list {
		if sl.State == silences.Expired && !*all {
			continue
		}
		ms := make([]string, 0, len(sl.Matchers))
		for _, m := range sl.Matchers {
			ms = append(ms, safe(m.String()))
		}
		by := sl.CreatedBy
		if sl.Identity != "" && sl.Identity != sl.CreatedBy {
			by += " [" + sl.Identity + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", safe(sl.ID), safe(sl.State), sl.EndsAt.Local().Format(time.DateTime), safe(by), strings.Join(ms, " "), safe(sl.Comment))
	}
	_ = tw.Flush()
	return 0
}

func silenceExpire(ctx context.Context, args []string, s stdio) int {
	c, fs := apiFlags("silence expire", s)
	if ok, code := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(s.err, "alerter silence expire: name the silence IDs to expire")
		return 2
	}
	code := 0
	for _, id := range fs.Args() {
		if _, err := c.ExpireSilence(ctx, id); err != nil {
			fmt.Fprintf(s.err, "alerter silence expire %s: %s\n", id, safeErr(err))
			code = 1
			continue
		}
		fmt.Fprintf(s.out, "expired %s\n", id)
	}
	return code
}
