// Command loadgen measures alerter as a service against the performance
// targets of docs/benchmarks.md, each next to a floor measured in the same run on the
// same machine.
//
// It starts alerter in this process (embedded NATS in a temporary
// directory, the rules of examples/rules, a webhook source, a NATS source
// on load.> read through a stream, the console notifier writing to
// io.Discard; the delivery scenarios start one each with their own
// notifiers), then drives it:
//
//	post      single-event webhook POSTs over N keep-alive connections, flat
//	          out, vs bare net/http POSTs of the same bodies to a handler
//	          that reads the body and answers 202
//	batch     NDJSON batches of 100 through the webhook, then NATS
//	          publishers (JetStream publish into a stream on load.>), flat
//	          out: events per second stored, evaluated and acknowledged by
//	          the evaluator, vs JetStream async publish and pull consume
//	          alone on the same server
//	latency   events that alert, at a fixed rate: receipt (just before the
//	          POST) to the alert stored in ALERTS (seen by a core NATS
//	          subscriber on alerts.>), vs a bare JetStream publish seen
//	          by a core subscriber at the same rate
//	memory    N new groups of a dedup rule, each from its own alerting
//	          event: RSS growth per key (after GC, once JetStream's block
//	          caches expired), also beyond what as many stateless alerting
//	          events grow it by, next to the bytes per key the state bucket
//	          stores
//	delivery  events that each fire an alert, at a fixed rate
//	          (-delivery-rate), to an alerter of their own whose alerts go
//	          to a webhook notifier aimed at a net/http server in this
//	          process: receipt (just before the POST) to the target
//	          accepting the alert (it decodes it, finds its events by
//	          event_ids, answers 204), vs receipt → alert stored for the
//	          same events and a bare POST of an alert to the same server
//	delivery-429
//	          the same, with a second target of type slack whose incoming
//	          webhook (a fake in this process) answers every request 429
//	          with Retry-After: 1 for the first half of the run, then
//	          200 ok: the webhook target's latency during the storm, the
//	          attempts Slack refused, and whether Slack got every alert
//	          exactly once afterwards (waiting up to -delivery-wait)
//
// Events are the Confluence auditing fixtures of examples/events (Soteri and
// core Confluence audit entities), each with a time of its own so that none
// is deduplicated away, and an actor from a pool (-actors), or a new actor
// where a scenario needs new groups. batch and latency each send two
// streams (-match): the fixture stream as it is, security-heavy (in
// latency, every event alerts), and one where 5% of the events match a
// rule (fixture events that do) and the rest are ordinary audit events —
// pages, blog posts, comments, attachments, a space renamed — that no
// example rule matches (checked against the rules in use at the start).

// Run it from the repository root:
//
//	go run ./bench/loadgen                       # everything, about 3 minutes
//	go run ./bench/loadgen -scenarios latency -rate 10000 -duration 10s
//	go run ./bench/loadgen -json > run.json
//	go run ./bench/loadgen -scenarios batch -cpuprofile cpu.out
//	go run ./bench/loadgen -scenarios latency,batch -match 0.05,0.2
//	go run ./bench/loadgen -scenarios delivery,delivery-429 -delivery-rate 2000
//
// It prints a table (scenario, metric, result, floor, ratio, target,
// pass) and per-scenario details (CPU time per event, the cores other
// processes took meanwhile, ...); -json prints the same as JSON. The load
// generator shares the CPUs with alerter and NATS, as docs/benchmarks.md says, so
// compare ratios within a run. docs/benchmarks.md has a run and what limits
// each number.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// Settings are the knobs of a run.
type Settings struct {
	Scenarios     []string      `json:"scenarios"`
	Duration      time.Duration `json:"duration"`       // each measured phase
	FloorDuration time.Duration `json:"floor_duration"` // each floor
	Conns         int           `json:"conns"`          // post: connections
	BatchConns    int           `json:"batch_conns"`    // batch: connections
	Batch         int           `json:"batch"`          // batch: events per POST
	Publishers    int           `json:"publishers"`     // batch: NATS publishers
	NATSBatch     int           `json:"nats_batch"`     // batch: events per NATS message
	MaxBacklog    int           `json:"max_backlog"`    // batch: events stored but not yet evaluated
	Rate          int           `json:"rate"`           // latency: events per second
	LatencyConns  int           `json:"latency_conns"`  // latency, delivery: connections
	Mixes         []mix         `json:"mixes"`          // batch, latency: streams
	DeliveryRate  int           `json:"delivery_rate"`  // delivery: events (each an alert) per second
	DeliveryWait  time.Duration `json:"delivery_wait"`  // delivery: how long to wait for every alert after the run
	Keys          int           `json:"keys"`           // memory: groups
	Alertmanager  string        `json:"alertmanager"`   // alertmanager: the binary
	Settle        time.Duration `json:"settle"`         // memory: wait before reading RSS
	Actors        int           `json:"actors"`         // post, batch: actor pool
	Rules         string        `json:"rules"`
	Events        string        `json:"events"`
	StoreDir      string        `json:"store_dir,omitempty"`
	HeapProfile   string        `json:"-"` // memory: heap profiles at each sample
}

var allScenarios = []string{"post", "batch", "latency", "memory", "delivery", "delivery-429"}

// extraScenarios run only when named: they need more than this module
// (alertmanager: an Alertmanager binary) or measure what the others do
// again on other rules (memory-correlation).
var extraScenarios = []string{"alertmanager", "memory-correlation"}

func defaults() Settings {
	return Settings{
		Scenarios:     allScenarios,
		Duration:      5 * time.Second,
		FloorDuration: 2 * time.Second,
		Conns:         32,
		BatchConns:    8,
		Batch:         100,
		Publishers:    4,
		NATSBatch:     1,
		MaxBacklog:    20_000,
		Rate:          5000,
		LatencyConns:  16,
		Mixes:         []mix{securityMix, {Name: "5% match", Frac: 0.05}},
		DeliveryRate:  5000,
		DeliveryWait:  2 * time.Minute,
		Keys:          100_000,
		Settle:        130 * time.Second,
		Actors:        1000,
	}
}

// options are the flags that are not Settings: what to print and which
// profiles to write.
type options struct {
	scenarios, match                     string
	cpuProfile, memProfile, blockProfile string
	asJSON, verbose                      bool
}

func main() {
	s, o := parseFlags()
	var err error
	if s.Scenarios, err = parseScenarios(o.scenarios); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	if s.Mixes, err = parseMixes(o.match); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	stopProfiles, err := startProfiles(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	progress := io.Discard
	if o.verbose {
		progress = os.Stderr
	}
	rep, err := run(ctx, s, progress, o.verbose)
	stopProfiles()
	if rep != nil {
		if o.asJSON {
			_ = rep.writeJSON(os.Stdout)
		} else {
			rep.writeTable(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line into the settings of the run and the
// options around it.
func parseFlags() (Settings, options) {
	s := defaults()
	var o options
	flag.StringVar(&o.scenarios, "scenarios", "all", "scenarios to run, comma-separated: "+strings.Join(allScenarios, ",")+" (or 1-6; all of them by default), and "+strings.Join(extraScenarios, ",")+" (Alertmanager side by side; memory per correlation key: only when named)")
	flag.DurationVar(&s.Duration, "duration", s.Duration, "length of each measured phase")
	flag.DurationVar(&s.FloorDuration, "floor-duration", s.FloorDuration, "length of each floor measurement")
	flag.IntVar(&s.Conns, "conns", s.Conns, "post: concurrent keep-alive connections")
	flag.IntVar(&s.BatchConns, "batch-conns", s.BatchConns, "batch: concurrent connections posting NDJSON batches")
	flag.IntVar(&s.Batch, "batch", s.Batch, "batch: events per NDJSON POST")
	flag.IntVar(&s.Publishers, "publishers", s.Publishers, "batch: concurrent NATS publishers")
	flag.IntVar(&s.NATSBatch, "nats-batch", s.NATSBatch, "batch: events per NATS message (JSON lines)")
	flag.IntVar(&s.MaxBacklog, "max-backlog", s.MaxBacklog, "batch: senders pause while this many events are stored but not yet evaluated")
	flag.IntVar(&s.Rate, "rate", s.Rate, "latency: events per second")
	flag.IntVar(&s.LatencyConns, "latency-conns", s.LatencyConns, "latency, delivery: connections")
	flag.StringVar(&o.match, "match", "security,0.05", "post, batch, latency: the streams to send, comma-separated: \"security\" (the fixture stream as it is; for latency every event alerts) or the fraction of events that match a rule (0.05 or 5%), the rest ordinary audit events that match none")
	flag.IntVar(&s.DeliveryRate, "delivery-rate", s.DeliveryRate, "delivery, delivery-429: events per second, each firing an alert")
	flag.DurationVar(&s.DeliveryWait, "delivery-wait", s.DeliveryWait, "delivery, delivery-429: how long to wait after the run for every alert to reach the targets")
	flag.IntVar(&s.Keys, "keys", s.Keys, "memory: distinct dedup groups")
	flag.StringVar(&s.Alertmanager, "alertmanager", "", "alertmanager: the Alertmanager binary (default: prometheus-alertmanager or alertmanager on the PATH)")
	flag.DurationVar(&s.Settle, "settle", s.Settle, "memory: pause before each memory sample, for nats-server's block caches (10s) and per-block subject state (2m) to expire")
	flag.IntVar(&s.Actors, "actors", s.Actors, "post, batch: size of the actor pool events are drawn from")
	flag.StringVar(&s.Rules, "rules", "", "rule files or folder (default: examples/rules of the repository)")
	flag.StringVar(&s.Events, "events", "", "folder of fixture events (default: examples/events of the repository)")
	flag.StringVar(&s.StoreDir, "store-dir", "", "JetStream store directory (default: a temporary one, removed afterwards)")
	flag.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	flag.BoolVar(&o.verbose, "v", false, "log progress and alerter's warnings to stderr")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (alerter, NATS and the load generator) to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile to this file at the end")
	flag.StringVar(&s.HeapProfile, "heapprofile", "", "memory: write a heap profile to this file.N at each memory sample (1: before the control round, 2: before the keys, 3: after)")
	flag.StringVar(&o.blockProfile, "blockprofile", "", "write a profile of where goroutines waited (blocking and mutex contention) to this file and this file.mutex")
	flag.Parse()
	return s, o
}

// startProfiles starts the profiles o asks for; the function it returns
// stops them and writes them out.
func startProfiles(o options) (stop func(), err error) {
	var stopCPU func()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		stopCPU = func() {
			pprof.StopCPUProfile()
			f.Close()
		}
	}
	if o.blockProfile != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond))
		runtime.SetMutexProfileFraction(10)
	}
	return func() {
		if stopCPU != nil {
			stopCPU()
		}
		if o.blockProfile != "" {
			writeProfile("block", o.blockProfile)
			writeProfile("mutex", o.blockProfile+".mutex")
		}
		if o.memProfile != "" {
			writeProfile("allocs", o.memProfile)
		}
	}, nil
}

func writeProfile(name, file string) {
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return
	}
	defer f.Close()
	_ = pprof.Lookup(name).WriteTo(f, 0)
}

func parseScenarios(s string) ([]string, error) {
	if s == "" || s == "all" {
		return allScenarios, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if len(f) == 1 && f[0] >= '1' && f[0] <= '0'+byte(len(allScenarios)) {
			f = allScenarios[f[0]-'1']
		}
		if !slices.Contains(allScenarios, f) && !slices.Contains(extraScenarios, f) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", f, strings.Join(slices.Concat(allScenarios, extraScenarios), ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// sharesHarness tells the scenarios that run on the shared alerter from
// those that start their own.
func sharesHarness(name string) bool { return name != "delivery" && name != "delivery-429" }

// repoRoot finds the module root from the working directory, for the
// default rules and events.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// run starts alerter, runs the scenarios in s and returns the report; on
// an error it returns what was measured so far with the error.
func run(ctx context.Context, s Settings, progress io.Writer, verbose bool) (*Report, error) {
	root := repoRoot()
	if s.Rules == "" {
		s.Rules = filepath.Join(root, "examples", "rules")
	}
	if s.Events == "" {
		s.Events = filepath.Join(root, "examples", "events")
	}
	fixtures, err := loadFixtures(s.Events)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	rep := newReport(s)
	log := slog.New(slog.DiscardHandler)
	if verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	r := &runner{s: s, rep: rep, fixtures: fixtures, out: progress, log: log}
	defer r.stopHarness()
	for k, name := range s.Scenarios {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		fmt.Fprintf(progress, "== %s\n", name)
		if !slices.ContainsFunc(s.Scenarios[k:], sharesHarness) {
			// Nothing left needs the shared alerter: let it go before the
			// delivery scenarios start their own.
			r.stopHarness()
		}
		if err := r.harnessFor(ctx, name); err != nil {
			return rep, err
		}
		if err := r.scenario(ctx, name); err != nil {
			return rep, fmt.Errorf("scenario %s: %w", name, err)
		}
	}
	if len(rep.Rows) == 0 {
		return rep, errors.New("nothing measured")
	}
	return rep, nil
}

// newReport is an empty report of a run with settings s.
func newReport(s Settings) *Report {
	rep := &Report{Started: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Settings: map[string]any{}}
	rep.Settings["scenarios"] = s.Scenarios
	rep.Settings["duration"] = s.Duration.String()
	rep.Settings["floor_duration"] = s.FloorDuration.String()
	rep.Settings["conns"], rep.Settings["batch_conns"], rep.Settings["batch"] = s.Conns, s.BatchConns, s.Batch
	rep.Settings["publishers"], rep.Settings["nats_batch"] = s.Publishers, s.NATSBatch
	rep.Settings["rate"], rep.Settings["latency_conns"], rep.Settings["keys"] = s.Rate, s.LatencyConns, s.Keys
	rep.Settings["actors"], rep.Settings["rules"] = s.Actors, s.Rules
	rep.Settings["mixes"], rep.Settings["delivery_rate"] = s.Mixes, s.DeliveryRate
	return rep
}

// harnessFor readies the shared alerter for scenario name. The scenarios
// before delivery share one alerter, with the console notifier, started
// when the first needs it. memory has one of its own: while it waits for
// caches to expire, what the earlier scenarios left (message-id windows,
// keys with TTLs) would expire too and blur its differences.
// alertmanager and memory-correlation have one of their own too, on
// rules of their own (amRules, corrMemRules).
func (r *runner) harnessFor(ctx context.Context, name string) error {
	if !sharesHarness(name) {
		return nil
	}
	rules := r.s.Rules
	switch name {
	case "memory":
		r.stopHarness()
	case "alertmanager", "memory-correlation":
		r.stopHarness()
		src := amRules
		if name == "memory-correlation" {
			src = corrMemRules
		}
		dir, err := writeRules(src)
		if err != nil {
			return err
		}
		// The harness reads its rules once, when it starts.
		defer os.RemoveAll(dir)
		rules = dir
	}
	if r.h != nil {
		return nil
	}
	var err error
	r.h, err = startHarness(ctx, rules, r.s.StoreDir, consoleTargets, r.log)
	return err
}

// scenario runs the scenario name, on the shared alerter unless it starts
// its own.
func (r *runner) scenario(ctx context.Context, name string) error {
	switch name {
	case "delivery":
		return r.delivery(ctx, false)
	case "delivery-429":
		return r.delivery(ctx, true)
	case "post":
		return r.post(ctx)
	case "batch":
		return r.batch(ctx)
	case "latency":
		return r.latency(ctx)
	case "alertmanager":
		defer r.stopHarness()
		return r.alertmanager(ctx)
	case "memory":
		defer r.stopHarness()
		return r.memory(ctx)
	case "memory-correlation":
		defer r.stopHarness()
		return r.memoryCorrelation(ctx)
	}
	return nil
}

// stopHarness stops the shared alerter, if it runs.
func (r *runner) stopHarness() {
	if r.h != nil {
		r.h.stop()
		r.h = nil
	}
}
