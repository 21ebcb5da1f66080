package rules

import (
	"reflect"
	"strings"
	"testing"
)

func TestClauses(t *testing.T) {
	set, err := Compile([]File{{Name: "r.yaml", Data: []byte(`
lists: {admins: [alice]}
macros:
  soteri: event.category == "Soteri Security for Confluence" && event.actor.type == "user"
rules:
  - id: r
    severity: high
    when: soteri and event.action == "Global setting changed" && !(event.actor.name in lists.admins) && (event.ip == "" || cidr(event.ip, "10.0.0.0/8"))
`)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := set.Clauses(set.Rules[0])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.Source)
		if c.Program == nil {
			t.Errorf("%s: no program", c.Source)
		}
	}
	want := []string{
		`event.category == "Soteri Security for Confluence"`,
		`event.actor.type == "user"`,
		`event.action == "Global setting changed"`,
		`!(event.actor.name in lists.admins)`,
		`event.ip == "" || cidr(event.ip, "10.0.0.0/8")`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("clauses:\n got %q\nwant %q", got, want)
	}
}

func TestTimezone(t *testing.T) {
	set, err := Compile([]File{{Name: "r.yaml", Data: []byte(`
rules:
  - id: r
    severity: low
    when: event.time.In(timezone("Europe/Berlin")).Hour() == 12
`)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules) != 1 {
		t.Fatal("no rule")
	}
	_, err = Compile([]File{{Name: "r.yaml", Data: []byte(`
rules:
  - id: r
    severity: low
    when: event.time.In(timezone("Europe/Nowhere")).Hour() == 12
`)}}, Options{})
	if err == nil || !strings.Contains(err.Error(), `r.yaml:5:34: when: timezone: unknown time zone "Europe/Nowhere"`) {
		t.Errorf("an unknown zone: %v", err)
	}
}
