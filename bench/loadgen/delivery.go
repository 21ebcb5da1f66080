package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"

	"github.com/alerter/alerter/bus"
)

// The delivery scenarios run an alerter of their own, whose alerts go to
// targets in this process: a webhook target (the webhook notifier POSTs
// each alert's JSON to it) and, in delivery-429, a fake Slack incoming
// webhook that answers 429 with Retry-After: 1 for the first half of the
// run.
const (
	hookTarget      = "hook"
	slackTarget     = "slack"
	hookPath        = "/alerts"
	floorPath       = "/floor"
	slackPath       = "/services/T00000000/B00000000/loadgenloadgenloadgen"
	loadExternalURL = "http://alerter.loadgen.test"
)

// deliveryTargets routes every alert to the webhook target, and to Slack
// when slackURL is set. Slack's rate limit is off (rate_per_second: 0):
// at its default of 1/s the Slack target takes one alert a second whatever
// the rate, Slack's own limit per webhook, and the storm would measure that.
func deliveryTargets(hookURL, slackURL string) targets {
	t := targets{externalURL: loadExternalURL, names: []string{hookTarget}}
	t.yaml = fmt.Sprintf("notifiers:\n  - {name: %s, type: webhook, url: %q}\n", hookTarget, hookURL)
	route := hookTarget
	if slackURL != "" {
		t.yaml += fmt.Sprintf("  - {name: %s, type: slack, webhook_url: %q, rate_per_second: 0}\n", slackTarget, slackURL)
		t.names = append(t.names, slackTarget)
		route += ", " + slackTarget
	}
	t.yaml += "routes: {default: [" + route + "]}\n"
	return t
}

// serve runs h on a loopback port until stop.
func serve(h http.Handler) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// alertIDs is the part of an alert the targets read.
type alertIDs struct {
	ID       string   `json:"id"`
	EventIDs []string `json:"event_ids"`
}

// hookServer is the webhook target: it decodes each alert, notes when the
// alert of each event arrived (the first time), and answers 204. On
// floorPath it decodes and answers the same, and notes nothing.
type hookServer struct {
	index map[string]int // event id → place in the run
	recv  []atomic.Int64 // unix nanos the alert of event i was accepted
	got   atomic.Int64   // events whose alert arrived
	last  atomic.Int64   // unix nanos of the last one
	extra atomic.Int64   // event ids of alerts not of this run
	bad   atomic.Int64   // bodies that were not an alert
	mu    sync.Mutex
	seen  map[string]int // alert id → deliveries
	// sample is the first alert's body, for the bare POST floor.
	sample atomic.Pointer[[]byte]
}

func newHookServer(index map[string]int, n int) *hookServer {
	return &hookServer{index: index, recv: make([]atomic.Int64, n), seen: map[string]int{}}
}

func (s *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var a alertIDs
	if err == nil {
		err = json.Unmarshal(body, &a)
	}
	if err != nil || a.ID == "" {
		s.bad.Add(1)
		http.Error(w, "not an alert", http.StatusBadRequest)
		return
	}
	if r.URL.Path == floorPath {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	now := time.Now().UnixNano()
	for _, id := range a.EventIDs {
		i, ok := s.index[id]
		if !ok {
			s.extra.Add(1)
			continue
		}
		if s.recv[i].CompareAndSwap(0, now) {
			s.got.Add(1)
			s.last.Store(now)
		}
	}
	s.mu.Lock()
	s.seen[a.ID]++
	s.mu.Unlock()
	if s.sample.Load() == nil {
		s.sample.CompareAndSwap(nil, &body)
	}
	w.WriteHeader(http.StatusNoContent)
}

// duplicates is how many deliveries repeated an alert already delivered.
func (s *hookServer) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := 0
	for _, c := range s.seen {
		d += c - 1
	}
	return d
}

// slackAlertID finds the alert id in a Slack message: the "View alert"
// button links to <external_url>/alerts/<id>, and the context block ends
// with "Alert <id>". Alert ids are ULIDs.
var slackAlertID = regexp.MustCompile(`(?:/alerts/|Alert )([0-9A-HJKMNP-TV-Z]{26})`)

// findAlertID is the alert id in a Slack message, or "". The regular
// expression alone costs the load generator 40µs a message at these sizes:
// the link is looked for first.
func findAlertID(body []byte) string {
	const link = "/alerts/"
	if i := bytes.Index(body, []byte(link)); i >= 0 && len(body) >= i+len(link)+26 {
		if m := slackAlertID.FindSubmatch(body[i : i+len(link)+26]); m != nil {
			return string(m[1])
		}
	}
	if m := slackAlertID.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}

// slackSink is a fake Slack incoming webhook: until stormUntil it answers
// every request 429 with Retry-After: 1, as Slack does when a webhook
// posts too fast; then 200 "ok". It counts what it refused and how many
// times each alert was accepted.
type slackSink struct {
	stormUntil atomic.Int64 // unix nanos; 0: no storm
	attempts   atomic.Int64
	refused    atomic.Int64
	unknown    atomic.Int64 // accepted bodies without an alert id
	lastOK     atomic.Int64 // unix nanos
	distinct   atomic.Int64 // alerts accepted at least once
	mu         sync.Mutex
	ok         map[string]int // alert id → times accepted
}

func newSlackSink() *slackSink { return &slackSink{ok: map[string]int{}} }

func (s *slackSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.attempts.Add(1)
	now := time.Now()
	if now.UnixNano() < s.stormUntil.Load() {
		s.refused.Add(1)
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, "rate_limited")
		return
	}
	if id := findAlertID(body); id == "" {
		s.unknown.Add(1)
	} else {
		s.mu.Lock()
		s.ok[id]++
		if s.ok[id] == 1 {
			s.distinct.Add(1)
		}
		s.mu.Unlock()
	}
	s.lastOK.Store(now.UnixNano())
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "ok")
}

// slackTally is what Slack received of the alerts that fired.
type slackTally struct {
	Fired      int `json:"fired"`
	Received   int `json:"received"`   // fired alerts Slack accepted at least once
	Duplicates int `json:"duplicates"` // acceptances beyond the first, of any alert
	Missing    int `json:"missing"`    // fired alerts Slack never accepted
	Unexpected int `json:"unexpected"` // accepted alerts that did not fire in the run, or messages without an id
}

// ExactlyOnce tells whether Slack accepted every fired alert once and
// nothing else.
func (t slackTally) ExactlyOnce() bool {
	return t.Fired > 0 && t.Received == t.Fired && t.Duplicates == 0 && t.Missing == 0 && t.Unexpected == 0
}

func (s *slackSink) tally(fired []string) slackTally {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := slackTally{Fired: len(fired), Unexpected: int(s.unknown.Load())}
	want := make(map[string]bool, len(fired))
	for _, id := range fired {
		want[id] = true
		if s.ok[id] > 0 {
			t.Received++
		} else {
			t.Missing++
		}
	}
	for id, c := range s.ok {
		t.Duplicates += c - 1
		if !want[id] {
			t.Unexpected++
		}
	}
	return t
}

// firedAlerts collects, from a core subscription to alerts.>, the ids of
// the alerts of this run's events and when each event's alert was stored.
type firedAlerts struct {
	index map[string]int
	recv  []atomic.Int64
	got   atomic.Int64
	last  atomic.Int64
	extra atomic.Int64
	mu    sync.Mutex
	ids   map[string]bool
}

func (f *firedAlerts) handle(m *nats.Msg) {
	now := time.Now().UnixNano()
	var a alertIDs
	if json.Unmarshal(m.Data, &a) != nil {
		return
	}
	ours := false
	for _, id := range a.EventIDs {
		i, ok := f.index[id]
		if !ok {
			f.extra.Add(1)
			continue
		}
		ours = true
		if f.recv[i].CompareAndSwap(0, now) {
			f.got.Add(1)
			f.last.Store(now)
		}
	}
	if ours {
		// A publish JetStream deduplicated is seen here too: a set.
		f.mu.Lock()
		f.ids[a.ID] = true
		f.mu.Unlock()
	}
}

// watchAlerts subscribes to every alert stored, on a connection of its
// own, and notes when each of the n events of index first shows up in
// one.
func watchAlerts(url string, index map[string]int, n int) (*firedAlerts, func(), error) {
	f := &firedAlerts{index: index, recv: make([]atomic.Int64, n), ids: map[string]bool{}}
	nc, err := nats.Connect(url, nats.Name("loadgen-alerts"), nats.Token(natsToken))
	if err != nil {
		return nil, nil, err
	}
	sub, err := nc.Subscribe(bus.AlertsSubject+".>", f.handle)
	if err == nil {
		_ = sub.SetPendingLimits(-1, -1)
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return f, nc.Close, nil
}

func (f *firedAlerts) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

func (f *firedAlerts) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.ids))
	for id := range f.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// deliveryRun is one run of a delivery scenario: its events, the alerter
// and targets they go through, and what the run measured.
type deliveryRun struct {
	scen  string
	storm bool
	rate  int
	n     int
	// bodies are the events to POST; index maps each event's id to its
	// place in bodies.
	bodies [][]byte
	index  map[string]int

	hook     *hookServer
	hookBase string
	slack    *slackSink // with storm
	h        *harness
	fired    *firedAlerts
	client   *http.Client
	// closers stop what the run started, last first.
	closers []func()

	posts *postLog
	start time.Time
	// stormEnd ends the first half of the run: Slack's storm in
	// delivery-429, and for comparison in delivery.
	stormEnd  time.Time
	meter     meter         // from the first POST
	use       usage         // to every alert at the webhook target
	hookDone  time.Duration // from the last POST to every alert at the webhook target
	slackDone time.Duration // from the storm's end to Slack's last acceptance
	bare      []time.Duration
}

// delivery sends events that each fire an alert, at DeliveryRate, to an
// alerter whose alerts go to the webhook target, and measures receipt
// (just before the POST) to the target accepting the alert, next to
// receipt → alert stored for the same events and a bare POST of an alert
// to the same target. With storm, a Slack target gets the same alerts and
// refuses them all (429, Retry-After: 1) for the first half of the run.
func (r *runner) delivery(ctx context.Context, storm bool) error {
	d, err := r.deliveryEvents(storm)
	if err != nil {
		return err
	}
	defer d.close()
	if err := r.startDelivery(ctx, d); err != nil {
		return err
	}
	r.sendDelivery(ctx, d)
	d.waitDelivered(ctx, r.s.DeliveryWait)

	// The bare POST floor: the first alert's body POSTed to the same
	// server at the same rate, one connection, as the notifier sends.
	if p := d.hook.sample.Load(); p != nil {
		d.bare = barePOSTs(ctx, d.hookBase+floorPath, *p, min(d.n, max(int(float64(d.rate)*r.s.FloorDuration.Seconds()), 1)), d.rate)
	}
	return r.reportDelivery(d)
}

// deliveryEvents makes the run's events: each a global setting changed by
// an actor of its own, so that each fires an alert.
func (r *runner) deliveryEvents(storm bool) (*deliveryRun, error) {
	d := &deliveryRun{scen: "delivery", storm: storm, rate: r.s.DeliveryRate}
	if storm {
		d.scen = "delivery-429"
	}
	ts, err := templates(r.fixtures, quietSetting, "Global setting changed")
	if err != nil {
		return nil, err
	}
	gen := newGenerator(ts[:1], 0, r.freshActors())
	d.n = max(int(float64(d.rate)*r.s.Duration.Seconds()), 1)
	d.bodies = make([][]byte, d.n)
	d.index = make(map[string]int, d.n)
	for i := range d.bodies {
		d.bodies[i], _ = gen.next(nil)
		id, err := eventID(d.bodies[i])
		if err != nil {
			return nil, err
		}
		d.index[id] = i
	}
	return d, nil
}

// close stops what the run started.
func (d *deliveryRun) close() {
	for _, c := range slices.Backward(d.closers) {
		c()
	}
}

// startDelivery starts the targets, an alerter whose alerts go to them,
// and the watch on the alerts it stores.
func (r *runner) startDelivery(ctx context.Context, d *deliveryRun) error {
	d.hook = newHookServer(d.index, d.n)
	hookBase, stopHook, err := serve(d.hook)
	if err != nil {
		return err
	}
	d.hookBase = hookBase
	d.closers = append(d.closers, stopHook)
	slackURL := ""
	if d.storm {
		d.slack = newSlackSink()
		base, stopSlack, err := serve(d.slack)
		if err != nil {
			return err
		}
		d.closers = append(d.closers, stopSlack)
		slackURL = base + slackPath
	}
	storeDir := ""
	if r.s.StoreDir != "" {
		storeDir = filepath.Join(r.s.StoreDir, d.scen)
	}
	log := r.log
	if d.storm && log.Enabled(ctx, slog.LevelWarn) {
		// Every refused attempt logs a warning: keep the errors only.
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	r.logf("starting an alerter whose alerts go to %s", map[bool]string{false: "a webhook target", true: "a webhook target and a fake Slack webhook"}[d.storm])
	if d.h, err = startHarness(ctx, r.s.Rules, storeDir, deliveryTargets(hookBase+hookPath, slackURL), log); err != nil {
		return err
	}
	d.closers = append(d.closers, d.h.stop)
	fired, stopWatch, err := watchAlerts(d.h.svc.NATSURL(), d.index, d.n)
	if err != nil {
		return err
	}
	d.fired = fired
	d.closers = append(d.closers, stopWatch)
	d.client = newClient(r.s.LatencyConns)
	d.closers = append(d.closers, d.client.CloseIdleConnections)
	return nil
}

// sendDelivery POSTs the events at the run's rate, the Slack storm
// raging over the first half.
func (r *runner) sendDelivery(ctx context.Context, d *deliveryRun) {
	r.logf("%d alerting events at %d/s over %d connections", d.n, d.rate, r.s.LatencyConns)
	d.start = time.Now()
	// The first half of the run (paced starts 20ms from now).
	d.stormEnd = d.start.Add(20*time.Millisecond + r.s.Duration/2)
	if d.storm {
		d.slack.stormUntil.Store(d.stormEnd.UnixNano())
	}
	d.meter = startMeter()
	d.posts = postPaced(ctx, d.client, d.h.url, d.bodies, d.rate, r.s.LatencyConns, nil)
}

// waitDelivered waits, up to wait after the last POST, for every alert
// to reach the webhook target, then for every alert to reach Slack once
// the storm is over and for nothing to be left to send to either target,
// so that a late duplicate would be counted.
func (d *deliveryRun) waitDelivered(ctx context.Context, wait time.Duration) {
	sentAll := time.Now()
	deadline := sentAll.Add(wait)
	for d.hook.got.Load() < int64(d.n)-d.posts.errs.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	d.use = d.meter.stop()
	d.hookDone = time.Since(sentAll)
	for _, name := range d.h.notifiers {
		for time.Now().Before(deadline) && ctx.Err() == nil {
			done, err := d.h.settled(ctx, name)
			if err == nil && done && (name != slackTarget || d.slack.distinct.Load() >= int64(d.fired.count())) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if d.storm {
		d.slackDone = time.Duration(d.slack.lastOK.Load() - d.stormEnd.UnixNano())
	}
}

// deliveryLatencies are the run's latencies per event, sorted: to the
// webhook target and to the alert stored, over the run and over its first
// half.
type deliveryLatencies struct {
	toHook, toStored, hookStorm, storedStorm []time.Duration
}

func (d *deliveryRun) latencies() deliveryLatencies {
	var l deliveryLatencies
	for i := range d.n {
		s := d.posts.sent[i].Load()
		if s == 0 {
			continue
		}
		inStorm := s < d.stormEnd.UnixNano()
		if t := d.hook.recv[i].Load(); t != 0 {
			l.toHook = append(l.toHook, time.Duration(t-s))
			if inStorm {
				l.hookStorm = append(l.hookStorm, time.Duration(t-s))
			}
		}
		if t := d.fired.recv[i].Load(); t != 0 {
			l.toStored = append(l.toStored, time.Duration(t-s))
			if inStorm {
				l.storedStorm = append(l.storedStorm, time.Duration(t-s))
			}
		}
	}
	for _, s := range [][]time.Duration{l.toHook, l.toStored, l.hookStorm, l.storedStorm} {
		slices.Sort(s)
	}
	return l
}

// qms is the q quantile of sorted latencies l, in milliseconds.
func qms(l []time.Duration, q float64) float64 { return round2(ms(percentile(l, q))) }

// reportDelivery adds the run's rows and details to the report; it fails
// the run when alerts did not reach the webhook target.
func (r *runner) reportDelivery(d *deliveryRun) error {
	l := d.latencies()
	slices.Sort(d.bare)
	missing := d.n - len(l.toHook)
	firedIDs := d.fired.list()
	r.logf("  to the target: p50 %.2f p99 %.2f max %.2f ms (alert stored: p50 %.2f p99 %.2f; bare POST p99 %.2f); %d missing",
		qms(l.toHook, 0.5), qms(l.toHook, 0.99), qms(l.toHook, 1), qms(l.toStored, 0.5), qms(l.toStored, 0.99), qms(d.bare, 0.99), missing)
	target := fmt.Sprintf("p99 ≤ 10 ms at %s/s", group(float64(d.rate)))
	if d.storm {
		r.reportStorm(d, l, target, missing, firedIDs)
	} else {
		r.reportSteady(d, l, target, missing)
	}
	r.deliveryDetails(d, l, missing, len(firedIDs))
	if missing > 0 {
		return fmt.Errorf("%d of %d alerts did not reach the webhook target in %s", missing, d.n, r.s.DeliveryWait)
	}
	return nil
}

// reportSteady adds the rows of delivery: the latency quantiles to the
// target, and the rate alerts were delivered at next to the rate they
// were stored at.
func (r *runner) reportSteady(d *deliveryRun, l deliveryLatencies, target string, missing int) {
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"max", 1}} {
		row := Row{Scenario: d.scen, Metric: "receipt → webhook target accepted, " + p.name, Result: qms(l.toHook, p.q), Unit: "ms",
			Floor: qms(l.toStored, p.q), FloorName: "alert stored", Floor2: qms(d.bare, p.q), Floor2Name: "bare POST"}
		if p.name == "p99" {
			row.Target, row.Pass = target, pass(qms(l.toHook, 0.99) <= 10 && missing == 0)
		}
		r.rep.add(row)
	}
	var deliveredRate, storedRate float64
	if last := d.hook.last.Load(); last > 0 {
		deliveredRate = float64(len(l.toHook)) / time.Duration(last-d.start.UnixNano()).Seconds()
	}
	if last := d.fired.last.Load(); last > 0 {
		storedRate = float64(len(l.toStored)) / time.Duration(last-d.start.UnixNano()).Seconds()
	}
	r.rep.add(Row{Scenario: d.scen, Metric: "alerts delivered to the webhook target", Result: round0(deliveredRate), Unit: "alerts/s",
		Floor: round0(storedRate), FloorName: "alerts stored/s"})
}

// reportStorm adds the rows and details of delivery-429: the webhook
// target's latency during the storm, what Slack refused, and whether it
// got every alert exactly once afterwards.
func (r *runner) reportStorm(d *deliveryRun, l deliveryLatencies, target string, missing int, firedIDs []string) {
	scen, slack := d.scen, d.slack
	r.rep.add(Row{Scenario: scen, Metric: "webhook target during the Slack 429 storm, p50", Result: qms(l.hookStorm, 0.5), Unit: "ms",
		Floor: qms(l.storedStorm, 0.5), FloorName: "alert stored", Floor2: qms(d.bare, 0.5), Floor2Name: "bare POST"})
	r.rep.add(Row{Scenario: scen, Metric: "webhook target during the Slack 429 storm, p99", Result: qms(l.hookStorm, 0.99), Unit: "ms",
		Floor: qms(l.storedStorm, 0.99), FloorName: "alert stored", Floor2: qms(d.bare, 0.99), Floor2Name: "bare POST",
		Target: target, Pass: pass(qms(l.hookStorm, 0.99) <= 10 && missing == 0)})
	r.rep.add(Row{Scenario: scen, Metric: "Slack attempts refused (429, Retry-After: 1)", Result: float64(slack.refused.Load()), Unit: "req"})
	t := slack.tally(firedIDs)
	r.rep.add(Row{Scenario: scen, Metric: fmt.Sprintf("Slack: alerts received after the storm (%d twice)", t.Duplicates), Result: float64(t.Received), Unit: "alerts",
		Floor: float64(t.Fired), FloorName: "alerts fired", Target: "all, exactly once", Pass: pass(t.ExactlyOnce())})
	r.logf("  storm until +%s: %d Slack attempts, %d refused; Slack has %d of %d alerts, %d twice, %d missing, %d unexpected; last at +%s after the storm",
		d.stormEnd.Sub(d.start).Round(time.Millisecond), slack.attempts.Load(), slack.refused.Load(), t.Received, t.Fired, t.Duplicates, t.Missing, t.Unexpected, d.slackDone.Round(time.Millisecond))
	r.rep.detail(scen, "storm_s", round2(d.stormEnd.Sub(d.start).Seconds()))
	r.rep.detail(scen, "slack_attempts", slack.attempts.Load())
	r.rep.detail(scen, "slack_received", t.Received)
	r.rep.detail(scen, "slack_duplicates", t.Duplicates)
	r.rep.detail(scen, "slack_missing", t.Missing)
	r.rep.detail(scen, "slack_unexpected", t.Unexpected)
	r.rep.detail(scen, "slack_exactly_once", t.ExactlyOnce())
	r.rep.detail(scen, "slack_all_in_after_storm_s", round2(d.slackDone.Seconds()))
	if d.slackDone > 0 && t.Received > 0 {
		// Slack accepted nothing before the storm ended.
		r.rep.detail(scen, "slack_alerts_per_s_after_storm", round0(float64(t.Received)/d.slackDone.Seconds()))
	}
	r.rep.detail(scen, "hook_p99_after_storm_ms", qms(afterStorm(d.posts.sent, d.hook.recv, d.stormEnd), 0.99))
}

// deliveryDetails adds the details both delivery scenarios report.
func (r *runner) deliveryDetails(d *deliveryRun, l deliveryLatencies, missing, fired int) {
	scen := d.scen
	r.rep.detail(scen, "events", d.n)
	r.rep.detail(scen, "alerts_fired", fired)
	r.rep.detail(scen, "hook_missing", missing)
	r.rep.detail(scen, "hook_duplicates", d.hook.duplicates())
	r.rep.detail(scen, "hook_p99_ms", qms(l.toHook, 0.99))
	r.rep.detail(scen, "hook_p50_first_half_ms", qms(l.hookStorm, 0.5))
	r.rep.detail(scen, "hook_p99_first_half_ms", qms(l.hookStorm, 0.99))
	r.rep.detail(scen, "hook_all_in_after_s", round2(d.hookDone.Seconds()))
	r.rep.detail(scen, "alert_stored_p99_ms", qms(l.toStored, 0.99))
	r.rep.detail(scen, "bare_post_p50_ms", qms(d.bare, 0.5))
	r.rep.detail(scen, "bare_post_p99_ms", qms(d.bare, 0.99))
	r.rep.detail(scen, "alerts_of_other_events", d.fired.extra.Load()+d.hook.extra.Load())
	r.rep.detail(scen, "post_errors", d.posts.errs.Load())
	if e := d.posts.firstErr.Load(); e != nil {
		r.rep.detail(scen, "first_error", *e)
	}
	r.rep.detail(scen, "sender_max_behind_ms", round2(ms(d.posts.behind)))
	r.rep.detail(scen, "cpu_us_per_event", round2(d.use.perEvent(float64(d.n))))
	r.rep.detail(scen, "other_processes_cores", round2(d.use.cores(d.use.Others)))
}

// afterStorm are the latencies to the target of the events sent after the
// storm ended.
func afterStorm(sent, recv []atomic.Int64, stormEnd time.Time) []time.Duration {
	var out []time.Duration
	for i := range sent {
		s, t := sent[i].Load(), recv[i].Load()
		if s >= stormEnd.UnixNano() && t != 0 {
			out = append(out, time.Duration(t-s))
		}
	}
	slices.Sort(out)
	return out
}

// barePOSTs POSTs body to url n times at rate, one after the other over one
// connection, and returns each round trip (sorted).
func barePOSTs(ctx context.Context, url string, body []byte, n, rate int) []time.Duration {
	client := newClient(1)
	defer client.CloseIdleConnections()
	out := make([]time.Duration, 0, n)
	var mu sync.Mutex
	paced(ctx, n, rate, 1, func(int) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if resp.StatusCode == http.StatusNoContent {
			mu.Lock()
			out = append(out, d)
			mu.Unlock()
		}
	})
	slices.Sort(out)
	return out
}
