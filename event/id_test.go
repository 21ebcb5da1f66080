package event

import (
	"bytes"
	stdjson "encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// reserialize decodes an object and encodes it again with sorted keys,
// indentation and escaped HTML characters: the same event, other bytes.
func reserialize(t *testing.T, obj []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := stdjson.Unmarshal(obj, &m); err != nil {
		t.Fatal(err)
	}
	out, err := stdjson.MarshalIndent(m, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(out, obj) {
		t.Fatal("reserializing changed nothing")
	}
	return out
}

func TestIDStable(t *testing.T) {
	idPattern := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, file := range []string{"soteri-events.jsonl", "soteri-events.file.jsonl", "audit-file-sample.log", "webhook-dc-page_created.json", "webhook-cloud-page_updated.json"} {
		data := readFixture(t, file)
		events := mustParse(t, data, Options{Source: "a"})
		for i, e := range events {
			if !idPattern.MatchString(e.ID) {
				t.Errorf("%s %d: id %q is not 32 hex digits", file, i, e.ID)
			}
			again := mustParse(t, reserialize(t, e.RawJSON()), Options{Source: "another source"})
			if again[0].ID != e.ID {
				t.Errorf("%s %d: reserialized, the id changed from %s to %s", file, i, e.ID, again[0].ID)
			}
			// Parsing is deterministic.
			if twice := mustParse(t, e.RawJSON(), Options{}); twice[0].ID != e.ID {
				t.Errorf("%s %d: a second parse gave id %s, not %s", file, i, twice[0].ID, e.ID)
			}
		}
	}
}

func TestIDsOfDifferentEvents(t *testing.T) {
	// Every fixture event is a different event, except that the auditing
	// page and the audit file hold the same ten, and the two Soteri files the
	// same 28 (the legacy page's records lack ids and node, so they differ).
	seen := map[string]string{}
	total := 0
	for _, file := range []string{"legacy-audit-page.json", "auditing-events-page.json", "soteri-events.jsonl",
		"webhook-dc-page_created.json", "webhook-dc-page_updated.json", "webhook-dc-space_permissions_updated.json",
		"webhook-cloud-page_updated.json", "webhook-cloud-group_created.json"} {
		for i, e := range mustParse(t, readFixture(t, file), Options{}) {
			total++
			where := file + " " + e.Action
			if prev, dup := seen[e.ID]; dup {
				t.Errorf("%s %d has the id of %s", where, i, prev)
			}
			seen[e.ID] = where
		}
	}
	if total != 10+10+28+5 {
		t.Errorf("%d events", total)
	}

	// Each identifying field changes the id.
	base := fixtureLine(t, "soteri-events.jsonl", 10)
	baseID := mustParse(t, base, Options{})[0].ID
	edits := []struct{ name, old, new string }{
		{"time by a millisecond", `"2024-05-14T10:10:44.007Z"`, `"2024-05-14T10:10:44.008Z"`},
		{"actor", `"id":"8a7f808a8b1c2d3e018b1c2e77880004"`, `"id":"8a7f808a8b1c2d3e018b1c2e77880005"`},
		{"action key", `"actionI18nKey":"soteri.security.confluence.audit.user-edit`, `"actionI18nKey":"soteri.security.confluence.audit.user-edits`},
		{"category key", `"categoryI18nKey":"soteri.security.confluence.audit.category"`, `"categoryI18nKey":"x"`},
		{"an object's id", `"id":"1015809"`, `"id":"1015808"`},
		{"an object's name", `"name":"Finance"`, `"name":"Finances"`},
		{"an attribute", `"value":"7"`, `"value":"8"`},
		{"an attribute's name", `"name":"Findings"`, `"name":"Finding"`},
		{"the IP", `"source":"10.20.30.88"`, `"source":"10.20.30.89"`},
		{"the node", `"node":"node-1"`, `"node":"node-2"`},
		{"the system", `"system":"https://confluence.example.com"`, `"system":"https://wiki.example.com"`},
		{"a change", `"changedValues":[]`, `"changedValues":[{"key":"k","to":"v"}]`},
		// Field boundaries count: "ab"+"c" is not "a"+"bc".
		{"an object split differently", `"name":"Q2 vendor payments","type":"Page"`, `"name":"Q2 vendor paymentsP","type":"age"`},
	}
	for _, ed := range edits {
		edited := bytes.Replace(base, []byte(ed.old), []byte(ed.new), 1)
		if bytes.Equal(edited, base) {
			t.Fatalf("%s: the edit changed nothing", ed.name)
		}
		if id := mustParse(t, edited, Options{}); id[0].ID == baseID {
			t.Errorf("changing %s kept the id", ed.name)
		}
	}

	// What does not identify the event leaves the id alone.
	same := []struct{ name, old, new string }{
		{"the translated action, given its key", `"action":"User edit introduced potentially sensitive content"`, `"action":"Benutzeränderung"`},
		{"the display name", `"name":"Tom Nguyen"`, `"name":"T. Nguyen"`},
		{"the author uri", `username=tnguyen"`, `username=tom"`},
		{"an object's uri", `"uri":"https://confluence.example.com/display/FIN"`, `"uri":"https://x/FIN"`},
		{"the method", `"method":"Browser"`, `"method":"Rest API"`},
		{"the order of objects", `{"name":"Q2 vendor payments","type":"Page","uri":"https://confluence.example.com/pages/viewpage.action?pageId=1015809","id":"1015809"},{"name":"Finance","type":"Space","uri":"https://confluence.example.com/display/FIN","id":"98306"}`,
			`{"name":"Finance","type":"Space","uri":"https://confluence.example.com/display/FIN","id":"98306"},{"name":"Q2 vendor payments","type":"Page","uri":"https://confluence.example.com/pages/viewpage.action?pageId=1015809","id":"1015809"}`},
		{"the timestamp's zone", `"2024-05-14T10:10:44.007Z"`, `"2024-05-14T12:10:44.007+02:00"`},
	}
	for _, ed := range same {
		edited := bytes.Replace(base, []byte(ed.old), []byte(ed.new), 1)
		if bytes.Equal(edited, base) {
			t.Fatalf("%s: the edit changed nothing", ed.name)
		}
		if id := mustParse(t, edited, Options{}); id[0].ID != baseID {
			t.Errorf("changing %s changed the id", ed.name)
		}
	}
}

func TestSourceID(t *testing.T) {
	events := mustParse(t, []byte(`{"id":"evt-42","time":"2024-05-14T09:12:03Z","action":"a"}
{"id":"evt-43","time":"2024-05-14T09:12:03Z","action":"a"}
{"time":"2024-05-14T09:12:03Z","action":"a"}`), Options{})
	if events[0].ID != "evt-42" || events[1].ID != "evt-43" {
		t.Errorf("source ids: %q, %q", events[0].ID, events[1].ID)
	}
	if id := events[2].ID; len(id) != 32 || strings.HasPrefix(id, "evt") {
		t.Errorf("an event without an id got %q", id)
	}
}

func TestSourceIDChecked(t *testing.T) {
	for _, tt := range []struct{ payload, want string }{
		{`{"id":"a\r\nX-Injected: 1","action":"a"}`, `object 1 (line 1, column 1): json: id "a\r\nX-Injected: 1" holds a control character`},
		{`{"id":"` + strings.Repeat("x", 257) + `","action":"a"}`, "json: id is 257 bytes long; at most 256 are allowed"},
	} {
		if _, err := Parse([]byte(tt.payload), Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
	if e := mustParse(t, []byte(`{"id":"évt/42 ok","action":"a"}`), Options{}); e[0].ID != "évt/42 ok" {
		t.Errorf("id %q", e[0].ID)
	}
}

func TestNoContentID(t *testing.T) {
	data := readFixture(t, "soteri-events.jsonl")
	with := mustParse(t, data, Options{})
	without := mustParse(t, data, Options{NoContentID: true})
	for i := range with {
		if without[i].ID != "" {
			t.Errorf("event %d has id %q with NoContentID", i, without[i].ID)
		}
		if got := without[i].ContentID(); got != with[i].ID {
			t.Errorf("event %d: ContentID %s, Parse's id %s", i, got, with[i].ID)
		}
	}
	// A payload's own id is still kept.
	if e := mustParse(t, []byte(`{"id":"evt-1","action":"a"}`), Options{NoContentID: true}); e[0].ID != "evt-1" {
		t.Errorf("id %q", e[0].ID)
	}
}

// TestIDWithoutTimeOrID checks events whose payload has neither an id nor a
// time: two events that differ only in what ContentID leaves out (the
// actor's name, unknown members) get different ids, the same payload sent
// again gets the same id whatever its whitespace, and the receive time is
// their time without changing their id.
func TestIDWithoutTimeOrID(t *testing.T) {
	carol := []byte(`{"action":"Login failed","actor":{"name":"carol"}}`)
	tests := []struct {
		name  string
		other []byte
		same  bool
	}{
		{"another actor's name", []byte(`{"action":"Login failed","actor":{"name":"dave"}}`), false},
		{"an unknown member", []byte(`{"action":"Login failed","actor":{"name":"carol"},"attempt":2}`), false},
		{"the same payload", []byte(`{"action":"Login failed","actor":{"name":"carol"}}`), true},
		{"the same payload, other whitespace", []byte("{ \"action\": \"Login failed\",\n  \"actor\": {\"name\": \"carol\"} }"), true},
	}
	first := mustParse(t, carol, Options{Source: "s"})[0]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			received := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
			got := mustParse(t, tt.other, Options{Source: "s", Received: received})[0]
			if (got.ID == first.ID) != tt.same {
				t.Errorf("ids %s and %s: same = %v, want %v", first.ID, got.ID, got.ID == first.ID, tt.same)
			}
			if !got.Time.Equal(received) || got.Attrs[ReceivedTimeAttr] != "true" {
				t.Errorf("time %s, attrs %v: want the receive time %s, marked", got.Time, got.Attrs, received)
			}
		})
	}
	if !first.Time.IsZero() || first.Attrs[ReceivedTimeAttr] != "" {
		t.Errorf("without Received: time %s, attrs %v; want the zero time, unmarked", first.Time, first.Attrs)
	}

	// With the source's time, the id still leaves the actor's name out, so
	// that the REST and file copies of one event stay one.
	timed := func(name string) []byte {
		return []byte(`{"time":"2026-12-07T03:00:00Z","action":"Login failed","actor":{"name":"` + name + `"}}`)
	}
	a := mustParse(t, timed("carol"), Options{Received: time.Now()})[0]
	b := mustParse(t, timed("dave"), Options{})[0]
	if a.ID != b.ID || a.Attrs[ReceivedTimeAttr] != "" || a.Time.Year() != 2026 {
		t.Errorf("timed events: ids %s %s, attrs %v, time %s", a.ID, b.ID, a.Attrs, a.Time)
	}
}
