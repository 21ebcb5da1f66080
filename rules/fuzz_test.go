package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alerter/alerter/internal/yamlx"
)

// FuzzCompile feeds arbitrary rule files to the loader: whatever the input,
// it must return a rule set or positioned errors, never panic.
func FuzzCompile(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("rules: [{id: a, severity: low, when: 'event.action == \"x\"', title: '{{ event.ip }}'}]"))
	f.Add([]byte("macros: {a: b, b: a}\nrules: [{id: a, severity: low, when: a}]"))
	// The attacks on evaluation: nesting that overflowed expr's parser,
	// an expression past the length limit, and rules that grow strings or
	// loop without end (they compile; the engine stops them).
	for _, when := range []string{
		strings.Repeat("(", 520000) + "true" + strings.Repeat(")", 520000),
		strings.Repeat("[", 30000) + "1" + strings.Repeat("]", 30000),
		`event.action == "` + strings.Repeat("x", 70000) + `"`,
		`let a = repeat("x", 99999); let v1 = a + a; let v2 = v1 + v1; let v3 = v2 + v2; len(v3 + v3) > 0`,
		`let s = repeat("x", 10000); len(replace(s, "", s)) > 0`,
		`let a = 1..1000; all(a, {all(a, {all(a, {all(a, {true})})})})`,
	} {
		f.Add([]byte("rules: [{id: a, severity: low, when: '" + when + "', title: '{{ " + when + " }}'}]"))
	}
	f.Add([]byte("macros: {m: '" + strings.Repeat("{", 200) + "'}\nrules: [{id: a, severity: low, when: m}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Compile([]File{{Name: "f.yaml", Data: data}}, Options{})
		if err == nil {
			if set == nil {
				t.Fatal("no set and no error")
			}
			return
		}
		var es yamlx.Errors
		if errors.As(err, &es) && len(es) == 0 {
			t.Fatal("empty error list")
		}
		if err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}
