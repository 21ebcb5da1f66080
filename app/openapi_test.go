package app

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/httpapi/openapi"
	"github.com/alerter/alerter/notifiers"
)

type openAPIDoc struct {
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas   map[string]json.RawMessage `json:"schemas"`
		Responses map[string]struct {
			Content map[string]struct {
				Schema json.RawMessage `json:"schema"`
			} `json:"content"`
		} `json:"responses"`
	} `json:"components"`
}

type operation struct {
	Responses map[string]struct {
		Ref     string `json:"$ref"`
		Content map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

func loadDoc(t *testing.T) *openAPIDoc {
	t.Helper()
	var d openAPIDoc
	if err := json.Unmarshal(openapi.Document, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &d
}

// Real answers of a running service conform to the document's schemas.
func TestOpenAPIResponses(t *testing.T) {
	d := loadDoc(t)
	broken := newTarget(func(int) error { return notifiers.Permanent(errors.New("invalid_auth")) })
	r := startDelivery(t, map[string]delivery.Notifier{"flaky": newTarget(nil), "broken": broken, "limited": newTarget(nil), "slow": newTarget(nil)})
	r.post(t, "/webhooks/in", setting("e1", "ann", "2024-05-14T10:00:00Z"))
	waitFor(t, "a dead letter", func() bool { return len(deadLetters(t, r, "")) > 0 })
	var page struct{ Alerts []struct{ ID string } }
	r.get(t, "/api/v1/alerts", &page)
	if len(page.Alerts) == 0 {
		t.Fatal("no alert")
	}
	call := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, r.url+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, b := call("POST", "/api/v1/silences", `{"matchers":[{"name":"rule","value":"x"}],"duration":"1h","created_by":"a","comment":"b"}`)
	var sl struct{ ID string }
	_ = json.Unmarshal(b, &sl)
	checks := []struct{ method, doc, path, body string }{
		{"POST", "/api/v1/silences", "/api/v1/silences", `{"matchers":[{"name":"rule","value":"y"}],"duration":"1h","created_by":"a","comment":"b"}`},
		{"POST", "/api/v1/silences", "/api/v1/silences", `{"matchers":[]}`},
		{"GET", "/api/v1/silences", "/api/v1/silences", ""},
		{"POST", "/api/v1/silences/preview", "/api/v1/silences/preview", `{"matchers":[{"name":"rule","value":"setting-changed"}]}`},
		{"POST", "/api/v1/silences/preview", "/api/v1/silences/preview", `{"matchers":[{"name":"nope","value":"x"}]}`},
		{"GET", "/api/v1/silences/{id}", "/api/v1/silences/" + sl.ID, ""},
		{"DELETE", "/api/v1/silences/{id}", "/api/v1/silences/" + sl.ID, ""},
		{"GET", "/api/v1/silences/{id}", "/api/v1/silences/nope", ""},
		{"GET", "/api/v1/rules", "/api/v1/rules", ""},
		{"GET", "/api/v1/alerts", "/api/v1/alerts", ""},
		{"GET", "/api/v1/alerts", "/api/v1/alerts?deliveries=true", ""},
		{"GET", "/api/v1/alerts", "/api/v1/alerts?severity=x", ""},
		{"GET", "/api/v1/alerts/{id}", "/api/v1/alerts/" + page.Alerts[0].ID, ""},
		{"GET", "/api/v1/alerts/{id}", "/api/v1/alerts/nope", ""},
		{"POST", "/api/v1/alerts/{id}/redeliver", "/api/v1/alerts/" + page.Alerts[0].ID + "/redeliver", `{"target":"broken"}`},
		{"POST", "/api/v1/alerts/{id}/redeliver", "/api/v1/alerts/" + page.Alerts[0].ID + "/redeliver", `{"target":"flaky"}`},
		{"POST", "/api/v1/alerts/{id}/redeliver", "/api/v1/alerts/nope/redeliver", `{"target":"flaky"}`},
		{"POST", "/api/v1/alerts/{id}/ack", "/api/v1/alerts/" + page.Alerts[0].ID + "/ack", `{"comment":"mine"}`},
		{"POST", "/api/v1/alerts/{id}/ack", "/api/v1/alerts/nope/ack", ``},
		{"POST", "/api/v1/alerts/{id}/resolve", "/api/v1/alerts/" + page.Alerts[0].ID + "/resolve", `{"verdict":"nope"}`},
		{"POST", "/api/v1/alerts/{id}/resolve", "/api/v1/alerts/" + page.Alerts[0].ID + "/resolve", `{"verdict":"benign"}`},
		{"POST", "/api/v1/alerts/{id}/ack", "/api/v1/alerts/" + page.Alerts[0].ID + "/ack", ``},
		{"GET", "/api/v1/alerts", "/api/v1/alerts?status=resolved", ""},
		{"GET", "/api/v1/alerts/{id}", "/api/v1/alerts/" + page.Alerts[0].ID, ""},
		{"GET", "/api/v1/events", "/api/v1/events?q=ann", ""},
		{"GET", "/api/v1/events", "/api/v1/events?source=nowhere", ""},
		{"GET", "/api/v1/events/{id}/explain", "/api/v1/events/e1/explain", ""},
		{"GET", "/api/v1/events/{id}", "/api/v1/events/e1", ""},
		{"GET", "/api/v1/events/{id}", "/api/v1/events/nope", ""},
		{"GET", "/api/v1/events/{id}/explain", "/api/v1/events/nope/explain", ""},
		{"POST", "/api/v1/evaluate", "/api/v1/evaluate", `{"rule":"id: x\nseverity: low\nwhen: true\ntitle: hi","events":` + jsonString(setting("z", "zed", "2024-05-14T10:00:00Z")) + `}`},
		{"POST", "/api/v1/evaluate", "/api/v1/evaluate", `{"rule":"id: x\nwhen: nope"}`},
		{"POST", "/api/v1/evaluate", "/api/v1/evaluate", `{"rule":"id: x\nseverity: low\nwhen: true","since":"1h"}`},
		{"GET", "/api/v1/deadletters", "/api/v1/deadletters", ""},
		{"GET", "/api/v1/notifiers", "/api/v1/notifiers", ""},
		{"POST", "/api/v1/notifiers/{name}/test", "/api/v1/notifiers/flaky/test", ""},
		{"POST", "/api/v1/notifiers/{name}/test", "/api/v1/notifiers/broken/test", `{"severity":"low"}`},
		{"POST", "/api/v1/notifiers/{name}/test", "/api/v1/notifiers/nope/test", ""},
		{"GET", "/api/v1/deadletters", "/api/v1/deadletters?limit=1&before=x", ""},
		{"POST", "/-/reload", "/-/reload", ""},
		{"POST", "/webhooks/{source}", "/webhooks/in", setting("e9", "bo", "2024-05-14T10:00:00Z")},
		{"POST", "/webhooks/{source}", "/webhooks/in", "{"},
		{"GET", "/healthz", "/healthz", ""},
		{"GET", "/readyz", "/readyz", ""},
	}
	_ = code
	for _, c := range checks {
		code, body := call(c.method, c.path, c.body)
		op, ok := d.Paths[c.doc][strings.ToLower(c.method)]
		if !ok {
			t.Errorf("%s %s is not documented", c.method, c.doc)
			continue
		}
		resp, ok := op.Responses[fmt.Sprint(code)]
		if !ok {
			t.Errorf("%s %s answered %d, which is not documented: %s", c.method, c.path, code, body)
			continue
		}
		var schema json.RawMessage
		if resp.Ref != "" {
			schema = d.Components.Responses[strings.TrimPrefix(resp.Ref, "#/components/responses/")].Content["application/json"].Schema
		} else {
			schema = resp.Content["application/json"].Schema
		}
		if schema == nil {
			continue
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s %s: %d is not JSON: %s", c.method, c.path, code, body)
			continue
		}
		for _, problem := range validate(d, schema, v, "$") {
			t.Errorf("%s %s (%d): %s", c.method, c.path, code, problem)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// validate checks v against the JSON Schema subset the document uses:
// $ref, allOf, type (one or several), required, properties,
// additionalProperties (a schema), items, enum.
func validate(d *openAPIDoc, raw json.RawMessage, v any, at string) []string {
	var s struct {
		Ref                  string                     `json:"$ref"`
		AllOf                []json.RawMessage          `json:"allOf"`
		Type                 any                        `json:"type"`
		Required             []string                   `json:"required"`
		Properties           map[string]json.RawMessage `json:"properties"`
		AdditionalProperties json.RawMessage            `json:"additionalProperties"`
		Items                json.RawMessage            `json:"items"`
		Enum                 []any                      `json:"enum"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return []string{at + ": bad schema: " + err.Error()}
	}
	if s.Ref != "" {
		return validate(d, d.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")], v, at)
	}
	var problems []string
	for _, sub := range s.AllOf {
		problems = append(problems, validate(d, sub, v, at)...)
	}
	if s.Type != nil {
		var types []string
		switch t := s.Type.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, fmt.Sprint(x))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return append(problems, fmt.Sprintf("%s: %s, want %v", at, jsonType(v), types))
		}
	}
	if len(s.Enum) > 0 && !slices.ContainsFunc(s.Enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		problems = append(problems, fmt.Sprintf("%s: %v is not one of %v", at, v, s.Enum))
	}
	switch x := v.(type) {
	case map[string]any:
		for _, k := range s.Required {
			if _, ok := x[k]; !ok {
				problems = append(problems, fmt.Sprintf("%s: missing %q", at, k))
			}
		}
		for k, val := range x {
			if ps, ok := s.Properties[k]; ok {
				problems = append(problems, validate(d, ps, val, at+"."+k)...)
			} else if len(s.AdditionalProperties) > 0 && string(s.AdditionalProperties) != "true" {
				problems = append(problems, validate(d, s.AdditionalProperties, val, at+"."+k)...)
			}
		}
	case []any:
		if len(s.Items) > 0 {
			for i, val := range x {
				problems = append(problems, validate(d, s.Items, val, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return problems
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// The validator itself catches what it must, so that the test above can fail.
func TestValidateCatchesMismatch(t *testing.T) {
	d := loadDoc(t)
	schema := json.RawMessage(`{"$ref": "#/components/schemas/Silence"}`)
	ok := map[string]any{"id": "x", "matchers": []any{map[string]any{"name": "rule", "value": "v"}}, "starts_at": "t", "ends_at": "t",
		"created_by": "a", "comment": "c", "created_at": "t", "updated_at": "t", "state": "active"}
	if p := validate(d, schema, ok, "$"); len(p) != 0 {
		t.Fatalf("a valid silence fails: %v", p)
	}
	for name, mutate := range map[string]func(map[string]any){
		"missing field": func(m map[string]any) { delete(m, "comment") },
		"wrong type":    func(m map[string]any) { m["comment"] = 5.0 },
		"not in enum":   func(m map[string]any) { m["state"] = "sleeping" },
		"bad item":      func(m map[string]any) { m["matchers"] = []any{map[string]any{"name": "rule"}} },
	} {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		mutate(m)
		if p := validate(d, schema, m, "$"); len(p) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}
