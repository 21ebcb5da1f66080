package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// alerter alerts lists the latest fired first, and shows that time first:
// the API's stored order can differ from it a little, and the event's own
// time (second) is not the order at all.
func TestAlertsInFiringOrder(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"alerts":[
			{"id":"B","rule":"r","severity":"high","title":"second","time":"2024-05-15T10:00:00Z","fired_at":"2026-12-07T10:00:00.100Z","status":"acknowledged","acknowledged_by":"ann","acknowledged_at":"2026-12-07T10:05:00Z"},
			{"id":"C","rule":"r","severity":"high","title":"third","time":"2024-05-16T10:00:00Z","fired_at":"2026-12-07T10:00:00.200Z"},
			{"id":"A","rule":"r","severity":"high","title":"first","time":"2026-12-07T09:59:00Z","fired_at":"2026-12-07T10:00:00.000Z","status":"firing"}]}`))
	}))
	defer srv.Close()
	t.Setenv("TZ", "UTC")
	code, out, errs := runCLI(t, "", "alerts", "--url", srv.URL)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 {
		t.Fatalf("%d %q %q", code, out, errs)
	}
	if !strings.HasPrefix(lines[0], "FIRED ") {
		t.Errorf("header %q", lines[0])
	}
	for i, want := range []string{"2026-12-07 10:00:00 2024-05-16 10:00:00 high - r third C",
		"2026-12-07 10:00:00 2024-05-15 10:00:00 high acknowledged (ann) r second B", "2026-12-07 10:00:00 2026-12-07 09:59:00 high firing r first A"} {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); got != want {
			t.Errorf("row %d: %q, want %q", i+1, got, want)
		}
	}
}
