package rules

import (
	"testing"
	"time"
)

func TestLoadResolve(t *testing.T) {
	set, err := Compile([]File{{Name: "t.yaml", Data: []byte(`rules:
  - id: off
    severity: high
    when: event.action == "toggled" && new("Enabled") == "false"
    dedup: {by: [event.actor.id], window: 1h}
    resolve: {when: 'event.action == "toggled" && new("Enabled") == "true"', after: 2h}
`)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Rule("off").Resolve
	if r == nil || r.When.Program == nil || r.After != 2*time.Hour {
		t.Fatalf("resolve: got %+v", r)
	}
	if want := `event.action == "toggled" && new("Enabled") == "true"`; r.When.Source != want {
		t.Errorf("resolve.when source: got %q, want %q", r.When.Source, want)
	}
}

func TestLoadResolveErrors(t *testing.T) {
	head := "rules:\n  - id: r1\n    severity: high\n    when: 'true'\n"
	dedup := "    dedup: {by: [event.actor.id], window: 1h}\n"
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"not a mapping", dedup + "    resolve: [x]\n",
			"6:14: resolve is a mapping such as {when: EXPR, after: 2h}"},
		{"empty", dedup + "    resolve: {}\n",
			"6:14: resolve needs when: EXPR, after: DURATION, or both"},
		{"no grouping", "    resolve: {when: 'event.action == \"x\"'}\n",
			"5:21: resolve.when resolves the group of the event that meets it: the rule needs a grouping (dedup, threshold, new_value or sequence by:)"},
		{"bad expression", dedup + "    resolve: {when: 'event.nope == 1'}\n",
			"6:28: resolve.when: type event has no field nope"},
		{"not boolean", dedup + "    resolve: {when: 'event.action'}\n",
			"6:22: resolve.when: when must be a condition (true or false): got string"},
		{"after not positive", dedup + "    resolve: {after: 0s}\n",
			"6:22: resolve.after: must be longer than zero"},
		{"after without a grouping", "    resolve: {after: 2h}\n",
			"5:22: resolve.after resolves a group that had no match this long: the rule needs a grouping (dedup, threshold, new_value or sequence) to keep its groups"},
		{"after on a quiet rule", "    quiet: {within: 1h}\n    resolve: {after: 2h}\n",
			"6:22: resolve.after resolves a group that had no match this long, and a quiet rule alerts for just that: resolve it with resolve.when"},
		{"unknown key", dedup + "    resolve: {whenn: 'true'}\n",
			`6:15: unknown key "whenn" (did you mean "when"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := positionedErrors(t, head+tt.src, Options{}); got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
