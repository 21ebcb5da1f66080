package event

import (
	stdjson "encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNormalizedShape(t *testing.T) {
	payload := []byte(`{
		"id": "evt-1", "time": "2024-05-14T12:10:44.007+02:00", "source": "recorded", "format": "custom",
		"system": "https://confluence.example.com", "category": "Soteri Security for Confluence", "category_key": "ck",
		"action": "Global setting changed", "action_key": "ak", "summary": "Jane changed a setting",
		"area": "ECOSYSTEM", "level": "BASE",
		"actor": {"id": "u1", "name": "jdoe", "display_name": "Jane Doe", "type": "user", "sysadmin": true, "groups": ["confluence-administrators"]},
		"ip": "203.0.113.24", "node": "node-1", "method": "Browser",
		"objects": [{"type": "Page", "id": "1015809", "name": "Q2 vendor payments", "uri": "https://x/p"}],
		"changes": [{"key": "Enabled", "from": "true", "to": "false"}],
		"attrs": {"Rule": "AWS Secret Access Key"},
		"unknown": {"deep": [1, 2, 3]}
	}`)
	want := Event{
		ID: "evt-1", Time: at(10, 10, 44, 7), Format: FormatJSON,
		System: "https://confluence.example.com", Category: "Soteri Security for Confluence", CategoryKey: "ck",
		Action: "Global setting changed", ActionKey: "ak", Summary: "Jane changed a setting", Area: "ECOSYSTEM", Level: "BASE",
		Actor: Actor{ID: "u1", Name: "jdoe", DisplayName: "Jane Doe", Type: "user", Sysadmin: true, Groups: []string{"confluence-administrators"}},
		IP:    "203.0.113.24", Node: "node-1", Method: "Browser",
		Objects: []Object{{Type: "Page", ID: "1015809", Name: "Q2 vendor payments", URI: "https://x/p"}},
		Changes: []Change{{Key: "Enabled", From: "true", To: "false"}},
		Attrs:   map[string]string{"Rule": "AWS Secret Access Key"},
	}
	for _, format := range []string{FormatAuto, FormatJSON} {
		// A configured source names the source; without one the event keeps its own.
		want.Source = "s"
		checkEvent(t, "normalized "+format, mustParse(t, payload, Options{Format: format, Source: "s"})[0], want)
		want.Source = "recorded"
		checkEvent(t, "normalized without a source "+format, mustParse(t, payload, Options{Format: format})[0], want)
	}
	// A summary defaults to the action.
	if e := mustParse(t, []byte(`{"action":"a"}`), Options{})[0]; e.Summary != "a" || e.Objects == nil || e.Changes == nil || e.Actor.Groups == nil {
		t.Errorf("minimal event: %+v", e)
	}
}

// TestReplay: one of our events, as alerts and the API carry it, parses back
// to the same event, and keeps its raw payload as raw.
func TestReplay(t *testing.T) {
	original := mustParse(t, fixtureLine(t, "soteri-events.jsonl", 10), Options{Source: "poller"})[0]
	if err := original.LoadRaw(); err != nil {
		t.Fatal(err)
	}
	encoded, err := stdjson.Marshal(original)
	if err != nil {
		t.Fatal(err)
	}
	replayed := mustParse(t, encoded, Options{})[0]
	want := original
	want.Format = FormatJSON
	checkEvent(t, "replayed", replayed, want)
	if replayed.ID != original.ID {
		t.Errorf("replayed id %s, want %s", replayed.ID, original.ID)
	}
	if err := replayed.LoadRaw(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(replayed.Raw, original.Raw) {
		t.Errorf("replayed raw %v\nwant %v", replayed.Raw, original.Raw)
	}
}

func TestMapping(t *testing.T) {
	m, err := NewMapping(map[string]string{
		"action":         "raw.eventName",
		"category":       `"GitHub"`,
		"actor.name":     `raw.user?.login ?? ""`,
		"actor.id":       "raw.user?.id",
		"actor.sysadmin": `raw.user?.site_admin ?? false`,
		"actor.groups":   `raw.user?.teams ?? []`,
		"time":           "raw.ts",
		"ip":             "raw.ip",
		"objects":        `[{"type": "Repository", "id": raw.repo.id, "name": raw.repo.name}]`,
		"changes":        `raw.changes ?? []`,
		"attrs.repo":     "raw.repo.name",
		"summary":        `(raw.user?.login ?? "someone") + " deleted " + raw.repo.name`,
	})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"eventName":"repo.delete","user":{"login":"jdoe","id":1015809,"site_admin":true,"teams":["sec","ops"]},
		"ts":1715681444007,"ip":"203.0.113.24","repo":{"id":42,"name":"acme/secrets"},"changes":[{"key":"visibility","from":"private","to":null}]}`)
	for _, format := range []string{FormatJSON, FormatAuto} {
		events := mustParse(t, payload, Options{Format: format, Mapping: m, Source: "github"})
		checkEvent(t, "mapped "+format, events[0], Event{
			Time: time.UnixMilli(1715681444007).UTC(), Source: "github", Format: FormatJSON,
			Category: "GitHub", Action: "repo.delete", Summary: "jdoe deleted acme/secrets",
			Actor:   Actor{ID: "1015809", Name: "jdoe", Sysadmin: true, Groups: []string{"sec", "ops"}},
			IP:      "203.0.113.24",
			Objects: []Object{{Type: "Repository", ID: "42", Name: "acme/secrets"}},
			Changes: []Change{{Key: "visibility", From: "private"}},
			Attrs:   map[string]string{"repo": "acme/secrets"},
		})
		// The mapping decoded the payload: Raw is there already.
		if events[0].Raw["eventName"] != "repo.delete" {
			t.Errorf("Raw = %v", events[0].Raw)
		}
	}
	// A missing optional field maps to empty.
	e := mustParse(t, []byte(`{"eventName":"ping","ts":"2024-05-14T10:10:44Z","repo":{"id":1,"name":"r"}}`), Options{Format: FormatJSON, Mapping: m})[0]
	if e.Actor.Name != "" || e.Actor.ID != "" || e.Action != "ping" || !e.Time.Equal(at(10, 10, 44, 0)) {
		t.Errorf("sparse event: %+v", e)
	}
	// The mapping applies to json events only.
	e = mustParse(t, readFixture(t, "webhook-dc-page_created.json"), Options{Mapping: m})[0]
	if e.Action != "page_created" {
		t.Errorf("a webhook was mapped: action %q", e.Action)
	}
	// Mapped id and time win over the normalized-shape ones.
	m2, err := NewMapping(map[string]string{"id": `"x-" + raw.n`, "time": "raw.t"})
	if err != nil {
		t.Fatal(err)
	}
	e = mustParse(t, []byte(`{"id":"own","time":"2020-01-01T00:00:00Z","n":"7","t":1715681444}`), Options{Mapping: m2})[0]
	if e.ID != "x-7" || !e.Time.Equal(at(10, 10, 44, 0)) {
		t.Errorf("id %q time %s", e.ID, e.Time)
	}
}

func TestMappingErrors(t *testing.T) {
	bad := []struct {
		fields map[string]string
		want   []string
	}{
		{map[string]string{"actor.login": "raw.x"}, []string{`mapping "actor.login": unknown target; valid targets are action, action_key, actor.display_name`, "attrs.NAME"}},
		{map[string]string{"source": "raw.x"}, []string{`mapping "source": unknown target`}},
		{map[string]string{"action": "raw.x +"}, []string{`mapping "action": unexpected token EOF`}},
		{map[string]string{"action": "foo.bar"}, []string{`mapping "action": unknown name foo`}},
		{map[string]string{"action": " "}, []string{`mapping "action": empty expression`}},
		{map[string]string{"attrs.": "raw.x"}, []string{`mapping "attrs.": unknown target`}},
		// Every problem is reported at once.
		{map[string]string{"nope": "raw.x", "ip": "(("}, []string{`mapping "ip"`, `mapping "nope"`}},
		// The source is bounded before expr parses it (its parser recurses).
		{map[string]string{"action": strings.Repeat("(", 30000) + "raw.x" + strings.Repeat(")", 30000)}, []string{`mapping "action": expression nests ( [ { more than 100 levels deep`}},
		{map[string]string{"action": `"` + strings.Repeat("x", 70000) + `"`}, []string{`mapping "action": expression is 70002 bytes long, over the limit of 64 KiB`}},
	}
	for _, tt := range bad {
		m, err := NewMapping(tt.fields)
		if err == nil {
			t.Errorf("NewMapping(%v) = %v, want an error", tt.fields, m)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("NewMapping(%v) error %q\nwant it to contain %q", tt.fields, err, w)
			}
		}
	}

	// Errors while mapping name the object, the target and the expression.
	runtime := []struct {
		fields  map[string]string
		payload string
		want    string
	}{
		{map[string]string{"actor.name": "raw.user.login"}, `{"a":1}`, `object 1 (line 2, column 1): json: mapping "actor.name" (raw.user.login): cannot fetch login from <nil>`},
		{map[string]string{"time": "raw.t"}, `{"t":"soon"}`, `mapping "time" (raw.t): cannot parse "soon" as a time`},
		{map[string]string{"time": "raw.t"}, `{"t":true}`, `mapping "time" (raw.t): expected a time`},
		{map[string]string{"actor.sysadmin": "raw.a"}, `{"a":"maybe"}`, `expected a boolean, got "maybe"`},
		{map[string]string{"objects": "raw.o"}, `{"o":[1]}`, `element 0: expected an object, got float64`},
		{map[string]string{"attrs": "raw.o"}, `{"o":[1]}`, `expected an object, got []interface {}`},
		// A mapping runs on what the sender chose: what it builds and how
		// long it loops are bounded.
		{map[string]string{"action": "let a = raw.s; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; let h = g + g; h + h"},
			`{"s":"` + strings.Repeat("x", 100000) + `"}`, `memory budget exceeded: an evaluation may build 16 MiB`},
		{map[string]string{"action": `let a = 1..1000; all(a, {all(a, {all(a, {all(a, {true})})})}) ? "x" : "y"`}, `{}`, `time limit exceeded`},
	}
	for _, tt := range runtime {
		m, err := NewMapping(tt.fields)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse([]byte("\n"+tt.payload), Options{Format: FormatJSON, Mapping: m})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("mapping %v over %s: error %v, want %q", tt.fields, tt.payload, err, tt.want)
		}
	}
}

func TestMappingConcurrent(t *testing.T) {
	m, err := NewMapping(map[string]string{"action": "raw.a", "actor.name": "raw.u"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				payload := []byte(`{"a":"act","u":"user` + string(rune('a'+i)) + `"}`)
				e, err := Parse(payload, Options{Mapping: m})
				if err != nil || e[0].Action != "act" || e[0].Actor.Name != "user"+string(rune('a'+i)) {
					t.Errorf("goroutine %d, %d: %v %+v", i, j, err, e)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestMappingTargets(t *testing.T) {
	targets := MappingTargets()
	for _, want := range []string{"action", "actor.name", "attrs", "attrs.NAME", "time", "id"} {
		found := false
		for _, t := range targets {
			found = found || t == want
		}
		if !found {
			t.Errorf("MappingTargets() = %v lacks %q", targets, want)
		}
	}
}
