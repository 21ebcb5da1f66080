package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
)

// A history is read page after page through the next cursors, up to the
// bound on pages; the token goes along with every request.
func TestClientPages(t *testing.T) {
	pages := map[string]Alerts{
		"":  {Alerts: []Alert{{Alert: &alerter.Alert{ID: "a5"}}, {Alert: &alerter.Alert{ID: "a4"}}}, Next: "4"},
		"4": {Alerts: []Alert{}, Next: "3"}, // the server stopped at its bound on alerts read
		"3": {Alerts: []Alert{{Alert: &alerter.Alert{ID: "a2"}}}, Next: "2"},
		"2": {Alerts: []Alert{{Alert: &alerter.Alert{ID: "a1"}}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Path != "/api/v1/alerts" || r.URL.Query().Get("rule") != "r1" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		_ = json.NewEncoder(w).Encode(pages[r.URL.Query().Get("before")])
	}))
	t.Cleanup(srv.Close)
	c := &Client{BaseURL: srv.URL + "/", Token: "tok"}
	for _, tc := range []struct {
		maxPages, most int
		want           string
		older          bool
	}{
		{0, 10, "a5 a4 a2 a1", false},
		{2, 10, "a5 a4", true},
		{0, 3, "a5 a4 a2", true},
	} {
		var got []string
		older, err := c.Alerts(t.Context(), map[string][]string{"rule": {"r1"}}, tc.maxPages, func(a Alert) bool {
			got = append(got, a.ID)
			return len(got) < tc.most
		})
		if err != nil || strings.Join(got, " ") != tc.want || older != tc.older {
			t.Errorf("maxPages %d, most %d: %q older=%v err=%v; want %q older=%v", tc.maxPages, tc.most, strings.Join(got, " "), older, err, tc.want, tc.older)
		}
	}
}

// An answer other than 2xx is a StatusError with the server's message, or
// the request and status when there is none.
func TestClientStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/silences/s1" {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(ErrorBody{Error: "no silence s1"})
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	c := &Client{BaseURL: srv.URL}
	_, err := c.ExpireSilence(t.Context(), "s1")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 || se.Message != "no silence s1" || err.Error() != "no silence s1 (404)" {
		t.Errorf("expire s1: err = %v (%+v), want no silence s1 (404)", err, se)
	}
	_, err = c.Silences(t.Context())
	if err == nil || err.Error() != "GET /api/v1/silences: 502 Bad Gateway" {
		t.Errorf("list: err = %v, want GET /api/v1/silences: 502 Bad Gateway", err)
	}
	c.BaseURL = "http://127.0.0.1:1"
	if _, err := c.Silences(t.Context()); err == nil || !strings.Contains(err.Error(), "is alerter running at http://127.0.0.1:1?") {
		t.Errorf("no server: err = %v", err)
	}
}
