// Package openapi holds the OpenAPI document of alerter's HTTP API, served
// at /api/v1/openapi.json and kept true by the tests of httpapi and app.
package openapi

import _ "embed"

// Document is the OpenAPI 3.1 document, as JSON.
//
//go:embed openapi.json
var Document []byte
