package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alerter/alerter/api"
)

const deadlettersUsage = `Usage:
  alerter deadletters list [--url URL] [--notifier NAME] [--limit N]
  alerter deadletters redeliver [--url URL] [--notifier NAME] [--since 2h] [ALERT_ID...]

Dead letters are notifications a target gave up on after its retry limit
(max_attempts, max_age). Once the target is mended (a token renewed, an
outage over), redeliver hands them back to that target's queue alone, to
be tried again with their tries counted afresh; the other targets of the
same alerts are not sent anything again.

redeliver takes the dead letters given up on in the last --since (default
24h), of --notifier if given, or only those of the ALERT_IDs named. One
handed back already, or delivered since, is skipped. One whose delivery
record expired (records are kept for the longest max_age and an hour)
cannot be handed back: it is reported, and the exit status is 1. For
example, after Slack was down for an afternoon:

  alerter deadletters redeliver --notifier slack-secops --since 6h

--url defaults to $ALERTER_URL, else http://127.0.0.1:8080; the API token
is read from $ALERTER_API_TOKEN.
`

func deadlettersCmd(ctx context.Context, args []string, s stdio) int {
	return subcommand(ctx, "deadletters", deadlettersUsage, map[string]func(context.Context, []string, stdio) int{
		"list": deadlettersList, "ls": deadlettersList, "redeliver": deadlettersRedeliver,
	}, args, s)
}

// deadLetters reads the dead letters of notifier ("" for all), newest
// first, until keep says stop or there are no more.
func deadLetters(ctx context.Context, c *api.Client, notifier string, keep func(api.DeadLetter) bool) error {
	q := url.Values{"limit": {"1000"}}
	if notifier != "" {
		q.Set("notifier", notifier)
	}
	_, err := c.DeadLetters(ctx, q, 0, keep)
	return err
}

func deadlettersList(ctx context.Context, args []string, s stdio) int {
	c, fs := apiFlags("deadletters list", s)
	fs.Usage = func() { fmt.Fprint(s.err, deadlettersUsage); fs.PrintDefaults() }
	notifier := fs.String("notifier", "", "only the dead letters of this notifier")
	limit := fs.Int("limit", 100, "at most this many, newest first")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tNOTIFIER\tALERT\tSEVERITY\tATTEMPTS\tREASON\tTITLE")
	n := 0
	err := deadLetters(ctx, c, *notifier, func(d api.DeadLetter) bool {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.At.Local().Format(time.DateTime), safe(d.Notifier), safe(d.Alert.ID),
			safe(string(d.Alert.Severity)), d.Attempts, safe(d.Reason), safe(d.Alert.Title))
		n++
		return n < *limit
	})
	_ = tw.Flush()
	if err != nil {
		fmt.Fprintf(s.err, "alerter deadletters list: %s\n", safeErr(err))
		return 1
	}
	return 0
}

func deadlettersRedeliver(ctx context.Context, args []string, s stdio) int {
	c, fs := apiFlags("deadletters redeliver", s)
	fs.Usage = func() { fmt.Fprint(s.err, deadlettersUsage); fs.PrintDefaults() }
	notifier := fs.String("notifier", "", "only the dead letters of this notifier")
	since := fs.Duration("since", 24*time.Hour, "the dead letters given up on in this last duration")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	only := map[string]bool{}
	for _, id := range fs.Args() {
		only[id] = true
	}
	// Each (alert, target) once: a redelivery that died again is listed
	// twice.
	type pair struct{ alert, target string }
	seen := map[pair]bool{}
	var todo []pair
	oldest := time.Now().Add(-*since)
	err := deadLetters(ctx, c, *notifier, func(d api.DeadLetter) bool {
		if d.At.Before(oldest) {
			return false
		}
		p := pair{d.Alert.ID, d.Notifier}
		if (len(only) == 0 || only[p.alert]) && !seen[p] {
			seen[p] = true
			todo = append(todo, p)
		}
		return true
	})
	if err != nil {
		fmt.Fprintf(s.err, "alerter deadletters redeliver: %s\n", safeErr(err))
		return 1
	}
	handed, skipped, failed := 0, 0, 0
	for _, p := range todo {
		ans, err := c.Redeliver(ctx, p.alert, p.target)
		var se *api.StatusError
		switch {
		case err == nil && ans.Already:
			skipped++
		case err == nil:
			handed++
			fmt.Fprintf(s.out, "handed back %s to %s\n", safe(p.alert), safe(p.target))
		case errors.As(err, &se) && se.Code == 409 && strings.Contains(se.Message, "only a dead letter"):
			skipped++ // delivered since
		default:
			failed++
			fmt.Fprintf(s.err, "alerter deadletters redeliver %s to %s: %s\n", safe(p.alert), safe(p.target), safeErr(err))
		}
	}
	fmt.Fprintf(s.out, "%d handed back, %d skipped (handed back already or delivered since), %d failed\n", handed, skipped, failed)
	if failed > 0 {
		return 1
	}
	var missing []string
	for _, id := range fs.Args() {
		found := false
		for p := range seen {
			found = found || p.alert == id
		}
		if !found {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(s.err, "alerter deadletters redeliver: no dead letter of %s in the last %s\n", strings.Join(missing, ", "), *since)
		return 1
	}
	return 0
}
