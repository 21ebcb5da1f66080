package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
)

// receiver is a webhook target that can be down (503 with Retry-After),
// counting what it accepted per alert id.
type receiver struct {
	down    atomic.Bool
	mu      sync.Mutex
	got     map[string]int
	refused atomic.Int64
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.down.Load() {
		rc.refused.Add(1)
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var a alerter.Alert
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &a); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got[a.ID]++
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) counts() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.got))
	for k, v := range rc.got {
		out[k] = v
	}
	return out
}

// docs/notifications.md: a notifier down for a while gets every alert once it is back,
// and each once.
func TestTargetOutage(t *testing.T) {
	rc := &receiver{got: map[string]int{}}
	rc.down.Store(true)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	yaml := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/rules.yaml]}
sources: [{name: in, type: webhook}]
notifiers:
  - {name: siem, type: webhook, url: %q, max_backoff: 50ms}
  - {name: quiet, type: console}
routes: {default: [siem]}
`, t.TempDir(), srv.URL)
	r := run(t, yaml, nil, Options{Stdout: io.Discard})

	const n = 30
	for i := range n {
		r.post(t, "/webhooks/in", setting(fmt.Sprintf("e%d", i), fmt.Sprintf("u%d", i), "2024-05-14T10:00:00Z"))
	}
	waitFor(t, "every alert tried and refused", func() bool { return rc.refused.Load() >= 2*n })
	rc.down.Store(false)
	waitFor(t, "every alert delivered", func() bool { return len(rc.counts()) == n })
	r.drained(t)
	for id, c := range rc.counts() {
		if c != 1 {
			t.Errorf("alert %s delivered %d times", id, c)
		}
	}
}
