package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	limit := 30 * time.Second
	for attempt := 1; attempt <= 70; attempt++ { // far past the point where doubling would overflow
		want := limit
		if attempt <= 5 {
			want = time.Second << (attempt - 1)
		}
		for range 50 {
			if d := Backoff(attempt, time.Second, limit); d < want/2 || d > want {
				t.Errorf("Backoff(%d) = %s, want within [%s, %s]", attempt, d, want/2, want)
			}
		}
	}
}

func TestAfter(t *testing.T) {
	now := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"30", 30 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"30s", 0, false},
		{"99999999999999999999999", MaxAfter, true},
		{"Tue, 14 May 2024 10:00:45 GMT", 45 * time.Second, true},
		{"Tuesday, 14-May-24 10:00:45 GMT", 45 * time.Second, true},
		{"Tue, 14 May 2024 09:00:00 GMT", 0, true},
		{"tomorrow", 0, false},
	} {
		if d, ok := After(tc.in, now); d != tc.want || ok != tc.ok {
			t.Errorf("After(%q) = %s, %v; want %s, %v", tc.in, d, ok, tc.want, tc.ok)
		}
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a cancelled context = %v", err)
	}
	if err := Sleep(t.Context(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v", err)
	}
}

func FuzzAfter(f *testing.F) {
	f.Add("120")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	now := time.Now()
	f.Fuzz(func(t *testing.T, v string) {
		if d, _ := After(v, now); d < 0 || d > MaxAfter {
			t.Fatalf("After(%q) = %v, outside [0, %s]", v, d, MaxAfter)
		}
	})
}
