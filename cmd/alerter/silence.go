package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
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

// apiClient talks to a running alerter.
type apiClient struct {
	url, token string
	hc         *http.Client
}

func apiFlags(name string, s stdio) (*apiClient, *flag.FlagSet) {
	fs := newFlags(name, silenceUsage, s)
	c := &apiClient{hc: &http.Client{Timeout: 30 * time.Second}, token: os.Getenv("ALERTER_API_TOKEN")}
	def := os.Getenv("ALERTER_URL")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	fs.StringVar(&c.url, "url", def, "`URL` of the running alerter")
	fs.DurationVar(&c.hc.Timeout, "timeout", c.hc.Timeout, "how long one request to the API may take (a search of the stored events reads up to 20,000 of them)")
	return c, fs
}

// do sends a request and decodes a 2xx answer into out; other answers are
// errors with the server's message.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.url, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("is alerter running at %s? %w", c.url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			// The server's message may quote what was sent or stored; it
			// may be several problems, a line each.
			lines := strings.Split(e.Error, "\n")
			for i := range lines {
				lines[i] = safe(lines[i])
			}
			return &statusError{code: resp.StatusCode, msg: fmt.Sprintf("%s (%d)", strings.Join(lines, "\n"), resp.StatusCode)}
		}
		return &statusError{code: resp.StatusCode, msg: fmt.Sprintf("%s %s: %s", method, path, resp.Status)}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// pageThrough reads a history of the API (path, the items under key, and
// the "next" cursor), page after page, calling fn with each item until fn
// returns false, there are no more, or maxPages pages were read (0: no
// bound). A page may come back short, or empty, when the server stopped at
// its bound on messages read. older tells that the history goes on.
func pageThrough[T any](ctx context.Context, c *apiClient, path, key string, q url.Values, maxPages int, fn func(T) bool) (older bool, err error) {
	q = maps.Clone(q)
	for pages := 1; ; pages++ {
		var page map[string]json.RawMessage
		if err := c.do(ctx, "GET", path+"?"+q.Encode(), nil, &page); err != nil {
			return false, err
		}
		var items []T
		var next string
		if err := json.Unmarshal(page[key], &items); err != nil && page[key] != nil {
			return false, err
		}
		if page["next"] != nil {
			if err := json.Unmarshal(page["next"], &next); err != nil {
				return false, err
			}
		}
		for _, it := range items {
			if !fn(it) {
				return next != "", nil
			}
		}
		if next == "" || pages == maxPages {
			return next != "", nil
		}
		q.Set("before", next)
	}
}

// statusError is an answer of the API other than 2xx.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

type silenceJSON struct {
	silences.Silence
	State string `json:"state"`
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
	var out silenceJSON
	if err := c.do(ctx, "POST", "/api/v1/silences", sl, &out); err != nil {
		fmt.Fprintf(s.err, "alerter silence add: %v\n", err)
		return 1
	}
	fmt.Fprintln(s.out, safe(out.ID))
	return 0
}

// silencePreview prints which recent alerts matchers would have muted.
func silencePreview(ctx context.Context, c *apiClient, matchers []silences.Matcher, s stdio) int {
	var out struct {
		Matched, Scanned int
		Alerts           []alerter.Alert
	}
	if err := c.do(ctx, "POST", "/api/v1/silences/preview", map[string]any{"matchers": matchers}, &out); err != nil {
		fmt.Fprintf(s.err, "alerter silence add --dry-run: %v\n", err)
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
	var out struct{ Silences []silenceJSON }
	if err := c.do(ctx, "GET", "/api/v1/silences", nil, &out); err != nil {
		fmt.Fprintf(s.err, "alerter silence list: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tENDS\tBY\tMATCHERS\tCOMMENT")
	for _, sl := range out.Silences {
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
		if err := c.do(ctx, "DELETE", "/api/v1/silences/"+id, nil, nil); err != nil {
			fmt.Fprintf(s.err, "alerter silence expire %s: %v\n", id, err)
			code = 1
			continue
		}
		fmt.Fprintf(s.out, "expired %s\n", id)
	}
	return code
}
