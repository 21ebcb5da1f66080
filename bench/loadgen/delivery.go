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
	"github.com/alerter/alerter/event"
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

// delivery sends events that each fire an alert, at DeliveryRate, to an
// alerter whose alerts go to the webhook target, and measures receipt
// (just before the POST) to the target accepting the alert, next to
// receipt → alert stored for the same events and a bare POST of an alert
// to the same target. With storm, a Slack target gets the same alerts and
// refuses them all (429, Retry-After: 1) for the first half of the run.
func (r *runner) delivery(ctx context.Context, storm bool) error {
	scen := "delivery"
	if storm {
		scen = "delivery-429"
	}
	rate := r.s.DeliveryRate
	ts, err := templates(r.fixtures, quietSetting, "Global setting changed")
	if err != nil {
		return err
	}
	gen := newGenerator(ts[:1], 0, r.freshActors())
	n := max(int(float64(rate)*r.s.Duration.Seconds()), 1)
	bodies := make([][]byte, n)
	index := make(map[string]int, n)
	for i := range bodies {
		bodies[i], _ = gen.next(nil)
		evs, err := event.Parse(bodies[i], event.Options{Source: webhookSource})
		if err != nil || len(evs) != 1 {
			return fmt.Errorf("parsing a generated event: %v", err)
		}
		index[evs[0].ID] = i
	}

	hook := newHookServer(index, n)
	hookBase, stopHook, err := serve(hook)
	if err != nil {
		return err
	}
	defer stopHook()
	var slack *slackSink
	slackURL := ""
	if storm {
		slack = newSlackSink()
		base, stopSlack, err := serve(slack)
		if err != nil {
			return err
		}
		defer stopSlack()
		slackURL = base + slackPath
	}
	storeDir := ""
	if r.s.StoreDir != "" {
		storeDir = filepath.Join(r.s.StoreDir, scen)
	}
	log := r.log
	if storm && log.Enabled(ctx, slog.LevelWarn) {
		// Every refused attempt logs a warning: keep the errors only.
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	r.logf("starting an alerter whose alerts go to %s", map[bool]string{false: "a webhook target", true: "a webhook target and a fake Slack webhook"}[storm])
	h, err := startHarness(ctx, r.s.Rules, storeDir, deliveryTargets(hookBase+hookPath, slackURL), log)
	if err != nil {
		return err
	}
	defer h.stop()

	fired, stopWatch, err := watchAlerts(h.svc.NATSURL(), index, n)
	if err != nil {
		return err
	}
	defer stopWatch()

	client := newClient(r.s.LatencyConns)
	defer client.CloseIdleConnections()
	sent := make([]atomic.Int64, n)
	var postErrs atomic.Int64
	var firstErr atomic.Pointer[string]
	r.logf("%d alerting events at %d/s over %d connections", n, rate, r.s.LatencyConns)
	start := time.Now()
	// The first half of the run (paced starts 20ms from now): Slack's
	// storm in delivery-429, and for comparison in delivery.
	stormEnd := start.Add(20*time.Millisecond + r.s.Duration/2)
	if storm {
		slack.stormUntil.Store(stormEnd.UnixNano())
	}
	meter := startMeter()
	behind := paced(ctx, n, rate, r.s.LatencyConns, func(i int) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(bodies[i]))
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		sent[i].Store(t0.UnixNano())
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
		}
		if err != nil {
			postErrs.Add(1)
			msg := err.Error()
			firstErr.CompareAndSwap(nil, &msg)
		}
	})
	sentAll := time.Now()
	// Every alert to the webhook target.
	deadline := sentAll.Add(r.s.DeliveryWait)
	for hook.got.Load() < int64(n)-postErrs.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	use := meter.stop()
	hookDone := time.Since(sentAll)
	// Every alert to Slack once the storm is over, and nothing left to
	// send to either target, so that a late duplicate would be counted.
	var slackDone time.Duration
	for _, name := range h.notifiers {
		for time.Now().Before(deadline) && ctx.Err() == nil {
			done, err := h.settled(ctx, name)
			if err == nil && done && (name != slackTarget || slack.distinct.Load() >= int64(fired.count())) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if storm {
		slackDone = time.Duration(slack.lastOK.Load() - stormEnd.UnixNano())
	}

	// The bare POST floor: the first alert's body POSTed to the same
	// server at the same rate, one connection, as the notifier sends.
	var bare []time.Duration
	if p := hook.sample.Load(); p != nil {
		bare = barePOSTs(ctx, hookBase+floorPath, *p, min(n, max(int(float64(rate)*r.s.FloorDuration.Seconds()), 1)), rate)
	}

	// Latencies per event: to the target, and to the alert stored; over
	// the run and over its first half.
	var toHook, toStored, hookStorm, storedStorm []time.Duration
	for i := range n {
		s := sent[i].Load()
		if s == 0 {
			continue
		}
		inStorm := s < stormEnd.UnixNano()
		if t := hook.recv[i].Load(); t != 0 {
			toHook = append(toHook, time.Duration(t-s))
			if inStorm {
				hookStorm = append(hookStorm, time.Duration(t-s))
			}
		}
		if t := fired.recv[i].Load(); t != 0 {
			toStored = append(toStored, time.Duration(t-s))
			if inStorm {
				storedStorm = append(storedStorm, time.Duration(t-s))
			}
		}
	}
	for _, l := range [][]time.Duration{toHook, toStored, hookStorm, storedStorm, bare} {
		slices.Sort(l)
	}
	q := func(l []time.Duration, q float64) float64 { return round2(ms(percentile(l, q))) }
	missing := n - len(toHook)
	firedIDs := fired.list()
	r.logf("  to the target: p50 %.2f p99 %.2f max %.2f ms (alert stored: p50 %.2f p99 %.2f; bare POST p99 %.2f); %d missing",
		q(toHook, 0.5), q(toHook, 0.99), q(toHook, 1), q(toStored, 0.5), q(toStored, 0.99), q(bare, 0.99), missing)

	target := fmt.Sprintf("p99 ≤ 10 ms at %s/s", group(float64(rate)))
	if !storm {
		for _, p := range []struct {
			name string
			q    float64
		}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"max", 1}} {
			row := Row{Scenario: scen, Metric: "receipt → webhook target accepted, " + p.name, Result: q(toHook, p.q), Unit: "ms",
				Floor: q(toStored, p.q), FloorName: "alert stored", Floor2: q(bare, p.q), Floor2Name: "bare POST"}
			if p.name == "p99" {
				row.Target, row.Pass = target, pass(q(toHook, 0.99) <= 10 && missing == 0)
			}
			r.rep.add(row)
		}
		var deliveredRate, storedRate float64
		if last := hook.last.Load(); last > 0 {
			deliveredRate = float64(len(toHook)) / time.Duration(last-start.UnixNano()).Seconds()
		}
		if last := fired.last.Load(); last > 0 {
			storedRate = float64(len(toStored)) / time.Duration(last-start.UnixNano()).Seconds()
		}
		r.rep.add(Row{Scenario: scen, Metric: "alerts delivered to the webhook target", Result: round0(deliveredRate), Unit: "alerts/s",
			Floor: round0(storedRate), FloorName: "alerts stored/s"})
	} else {
		r.rep.add(Row{Scenario: scen, Metric: "webhook target during the Slack 429 storm, p50", Result: q(hookStorm, 0.5), Unit: "ms",
			Floor: q(storedStorm, 0.5), FloorName: "alert stored", Floor2: q(bare, 0.5), Floor2Name: "bare POST"})
		r.rep.add(Row{Scenario: scen, Metric: "webhook target during the Slack 429 storm, p99", Result: q(hookStorm, 0.99), Unit: "ms",
			Floor: q(storedStorm, 0.99), FloorName: "alert stored", Floor2: q(bare, 0.99), Floor2Name: "bare POST",
			Target: target, Pass: pass(q(hookStorm, 0.99) <= 10 && missing == 0)})
		r.rep.add(Row{Scenario: scen, Metric: "Slack attempts refused (429, Retry-After: 1)", Result: float64(slack.refused.Load()), Unit: "req"})
		t := slack.tally(firedIDs)
		r.rep.add(Row{Scenario: scen, Metric: fmt.Sprintf("Slack: alerts received after the storm (%d twice)", t.Duplicates), Result: float64(t.Received), Unit: "alerts",
			Floor: float64(t.Fired), FloorName: "alerts fired", Target: "all, exactly once", Pass: pass(t.ExactlyOnce())})
		r.logf("  storm until +%s: %d Slack attempts, %d refused; Slack has %d of %d alerts, %d twice, %d missing, %d unexpected; last at +%s after the storm",
			stormEnd.Sub(start).Round(time.Millisecond), slack.attempts.Load(), slack.refused.Load(), t.Received, t.Fired, t.Duplicates, t.Missing, t.Unexpected, slackDone.Round(time.Millisecond))
		r.rep.detail(scen, "storm_s", round2(stormEnd.Sub(start).Seconds()))
		r.rep.detail(scen, "slack_attempts", slack.attempts.Load())
		r.rep.detail(scen, "slack_received", t.Received)
		r.rep.detail(scen, "slack_duplicates", t.Duplicates)
		r.rep.detail(scen, "slack_missing", t.Missing)
		r.rep.detail(scen, "slack_unexpected", t.Unexpected)
		r.rep.detail(scen, "slack_exactly_once", t.ExactlyOnce())
		r.rep.detail(scen, "slack_all_in_after_storm_s", round2(slackDone.Seconds()))
		if slackDone > 0 && t.Received > 0 {
			// Slack accepted nothing before the storm ended.
			r.rep.detail(scen, "slack_alerts_per_s_after_storm", round0(float64(t.Received)/slackDone.Seconds()))
		}
		r.rep.detail(scen, "hook_p99_after_storm_ms", q(afterStorm(sent, hook.recv, stormEnd), 0.99))
	}
	r.rep.detail(scen, "events", n)
	r.rep.detail(scen, "alerts_fired", len(firedIDs))
	r.rep.detail(scen, "hook_missing", missing)
	r.rep.detail(scen, "hook_duplicates", hook.duplicates())
	r.rep.detail(scen, "hook_p99_ms", q(toHook, 0.99))
	r.rep.detail(scen, "hook_p50_first_half_ms", q(hookStorm, 0.5))
	r.rep.detail(scen, "hook_p99_first_half_ms", q(hookStorm, 0.99))
	r.rep.detail(scen, "hook_all_in_after_s", round2(hookDone.Seconds()))
	r.rep.detail(scen, "alert_stored_p99_ms", q(toStored, 0.99))
	r.rep.detail(scen, "bare_post_p50_ms", q(bare, 0.5))
	r.rep.detail(scen, "bare_post_p99_ms", q(bare, 0.99))
	r.rep.detail(scen, "alerts_of_other_events", fired.extra.Load()+hook.extra.Load())
	r.rep.detail(scen, "post_errors", postErrs.Load())
	if e := firstErr.Load(); e != nil {
		r.rep.detail(scen, "first_error", *e)
	}
	r.rep.detail(scen, "sender_max_behind_ms", round2(ms(behind)))
	r.rep.detail(scen, "cpu_us_per_event", round2(use.perEvent(float64(n))))
	r.rep.detail(scen, "other_processes_cores", round2(use.cores(use.Others)))
	if missing > 0 {
		return fmt.Errorf("%d of %d alerts did not reach the webhook target in %s", missing, n, r.s.DeliveryWait)
	}
	return nil
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
