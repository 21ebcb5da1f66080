package confluence

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
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
