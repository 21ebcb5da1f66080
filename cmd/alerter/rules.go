package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/rules"
	"github.com/alerter/alerter/ruletest"
)

const defaultRules = "examples/rules"

const validateUsage = `Usage: alerter validate [--config FILE] [PATH...]

Compiles every rule file under PATH and checks each expression against the
event's fields, macros, lists and helper functions. With --config it also
checks the config file, and the rules against it: the lists it defines and
the notifiers that notify: names. PATH defaults to the config's
rules.paths, or examples/rules. Every problem of every file is printed as

  file:line:col: message

and the exit status is 1 if there is any. Secrets from the environment are
never printed, not even in errors. A ${VAR} of the config that is not set
is one such error, and the rules are still checked against the rest of
the config, so that a rules repository's CI job without the secrets still
learns everything else that is wrong.
`

func newFlags(name, usage string, s stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprint(s.err, usage)
		if hasFlags(fs) {
			fmt.Fprintln(s.err, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses flags and reports whether to go on; exit is the status
// when not.
func parse(fs *flag.FlagSet, args []string) (ok bool, exit int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, 0
		}
		return false, 2
	}
	return true, 0
}

// loadRules compiles the rules under paths, against cfg when there is one:
// its lists and notifiers, and its rules.paths when paths is empty.
func loadRules(paths []string, cfg *config.Config, s stdio) (*rules.Set, bool) {
	var opt rules.Options
	if cfg != nil {
		opt = cfg.RuleOptions()
		if len(paths) == 0 {
			paths = cfg.Rules.Paths
		}
	}
	if len(paths) == 0 {
		paths = []string{defaultRules}
	}
	set, err := rules.Load(paths, opt)
	if err != nil {
		printErr(s, err)
		return nil, false
	}
	return set, true
}

// printErr prints each positioned error on its own line.
func printErr(s stdio, err error) {
	var es yamlx.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintln(s.err, e.Error())
		}
		return
	}
	fmt.Fprintf(s.err, "alerter: %v\n", err)
}

func validateCmd(ctx context.Context, args []string, s stdio) int {
	fs := newFlags("validate", validateUsage, s)
	cfgFile := fs.String("config", "", "config `FILE` to check, and to check the rules against")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	var cfg *config.Config
	cfgOK := true
	if *cfgFile != "" {
		// A config with errors (an unset ${VAR}, say) is reported, and the
		// rules are still checked against what of it could be read.
		var err error
		cfg, err = config.Check(*cfgFile, os.LookupEnv, builtin.Plugins())
		if err != nil {
			printErr(s, err)
			cfgOK = false
		}
		if cfg == nil {
			return 1
		}
	}
	set, ok := loadRules(fs.Args(), cfg, s)
	if !ok || !cfgOK {
		return 1
	}
	if cfg != nil {
		fmt.Fprintf(s.out, "ok: config %s: %d sources, %d notifiers\n", *cfgFile, len(cfg.Sources), len(cfg.Notifiers))
	}
	enabled, tests := 0, 0
	for _, r := range set.Rules {
		if r.Enabled {
			enabled++
		}
		tests += len(r.Tests)
	}
	fmt.Fprintf(s.out, "ok: %d rules (%d enabled), %d tests, %d lists, %d macros in %d files\n",
		len(set.Rules), enabled, tests, len(set.Lists), len(set.Macros), len(set.Files))
	return 0
}

const testUsage = `Usage: alerter test [--config FILE] [-run TEXT] [--junit FILE] [PATH...]

Runs the tests: of every rule under PATH (default: the config's
rules.paths, or examples/rules). Each test sends its events, in order and
each with its own timestamp, through the normalizers and the rule alone,
with fresh window state, and checks expect:. With --config, the rules see
the config's lists, and expect: notify: is checked against the targets
after routing (the rule's notify:, else the config's routes by severity);
without it, against the rule's own notify:. One line per test, then
"N passed, N failed"; the exit status is 1 if any test failed or a rule
file has errors. Rules without tests are named on standard error. --junit FILE also writes the results as JUnit XML, which
CI systems (GitLab, Jenkins, GitHub Actions reporters) show per test.
`

func testCmd(ctx context.Context, args []string, s stdio) int {
	fs := newFlags("test", testUsage, s)
	filter := fs.String("run", "", "run only the tests whose `rule-id/test name` contains this text")
	cfgFile := fs.String("config", "", "config `FILE` whose lists and routes the tests use")
	junit := fs.String("junit", "", "also write the results as JUnit XML to `FILE`")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	cfg, ok := optionalConfig(*cfgFile, s)
	if !ok {
		return 1
	}
	set, ok := loadRules(fs.Args(), cfg, s)
	if !ok {
		return 1
	}
	began := time.Now()
	var ran []ruletest.Result
	passed, failed := 0, 0
	for _, r := range ruletest.Run(ctx, set, router(cfg, set)) {
		name := r.Rule + "/" + r.Test
		if *filter != "" && !strings.Contains(name, *filter) {
			continue
		}
		ran = append(ran, r)
		if r.Err != nil {
			failed++
			fmt.Fprintf(s.out, "FAIL %s (%s:%d)\n     %v\n", name, r.Pos.File, r.Pos.Line, r.Err)
			continue
		}
		passed++
		fmt.Fprintf(s.out, "ok   %s\n", name)
	}
	if *filter == "" {
		var untested []string
		for _, r := range set.Rules {
			if len(r.Tests) == 0 {
				untested = append(untested, r.ID)
			}
		}
		switch len(untested) {
		case 0:
		case 1:
			fmt.Fprintf(s.err, "note: 1 rule has no tests: %s\n", untested[0])
		default:
			fmt.Fprintf(s.err, "note: %d rules have no tests: %s\n", len(untested), strings.Join(untested, ", "))
		}
	}
	fmt.Fprintf(s.out, "%d passed, %d failed\n", passed, failed)
	if *junit != "" {
		if err := writeJUnit(*junit, ran, time.Since(began)); err != nil {
			fmt.Fprintf(s.err, "alerter test: %v\n", err)
			return 1
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// junitSuite is the JUnit XML that CI systems read: one suite, a test case
// per rule test, named rule-id / test name, with its file and line.
type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Class   string        `xml:"classname,attr"`
	Name    string        `xml:"name,attr"`
	File    string        `xml:"file,attr,omitempty"`
	Line    int           `xml:"line,attr,omitempty"`
	Failure *junitFailure `xml:"failure"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func writeJUnit(path string, results []ruletest.Result, took time.Duration) error {
	suite := junitSuite{Name: "alerter rules", Tests: len(results), Time: fmt.Sprintf("%.3f", took.Seconds())}
	for _, r := range results {
		c := junitCase{Class: r.Rule, Name: r.Test, File: r.Pos.File, Line: r.Pos.Line}
		if r.Err != nil {
			suite.Failures++
			msg := r.Err.Error()
			first, _, _ := strings.Cut(msg, "\n")
			c.Failure = &junitFailure{Message: first, Text: fmt.Sprintf("%s:%d: %s", r.Pos.File, r.Pos.Line, msg)}
		}
		suite.Cases = append(suite.Cases, c)
	}
	data, err := xml.MarshalIndent(suite, "", "  ")
	if err != nil {
		return err
	}
	data = append([]byte(xml.Header), append(data, '\n')...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing the JUnit report: %w", err)
	}
	return nil
}

const replayUsage = `Usage: alerter replay --rules PATH (--events FILE | --since DURATION) [--config FILE] [--format F] [--against PATH]

Evaluates the rules over recorded events and prints, as JSON lines, the
alerts that would have fired. Nothing is sent. Events are taken in
event-time order (a stable sort, so events with equal times keep their
order in the file), and windows are measured in event time, so a replay of
yesterday gives the alerts yesterday's live run gave.

FILE holds JSON lines, a JSON array, or a page of results ({"results": [...]}
or {"entities": [...]}); "-" reads standard input. A summary goes to
standard error. With --config, the rules see the config's lists and each
alert's "notify" lists the targets it would have been sent to.

--since 24h replays the EVENTS stream's history instead (what alerter
stored in the last 24 hours, as far back as nats.retention keeps): from
the cluster at nats.url; or from the embedded server of a running alerter
when nats.embedded.listen is set; or else from nats.embedded.store_dir
while alerter is stopped.

--against PATH compares: the same events also go through the rules at
PATH (the rules as they are now, say, with --rules the changed ones), and
only the alerts that differ are printed, each as
{"change": "added" | "removed" | "changed", "alert": {...}}: fired only by
--rules, only by --against, or by both with another severity, title,
text or targets. Standard error then says, per rule, how many alerts each
side fired: what a change to the rules does to the pages, before it is
deployed. For example:

  alerter replay --since 168h --rules rules-new/ --against rules/
`

func replayCmd(ctx context.Context, args []string, s stdio) int {
	fs := newFlags("replay", replayUsage, s)
	var paths, against multi
	fs.Var(&paths, "rules", "rule file or folder (repeatable; default examples/rules)")
	fs.Var(&against, "against", "rule file or folder to compare with (repeatable): print only the alerts that differ")
	eventsFile := fs.String("events", "", "recorded events `FILE` (- for standard input)")
	format := fs.String("format", event.FormatAuto, "payload format: auto, confluence-audit, confluence-auditing, confluence-webhook or json")
	cfgFile := fs.String("config", "", "config `FILE` whose lists and routes apply")
	since := fs.Duration("since", 0, "replay the EVENTS stream's history of this long (e.g. 24h) instead of a file")
	if ok, code := parse(fs, args); !ok {
		return code
	}
	if (*eventsFile == "") == (*since == 0) {
		fmt.Fprintln(s.err, "alerter replay: give --events FILE or --since DURATION")
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.err, "alerter replay: unexpected argument %q (rule paths go in --rules)\n", fs.Arg(0))
		return 2
	}
	cfg, ok := optionalConfig(*cfgFile, s)
	if !ok {
		return 1
	}
	set, ok := loadRules(paths, cfg, s)
	if !ok {
		return 1
	}
	var old *rules.Set
	if len(against) > 0 {
		if old, ok = loadRules(against, cfg, s); !ok {
			return 1
		}
	}
	evs, span, ok := replayEvents(ctx, cfg, *eventsFile, *format, *since, s)
	if !ok {
		return 1
	}
	enc := json.NewEncoder(s.out)
	enc.SetEscapeHTML(false)

	if old == nil {
		r, err := replay(ctx, set, router(cfg, set), evs, enc.Encode, "", s)
		if err != nil {
			fmt.Fprintf(s.err, "alerter replay: %v\n", err)
			return 1
		}
		var extra string
		if r.escalations > 0 {
			extra = fmt.Sprintf(", %d escalations", r.escalations)
		}
		if r.resolves > 0 {
			extra += fmt.Sprintf(", %d resolves", r.resolves)
		}
		if r.digests > 0 {
			extra += fmt.Sprintf(", %d digests", r.digests)
		}
		fmt.Fprintf(s.err, "replayed %d events%s: %d alerts%s, %d suppressed, %d rule errors\n", len(evs), span, len(r.alerts), extra, r.suppressed, r.errors)
		return 0
	}
	keep := func(any) error { return nil }
	now, err := replay(ctx, set, router(cfg, set), evs, keep, "--rules: ", s)
	if err == nil {
		var before replayed
		before, err = replay(ctx, old, router(cfg, old), evs, keep, "--against: ", s)
		if err == nil {
			err = printDiff(s, enc, before, now, len(evs), span)
		}
	}
	if err != nil {
		fmt.Fprintf(s.err, "alerter replay: %v\n", err)
		return 1
	}
	return 0
}

// replayEvents reads the events to replay, from the EVENTS stream's last
// since or from eventsFile, in time order, with the span they cover for
// the summary.
func replayEvents(ctx context.Context, cfg *config.Config, eventsFile, format string, since time.Duration, s stdio) ([]event.Event, string, bool) {
	var evs []event.Event
	if since > 0 {
		if cfg == nil {
			cfg = config.Default(builtin.Plugins())
		}
		var err error
		evs, err = storedEvents(ctx, cfg, since)
		if err != nil {
			fmt.Fprintf(s.err, "alerter replay: %v\n", err)
			return nil, "", false
		}
	} else {
		var ok bool
		if evs, ok = readEventsFile(eventsFile, format, s); !ok {
			return nil, "", false
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	var span string
	if len(evs) > 0 {
		span = fmt.Sprintf(" from %s to %s", evs[0].Time.Format(time.RFC3339), evs[len(evs)-1].Time.Format(time.RFC3339))
	}
	return evs, span, true
}

// replayed is what a rule set made of the events.
type replayed struct {
	alerts []*alerter.Alert
	// escalations are counted apart from alerts (docs/rules.md,
	// Escalations); they are printed as they come, not compared.
	escalations int
	// resolves counts the events that met a rule's resolve.when and the
	// resolve.after deadlines that passed (docs/rules.md, Resolving):
	// standard output stays a stream of alerts, so they are counted in the
	// summary only.
	resolves int
	// digests are counted apart from alerts too (docs/rules.md, Digests),
	// and printed as they come.
	digests            int
	suppressed, errors int
}

// replay runs evs, in order, through set alone with fresh windows, and
// hands each alert, escalation and digest to out as it fires.
// Rule errors go to standard error, each line led by side ("" or the flag
// that named the rules).
func replay(ctx context.Context, set *rules.Set, route alerter.Router, evs []event.Event, out func(any) error, side string, s stdio) (replayed, error) {
	var r replayed
	// Deadlines (absences, quiet sources) fire by the events' own clock:
	// once an event later than them is read.
	eng := engine.New(set, &engine.MemStore{}, engine.WithEventClock())
	for i := range evs {
		res, err := eng.Process(ctx, &evs[i])
		if err != nil {
			return r, err
		}
		for _, e := range res.Errors {
			r.errors++
			fmt.Fprintf(s.err, "%sevent %s: %s\n", side, safe(evs[i].ID), safe(e.Error()))
		}
		r.suppressed += len(res.Suppressed)
		r.escalations += len(res.Escalations)
		r.resolves += len(res.Resolves)
		r.digests += len(res.Digests)
		for _, a := range slices.Concat(res.Alerts, res.Escalations, res.Digests) {
			if route != nil {
				a.Notify = route.Route(a)
			}
			if a.Escalation == 0 && a.Digest == nil {
				r.alerts = append(r.alerts, a)
			}
			if err := out(a); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// alertChange is a line of replay --against.
type alertChange struct {
	Change string         `json:"change"`
	Alert  *alerter.Alert `json:"alert"`
}

// printDiff prints the alerts that differ between before (--against) and
// now (--rules), in event-time order, then a summary per rule. Alert ids
// are made of the rule, the group and the firing event, so the same alert
// has the same id on both sides.
func printDiff(s stdio, enc *json.Encoder, before, now replayed, events int, span string) error {
	was := map[string]*alerter.Alert{}
	for _, a := range before.alerts {
		was[a.ID] = a
	}
	is := map[string]bool{}
	var changes []alertChange
	for _, a := range now.alerts {
		is[a.ID] = true
		switch b, ok := was[a.ID]; {
		case !ok:
			changes = append(changes, alertChange{"added", a})
		case b.Severity != a.Severity || b.Title != a.Title || b.Text != a.Text || !slices.Equal(b.Notify, a.Notify):
			changes = append(changes, alertChange{"changed", a})
		}
	}
	for _, a := range before.alerts {
		if !is[a.ID] {
			changes = append(changes, alertChange{"removed", a})
		}
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Alert.Time.Before(changes[j].Alert.Time) })
	for _, c := range changes {
		if err := enc.Encode(c); err != nil {
			return err
		}
	}

	count := func(as []*alerter.Alert) map[string]int {
		n := map[string]int{}
		for _, a := range as {
			n[a.Rule]++
		}
		return n
	}
	nb, nn := count(before.alerts), count(now.alerts)
	var ids []string
	for id := range nb {
		ids = append(ids, id)
	}
	for id := range nn {
		if _, ok := nb[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	kinds := map[string]int{}
	for _, c := range changes {
		kinds[c.Change]++
	}
	fmt.Fprintf(s.err, "replayed %d events%s: %d alerts with --against, %d with --rules (%d added, %d removed, %d changed)\n",
		events, span, len(before.alerts), len(now.alerts), kinds["added"], kinds["removed"], kinds["changed"])
	tw := tabwriter.NewWriter(s.err, 0, 4, 2, ' ', 0)
	header := false
	for _, id := range ids {
		if nb[id] == nn[id] {
			continue
		}
		if !header {
			fmt.Fprintln(tw, "RULE\t--against\t--rules")
			header = true
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\n", safe(id), nb[id], nn[id])
	}
	if !header {
		fmt.Fprintln(tw, "every rule fired as many alerts on both sides")
	}
	return tw.Flush()
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// optionalConfig loads the config file if one is named.
func optionalConfig(path string, s stdio) (*config.Config, bool) {
	if path == "" {
		return nil, true
	}
	return loadConfig(path, s)
}

// router routes alerts as the service would with cfg; nil without one.
func router(cfg *config.Config, set *rules.Set) alerter.Router {
	if cfg == nil {
		return nil
	}
	return set.Router(cfg.Routes)
}

// readEventsFile parses a file of recorded events ("-": standard input).
func readEventsFile(name, format string, s stdio) ([]event.Event, bool) {
	var data []byte
	var err error
	if name == "-" {
		var b bytes.Buffer
		_, err = b.ReadFrom(s.in)
		data = b.Bytes()
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		fmt.Fprintf(s.err, "alerter replay: %v\n", err)
		return nil, false
	}
	evs, err := event.Parse(data, event.Options{Format: format, Source: "replay", MaxEvents: -1})
	if err != nil {
		fmt.Fprintf(s.err, "alerter replay: %s: %v\n", name, err)
		return nil, false
	}
	return evs, true
}
