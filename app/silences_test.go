package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/silences"
)

// A silence that mutes everything, or for longer than
// silences.max_duration, is refused by the API with the reason, and is not
// applied when it is written straight into the bucket (as anyone on the
// NATS port could): the alert it would mute still goes out.
func TestSilencesThatMuteEverything(t *testing.T) {
	flaky := newTarget(nil)
	r := startDelivery(t, map[string]delivery.Notifier{"flaky": flaky, "broken": newTarget(nil), "limited": newTarget(nil), "slow": newTarget(nil)})
	for body, want := range map[string]string{
		`{"matchers":[{"name":"rule","value":"","negate":true}],"duration":"1h","created_by":"x","comment":"y"}`:       "would mute everything",
		`{"matchers":[{"name":"rule","value":".+","regex":true}],"duration":"1h","created_by":"x","comment":"y"}`:      "would mute everything",
		`{"matchers":[{"name":"severity","value":".*","regex":true}],"duration":"1h","created_by":"x","comment":"y"}`:  "matches every value",
		`{"matchers":[{"name":"rule","value":"setting-changed"}],"duration":"876000h","created_by":"x","comment":"y"}`: "longer than silences.max_duration (30 days)",
	} {
		code, got := r.post(t, "/api/v1/silences", body, "Content-Type", "application/json")
		if code != http.StatusBadRequest || !strings.Contains(got["error"].(string), want) {
			t.Errorf("POST %s: %d %v, want 400 %q", body, code, got, want)
		}
	}
	code, got := r.post(t, "/api/v1/silences/preview", `{"matchers":[{"name":"rule","value":".+","regex":true}]}`, "Content-Type", "application/json")
	if code != http.StatusBadRequest || !strings.Contains(got["error"].(string), "would mute everything") {
		t.Errorf("preview: %d %v", code, got)
	}
	if n := len(r.svc.silenceStore.List()); n != 0 {
		t.Fatalf("%d silences created", n)
	}

	kv, err := r.svc.js.KeyValue(t.Context(), silences.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	b, _ := json.Marshal(silences.Silence{ID: "forged", StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
		Matchers: []silences.Matcher{{Name: "rule", Value: "", Negate: true}}, CreatedBy: "ops", Comment: "maintenance"})
	if _, err := kv.Put(t.Context(), "forged", b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forged silence to be read", func() bool { return len(r.svc.silenceStore.Refused()) == 1 })
	r.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	waitFor(t, "the alert to go out", func() bool { return len(flaky.accepted()) == 1 })

	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(m), "\nalerter_silences_refused 1\n") {
		t.Errorf("metrics lack alerter_silences_refused 1:\n%s", m)
	}
}
