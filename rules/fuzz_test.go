package rules

import (
	"errors"
	"os"
	"path/filepath"
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
