package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/internal/yamlx"
)

func TestLoadDigest(t *testing.T) {
	set, err := Compile([]File{{Name: "t.yaml", Data: []byte("rules:\n  - id: r1\n    severity: high\n    when: 'true'\n    dedup: {window: 1h}\n    digest: 15m\n")}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := set.Rules[0]; r.Digest != 15*time.Minute || !r.Timed() {
		t.Fatalf("digest: %s, timed %v", r.Digest, r.Timed())
	}
}

func TestLoadDigestErrors(t *testing.T) {
	head := "rules:\n  - id: r1\n    severity: high\n    when: 'true'\n"
	dedup := "    dedup: {window: 1h}\n"
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"not positive", dedup + "    digest: 0s\n", "6:13: digest: must be longer than zero"},
		{"not a duration", dedup + "    digest: hourly\n", `6:13: digest: invalid duration "hourly": write e.g. 30s, 10m, 24h or 7d`},
		{"too short", dedup + "    digest: 30s\n", "6:13: digest: 30s is too short: one summary per 1m0s at least"},
		{"without dedup", "    digest: 1h\n", "5:13: digest summarizes the matches the dedup window suppresses: the rule needs dedup: (or a threshold)"},
		{"quiet rule", "    quiet: {within: 1h}\n" + dedup + "    digest: 1h\n",
			"7:13: digest summarizes suppressed matches, and an absence or a quiet rule fires at deadlines: its matches are never suppressed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := positionedErrors(t, head+tt.src, Options{}); got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// positionedErrors compiles src as t.yaml and returns its errors, one a
// line, without the file name; it fails the test unless there are some.
func positionedErrors(t *testing.T, src string, opt Options) string {
	t.Helper()
	_, err := Compile([]File{{Name: "t.yaml", Data: []byte(src)}}, opt)
	var es yamlx.Errors
	if !errors.As(err, &es) {
		t.Fatalf("got %v, want positioned errors", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, strings.TrimPrefix(e.Error(), "t.yaml:"))
	}
	return strings.Join(got, "\n")
}
