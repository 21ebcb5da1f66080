package notifiertest

import (
	"fmt"
	"reflect"
	"regexp"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/notifiers"
)

// Plugins checks every type of reg (Problems); a program's registry runs
// it, so that a type is checked by being added to the registry.
func Plugins(t *testing.T, reg notifiers.Registry) {
	for _, p := range Problems(reg) {
		t.Error(p)
	}
}

var typeRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// Problems are what keeps the types of reg from plugging in: a type name
// that is not [a-z0-9-]+ or is taken twice; a Config that is not a pointer
// to a struct, or has a key every notifier has, or a key of another type
// with another Go type (config checks a key by one type); a Validate that
// panics on an entry without keys; a Preview of the sample alert that
// panics, is empty or does not marshal to JSON.
func Problems(reg notifiers.Registry) []string {
	var out []string
	common := map[string]bool{}
	for _, k := range yamlx.StructKeys(reflect.TypeFor[config.Notifier]()) {
		common[k] = true
	}
	types := map[string]bool{}
	keys := map[string]reflect.Type{}
	keyOf := map[string]string{}
	for _, p := range reg {
		typ := p.Type()
		if !typeRE.MatchString(typ) || types[typ] {
			out = append(out, fmt.Sprintf("type %q: not [a-z0-9-]+, or registered twice", typ))
		}
		types[typ] = true
		if v := p.Config(); v != nil {
			t := reflect.TypeOf(v)
			if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
				out = append(out, fmt.Sprintf("type %s: Config() is a %s, not a pointer to a struct", typ, t))
				continue
			}
			for key, kt := range yamlx.StructFields(t.Elem()) {
				switch {
				case common[key]:
					out = append(out, fmt.Sprintf("type %s: key %s is one every notifier has", typ, key))
				case keys[key] != nil && keys[key] != kt:
					out = append(out, fmt.Sprintf("type %s: key %s is a %s, but a %s in type %s", typ, key, kt, keys[key], keyOf[key]))
				case keys[key] == nil:
					keys[key], keyOf[key] = kt, typ
				}
			}
		}
		out = append(out, try(typ, "Validate", func() error { return validates(reg, typ) })...)
		out = append(out, try(typ, "Preview", func() error { return previews(p) })...)
	}
	return out
}

// validates parses an entry of type typ without its keys: errors are
// expected, a panic is not.
func validates(reg notifiers.Registry, typ string) error {
	_, _ = config.Parse("c.yaml", []byte("notifiers: [{name: n, type: "+typ+"}]"), nil, config.Plugins{Notifiers: reg.Config()})
	return nil
}

// previews renders the sample alert at every severity.
func previews(p notifiers.Plugin) error {
	nc := config.Notifier{Name: "n", Type: p.Type()}
	for _, sev := range alerter.Severities() {
		pv := p.Preview(notifiers.Sample(sev, time.Now()), nc, "https://alerter.example.com")
		if pv.Subject == "" && pv.Text == "" && pv.Body == nil {
			return fmt.Errorf("severity %s: an empty preview", sev)
		}
		if _, err := json.Marshal(pv.Body); err != nil {
			return fmt.Errorf("severity %s: the body does not marshal: %w", sev, err)
		}
	}
	return nil
}

func try(typ, what string, f func() error) (out []string) {
	defer func() {
		if r := recover(); r != nil {
			out = append(out, fmt.Sprintf("type %s: %s panics: %v", typ, what, r))
		}
	}()
	if err := f(); err != nil {
		out = append(out, fmt.Sprintf("type %s: %s: %v", typ, what, err))
	}
	return out
}

// Validate parses a config whose one notifier is entry, a YAML flow
// mapping, with p as the only type, and returns its errors: for the tests
// of a type's validation.
func Validate(p config.Plugin, entry string) error {
	_, err := config.Parse("c.yaml", []byte("notifiers: ["+entry+"]\n"), func(string) (string, bool) { return "", false },
		config.Plugins{Notifiers: []config.Plugin{p}})
	return err
}
