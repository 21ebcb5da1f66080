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

func (r *runner) alertmanager(ctx context.Context) error {
	bin, err := findAlertmanager(r.s.Alertmanager)
	if err != nil {
		return err
	}
	amURL, stopAM, err := startAlertmanager(ctx, bin)
	if err != nil {
		return err
	}
	defer stopAM()
	const keys, newKeys, batch = 1000, 10_000, 100
	client := newClient(r.s.BatchConns)
	defer client.CloseIdleConnections()

	// Alertmanager, alerts over 1,000 keys.
	var k atomic.Uint64
	overKeys := func() uint64 { return k.Add(1) % keys }
	amBody := func(dst []byte) ([]byte, int) { return amBatch(dst, batch, overKeys, time.Now()), batch }
	r.logf("alertmanager (%s): batches of %d alerts over %d keys, %d connections, %s", bin, batch, keys, r.s.BatchConns, r.s.Duration)
	am := driveOK(ctx, client, amURL+"/api/v2/alerts", r.s.BatchConns, r.s.Duration, amBody, http.StatusOK)
	r.logf("  %.0f alerts/s, %d errors %s", am.rate, am.errors, am.firstErr)
	// Alertmanager, new keys.
	var nk atomic.Uint64
	base := uint64(1) << 40
	fresh := func() uint64 { return base + nk.Add(1) }
	amNew, err := timeBatches(ctx, newKeys/batch, r.s.BatchConns, func() error {
		return postOK(ctx, client, amURL+"/api/v2/alerts", amBatch(nil, batch, fresh, time.Now()), http.StatusOK)
	})
	if err != nil {
		return fmt.Errorf("alertmanager, new keys: %w", err)
	}
	stopAM()
	amNewRate := newKeys / amNew.Seconds()
	r.logf("  %d new keys in %s: %.0f alerts/s", newKeys, amNew.Round(time.Millisecond), amNewRate)

	// alerter, the same.
	keyed, err := templates(r.fixtures, quietSetting, "Global setting changed")
	if err != nil {
		return err
	}
	gen := newGenerator(keyed[:1], keys, r.freshActors())
	var sent atomic.Int64
	gate := r.backlogGate(&sent, r.h.acked.Load())
	body := func(dst []byte) ([]byte, int) {
		sent.Add(batch)
		return gen.batch(dst, batch), batch
	}
	r.logf("alerter: NDJSON batches of %d events over %d dedup groups, %d connections, %s", batch, keys, r.s.BatchConns, r.s.Duration)
	var res driveResult
	rate, use, err := r.measureEvaluated(ctx, func(d time.Duration) { res = drive(ctx, client, r.h.url, r.s.BatchConns, d, body, gate) })
	if err != nil {
		return err
	}
	if _, err := r.h.drain(ctx, 2*time.Minute); err != nil {
		return err
	}
	r.logf("  %.0f ev/s evaluated, %d errors %s", rate, res.errors, res.firstErr)
	newGen := newGenerator(keyed[:1], 0, r.freshActors())
	a0, err := r.h.ackedNow(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := timeBatches(ctx, newKeys/batch, r.s.BatchConns, func() error {
		return postOK(ctx, client, r.h.url, newGen.batch(nil, batch), http.StatusAccepted)
	}); err != nil {
		return fmt.Errorf("alerter, new keys: %w", err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		acked, err := r.h.ackedNow(ctx)
		if err == nil && acked-a0 >= newKeys {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("alerter, new keys: %d of %d events evaluated after a minute (%v)", acked-a0, newKeys, err)
		}
	}
	newRate := newKeys / time.Since(start).Seconds()
	r.logf("  %d new groups evaluated in %s: %.0f ev/s", newKeys, time.Since(start).Round(time.Millisecond), newRate)

	r.rep.add(Row{Scenario: "alertmanager", Metric: "1,000 keys, batches of 100: stored, evaluated, acked (Alertmanager: alerts taken in memory)", Result: rate, Unit: "ev/s",
		Floor: am.rate, FloorName: "Alertmanager alerts/s", Target: "≥ 1×", Pass: pass(rate >= am.rate)})
	r.rep.add(Row{Scenario: "alertmanager", Metric: "10,000 new keys, batches of 100", Result: newRate, Unit: "ev/s",
		Floor: amNewRate, FloorName: "Alertmanager alerts/s", Target: "≥ 5×", Pass: pass(newRate >= 5*amNewRate)})
	r.rep.detail("alertmanager", "binary", bin)
	r.rep.detail("alertmanager", "am_errors", am.errors)
	// Alertmanager is another process: its CPU is among the others'.
	r.rep.detail("alertmanager", "am_cores", round2(am.use.cores(am.use.Others)))
	r.rep.detail("alertmanager", "am_new_keys_s", round2(amNew.Seconds()))
	r.rep.detail("alertmanager", "alerter_cpu_us_per_event", round2(use.perEvent(use.events)))
	r.rep.detail("alertmanager", "alerter_errors", res.errors)
	if am.errors > 0 || res.errors > 0 {
		return fmt.Errorf("errors: alertmanager %d (%s), alerter %d (%s)", am.errors, am.firstErr, res.errors, res.firstErr)
	}
	return nil
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
