package event

import (
	"os"
	"reflect"
	"testing"

	json "github.com/goccy/go-json"
)

// Every fixture event survives being stored and read back, raw included.
func TestStoredRoundTrip(t *testing.T) {
	for _, name := range []string{"auditing-events-page.json", "legacy-audit-page.json", "soteri-events.jsonl", "webhook-dc-page_created.json"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			events, err := Parse(data, Options{Source: "test"})
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range events {
				b, err := json.Marshal(want)
				if err != nil {
					t.Fatal(err)
				}
				got, err := Decode(b)
				if err != nil {
					t.Fatal(err)
				}
				if err := want.LoadRaw(); err != nil {
					t.Fatal(err)
				}
				if err := got.LoadRaw(); err != nil {
					t.Fatal(err)
				}
				if !want.Time.Equal(got.Time) {
					t.Errorf("time %v, want %v", got.Time, want.Time)
				}
				got.Time = want.Time
				got.rawJSON, want.rawJSON = nil, nil
				normalizeEmpty(&got)
				normalizeEmpty(&want)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("round trip of %s:\n got %+v\nwant %+v", want.ID, got, want)
				}
			}
		})
	}
}

// normalizeEmpty makes nil and empty slices and maps compare equal: JSON
// does not keep the difference, and rules do not see it.
func normalizeEmpty(e *Event) {
	if len(e.Objects) == 0 {
		e.Objects = nil
	}
	if len(e.Changes) == 0 {
		e.Changes = nil
	}
	if len(e.Attrs) == 0 {
		e.Attrs = nil
	}
	if len(e.Actor.Groups) == 0 {
		e.Actor.Groups = nil
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, in := range []string{``, `{`, `[]`, `{"time": 5}`, `{"action": "x"}`} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q) succeeded", in)
		}
	}
}

func TestMarshalPrefersRaw(t *testing.T) {
	e := Event{ID: "x", Raw: map[string]any{"a": 1.0}, rawJSON: []byte(`{"b":2}`)}
	b, err := json.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.RawJSON()) != `{"a":1}` {
		t.Errorf("raw = %s, want the decoded map", got.RawJSON())
	}
}

// FuzzDecode: a stored event is read from a stream others can publish to;
// nothing in it may crash the reader, and what decodes encodes again.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"a","time":"2024-05-14T10:08:00Z","actor":{"name":"x"},"raw":{"k":[1,2]}}`))
	f.Add([]byte(`{"id":"a","objects":[{"type":"Page"}],"changes":null,"raw":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			return
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", data, err)
		}
	})
}
