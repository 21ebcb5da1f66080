package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/internal/yamlx"
)

func TestLoadGoodFile(t *testing.T) {
	set, err := Load([]string{"testdata/good.yaml"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules) != 2 || len(set.Lists) != 2 || len(set.Macros) != 2 {
		t.Fatalf("got %d rules, %d lists, %d macros", len(set.Rules), len(set.Lists), len(set.Macros))
	}
	r := set.Rule("soteri-global-setting-changed-by-non-admin")
	if r.Severity != alerter.Critical || r.DedupWindow() != 30*time.Minute || len(r.GroupBy) != 1 ||
		r.Pos.Line != 8 || !r.Enabled || r.Labels["team"] != "security" || len(r.Tests) != 1 {
		t.Fatalf("rule: %+v", r)
	}
	off := set.Rule("off-hours")
	if off.Enabled || off.Threshold.Count != 2 || off.DedupWindow() != time.Hour || off.Dedup != nil {
		t.Fatalf("threshold rule: %+v", off)
	}
	if a := off.Tests; a != nil {
		t.Fatal("tests appeared from nowhere")
	}
}

func TestLoadReportsEveryErrorWithItsPosition(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // errors, in order, without the file name
	}{
		{"unknown field, column inside the expression", `
rules:
  - id: r1
    severity: high
    when: event.actor.nmae == "x"
`, []string{`5:23: when: type event.actor has no field nmae`}},
		{"misspelt key", `
rules:
  - id: r1
    severity: high
    whne: true
`, []string{`5:5: unknown key "whne" (did you mean "when"?)`}},
		{"not a condition", `
rules:
  - {id: r1, severity: high, when: event.action}
`, []string{`3:36: when: when must be a condition (true or false): got string`}},
		{"errors of several rules at once", `
rules:
  - id: r1
    severity: hgh
    when: "true"
  - id: R2
    severity: low
    when: "true"
  - id: r3
    severity: low
    when: "true"
    threshold: {count: 0, within: 10x}
`, []string{
			`4:15: unknown severity "hgh" (one of info, low, medium, high, critical)`,
			`6:9: rule id "R2": use lower-case letters, digits and single dashes ([a-z0-9-]+)`,
			`12:24: threshold.count must be at least 1`,
			`12:35: threshold.within: invalid duration "10x": write e.g. 30s, 10m, 24h or 7d`,
		}},
		{"block scalar position", `
lists: {admins: [a]}
rules:
  - id: r1
    severity: low
    when: |
      event.action == "x" &&
        event.actor.name in lists.admns
`, []string{`8:35: when: unknown list "admns" (known: admins)`}},
		{"template", `
rules:
  - id: r1
    severity: low
    when: "true"
    title: "{{ event.actor.display_name }} did {{ event.actoin }}"
`, []string{`6:57: title: type event has no field actoin`}},
		{"unclosed template", `
rules:
  - {id: r1, severity: low, when: "true", text: "a {{ b"}
`, []string{`3:52: text: {{ is not closed with }}`}},
		{"bad constant arguments", `
rules:
  - {id: r1, severity: low, when: 'cidr(event.ip, "10.0.0/8")'}
  - {id: r2, severity: low, when: 'hour(event.time, "Mars/Base") > 1'}
  - {id: r3, severity: low, when: 'cidr(event.ip)'}
`, []string{
			`3:51: when: cidr: "10.0.0/8" is not a network (CIDR such as 10.0.0.0/8) or an address`,
			`4:53: when: hour: unknown time zone "Mars/Base" (use an IANA name such as Europe/Berlin)`,
			`5:36: when: not enough arguments to call cidr`,
		}},
		{"macro errors are reported at the macro", `
macros:
  bad: event.nope == 1
rules:
  - {id: r1, severity: low, when: bad}
`, []string{`3:14: macro bad: type event has no field nope`}},
		{"macro cycle", `
macros:
  a: b
  b: a
rules:
  - {id: r1, severity: low, when: a}
`, []string{`3:6: macro a: in macro b: macro a refers to itself (a -> b -> a)`, `4:6: macro b: in macro a: macro b refers to itself (b -> a -> b)`}},
		{"duplicate id", `
rules:
  - {id: r1, severity: low, when: "true"}
  - {id: r1, severity: low, when: "true"}
`, []string{`4:10: rule id r1 is already used at t.yaml:3:5`}},
		{"a misspelt key does not hide the rule's other errors", `
rules:
  - id: r1
    severity: hihg
    when: event.actor.nmae == "x"
    tresholds: {count: 3}
  - {id: r1, severity: low, when: "true"}
`, []string{
			`4:15: unknown severity "hihg" (one of info, low, medium, high, critical)`,
			`5:23: when: type event.actor has no field nmae`,
			`6:5: unknown key "tresholds" (did you mean "threshold"?)`,
			`7:10: rule id r1 is already used at t.yaml:3:5`,
		}},
		{"a misspelt key inside the rule does not hide a missing when", `
rules:
  - id: r1
    severity: low
    threshold: {count: 2, withn: 10m}
`, []string{
			`3:5: rule r1 has no when: condition`,
			`5:16: threshold.within is required`,
			`5:27: unknown key "withn" (did you mean "within"?)`,
		}},
		{"a misspelt top-level key does not hide the rules' errors", `
rule: []
rules:
  - {id: r1, severity: low, when: event.nope}
`, []string{
			`2:1: unknown key "rule" (did you mean "rules"?)`,
			`4:41: when: type event has no field nope`,
		}},
		{"different groupings", `
rules:
  - id: r1
    severity: low
    when: "true"
    threshold: {count: 2, within: 1m, by: [event.ip]}
    dedup: {by: [event.actor.name], window: 1m}
`, []string{`7:17: dedup.by and threshold.by differ; a rule has one grouping: give by: in one of them (the other inherits it) or the same list in both`}},
		{"distinct: each entry an expression that type-checks", `
rules:
  - id: r1
    severity: low
    when: "true"
    threshold: {count: 5, within: 1h, distinct: [event.nope, {a: b}]}
`, []string{
			`6:56: threshold.distinct: type event has no field nope`,
			`6:62: threshold.distinct: each entry is an expression such as event.actor.name`,
		}},
		{"distinct: an empty list, a count over the bound", `
rules:
  - {id: r1, severity: low, when: "true", threshold: {count: 5, within: 1h, distinct: []}}
  - {id: r2, severity: low, when: "true", threshold: {count: 101, within: 1h, distinct: [event.actor.name]}}
`, []string{
			`3:87: threshold.distinct: give a list of expressions, such as [object("Space")?.name]`,
			`4:62: threshold.count with distinct must be at most 100: the window keeps one entry per event, bounded by the count`,
		}},
		{"new_value: of typed like by, history positive, learning not negative", `
rules:
  - id: r1
    severity: low
    when: "true"
    new_value: {of: [event.nope, {a: b}], by: [event.actor.name], history: 0s, learning: -1h}
`, []string{
			`6:28: new_value.of: type event has no field nope`,
			`6:34: new_value.of: each entry is an expression such as event.actor.name`,
			`6:76: new_value.history: must be longer than zero`,
			`6:90: new_value.learning: invalid duration "-1h": write e.g. 30s, 10m, 24h or 7d`,
		}},
		{"new_value: of missing, history missing, max_values out of bounds", `
rules:
  - {id: r1, severity: low, when: "true", new_value: {of: [], history: 1h, max_values: 0}}
  - {id: r2, severity: low, when: "true", new_value: {of: [event.ip], max_values: 10001}}
`, []string{
			`3:54: new_value.of: give a list of expressions, such as [event.ip]`,
			`3:88: new_value.max_values must be between 1 and 10000: a group's remembered values are one state store value`,
			`4:54: new_value.history is required`,
			`4:83: new_value.max_values must be between 1 and 10000: a group's remembered values are one state store value`,
		}},
		{"new_value with threshold", `
rules:
  - id: r1
    severity: low
    when: "true"
    threshold: {count: 2, within: 1h}
    new_value: {of: [event.ip], history: 30d}
`, []string{`6:16: new_value cannot be combined with threshold: a rule alerts on new values or on counts, not both`}},
		{"sequence: step count, names, conditions, within, by typed, absent only last", `
rules:
  - id: r1
    severity: low
    sequence:
      by: [event.nope]
      within: 0s
      steps:
        - {name: a, when: "true", absent: true}
        - {name: a, when: "1"}
        - {when: "true", absent: true}
  - id: r2
    severity: low
    sequence: {within: 1h, steps: [{name: only, when: "true"}]}
`, []string{
			`6:18: sequence.by: type event has no field nope`,
			`7:15: sequence.within: must be longer than zero`,
			`9:43: sequence.steps[0]: only the last step may be absent`,
			`10:18: sequence.steps[1]: the step name "a" is taken by an earlier step`,
			`10:28: sequence.steps[1].when: when must be a condition (true or false): got int`,
			`11:11: sequence.steps[2]: every step needs a name`,
			`14:35: sequence.steps: give 2 to 8 steps, not 1`,
		}},
		{"quiet: within required and positive, by typed, alone", `
rules:
  - id: r1
    severity: low
    when: "true"
    quiet: {by: [event.nope]}
  - id: r2
    severity: low
    when: "true"
    threshold: {count: 2, within: 1m}
    quiet: {within: -1m}
  - id: r3
    severity: low
    when: "true"
    quiet: {within: 30m, by: [event.source]}
    dedup: {by: [event.actor.name], window: 1h}
    tests:
      - {name: t, event: {}, until: yesterday, expect: none}
`, []string{
			`6:12: quiet.within is required`,
			`6:24: quiet.by: type event has no field nope`,
			`10:16: quiet cannot be combined with threshold: a quiet rule alerts on the absence of events, not on them`,
			`16:17: dedup.by and quiet.by differ; a rule has one grouping: give by: in one of them (the other inherits it) or the same list in both`,
			`18:37: test "t": until: want an RFC 3339 time such as 2026-01-02T15:04:05Z: parsing time "yesterday" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "yesterday" as "2006"`,
		}},
		{"sequence: no when, threshold or new_value beside it; step names unique", `
rules:
  - id: r1
    severity: low
    when: "true"
    sequence: {within: 1h, steps: [{name: a, when: "true"}, {name: b, when: "true"}]}
  - id: r2
    severity: low
    threshold: {count: 2, within: 1h}
    sequence: {within: 1h, steps: [{name: a, when: "true"}, {name: b, when: "true"}]}
  - id: r3
    severity: low
    sequence: {within: 1h, steps: [{name: a, when: "true"}, {name: a, when: "false"}]}
`, []string{
			`5:11: a rule with sequence: has no when: each step has its own when`,
			`9:16: a rule with sequence: has no threshold: each step has its own when`,
			`13:68: sequence.steps[1]: the step name "a" is taken by an earlier step`,
		}},
		{"test without expect and with a bad expect word", `
rules:
  - id: r1
    severity: low
    when: "true"
    tests:
      - {name: a, event: {}}
      - {name: b, event: {}, expect: maybe}
`, []string{
			`7:9: test "a" has no expect: (alert, none, or a mapping)`,
			`8:38: test "b": expect is alert, none, or a mapping of alerts, suppressed, escalations, resolves, digests, distinct, severity, group, title, text, notify`,
		}},
		{"type error", `
rules:
  - {id: r1, severity: [high], when: "true"}
`, []string{`3:24: cannot use a list here: expected a string`}},
		{"invalid YAML", "rules:\n  - id: r1\n   severity: x\n", []string{`1: invalid YAML: did not find expected '-' indicator`}},
		{"too big", "rules:\n  - {id: r1, severity: low, when: '" + strings.Repeat("1 + ", 6000) + "1 > 0'}\n",
			[]string{`2:10038: when: expression exceeds maximum allowed nodes`}},
		// expr's parser recurses on brackets: a deep nesting is refused
		// before it is parsed, where it passes the limit.
		{"nested too deep", "rules:\n  - {id: r1, severity: low, when: '" + strings.Repeat("(", 30000) + "true" + strings.Repeat(")", 30000) + "'}\n",
			[]string{`2:136: when: expression nests ( [ { more than 100 levels deep`}},
		{"too long", "rules:\n  - {id: r1, severity: low, when: 'event.action == \"" + strings.Repeat("x", 70000) + "\"'}\n",
			[]string{`2:65572: when: expression is 70018 bytes long, over the limit of 64 KiB`}},
		{"template nested too deep", "rules:\n  - {id: r1, severity: low, when: 'true', title: 'a {{ " + strings.Repeat("[", 101) + " }}'}\n",
			[]string{`2:156: title: expression nests ( [ { more than 100 levels deep`}},
		{"macro nested too deep", "macros: {m: '" + strings.Repeat("{", 101) + "'}\nrules:\n  - {id: r1, severity: low, when: m}\n",
			[]string{`1:114: macro m: expression nests ( [ { more than 100 levels deep`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The sources start with a newline, so line numbers read as in the file.
			_, err := Compile([]File{{Name: "t.yaml", Data: []byte(tt.src)}}, Options{})
			var es yamlx.Errors
			if !errors.As(err, &es) {
				t.Fatalf("got %v, want positioned errors", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, strings.TrimPrefix(e.Error(), "t.yaml:"))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLoadNewValue(t *testing.T) {
	set, err := Compile([]File{{Name: "t.yaml", Data: []byte(`rules:
  - id: new-ip
    severity: medium
    when: event.category_key == "audit.logging.category.global.config"
    new_value:
      of: [event.ip]
      by: [event.actor.name]
      history: 30d
      learning: 7d
    dedup: {window: 1h}
  - id: defaults
    severity: low
    when: "true"
    new_value: {of: [event.actor.name, event.ip], history: 1h}
`)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Rule("new-ip")
	nv := r.NewValue
	if len(nv.Of) != 1 || nv.Of[0].Source != "event.ip" || nv.Of[0].Program == nil || nv.History != 30*24*time.Hour ||
		nv.Learning != 7*24*time.Hour || nv.MaxValues != DefaultMaxValues || !slices.Equal(nv.By, []string{"event.actor.name"}) {
		t.Fatalf("new_value: %+v", nv)
	}
	// new_value.by is the rule's grouping, which dedup inherits.
	if len(r.GroupBy) != 1 || r.GroupBy[0].Source != "event.actor.name" || !slices.Equal(r.Dedup.By, nv.By) || !r.Stateful() {
		t.Fatalf("grouping %v, dedup %+v", r.GroupBy, r.Dedup)
	}
	if d := set.Rule("defaults").NewValue; d.Learning != 0 || d.MaxValues != DefaultMaxValues || len(d.Of) != 2 {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestLoadSequence(t *testing.T) {
	set, err := Compile([]File{{Name: "t.yaml", Data: []byte(`rules:
  - id: secret-then-export
    severity: critical
    sequence:
      by: [event.actor.name]
      within: 30m
      steps:
        - {name: secret, when: event.action == "edit"}
        - {name: exported, when: event.action startsWith "All findings exported"}
    dedup: {window: 1h}
`)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Rule("secret-then-export")
	sq := r.Sequence
	if sq.Within != 30*time.Minute || len(sq.Steps) != 2 || sq.Steps[1].Name != "exported" || sq.Steps[1].When.Program == nil ||
		!slices.Equal(sq.By, []string{"event.actor.name"}) {
		t.Fatalf("sequence: %+v", sq)
	}
	// The rule's condition is any step's, for the index; sequence.by is
	// the rule's grouping, which dedup inherits.
	if want := `(event.action == "edit") || (event.action startsWith "All findings exported")`; r.When.Source != want || r.When.Program == nil {
		t.Fatalf("when %q, want %q", r.When.Source, want)
	}
	if len(r.GroupBy) != 1 || !slices.Equal(r.Dedup.By, sq.By) || !r.Stateful() {
		t.Fatalf("grouping %v, dedup %+v", r.GroupBy, r.Dedup)
	}
}

func TestLoadDistinct(t *testing.T) {
	set, err := Compile([]File{{Name: "t.yaml", Data: []byte(`rules:
  - id: exports
    severity: high
    when: event.action == "Space exported"
    threshold:
      count: 5
      within: 1h
      by: [event.actor.name]
      distinct: ['object("Space")?.name', event.ip]
`)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	th := set.Rule("exports").Threshold
	var got []string
	for _, d := range th.Distinct {
		got = append(got, d.Source)
		if d.Program == nil {
			t.Errorf("%s: not compiled", d.Source)
		}
	}
	if strings.Join(got, "|") != `object("Space")?.name|event.ip` || th.Count != 5 || th.Within != time.Hour {
		t.Fatalf("threshold: %+v", th)
	}
}

func TestNotifiersAreCheckedAgainstConfig(t *testing.T) {
	src := "rules:\n  - {id: r1, severity: low, when: 'true', notify: [slack, nope]}\n"
	if _, err := Compile([]File{{Name: "t.yaml", Data: []byte(src)}}, Options{}); err != nil {
		t.Fatalf("without a config notifiers are not checked: %v", err)
	}
	_, err := Compile([]File{{Name: "t.yaml", Data: []byte(src)}}, Options{Notifiers: []string{"slack"}})
	if err == nil || !strings.Contains(err.Error(), `t.yaml:2:51: unknown notifier "nope" in notify (configured: slack)`) {
		t.Fatalf("got %v", err)
	}
}

func TestListsFromConfigCannotBeRedefined(t *testing.T) {
	src := "lists: {admins: [x]}\nrules: []\n"
	_, err := Compile([]File{{Name: "t.yaml", Data: []byte(src)}}, Options{Lists: map[string][]string{"admins": {"y"}}})
	if err == nil || !strings.Contains(err.Error(), "list admins is already defined in the config") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadMissingPath(t *testing.T) {
	_, err := Load([]string{"testdata/nope"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "testdata/nope: read rules: no such file or directory") {
		t.Fatalf("got %v", err)
	}
}

func TestSelfReferentialAliasIsAnErrorNotACrash(t *testing.T) {
	src := "rules:\n  - &r {id: r1, severity: low, when: 'true', <<: *r}\n"
	_, err := Compile([]File{{Name: "t.yaml", Data: []byte(src)}}, Options{})
	if err == nil {
		t.Fatal("a rule that merges itself loaded")
	}
}

// A rule's Source is its text as written, which compiles back to the same
// rule: what the playground edits.
func TestRuleSource(t *testing.T) {
	src := `rules:
  # the first rule
  - id: r1
    severity: low
    when: >-
      event.action == "x" &&
        event.actor.name != ""
    title: "{{ event.actor.name }} did x"   # trailing comment

  # ---- the next section
  - {id: r2, severity: high, when: 'event.ip != ""'}
  -   id: r3
      severity: info
      when: "true"
lists:
  admins: [a]
`
	set, err := Compile([]File{{Name: "t.yaml", Data: []byte(src)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"r1": "id: r1\nseverity: low\nwhen: >-\n  event.action == \"x\" &&\n    event.actor.name != \"\"\ntitle: \"{{ event.actor.name }} did x\"   # trailing comment\n",
		"r2": "{id: r2, severity: high, when: 'event.ip != \"\"'}\n",
		"r3": "id: r3\nseverity: info\nwhen: \"true\"\n",
	}
	for id, w := range want {
		if got := set.Rule(id).Source; got != w {
			t.Errorf("%s: source %q, want %q", id, got, w)
		}
	}

	// Every example rule, compiled from its source alone (with the set's
	// macros and lists), is the rule it was.
	ex, err := Load([]string{"../examples/rules"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ex.Rules {
		sameRule(t, r, recompile(t, r, ex))
	}

	// YAML whose rule text cannot stand alone: the source is the rule
	// re-encoded, which still compiles to the same rule.
	for name, src := range map[string]string{
		"flow list":        "rules: [{id: a, severity: low, when: 'true'}, {id: b, severity: low,\n  when: 'false'}]\n",
		"merge key":        "rules:\n  - &base {id: a, severity: low, when: 'true'}\n  - <<: *base\n    id: b\n",
		"text ending in #": "rules:\n  - id: a\n    severity: low\n    when: 'true'\n    text: |\n      Escalate in\n      #sec-oncall\n",
		"kept blank lines": "rules:\n  - id: a\n    severity: low\n    when: 'true'\n    text: |+\n      two blank lines follow\n\n\n",
		"document end":     "rules:\n  - id: a\n    severity: low\n    when: 'true'\n...\n",
	} {
		set, err := Compile([]File{{Name: "t.yaml", Data: []byte(src)}}, Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, r := range set.Rules {
			if r.Source == "" {
				t.Errorf("%s: rule %s has no source", name, r.ID)
				continue
			}
			sameRule(t, r, recompile(t, r, set))
		}
	}
}

// recompile compiles r's Source alone, with set's macros and lists.
func recompile(t *testing.T, r *Rule, set *Set) *Rule {
	t.Helper()
	var macros strings.Builder
	macros.WriteString("macros:\n")
	for name, m := range set.Macros {
		fmt.Fprintf(&macros, "  %s: %q\n", name, m)
	}
	var b strings.Builder
	b.WriteString("rules:\n")
	for i, line := range strings.Split(strings.TrimSuffix(r.Source, "\n"), "\n") {
		if i == 0 {
			b.WriteString("- " + line + "\n")
		} else {
			b.WriteString("  " + line + "\n")
		}
	}
	files := []File{{Name: "rule", Data: []byte(b.String())}}
	if len(set.Macros) > 0 {
		files = append(files, File{Name: "macros", Data: []byte(macros.String())})
	}
	one, err := Compile(files, Options{Lists: set.Lists})
	if err != nil {
		t.Fatalf("%s: its source does not compile: %v\n%s", r.ID, err, r.Source)
	}
	return one.Rules[0]
}

func sameRule(t *testing.T, want, got *Rule) {
	t.Helper()
	if got.ID != want.ID || got.When.Source != want.When.Source || got.Title.Source != want.Title.Source || got.Text.Source != want.Text.Source ||
		len(got.Tests) != len(want.Tests) || got.Severity != want.Severity {
		t.Errorf("%s: compiled from its source, it differs:\n%s", want.ID, want.Source)
	}
}
