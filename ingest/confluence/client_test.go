package confluence

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/config"
)

func TestParseRetryAfter(t *testing.T) {
	now := at(9, 15, 0)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", time.Second, true}, // never a busy loop
		{"99999999999999999999999", maxRetryAfter, true},
		{"86400", maxRetryAfter, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Tuesday, 14-May-24 09:16:30 GMT", 90 * time.Second, true}, // RFC 850
		{"Tue May 14 09:16:30 2024", 90 * time.Second, true},        // asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), time.Second, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), maxRetryAfter, true},
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"+5", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"7", "0", "120", "Tue, 14 May 2024 09:16:30 GMT", "soon", "-1", "999999999999999999999", ""} {
		f.Add(s)
	}
	now := at(9, 15, 0)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if ok && (d < time.Second || d > maxRetryAfter) {
			t.Errorf("parseRetryAfter(%q) = %s, outside [1s, %s]", s, d, maxRetryAfter)
		}
		if !ok && d != 0 {
			t.Errorf("parseRetryAfter(%q) = %s without ok", s, d)
		}
	})
}

func FuzzDecodeCheckpoint(f *testing.F) {
	for _, s := range []string{
		`{"end":"2024-05-14T09:14:00Z","seen":{"3f2a":1715677923417}}`,
		`{"end":"2024-05-14T09:14:00+02:00"}`,
		`{"end":"0001-01-01T00:00:00Z"}`,
		`{"seen":{"a":1}}`,
		`{"end":"2024-05-14T09:14:00Z","seen":{"a":"x"}}`,
		`null`, `[]`, `garbage`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		if cp.End.IsZero() || cp.End.Location() != time.UTC {
			t.Errorf("decoded end %v", cp.End)
		}
		// What was read is written back and read the same.
		out, err := json.Marshal(cp)
		if err != nil {
			return // a year JSON cannot carry
		}
		again, err := decodeCheckpoint(out)
		if err != nil || !again.End.Equal(cp.End) || len(again.Seen) != len(cp.Seen) {
			t.Errorf("round trip of %s: %+v, %v", out, again, err)
		}
	})
}

// The requests carry the source's credentials: a redirect is followed only
// within base_url's origin, so a 302 to another port or scheme of the same
// host (where Go's client keeps the Authorization header) sends nothing
// there, and the error names where it was sent.
func TestNoRedirectOffOrigin(t *testing.T) {
	var leaked atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		_, _ = w.Write([]byte(`{"results":[]}`))
	}))
	defer elsewhere.Close()
	// The same host (127.0.0.1), another port: Go keeps the header there.
	base := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rest/moved":
			http.Redirect(w, r, "/rest/here", http.StatusFound)
		case "/rest/here":
			_, _ = w.Write([]byte(`{"ok":true}`))
		default:
			http.Redirect(w, r, elsewhere.URL+r.URL.Path+"?token=x", http.StatusFound)
		}
	}))
	defer base.Close()

	for _, src := range []config.Source{
		{Name: "pat", Settings: Config{BaseURL: base.URL, Token: "PAT-SECRET-123"}},
		{Name: "basic", Settings: Config{BaseURL: base.URL, Username: "alerter", Password: "PASSWORD-xyz"}},
	} {
		t.Run(src.Name, func(t *testing.T) {
			c, err := newClient(src, Options{Sleep: func(context.Context, time.Duration) error { return nil }}.withDefaults(), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.get(t.Context(), "/rest/api/audit", nil, 0)
			if !errors.Is(err, errOffOrigin) || !strings.Contains(err.Error(), elsewhere.URL) {
				t.Fatalf("error %v: want a refused redirect naming %s", err, elsewhere.URL)
			}
			for _, s := range []string{"PAT-SECRET-123", "PASSWORD-xyz", "token=x"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows %q", err, s)
				}
			}
			if n := leaked.Load(); n != 0 {
				t.Errorf("%d requests with credentials reached the other origin", n)
			}
			if body, err := c.get(t.Context(), "/rest/moved", nil, 1); err != nil || string(body) != `{"ok":true}` {
				t.Errorf("a redirect within the origin: %q, %v", body, err)
			}
		})
	}
}
