package main

// Attacks on ingest: memory, signed webhooks, event identity, credentials.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// ndjson returns about size bytes of JSON lines, each a distinct event of
// run (so none is a duplicate of another request's).
func ndjson(run, size int) []byte {
	var b bytes.Buffer
	for i := 0; ; i++ {
		line := fmt.Sprintf(`{"id":"r%d-e%d","action":"Login failed","actor":{"name":"u%d"}}`+"\n", run, i, i%97)
		if b.Len()+len(line) > size {
			return b.Bytes()
		}
		b.WriteString(line)
	}
}

// peakRSS samples the process's RSS until stop is closed, and returns the
// highest.
func peakRSS(tg *target, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, tg.rssBytes())
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// TestAttackIngestMemory posts 12 NDJSON bodies of 1 MiB at once: the
// process stays within a memory bound, what it cannot take now is refused
// with 503 and Retry-After before the body is read, and every event a 202
// counts is stored.
func TestAttackIngestMemory(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	before := tg.rssBytes()
	stop := make(chan struct{})
	peak := peakRSS(tg, stop)

	const posts = 12
	var (
		wg       sync.WaitGroup
		accepted atomic.Int64
		refused  atomic.Int64 // at the ingest limit, unread
		partial  atomic.Int64 // some events not stored
		mu       sync.Mutex
		errs     []string
	)
	for run := range posts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := ndjson(run, 1<<20)
			req, _ := http.NewRequest("POST", tg.url+"/webhooks/hook", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := tg.client.Do(req)
			if err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			switch resp.StatusCode {
			case http.StatusAccepted:
				var a struct{ Accepted, Duplicates int64 }
				if err := json.Unmarshal(b, &a); err != nil {
					t.Errorf("202 answer %q: %v", b, err)
				}
				accepted.Add(a.Accepted + a.Duplicates)
			case http.StatusServiceUnavailable:
				// Refused before reading, or some events not stored (the
				// answer then counts those that were).
				var a struct {
					Error      string
					Accepted   int64
					Duplicates int64
				}
				if err := json.Unmarshal(b, &a); err != nil || a.Error == "" || resp.Header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After or a JSON error: %v %s", resp.Header, b)
				}
				accepted.Add(a.Accepted + a.Duplicates)
				if strings.Contains(a.Error, "max_ingest_bytes") {
					refused.Add(1)
				} else {
					partial.Add(1)
				}
			default:
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%d %s", resp.StatusCode, b))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	p := <-peak
	t.Logf("RSS before %d MB, peak %d MB; %d events accepted, %d posts refused at the limit, %d partly stored",
		before>>20, p>>20, accepted.Load(), refused.Load(), partial.Load())
	if len(errs) > 0 {
		t.Fatalf("unexpected answers: %v", errs)
	}
	tg.mustBeAlive()
	if p > 400<<20 {
		t.Errorf("RSS reached %d MB under 12 concurrent 1 MiB posts; want < 400 MB", p>>20)
	}
	if accepted.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("%d events accepted, %d posts refused at the limit; want some of each", accepted.Load(), refused.Load())
	}
	// Events a 503 listed as not stored may be stored all the same (the
	// ack was late): more may be stored than answered, never fewer.
	if n := evaluatedEvents(t, tg, accepted.Load()); n < accepted.Load() {
		t.Errorf("%d events stored, %d answered as accepted: %d lost", n, accepted.Load(), accepted.Load()-n)
	}
}

// metric sums the samples of a metric of /metrics.
func metric(t *testing.T, tg *target, name string) int64 {
	t.Helper()
	code, body := tg.do(request{method: "GET", path: "/metrics"})
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	var n float64
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, name); ok && (rest[0] == ' ' || rest[0] == '{') {
			var v float64
			f := strings.Fields(rest)
			fmt.Sscan(f[len(f)-1], &v)
			n += v
		}
	}
	return int64(n)
}

// evaluatedEvents waits until the evaluator has taken want events from the
// EVENTS stream (each stored event is evaluated once), and returns how many
// it took: the events stored.
func evaluatedEvents(t *testing.T, tg *target, want int64) int64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := metric(t, tg, "alerter_events_evaluated_total")
		if n >= want || time.Now().After(deadline) {
			// A moment more, to see any event stored beyond want.
			time.Sleep(200 * time.Millisecond)
			return metric(t, tg, "alerter_events_evaluated_total")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
