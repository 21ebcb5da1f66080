package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/notifiers"
)

const alertsUsage = `Usage: alerter alerts [--url URL] [--rule ID] [--severity S] [--status S] [--group VALUE] [--since 24h] [--limit N]

Lists the alerts a running alerter fired, the latest fired first, each with
what became of it at each target (sent, silenced, dead, requeued, pending):
what the on-call engineer would see on the web UI's alerts page, in a
terminal. FIRED is when it fired, which orders the list; EVENT is the time
of the event that fired it (older for a replayed or late event). STATUS
is firing, acknowledged or resolved, with by whom (alerter ack, alerter
resolve); --status shows only those. --group takes a group value (akumar) or EXPR=VALUE
(event.actor.name=akumar); --since is on the event's time.

--url defaults to $ALERTER_URL, else http://127.0.0.1:8080; the API token
is read from $ALERTER_API_TOKEN.
`

func alertsCmd(ctx context.Context, args []string, s stdio) int {
	c, fs := apiFlags("alerts", s)
	fs.Usage = func() { fmt.Fprint(s.err, alertsUsage); fs.PrintDefaults() }
	rule := fs.String("rule", "", "only the alerts of this rule `ID`")
	sev := fs.String("severity", "", "only the alerts of this severity")
	status := fs.String("status", "", "only the alerts that are firing, acknowledged or resolved")
	group := fs.String("group", "", "only the alerts of this group: VALUE or EXPR=VALUE")
	since := fs.Duration("since", 0, "only the alerts whose event is at most this old (e.g. 24h)")
	limit := fs.Int("limit", 50, "at most this many (up to 500)")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.err, "alerter alerts: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *sev != "" && alerter.Severity(*sev).Rank() < 0 {
		fmt.Fprintf(s.err, "alerter alerts: --severity %q: use info, low, medium, high or critical\n", *sev)
		return 2
	}
	q := url.Values{"deliveries": {"true"}, "limit": {fmt.Sprint(min(max(*limit, 1), 500))}}
	for k, v := range map[string]string{"rule": *rule, "severity": *sev, "status": *status, "group": *group} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *since > 0 {
		q.Set("since", time.Now().Add(-*since).UTC().Format(time.RFC3339))
	}
	// A page stops at the server's bound on alerts read, so a narrow filter
	// may need several to fill --limit.
	var alerts []api.Alert
	older, err := c.Alerts(ctx, q, 10, func(a api.Alert) bool {
		alerts = append(alerts, a)
		return len(alerts) < *limit
	})
	if err != nil {
		fmt.Fprintf(s.err, "alerter alerts: %s\n", safeErr(err))
		return 1
	}
	if len(alerts) == 0 {
		if older {
			fmt.Fprintln(s.out, "no alerts among the newest searched; older ones were not searched")
			return 0
		}
		fmt.Fprintln(s.out, "no alerts")
		return 0
	}
	// The API lists alerts as stored, which can differ a little from the
	// order they fired in; the list reads in the order of what it shows.
	slices.SortStableFunc(alerts, func(a, b api.Alert) int { return b.FiredAt.Compare(a.FiredAt) })
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIRED\tEVENT\tSEVERITY\tSTATUS\tRULE\tDELIVERY\tTITLE\tID")
	for _, a := range alerts {
		targets := make([]string, 0, len(a.Deliveries))
		for t, o := range a.Deliveries {
			targets = append(targets, safe(t)+" "+safe(o.Status))
		}
		sort.Strings(targets)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.FiredAt.Local().Format(time.DateTime), a.Time.Local().Format(time.DateTime), safe(string(a.Severity)), statusOf(a.Alert), safe(a.Rule),
			strings.Join(targets, ", "), safe(notifiers.Title(a.Alert)), safe(a.ID))
	}
	_ = tw.Flush()
	if older {
		fmt.Fprintln(s.out, "(older ones not shown: raise --limit or narrow the filters)")
	}
	return 0
}

// statusOf is where an alert stands, with by whom: "acknowledged (ann)".
func statusOf(a *alerter.Alert) string {
	switch {
	case a.Status == "":
		return "-"
	case a.ResolvedBy != "":
		return safe(a.Status) + " (" + safe(a.ResolvedBy) + ")"
	case a.AcknowledgedBy != "":
		return safe(a.Status) + " (" + safe(a.AcknowledgedBy) + ")"
	}
	return safe(a.Status)
}
