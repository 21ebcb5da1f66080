package notifiers

import (
	"errors"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	base := errors.New("boom")
	for _, tc := range []struct {
		err   error
		retry bool
		after time.Duration
	}{
		{base, true, 0},
		{Retry(base, 3*time.Second), true, 3 * time.Second},
		{Permanent(base), false, 0},
		{errors.Join(errors.New("wrapped"), Permanent(base)), false, 0},
	} {
		retry, after := Classify(tc.err)
		if retry != tc.retry || after != tc.after {
			t.Errorf("Classify(%v) = %v, %v; want %v, %v", tc.err, retry, after, tc.retry, tc.after)
		}
		if !errors.Is(tc.err, base) {
			t.Errorf("%v does not wrap its cause", tc.err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		"0":                             0,
		"-5":                            0,
		"1.5":                           0,
		"30s":                           0,
		"999999":                        time.Hour,
		"Tue, 14 May 2024 10:00:45 GMT": 45 * time.Second,
		"Tue, 14 May 2024 09:00:00 GMT": 0,
		"tomorrow":                      0,
	} {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	now := time.Now()
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v, now); d < 0 || d > time.Hour {
			t.Fatalf("ParseRetryAfter(%q) = %v, outside [0, 1h]", v, d)
		}
	})
}
