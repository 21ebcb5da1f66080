package event

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	line1 := fixtureLine(t, "soteri-events.jsonl", 1)
	hook := readFixture(t, "webhook-dc-page_created.json")
	tests := []struct {
		name    string
		payload []byte
		opt     Options
		// The error must contain each of these.
		want []string
		// And be of this type: "syntax", "object" or "" for neither.
		kind string
	}{
		{name: "empty body", payload: nil,
			want: []string{"line 1, column 1: empty payload: expected a JSON object, an array of objects, or JSON lines"}, kind: "syntax"},
		{name: "only whitespace", payload: []byte(" \n\t "),
			want: []string{"line 2, column 3: empty payload"}, kind: "syntax"},
		{name: "null", payload: []byte("null"),
			want: []string{"object 1 (line 1, column 1): expected a JSON object, an array of objects, or JSON lines, found null"}, kind: "object"},
		{name: "bare string", payload: []byte(`"hello"`),
			want: []string{"found a string"}, kind: "object"},
		{name: "bare number", payload: []byte("  42"),
			want: []string{"(line 1, column 3): expected a JSON object, an array of objects, or JSON lines, found a number"}, kind: "object"},
		{name: "not JSON", payload: []byte("hello"),
			want: []string{"line 1, column 1: not JSON: invalid character 'h' looking for beginning of value"}, kind: "syntax"},
		{name: "not JSON, starting as null", payload: []byte("not json"),
			want: []string{"line 1, column 1: not JSON: invalid character 'n' looking for beginning of value"}, kind: "syntax"},
		{name: "not JSON, starting as true", payload: []byte("this is not json"),
			want: []string{"line 1, column 1: not JSON: invalid character 't' looking for beginning of value"}, kind: "syntax"},
		{name: "an empty object", payload: []byte("{}"), opt: Options{RequireFields: true},
			want: []string{"object 1 (line 1, column 1): json: no event fields"}, kind: "object"},
		{name: "an object with no event field", payload: []byte("{\"id\":\"1\"}\n{\"foo\":1}"), opt: Options{RequireFields: true},
			want: []string{"object 2 (line 2, column 1): json: no event fields"}, kind: "object"},
		{name: "truncated object", payload: line1[:len(line1)/2],
			want: []string{"line 1, column 372 (object 1): unexpected end of JSON input"}, kind: "syntax"},
		{name: "truncated pretty object", payload: hook[:60],
			want: []string{"line 4, column 2 (object 1): unexpected end of JSON input"}, kind: "syntax"},
		{name: "invalid character on line 3", payload: []byte("{\n  \"a\": 1,\n  \"b\": }\n"),
			want: []string{"line 3, column 8 (object 1): invalid character '}' looking for beginning of value"}, kind: "syntax"},
		{name: "bad literal in a nested value", payload: []byte(`{"type":{"action":"a"},"x":{"y":[1,tru]}}`),
			want: []string{"line 1, column 39 (object 1): invalid character ']' in literal true (expecting 'e')"}, kind: "syntax"},
		{name: "trailing garbage", payload: append(append([]byte{}, line1...), " xyz"...),
			want: []string{"line 1, column 744 (object 2): invalid character 'x' after top-level value"}, kind: "syntax"},
		{name: "objects separated by commas", payload: []byte(`{"a":1},{"a":2}`),
			want: []string{"line 1, column 8 (object 2): invalid character ',' after top-level value (the objects of JSON lines are separated by newlines, not commas)"}, kind: "syntax"},
		{name: "bad third line of JSON lines", payload: []byte("{\"a\":1}\n{\"a\":2}\n{\"a\":3,,}\n"),
			want: []string{"line 3, column 8 (object 3): invalid character ',' looking for beginning of object key string"}, kind: "syntax"},
		{name: "unterminated string", payload: []byte(`{"a":"b`),
			want: []string{"(object 1): unexpected end of JSON input"}, kind: "syntax"},
		{name: "mismatched brackets", payload: []byte(`{"a":[1,2}`),
			want: []string{"line 1, column 10 (object 1): invalid character '}' after array element"}, kind: "syntax"},
		{name: "page whose entities is not an array", payload: []byte(`{"entities":{"timestamp":"x"},"pagingInfo":{}}`),
			want: []string{`object 1 (line 1, column 13): "entities" of a page must be an array of events, found an object`}, kind: "object"},
		{name: "page whose results is a string", payload: []byte("{\n\"results\": \"none\"}"),
			want: []string{`object 1 (line 2, column 12): "results" of a page must be an array of events, found a string`}, kind: "object"},
		{name: "malformed member of a page", payload: []byte(`{"entities":[],"x":{""}}`),
			want: []string{"line 1, column 23 (object 1): invalid character '}' after object key"}, kind: "syntax"},
		{name: "page with a non-object element", payload: []byte(`{"entities":[{"type":{"action":"a"}}, 5]}`),
			want: []string{"object 2 (line 1, column 39): element 2 of the array is a number; each event must be a JSON object"}, kind: "object"},
		{name: "array of strings", payload: []byte(`["a","b"]`),
			want: []string{"element 1 of the array is a string"}, kind: "object"},
		{name: "nested arrays", payload: []byte(`[[{"a":1}]]`),
			want: []string{"element 1 of the array is an array"}, kind: "object"},
		{name: "100k-deep arrays", payload: []byte(strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)),
			want: []string{"object 1 (line 1, column 2): element 1 of the array is an array; each event must be a JSON object"}, kind: "object"},
		{name: "100k-deep objects", payload: []byte(strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)),
			want: []string{"line 1, column 321 (object 1): nested deeper than 64 levels"}, kind: "syntax"},
		{name: "100k-deep arrays in an array element", payload: []byte(`[{"a":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}]"),
			want: []string{"line 1, column 69 (object 1): nested deeper than 64 levels"}, kind: "syntax"},
		{name: "100k-deep object nesting", payload: []byte(`{"type":{"action":"a"},"x":` + strings.Repeat(`{"x":`, 100_000) + "1" + strings.Repeat("}", 100_001)),
			want: []string{"line 1, column 343 (object 1): nested deeper than 64 levels"}, kind: "syntax"},
		{name: "65 levels", payload: []byte(strings.Repeat(`{"a":`, 65) + "1" + strings.Repeat("}", 65)),
			want: []string{"line 1, column 321 (object 1): nested deeper than 64 levels"}, kind: "syntax"},
		{name: "invalid UTF-8", payload: []byte("{\"type\":{\"action\":\"caf\xe9\"}}"),
			want: []string{"line 1, column 23: invalid UTF-8 (byte 0xe9); payloads must be UTF-8 encoded"}, kind: "syntax"},
		{name: "invalid UTF-8 on line 2", payload: []byte("{\"a\":1}\n{\"b\":\"\xff\"}"),
			want: []string{"line 2, column 7: invalid UTF-8 (byte 0xff)"}, kind: "syntax"},
		{name: "unknown format name", payload: line1, opt: Options{Format: "confluence"},
			want: []string{`unknown event format "confluence": valid formats are auto, confluence-audit, confluence-auditing, confluence-webhook, json`}},
		{name: "too many events", payload: bytes.Repeat([]byte("{}\n"), 11), opt: Options{MaxEvents: 10},
			want: []string{"too many events in one payload: more than 10 objects (object 11 starts at line 11, column 1)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Parse(tt.payload, tt.opt)
			if err == nil {
				t.Fatalf("no error, %d events", len(events))
			}
			if events != nil {
				t.Errorf("%d events with the error", len(events))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			var se *SyntaxError
			var oe *ObjectError
			switch tt.kind {
			case "syntax":
				if !errors.As(err, &se) {
					t.Errorf("error %T is not a *SyntaxError", err)
				} else if int(se.Offset) > len(tt.payload) || se.Line < 1 || se.Column < 1 {
					t.Errorf("position %d (line %d, column %d) is not in the payload", se.Offset, se.Line, se.Column)
				}
			case "object":
				if !errors.As(err, &oe) {
					t.Errorf("error %T is not an *ObjectError", err)
				}
			}
		})
	}
	// Without RequireFields (rule tests, the playground) {} is an event.
	if evs, err := Parse([]byte("{}"), Options{}); err != nil || len(evs) != 1 {
		t.Errorf("{} without RequireFields: %d events, %v", len(evs), err)
	}
	if err := CheckFormat("nope"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("CheckFormat error %v does not wrap ErrUnknownFormat", err)
	}
	if _, err := Parse(bytes.Repeat([]byte("{}"), 11), Options{MaxEvents: 10}); !errors.Is(err, ErrTooManyEvents) {
		t.Errorf("too many events: %v does not wrap ErrTooManyEvents", err)
	}
}

// TestSyntaxErrorPosition checks the fields, not only the message.
func TestSyntaxErrorPosition(t *testing.T) {
	payload := []byte("{\"a\":1}\n{\"a\":2}\n{\"a\": 3, \"b\": }\n")
	_, err := Parse(payload, Options{})
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *SyntaxError", err)
	}
	if se.Line != 3 || se.Column != 15 || se.Object != 2 || int(se.Offset) != bytes.LastIndexByte(payload, '}') {
		t.Errorf("position: line %d column %d object %d offset %d", se.Line, se.Column, se.Object, se.Offset)
	}
	if se.Err == nil {
		t.Error("the decoder's error is not kept")
	}
}

// How fast these are is measured by BenchmarkParse; the test asserts what
// happens, not how long it takes.
func TestOversizedInput(t *testing.T) {
	// 10 MB of empty objects: rejected by the default cap after a scan,
	// before anything is decoded.
	payload := make([]byte, 0, 10<<20)
	payload = append(payload, '[')
	for len(payload) < 10<<20-4 {
		payload = append(payload, "{},"...)
	}
	payload = append(payload, "{}]"...)
	_, err := Parse(payload, Options{})
	if !errors.Is(err, ErrTooManyEvents) || !strings.Contains(err.Error(), "more than 100000 objects (object 100001 starts at line 1, column 300002)") {
		t.Errorf("error %v", err)
	}

	// The same as JSON lines, and a long string, without a cap.
	lines := bytes.Repeat([]byte("{}\n"), 150_000)
	events, err := Parse(lines, Options{MaxEvents: -1})
	if err != nil || len(events) != 150_000 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	if events[0].ID != events[1].ID || events[0].Format != FormatJSON {
		t.Errorf("empty objects: ids %s %s, format %s", events[0].ID, events[1].ID, events[0].Format)
	}
	long := []byte(`{"type":{"action":"a"},"x":"` + strings.Repeat("y", 10<<20) + `"}`)
	if _, err := Parse(long, Options{}); err != nil {
		t.Errorf("a 10 MB string: %v", err)
	}
}
