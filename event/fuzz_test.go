package event

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// addSeeds seeds a fuzz target with every fixture, whole and line by line,
// and with payload shapes the fixtures lack.
func addSeeds(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob("testdata/*.*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for line := range bytes.Lines(data) {
			f.Add(line)
		}
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `[{}]`, `{"entities":[]}`, `{"results":[{}]}`, `{"entities":{}}`,
		`{"id":1,"time":1715681444,"action":"a","actor":{"groups":["g"]},"objects":[{"id":2}],"attrs":{"a":1}}`,
		`{"timestamp":{"epochSecond":1,"nano":2},"auditType":{"action":"a"}}`,
		`{"format":"json","raw":{"a":1}}`, "{\"a\":\"\\u00e9\\ud83d\\ude00\"}\n[{\"b\":2}]",
	} {
		f.Add([]byte(s))
	}
}

// checkEvents is the property every fuzz target checks of a parse.
func checkEvents(t *testing.T, data []byte, opt Options, events []Event, err error) {
	t.Helper()
	if err != nil {
		if events != nil || err.Error() == "" {
			t.Fatalf("error %q with %d events", err, len(events))
		}
		var se *SyntaxError
		var oe *ObjectError
		switch {
		case errors.As(err, &se):
			if se.Offset < 0 || int(se.Offset) > len(data) || se.Line < 1 || se.Column < 1 || se.Object < -1 {
				t.Fatalf("syntax error out of the payload: %+v", se)
			}
		case errors.As(err, &oe):
			if oe.Offset < 0 || int(oe.Offset) > len(data) || oe.Line < 1 || oe.Column < 1 || oe.Object < 0 {
				t.Fatalf("object error out of the payload: %+v", oe)
			}
		}
		return
	}
	// What parses is a well-formed sequence of JSON values, as encoding/json
	// reads them: the scanner lets nothing malformed through.
	if !bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		dec := stdjson.NewDecoder(bytes.NewReader(data))
		for {
			var v stdjson.RawMessage
			if err := dec.Decode(&v); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("parsed, but encoding/json rejects it: %v", err)
			}
		}
	}
	for i := range events {
		e := &events[i]
		if e.ID == "" {
			t.Fatalf("event %d has no id", i)
		}
		if e.Time.Location() != time.UTC {
			t.Fatalf("event %d: time %v is not UTC", i, e.Time)
		}
		if !isFormat(e.Format) || (opt.Format != FormatAuto && e.Format != opt.Format) {
			t.Fatalf("event %d: format %q under %q", i, e.Format, opt.Format)
		}
		if e.Source != opt.Source {
			t.Fatalf("event %d: source %q", i, e.Source)
		}
		if e.Objects == nil || e.Changes == nil {
			t.Fatalf("event %d: nil objects or changes", i)
		}
		if raw := e.RawJSON(); len(raw) == 0 || !stdjson.Valid(raw) {
			t.Fatalf("event %d: raw JSON %q is not JSON", i, raw)
		}
		if err := e.LoadRaw(); err != nil {
			t.Fatalf("event %d: LoadRaw: %v", i, err)
		}
		// Alerts and the API carry events as JSON: every event must encode.
		if _, err := stdjson.Marshal(e); err != nil {
			t.Fatalf("event %d does not encode: %v", i, err)
		}
	}
	again, err := Parse(data, opt)
	if err != nil || len(again) != len(events) {
		t.Fatalf("a second parse gave %d events, %v", len(again), err)
	}
	for i := range again {
		if again[i].ID != events[i].ID {
			t.Fatalf("event %d: a second parse gave id %s, not %s", i, again[i].ID, events[i].ID)
		}
	}
}

func fuzzParse(f *testing.F, opt Options) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := Parse(data, opt)
		checkEvents(t, data, opt, events, err)
	})
}

func FuzzParseAuto(f *testing.F) {
	fuzzParse(f, Options{Format: FormatAuto, Source: "fuzz"})
}

func FuzzParseConfluenceAudit(f *testing.F) {
	fuzzParse(f, Options{Format: FormatConfluenceAudit, Source: "fuzz"})
}

func FuzzParseConfluenceAuditing(f *testing.F) {
	fuzzParse(f, Options{Format: FormatConfluenceAuditing, Source: "fuzz"})
}

func FuzzParseConfluenceWebhook(f *testing.F) {
	fuzzParse(f, Options{Format: FormatConfluenceWebhook, Source: "fuzz"})
}

func FuzzParseJSON(f *testing.F) {
	m, err := NewMapping(map[string]string{
		"action":     `raw.action ?? raw.summary ?? ""`,
		"time":       `raw.timestamp ?? raw.time`,
		"actor.name": `raw.author?.name ?? raw.actor?.name`,
		"objects":    `raw.objects`,
		"attrs.type": `raw.type`,
	})
	if err != nil {
		f.Fatal(err)
	}
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opt := range []Options{{Format: FormatJSON, Source: "fuzz"}, {Format: FormatJSON, Source: "fuzz", Mapping: m}} {
			events, err := Parse(data, opt)
			checkEvents(t, data, opt, events, err)
		}
	})
}

func FuzzDetect(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		format, err := Detect(data)
		if err == nil && (!isFormat(format) || format == "") {
			t.Fatalf("Detect = %q", format)
		}
	})
}
