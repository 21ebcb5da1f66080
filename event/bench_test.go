package event

import (
	"bytes"
	stdjson "encoding/json"
	"os"
	"testing"

	json "github.com/goccy/go-json"
)

// benchEvent is a realistic ~1.2 KB auditing event in the REST shape: the
// Soteri "User edit introduced potentially sensitive content" entity, with
// two affected objects and three extra attributes.
func benchEvent(b *testing.B) []byte {
	b.Helper()
	return fixtureLine(b, "soteri-events.jsonl", 10)
}

// fixtureLine returns the n-th (1-based) line of a testdata file.
func fixtureLine(tb testing.TB, name string, n int) []byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if n < 1 || n > len(lines) {
		tb.Fatalf("%s has %d lines, not %d", name, len(lines), n)
	}
	return lines[n-1]
}

func benchmarkParse(b *testing.B, data []byte, opt Options, want int) {
	b.Helper()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		events, err := Parse(data, opt)
		if err != nil || len(events) != want {
			b.Fatalf("Parse: %d events, %v", len(events), err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	rest := benchEvent(b)
	file := fixtureLine(b, "soteri-events.file.jsonl", 10)
	page, err := os.ReadFile("testdata/legacy-audit-page.json")
	if err != nil {
		b.Fatal(err)
	}
	var legacyPage struct {
		Results []stdjson.RawMessage `json:"results"`
	}
	if err := stdjson.Unmarshal(page, &legacyPage); err != nil {
		b.Fatal(err)
	}
	var compact bytes.Buffer
	if err := stdjson.Compact(&compact, legacyPage.Results[3]); err != nil {
		b.Fatal(err)
	}
	legacyRecord := compact.Bytes()
	webhookDC, _ := os.ReadFile("testdata/webhook-dc-page_updated.json")
	webhookCloud, _ := os.ReadFile("testdata/webhook-cloud-page_updated.json")
	normalized := []byte(`{"id":"evt-1","time":"2024-05-14T10:10:44.007Z","action":"Global setting changed","category":"Soteri Security for Confluence","actor":{"id":"u1","name":"jdoe","display_name":"Jane Doe","type":"user"},"ip":"203.0.113.24","objects":[{"type":"Page","id":"1015809","name":"Q2 vendor payments"}],"changes":[{"key":"Enabled","from":"true","to":"false"}],"attrs":{"Rule":"AWS Secret Access Key"}}`)
	ndjson, _ := os.ReadFile("testdata/soteri-events.jsonl")
	auditingPage, _ := os.ReadFile("testdata/auditing-events-page.json")
	mapping, err := NewMapping(map[string]string{"action": "raw.eventName", "actor.name": `raw.user?.login ?? ""`, "time": "raw.ts"})
	if err != nil {
		b.Fatal(err)
	}
	mapped := []byte(`{"eventName":"repo.delete","user":{"login":"jdoe"},"ts":1715681444007,"repo":"acme/secrets"}`)

	b.Run("auditing-rest", func(b *testing.B) { benchmarkParse(b, rest, Options{Format: FormatConfluenceAuditing}, 1) })
	b.Run("auditing-rest-auto", func(b *testing.B) { benchmarkParse(b, rest, Options{}, 1) })
	b.Run("auditing-rest-no-content-id", func(b *testing.B) {
		benchmarkParse(b, rest, Options{Format: FormatConfluenceAuditing, NoContentID: true}, 1)
	})
	b.Run("auditing-file", func(b *testing.B) { benchmarkParse(b, file, Options{Format: FormatConfluenceAuditing}, 1) })
	b.Run("audit", func(b *testing.B) { benchmarkParse(b, legacyRecord, Options{Format: FormatConfluenceAudit}, 1) })
	b.Run("webhook-dc", func(b *testing.B) { benchmarkParse(b, webhookDC, Options{Format: FormatConfluenceWebhook}, 1) })
	b.Run("webhook-cloud", func(b *testing.B) { benchmarkParse(b, webhookCloud, Options{Format: FormatConfluenceWebhook}, 1) })
	b.Run("json-normalized", func(b *testing.B) { benchmarkParse(b, normalized, Options{Format: FormatJSON}, 1) })
	b.Run("json-mapping", func(b *testing.B) { benchmarkParse(b, mapped, Options{Format: FormatJSON, Mapping: mapping}, 1) })
	b.Run("ndjson-28-auto", func(b *testing.B) { benchmarkParse(b, ndjson, Options{}, 28) })
	b.Run("auditing-page-10-auto", func(b *testing.B) { benchmarkParse(b, auditingPage, Options{}, 10) })
}

// The decode-only baselines decode the same event as BenchmarkParse's
// auditing-rest, without normalizing it: the floor docs/benchmarks.md measures against.

type benchEntity struct {
	Timestamp string `json:"timestamp"`
	Author    struct {
		Name, Type, ID, URI, AvatarURI string
	} `json:"author"`
	Type struct {
		CategoryI18nKey, Category, ActionI18nKey, Action string
	} `json:"type"`
	AffectedObjects []struct{ Name, Type, URI, ID string }      `json:"affectedObjects"`
	ChangedValues   []struct{ Key, I18nKey, From, To string }   `json:"changedValues"`
	Source          string                                      `json:"source"`
	System          string                                      `json:"system"`
	Node            string                                      `json:"node"`
	Method          string                                      `json:"method"`
	ExtraAttributes []struct{ NameI18nKey, Name, Value string } `json:"extraAttributes"`
}

func BenchmarkDecodeOnly_GoccyMap(b *testing.B) {
	data := benchEvent(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOnly_GoccyStruct(b *testing.B) {
	data := benchEvent(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var v benchEntity
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOnly_EncodingJSONMap(b *testing.B) {
	data := benchEvent(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var m map[string]any
		if err := stdjson.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// The stored form (EVENTS, alerts): an event written as the webhook stores
// it, and read back as the evaluator reads it.
func BenchmarkStored(b *testing.B) {
	evs, err := Parse(benchEvent(b), Options{Source: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	data, err := evs[0].MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := evs[0].MarshalJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
