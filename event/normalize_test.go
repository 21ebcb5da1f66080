package event

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestUsernameFromURI(t *testing.T) {
	tests := map[string]string{
		"https://confluence.example.com/admin/users/viewuser.action?username=jdoe": "jdoe",
		"https://c/viewuser.action?x=1&username=svc-audit&y=2":                     "svc-audit",
		"https://c/viewuser.action?username=j%2Edoe":                               "j.doe",
		"https://c/viewuser.action?username=first+last#frag":                       "first last",
		"https://c/viewuser.action?username=bad%zz":                                "bad%zz",
		"https://c/viewuser.action?xusername=a&username=b":                         "b",
		"https://c/viewuser.action?xusername=username=a":                           "",
		"https://c/viewuser.action?username=":                                      "",
		"https://c/viewuser.action#username=a":                                     "",
		"https://c/display/username=a":                                             "",
		"":                                                                         "",
		"?username=a":                                                              "a",
		"https://c/admin/users/viewuser.action?username=%E3%83%A6%E3%83%BC%E3%82%B6%E3%83%BC": "ユーザー",
	}
	for uri, want := range tests {
		if got := usernameFromURI(uri); got != want {
			t.Errorf("usernameFromURI(%q) = %q, want %q", uri, got, want)
		}
	}
}

// TestParseRFC3339 checks the fast parser against time.Parse: the same time
// whenever it accepts, and it accepts the usual REST timestamps.
func TestParseRFC3339(t *testing.T) {
	inputs := []string{
		"2024-05-14T09:12:03.417Z", "2024-05-14T09:12:03Z", "2024-05-14T11:12:03.417+02:00", "2024-05-14T04:12:03.4-05:00",
		"2024-02-29T23:59:59.999999999Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-05-14T24:00:00Z",
		"2024-05-14T09:12:03.Z", "2024-05-14T09:12:03.1234567890Z", "2024-05-14T09:12:03+0200", "2024-05-14 09:12:03Z",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "1969-12-31T23:59:59.5Z", "2024-05-14T09:12:03.417+23:59",
		"2024-05-14T09:12:03.417+24:00", "2024-05-14T09:12:60Z", "2024-04-31T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		inputs = append(inputs, fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%0*dZ", r.IntN(10000), r.IntN(14), r.IntN(33),
			r.IntN(25), r.IntN(61), r.IntN(61), 1+r.IntN(9), r.IntN(1000)))
		inputs = append(inputs, time.Unix(r.Int64N(253402300799+62135596800)-62135596800, r.Int64N(1e9)).
			In(time.FixedZone("", (r.IntN(47)-23)*3600+r.IntN(4)*15*60)).Format(time.RFC3339Nano))
	}
	accepted := 0
	for _, s := range inputs {
		fast, ok := parseRFC3339(s)
		slow, err := time.Parse(time.RFC3339Nano, s)
		if ok {
			accepted++
			if err != nil || !fast.Equal(slow) || fast.Location() != time.UTC {
				t.Errorf("%q: fast %v, time.Parse %v, %v", s, fast, slow, err)
			}
		}
	}
	for _, s := range inputs[:5] {
		if _, ok := parseRFC3339(s); !ok {
			t.Errorf("%q is not taken by the fast parser", s)
		}
	}
	if accepted < len(inputs)/2 {
		t.Errorf("the fast parser took only %d of %d", accepted, len(inputs))
	}
}

func TestDaysSinceEpoch(t *testing.T) {
	for _, d := range []time.Time{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		// Midnights: the division is exact.
		if got, want := daysSinceEpoch(d.Year(), int(d.Month()), d.Day()), d.Unix()/86400; got != want {
			t.Errorf("%s: %d days, want %d", d.Format(time.DateOnly), got, want)
		}
	}
}
