package app

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/actions"
	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/event"
)

// tokensConfig has a token of each role, and api_token (an admin).
const tokensConfig = `
server:
  listen: "127.0.0.1:0"
  api_token: root-token
  tokens:
    - {name: ops-admin, token: admin-token, role: admin}
    - {name: alice, token: writer-token, role: writer}
    - {name: dashboard, token: viewer-token, role: viewer}
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/rules.yaml], watch: false}
sources: [{name: open, type: webhook, path: /in}]
notifiers: [{name: console, type: console}, {name: quiet, type: console}]
routes: {default: [console]}
`

// call makes an API request with token as bearer ("" for none) and
// decodes the JSON answer.
func (r *running) call(t *testing.T, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: answer %d is not JSON: %q", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// Each route takes the roles of its row in the route table, and no fewer:
// 401 without a valid token, 403 naming the role needed.
func TestRolesPerRoute(t *testing.T) {
	r := run(t, fmt.Sprintf(tokensConfig, t.TempDir()), nil, Options{AckWait: 2 * time.Second})
	silence := `{"matchers":[{"name":"rule","value":"page-created"}],"duration":"1h","created_by":"x","comment":"y"}`
	tests := []struct {
		token, method, path, body string
		want                      int
		errHas                    string
	}{
		{"", "GET", "/api/v1/alerts", "", 401, "Authorization: Bearer"},
		{"wrong-token", "GET", "/api/v1/alerts", "", 401, "Authorization: Bearer"},
		{"viewer-token", "GET", "/api/v1/alerts", "", 200, ""},
		{"viewer-token", "GET", "/api/v1/silences", "", 200, ""},
		{"viewer-token", "POST", "/api/v1/silences/preview", silence, 200, ""},
		{"viewer-token", "POST", "/api/v1/silences", silence, 403, "needs the role writer or more; token dashboard is a viewer"},
		{"viewer-token", "DELETE", "/api/v1/silences/01J00000000000000000000000", "", 403, "needs the role writer"},
		{"viewer-token", "POST", "/api/v1/alerts/x/redeliver", `{"target":"console"}`, 403, "needs the role writer"},
		{"writer-token", "POST", "/api/v1/silences", silence, 201, ""},
		{"writer-token", "POST", "/-/reload", "", 403, "needs the role admin or more; token alice is a writer"},
		{"writer-token", "POST", "/api/v1/notifiers/console/test", "", 403, "needs the role admin"},
		{"admin-token", "POST", "/-/reload", "", 200, ""},
		{"root-token", "POST", "/api/v1/notifiers/console/test", "", 200, ""},
		{"viewer-token", "GET", "/api/v1/nothing-here", "", 404, "no API route"},
		{"", "GET", "/api/v1/openapi.json", "", 200, ""},
	}
	for _, tt := range tests {
		code, body := r.call(t, tt.token, tt.method, tt.path, tt.body)
		if code != tt.want || !strings.Contains(fmt.Sprint(body["error"]), tt.errHas) {
			t.Errorf("%s %s with %q: %d %v; want %d %q", tt.method, tt.path, tt.token, code, body, tt.want, tt.errHas)
		}
	}
	if code, who := r.call(t, "writer-token", "GET", "/api/v1/whoami", ""); code != 200 || who["name"] != "alice" || who["role"] != "writer" || who["token"] != true {
		t.Errorf("whoami: %d %v", code, who)
	}
}

// A silence records the token that created it, whatever created_by says;
// created_by defaults to it; and the creation is an event of source
// alerter with who, the matchers, the duration and the rules it covers.
func TestSilenceRecordsWhoAndIsAnEvent(t *testing.T) {
	r := run(t, fmt.Sprintf(tokensConfig, t.TempDir()), nil, Options{AckWait: 2 * time.Second})
	code, sl := r.call(t, "writer-token", "POST", "/api/v1/silences",
		`{"matchers":[{"name":"severity","value":"high"}],"duration":"48h","created_by":"someone-else","identity":"forged","comment":"change window"}`)
	if code != 201 || sl["identity"] != "alice" || sl["created_by"] != "someone-else" {
		t.Fatalf("silence: %d %v; want identity alice, created_by as written", code, sl)
	}
	code, sl2 := r.call(t, "writer-token", "POST", "/api/v1/silences",
		`{"matchers":[{"name":"rule","value":"page-created"}],"duration":"1h","comment":"no author given"}`)
	if code != 201 || sl2["created_by"] != "alice" || sl2["identity"] != "alice" {
		t.Fatalf("silence without created_by: %d %v; want created_by from the token", code, sl2)
	}
	if code, _ := r.call(t, "admin-token", "DELETE", "/api/v1/silences/"+sl2["id"].(string), ""); code != 200 {
		t.Fatalf("expire: %d", code)
	}

	var created, expired *event.Event
	waitFor(t, "the silence events", func() bool {
		var page struct{ Events []struct{ Event event.Event } }
		_, body := r.call(t, "viewer-token", "GET", "/api/v1/events?source=alerter", "")
		b, _ := json.Marshal(body)
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		created, expired = nil, nil
		for i := range page.Events {
			switch ev := &page.Events[i].Event; {
			case ev.Action == actions.SilenceCreated && ev.Attrs["silence_id"] == sl["id"]:
				created = ev
			case ev.Action == actions.SilenceExpired && ev.Attrs["silence_id"] == sl2["id"]:
				expired = ev
			}
		}
		return created != nil && expired != nil
	})
	want := map[string]string{
		"matchers": "severity=high", "created_by": "someone-else", "identity": "alice", "duration": "48h0m0s",
		"duration_seconds": "172800", "covered_rules": "1", "covered_rule_ids": "setting-changed", "covered_severity": "high", "covered_critical": "0",
	}
	for k, v := range want {
		if created.Attrs[k] != v {
			t.Errorf("created event attrs[%s] = %q, want %q (event %+v)", k, created.Attrs[k], v, created)
		}
	}
	if created.Source != "alerter" || created.Category != "alerter" || created.Actor.Name != "alice" || created.Actor.Type != "token" {
		t.Errorf("created event: %+v", created)
	}
	if expired.Actor.Name != "ops-admin" || expired.Attrs["identity"] != "alice" {
		t.Errorf("expired event: actor %q (want the admin who expired it), attrs %v", expired.Actor.Name, expired.Attrs)
	}
}

// Without tokens (loopback only), who did it is the remote address.
func TestIdentityWithoutTokensIsTheAddress(t *testing.T) {
	r := start(t, t.TempDir())
	code, sl := r.call(t, "", "POST", "/api/v1/silences", `{"matchers":[{"name":"rule","value":"page-created"}],"duration":"1h","comment":"c"}`)
	if code != 201 || sl["identity"] != "127.0.0.1" || sl["created_by"] != "127.0.0.1" {
		t.Fatalf("silence: %d %v", code, sl)
	}
	var st api.ReloadStatus
	code, body := r.call(t, "", "POST", "/-/reload", "")
	b, _ := json.Marshal(body)
	_ = json.Unmarshal(b, &st)
	if code != 200 || st.By != "127.0.0.1" {
		t.Fatalf("reload: %d %+v", code, st)
	}
}
