package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Alertmanager side by side (docs/benchmarks.md): the same two workloads sent to
// Prometheus Alertmanager (a binary on this machine, run with a receiver
// that sends nothing) and to alerter:
//
//   - alerts over 1,000 keys in batches of 100, flat out: Alertmanager
//     takes alerts that mostly update alerts it holds; alerter takes
//     events that a dedup rule keyed by actor (1,000 actors) mostly
//     suppresses, each stored, evaluated, its state updated and acked;
//   - 10,000 new keys in batches of 100: each a new alert in
//     Alertmanager, a new dedup group (and an alert stored) in alerter.
//
// Alertmanager runs alone while it is measured, alerter idle beside it.
// alerter runs on its own rules, amRules, which do what Alertmanager does
// (group and dedup) and nothing else: the example rules also remember
// values and count distinct ones for the same events, which is work
// Alertmanager does not do.

// amBinaries are the names Alertmanager goes by: Debian's package, then
// upstream's.
var amBinaries = []string{"prometheus-alertmanager", "alertmanager"}

func findAlertmanager(path string) (string, error) {
	if path != "" {
		return exec.LookPath(path)
	}
	for _, name := range amBinaries {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Alertmanager binary: install Debian's prometheus-alertmanager or pass -alertmanager PATH")
}

// amRules is the rule set of the alerter side: one rule that groups the
// events by actor and dedups each group, as the example rule
// soteri-global-setting-changed-by-non-admin does.
const amRules = `lists:
  admins: [jdoe, mchen]
rules:
  - id: setting-changed
    severity: critical
    when: >-
      event.category == "Soteri Security for Confluence" && event.action == "Global setting changed"
      && !(event.actor.name in lists.admins)
    dedup: {by: [event.actor.id], window: 30m}
    title: '{{ event.actor.display_name }} changed a Soteri global setting'
`

const amConfig = "route:\n  receiver: drop\n  group_by: ['...']\nreceivers:\n  - name: drop\n"

// startAlertmanager runs bin on a free port until the returned stop.
func startAlertmanager(ctx context.Context, bin string) (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "loadgen-alertmanager-")
	if err != nil {
		return "", nil, err
	}
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(amConfig), 0o600); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.path="+dir,
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	url = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("alertmanager not ready after 30s: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// amBatch writes a JSON array of n alerts, the i-th with key keyOf(i).
func amBatch(dst []byte, n int, keyOf func() uint64, now time.Time) []byte {
	dst = append(dst, '[')
	starts := now.UTC().Format(time.RFC3339)
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"labels":{"alertname":"SettingChanged","severity":"high","actor":"user`...)
		dst = strconv.AppendUint(dst, keyOf(), 10)
		dst = append(dst, `"},"annotations":{"summary":"a Soteri global setting was changed"},"startsAt":"`...)
		dst = append(dst, starts...)
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}

// The workloads: alerts over amKeys keys, and amNewKeys new keys, in
// batches of amPerBatch.
const amKeys, amNewKeys, amPerBatch = 1000, 10_000, 100

// amNewKeysWait bounds the wait for alerter to evaluate the new keys:
// seconds on a quiet machine, over a minute under -race with other tests
// on the same cores.
const amNewKeysWait = 5 * time.Minute

func (r *runner) alertmanager(ctx context.Context) error {
	client := newClient(r.s.BatchConns)
	defer client.CloseIdleConnections()
	am, err := r.amSide(ctx, client)
	if err != nil {
		return err
	}
	al, err := r.alerterSide(ctx, client)
	if err != nil {
		return err
	}
	r.rep.add(Row{Scenario: "alertmanager", Metric: "1,000 keys, batches of 100: stored, evaluated, acked (Alertmanager: alerts taken in memory)", Result: al.rate, Unit: "ev/s",
		Floor: am.over.rate, FloorName: "Alertmanager alerts/s", Target: "≥ 1×", Pass: pass(al.rate >= am.over.rate)})
	r.rep.add(Row{Scenario: "alertmanager", Metric: "10,000 new keys, batches of 100", Result: al.newRate, Unit: "ev/s",
		Floor: am.newRate, FloorName: "Alertmanager alerts/s", Target: "≥ 5×", Pass: pass(al.newRate >= 5*am.newRate)})
	r.rep.detail("alertmanager", "binary", am.bin)
	r.rep.detail("alertmanager", "am_errors", am.over.errors)
	// Alertmanager is another process: its CPU is among the others'.
	r.rep.detail("alertmanager", "am_cores", round2(am.over.use.cores(am.over.use.Others)))
	r.rep.detail("alertmanager", "am_new_keys_s", round2(am.newTook.Seconds()))
	r.rep.detail("alertmanager", "alerter_cpu_us_per_event", round2(al.use.perEvent(al.use.events)))
	r.rep.detail("alertmanager", "alerter_errors", al.over.errors)
	if am.over.errors > 0 || al.over.errors > 0 {
		return fmt.Errorf("errors: alertmanager %d (%s), alerter %d (%s)", am.over.errors, am.over.firstErr, al.over.errors, al.over.firstErr)
	}
	return nil
}

// amResult is what Alertmanager did of the two workloads.
type amResult struct {
	bin     string
	over    driveResult // alerts over amKeys keys
	newTook time.Duration
	newRate float64 // new keys per second
}

// amSide starts Alertmanager and measures it on both workloads, then
// stops it.
func (r *runner) amSide(ctx context.Context, client *http.Client) (amResult, error) {
	var am amResult
	var err error
	if am.bin, err = findAlertmanager(r.s.Alertmanager); err != nil {
		return am, err
	}
	amURL, stopAM, err := startAlertmanager(ctx, am.bin)
	if err != nil {
		return am, err
	}
	defer stopAM()
	var k atomic.Uint64
	overKeys := func() uint64 { return k.Add(1) % amKeys }
	amBody := func(dst []byte) ([]byte, int) { return amBatch(dst, amPerBatch, overKeys, time.Now()), amPerBatch }
	r.logf("alertmanager (%s): batches of %d alerts over %d keys, %d connections, %s", am.bin, amPerBatch, amKeys, r.s.BatchConns, r.s.Duration)
	am.over = driveOK(ctx, client, amURL+"/api/v2/alerts", r.s.BatchConns, r.s.Duration, amBody, http.StatusOK)
	r.logf("  %.0f alerts/s, %d errors %s", am.over.rate, am.over.errors, am.over.firstErr)
	var nk atomic.Uint64
	base := uint64(1) << 40
	fresh := func() uint64 { return base + nk.Add(1) }
	am.newTook, err = timeBatches(ctx, amNewKeys/amPerBatch, r.s.BatchConns, func() error {
		return postOK(ctx, client, amURL+"/api/v2/alerts", amBatch(nil, amPerBatch, fresh, time.Now()), http.StatusOK)
	})
	if err != nil {
		return am, fmt.Errorf("alertmanager, new keys: %w", err)
	}
	am.newRate = amNewKeys / am.newTook.Seconds()
	r.logf("  %d new keys in %s: %.0f alerts/s", amNewKeys, am.newTook.Round(time.Millisecond), am.newRate)
	return am, nil
}

// alerterResult is what alerter did of the two workloads.
type alerterResult struct {
	over    driveResult // events over amKeys dedup groups
	rate    float64     // of those, evaluated per second
	use     usage
	newRate float64 // events with a new group evaluated per second
}

// alerterSide measures the shared alerter on both workloads: events that
// a dedup rule keyed by actor mostly suppresses, then events each of a
// new group.
func (r *runner) alerterSide(ctx context.Context, client *http.Client) (alerterResult, error) {
	var al alerterResult
	keyed, err := templates(r.fixtures, quietSetting, "Global setting changed")
	if err != nil {
		return al, err
	}
	gen := newGenerator(keyed[:1], amKeys, r.freshActors())
	var sent atomic.Int64
	gate := r.backlogGate(&sent, r.h.acked.Load())
	body := func(dst []byte) ([]byte, int) {
		sent.Add(amPerBatch)
		return gen.batch(dst, amPerBatch), amPerBatch
	}
	r.logf("alerter: NDJSON batches of %d events over %d dedup groups, %d connections, %s", amPerBatch, amKeys, r.s.BatchConns, r.s.Duration)
	al.rate, al.use, err = r.measureEvaluated(ctx, func(d time.Duration) { al.over = drive(ctx, client, r.h.url, r.s.BatchConns, d, body, gate) })
	if err != nil {
		return al, err
	}
	if _, err := r.h.drain(ctx, 2*time.Minute); err != nil {
		return al, err
	}
	r.logf("  %.0f ev/s evaluated, %d errors %s", al.rate, al.over.errors, al.over.firstErr)
	al.newRate, err = r.alerterNewKeys(ctx, client, newGenerator(keyed[:1], 0, r.freshActors()))
	return al, err
}

// alerterNewKeys sends amNewKeys events of gen, each of a new group, and
// returns how many a second were evaluated.
func (r *runner) alerterNewKeys(ctx context.Context, client *http.Client, gen *generator) (float64, error) {
	a0, err := r.h.ackedNow(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := timeBatches(ctx, amNewKeys/amPerBatch, r.s.BatchConns, func() error {
		return postOK(ctx, client, r.h.url, gen.batch(nil, amPerBatch), http.StatusAccepted)
	}); err != nil {
		return 0, fmt.Errorf("alerter, new keys: %w", err)
	}
	for deadline := time.Now().Add(amNewKeysWait); ; time.Sleep(5 * time.Millisecond) {
		acked, err := r.h.ackedNow(ctx)
		if err == nil && acked-a0 >= amNewKeys {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("alerter, new keys: %d of %d events evaluated after %s (%v)", acked-a0, amNewKeys, amNewKeysWait, err)
		}
	}
	newRate := amNewKeys / time.Since(start).Seconds()
	r.logf("  %d new groups evaluated in %s: %.0f ev/s", amNewKeys, time.Since(start).Round(time.Millisecond), newRate)
	return newRate, nil
}

// driveOK is drive for a server that answers want instead of 202.
func driveOK(ctx context.Context, client *http.Client, url string, conns int, d time.Duration, body func([]byte) ([]byte, int), want int) driveResult {
	if want == http.StatusAccepted {
		return drive(ctx, client, url, conns, d, body, nil)
	}
	// drive counts only 202s: put a translating transport in between.
	c := *client
	c.Transport = statusRewriter{next: client.Transport, from: want, to: http.StatusAccepted}
	return drive(ctx, &c, url, conns, d, body, nil)
}

type statusRewriter struct {
	next     http.RoundTripper
	from, to int
}

func (s statusRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err == nil && resp.StatusCode == s.from {
		resp.StatusCode = s.to
	}
	return resp, err
}

func postOK(ctx context.Context, client *http.Client, url string, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

// timeBatches runs send n times over conns workers and returns how long
// it took.
func timeBatches(ctx context.Context, n, conns int, send func() error) (time.Duration, error) {
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for range work {
				if ctx.Err() != nil {
					return
				}
				if err := send(); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return 0, *p
	}
	return time.Since(start), ctx.Err()
}
