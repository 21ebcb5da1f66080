package httpapi

import (
	"slices"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/httpapi/openapi"
)

// The document describes exactly the routes the API serves.
func TestOpenAPIRoutes(t *testing.T) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var documented, served []string
	for path, ops := range d.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	h := &handler{}
	for _, rt := range h.routes() {
		served = append(served, rt.method+" "+rt.path)
	}
	served = append(served, "POST /webhooks/{source}", "GET /healthz", "GET /readyz", "GET /metrics", "POST /pagerduty/webhook")
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("the OpenAPI paths differ from the routes:\ndocumented %q\nserved     %q", documented, served)
	}
}
