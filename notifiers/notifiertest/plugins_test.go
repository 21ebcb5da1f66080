package notifiertest

import (
	"strings"
	"testing"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// fake is a notifier type whose parts a test chooses.
type fake struct {
	typ     string
	cfg     func() config.Validator
	preview func() notifiers.Preview
}

func (f fake) Type() string                                                  { return f.typ }
func (f fake) Config() config.Validator                                      { return f.cfg() }
func (fake) New(config.Notifier, notifiers.Deps) (notifiers.Notifier, error) { return nil, nil }
func (f fake) Preview(*alerter.Alert, config.Notifier, string) notifiers.Preview {
	return f.preview()
}

type urlConfig struct {
	URL string `yaml:"url"`
}

func (*urlConfig) Validate(*config.Checker) {}

type otherURL struct {
	URL int `yaml:"url"`
}

func (*otherURL) Validate(*config.Checker) {}

type timeoutConfig struct {
	Timeout string `yaml:"timeout"`
}

func (*timeoutConfig) Validate(*config.Checker) {}

type panicky struct{}

func (*panicky) Validate(*config.Checker) { panic("boom") }

func TestProblems(t *testing.T) {
	none := func() config.Validator { return nil }
	text := func() notifiers.Preview { return notifiers.Preview{Text: "x"} }
	for _, tc := range []struct {
		name string
		reg  notifiers.Registry
		want string // "" for none
	}{
		{"fine", notifiers.Registry{fake{"a", func() config.Validator { return new(urlConfig) }, text}, fake{"b", none, text}}, ""},
		{"bad type name", notifiers.Registry{fake{"Chat App", none, text}}, `type "Chat App": not [a-z0-9-]+`},
		{"type twice", notifiers.Registry{fake{"a", none, text}, fake{"a", none, text}}, `type "a": not [a-z0-9-]+, or registered twice`},
		{"a common key", notifiers.Registry{fake{"a", func() config.Validator { return new(timeoutConfig) }, text}}, "key timeout is one every notifier has"},
		{"a key of two types", notifiers.Registry{fake{"a", func() config.Validator { return new(urlConfig) }, text},
			fake{"b", func() config.Validator { return new(otherURL) }, text}}, "type b: key url is a int, but a string in type a"},
		{"Validate panics", notifiers.Registry{fake{"a", func() config.Validator { return new(panicky) }, text}}, "type a: Validate panics: boom"},
		{"empty preview", notifiers.Registry{fake{"a", none, func() notifiers.Preview { return notifiers.Preview{} }}}, "an empty preview"},
		{"body not JSON", notifiers.Registry{fake{"a", none, func() notifiers.Preview { return notifiers.Preview{Body: make(chan int)} }}}, "the body does not marshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(Problems(tc.reg), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("problems:\n%s\nwant %q", got, tc.want)
			}
		})
	}
}
