package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
)

// memSink keeps what it is given, as the EVENTS stream would.
type memSink struct{ stored [][]byte }

func (m *memSink) Store(_ context.Context, _ string, events []event.Event) (ingest.Stored, error) {
	for i := range events {
		b, err := events[i].MarshalJSON()
		if err != nil {
			// The real sink fails the request: say so as it would.
			return ingest.Stored{Failed: []int{i}}, err
		}
		m.stored = append(m.stored, b)
	}
	return ingest.Stored{Accepted: len(events)}, nil
}

// FuzzServeHTTP sends arbitrary bodies and headers to a webhook source:
// whatever comes in, the answer is one of the documented ones, in JSON,
// and every event a 202 counts was handed to storage in a form the
// evaluator reads back.
func FuzzServeHTTP(f *testing.F) {
	for _, name := range []string{"auditing-events-page.json", "legacy-audit-page.json", "soteri-events.jsonl", "webhook-dc-page_created.json", "webhook-cloud-group_created.json"} {
		b, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "application/json", false, true)
	}
	f.Add([]byte(`{"a":1}`+"\n"+`{"b":2}`), "application/x-ndjson", true, true)
	f.Add([]byte(`[{"timestamp":"2026-11-25T10:00:00Z","action":"x"},{"action":`), "application/json", false, false)
	f.Add([]byte(`[]`), "", true, false)
	f.Add([]byte("\xef\xbb\xbf{\"action\":\"\\ud800\"}"), "application/json; charset=utf-8", false, false)
	f.Add([]byte(`{"action": "x"}`), "text/plain", false, false)

	const secret = "s3cret"
	f.Fuzz(func(t *testing.T, body []byte, contentType string, withSecret, signed bool) {
		src := config.Source{Name: "fuzz", Type: "webhook", Format: "auto"}
		if withSecret {
			src.Settings = Config{Secret: config.Secret(secret)}
		}
		sink := &memSink{}
		h, err := New(src, sink, Options{MaxBody: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/fuzz", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if signed {
			req.Header.Set("X-Hub-Signature", "sha256="+sign(secret, body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		var answer map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("answer %d is not a JSON object: %q", rec.Code, rec.Body)
		}
		switch rec.Code {
		case http.StatusAccepted:
			n, _ := answer["accepted"].(float64)
			// An empty array is an empty batch: 202, nothing stored.
			if int(n) != len(sink.stored) {
				t.Fatalf("202 says %v accepted, storage got %d events", answer["accepted"], len(sink.stored))
			}
			for _, b := range sink.stored {
				ev, err := event.Decode(b)
				if err != nil {
					t.Fatalf("accepted event cannot be read back: %v\n%s", err, b)
				}
				if ev.ID == "" || ev.Source != "fuzz" {
					t.Fatalf("accepted event without id or source: %+v", ev)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType,
			http.StatusUnauthorized, http.StatusServiceUnavailable:
			if msg, _ := answer["error"].(string); msg == "" {
				t.Fatalf("%d without an error message: %s", rec.Code, rec.Body)
			}
			if rec.Code == http.StatusUnauthorized && (!withSecret || signed) {
				t.Fatalf("401 for a request that is signed or needs no signature: %s", rec.Body)
			}
			if rec.Code != http.StatusServiceUnavailable && len(sink.stored) > 0 {
				t.Fatalf("%d, yet %d events were stored", rec.Code, len(sink.stored))
			}
			if l, ok := answer["line"].(float64); ok && (l < 1 || answer["column"].(float64) < 1) {
				t.Fatalf("position out of range: %s", rec.Body)
			}
		default:
			t.Fatalf("undocumented answer %d: %s", rec.Code, rec.Body)
		}
	})
}
