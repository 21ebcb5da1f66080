package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alerter/alerter/playground"
	json "github.com/goccy/go-json"
)

// confluenceDC is the part of Confluence Data Center's REST API that the
// confluence-poll source and group lists use, with the contract's shapes:
// audit entities newest first in {"entities", "pagingInfo"}, and group
// members paged in {"results", "size", "_links"}.
type confluenceDC struct {
	mu      sync.Mutex
	token   string
	events  []map[string]any
	members []string
}

func (c *confluenceDC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+c.token {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/rest/auditing/1.0/events":
		from, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("from"))
		to, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("to"))
		page := []map[string]any{}
		for i := len(c.events) - 1; i >= 0; i-- { // newest first
			ts, _ := time.Parse(time.RFC3339Nano, c.events[i]["timestamp"].(string))
			if !ts.Before(from) && !ts.After(to) {
				page = append(page, c.events[i])
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"entities": page, "pagingInfo": map[string]any{"lastPage": true, "size": len(page)}})
	case r.URL.Path == "/rest/api/group/confluence-administrators/member":
		res := []map[string]any{}
		if r.URL.Query().Get("start") == "0" || r.URL.Query().Get("start") == "" {
			for _, m := range c.members {
				res = append(res, map[string]any{"type": "known", "username": m, "userKey": "key-" + m})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"results": res, "start": 0, "limit": 200, "size": len(res), "_links": map[string]any{}})
	case r.URL.Path == "/rest/api/user/memberof":
		res := []map[string]any{{"type": "group", "name": "confluence-users"}}
		if r.URL.Query().Get("username") == "carol" {
			res = append(res, map[string]any{"type": "group", "name": "finance"})
		}
		if r.URL.Query().Get("start") != "" && r.URL.Query().Get("start") != "0" {
			res = []map[string]any{}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"results": res, "start": 0, "limit": 200, "size": len(res), "_links": map[string]any{}})
	case r.URL.Path == "/rest/api/user/current":
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "known", "username": "svc-audit", "userKey": "key-svc"})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (c *confluenceDC) record(user string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, map[string]any{
		"author":    map[string]any{"name": user, "type": "user", "id": "key-" + user, "uri": "https://c.example.com/admin/users/viewuser.action?username=" + user},
		"type":      map[string]any{"category": "Soteri Security for Confluence", "action": "Global setting changed"},
		"timestamp": at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"source":    "10.0.0.1",
	})
}

// Events polled from Confluence alert, and the admins list loaded from a
// Confluence group keeps admins' changes quiet.
func TestConfluencePollAndGroupList(t *testing.T) {
	fake := &confluenceDC{token: "pat-123", members: []string{"alice"}}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	cfgYAML := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
nats: {embedded: {store_dir: %q}}
rules: {paths: [testdata/admin-rules.yaml]}
lists:
  admins: {confluence_group: confluence-administrators, refresh: 1m}
sources:
  - {name: dc, type: confluence-poll, base_url: %q, token: "${PAT}", interval: 1s, enrich_groups: true}
notifiers: [{name: console, type: console}]
routes: {default: [console]}
`, t.TempDir(), srv.URL)
	r := run(t, cfgYAML, map[string]string{"PAT": "pat-123"}, Options{})
	svc, out := r.svc, r.out

	fake.record("alice", time.Now())
	fake.record("bob", time.Now())
	waitFor(t, "bob's alert", func() bool { return strings.Contains(out.String(), "actor=bob") })
	if !svc.current().lists.Loaded() {
		t.Error("the admins list is not loaded")
	}
	fake.record("carol", time.Now())
	waitFor(t, "carol's alert", func() bool { return strings.Contains(out.String(), "actor=carol") })
	waitFor(t, "carol's two alerts", func() bool { return strings.Count(out.String(), "actor=carol") == 2 })
	r.drained(t)
	if s := out.String(); strings.Contains(s, "alice") || strings.Count(s, "\n") != 3 || strings.Count(s, "finance-member-setting") != 1 {
		t.Errorf("console:\n%s", s)
	}

	// The playground and its backtest see what the evaluator sees: the
	// group list, and the actor's groups.
	try := func(rule string) playground.EvalResponse {
		return svc.playground.Evaluate(t.Context(), svc.config(), playground.Request{Rule: rule, Since: "1h"})
	}
	byGroupList := try("id: by-list\nseverity: low\nwhen: event.action == \"Global setting changed\" && event.actor.name in lists.admins\n")
	if !byGroupList.OK || byGroupList.Backtest == nil || byGroupList.Backtest.Alerts != 1 || byGroupList.Results[0].Event.Actor.Name != "alice" {
		t.Errorf("a rule on the group list: %+v %+v", byGroupList.Errors, byGroupList.Backtest)
	}
	byGroups := try("id: by-groups\nseverity: low\nwhen: '\"finance\" in event.actor.groups'\n")
	if !byGroups.OK || byGroups.Backtest == nil || byGroups.Backtest.Alerts != 1 {
		t.Errorf("a rule on the actor's groups: %+v %+v", byGroups.Errors, byGroups.Backtest)
	}
}
