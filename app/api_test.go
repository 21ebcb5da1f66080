package app

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter/api"
	"github.com/alerter/alerter/playground"
	json "github.com/goccy/go-json"
)

func (r *running) get(t *testing.T, path string, out any) int {
	t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %d %q is not JSON", path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

func TestRulesAndAlertsAPI(t *testing.T) {
	r := start(t, t.TempDir())
	for i := range 5 {
		r.post(t, "/in", setting(fmt.Sprintf("e%d", i), fmt.Sprintf("u%d", i%3), fmt.Sprintf("2024-05-14T10:0%d:00Z", i)))
	}
	r.post(t, "/in", `{"id":"p1","time":"2024-05-14T11:00:00Z","action":"page_created"}`)
	r.drained(t)

	var rl struct {
		Version string
		Rules   []api.Rule
	}
	if code := r.get(t, "/api/v1/rules", &rl); code != 200 || len(rl.Rules) != 2 || rl.Version == "" {
		t.Fatalf("rules: %d %+v", code, rl)
	}
	st := rl.Rules[0].Stats
	if rl.Rules[0].ID != "setting-changed" || st.Matches != 5 || st.Alerts != 3 || st.Suppressed != 2 || st.LastMatch == nil ||
		rl.Rules[0].Dedup == nil || rl.Rules[0].Dedup.Window != "1h0m0s" || strings.Join(rl.Rules[0].Notify, ",") != "console" {
		t.Errorf("rule view %+v", rl.Rules[0])
	}
	// The rule as written, for the playground to edit.
	wantSource := "id: setting-changed\nname: Global setting changed\nseverity: high\nwhen: event.action == \"Global setting changed\"\n" +
		"dedup:\n  by: [event.actor.name]\n  window: 1h\ntitle: \"{{ event.actor.name }} changed a global setting\"\n"
	if got := rl.Rules[0]; got.Source != wantSource || got.Title != "{{ event.actor.name }} changed a global setting" {
		t.Errorf("rule source %q, title %q; want source %q", got.Source, got.Title, wantSource)
	}

	type page struct {
		Alerts []api.AlertDetail
		Next   string
		Error  string
	}
	var all page
	if code := r.get(t, "/api/v1/alerts", &all); code != 200 || len(all.Alerts) != 4 || all.Next != "" {
		t.Fatalf("alerts: %d %d %q", code, len(all.Alerts), all.Next)
	}
	// Newest first: the reverse of the stream's order (events are
	// evaluated concurrently, so that need not be the order posted).
	stored := storedAlerts(t, r.svc)
	for i, a := range all.Alerts {
		if want := stored[len(stored)-1-i].ID; a.ID != want {
			t.Errorf("alert %d is %s, want %s (newest first)", i, a.ID, want)
		}
	}
	for q, want := range map[string]int{
		"?rule=setting-changed":               3,
		"?severity=info":                      1,
		"?group=u1":                           1,
		"?group=event.actor.name=u2":          1,
		"?since=2024-05-14T10:01:00Z":         3,
		"?until=2024-05-14T10:01:00Z":         1,
		"?rule=setting-changed&severity=info": 0,
	} {
		var p page
		if code := r.get(t, "/api/v1/alerts"+q, &p); code != 200 || len(p.Alerts) != want {
			t.Errorf("%s: %d, %d alerts, want %d", q, code, len(p.Alerts), want)
		}
	}
	// Paging: two pages of two, then none.
	var p1, p2 page
	r.get(t, "/api/v1/alerts?limit=2", &p1)
	r.get(t, "/api/v1/alerts?limit=2&before="+p1.Next, &p2)
	if len(p1.Alerts) != 2 || len(p2.Alerts) != 2 || p1.Alerts[1].ID == p2.Alerts[0].ID || p2.Next != "" {
		t.Errorf("paging: %d+%d, next %q/%q", len(p1.Alerts), len(p2.Alerts), p1.Next, p2.Next)
	}
	for _, q := range []string{"?severity=urgent", "?since=yesterday", "?limit=0", "?before=x"} {
		var p page
		if code := r.get(t, "/api/v1/alerts"+q, &p); code != 400 || p.Error == "" {
			t.Errorf("%s: %d %q, want 400", q, code, p.Error)
		}
	}

	// ?deliveries=true: each alert with what became of it at its targets.
	var withD struct{ Alerts []api.Alert }
	if code := r.get(t, "/api/v1/alerts?deliveries=true", &withD); code != 200 || len(withD.Alerts) != 4 {
		t.Fatalf("alerts with deliveries: %d %d", code, len(withD.Alerts))
	}
	for _, a := range withD.Alerts {
		if len(a.Deliveries) != len(a.Notify) || len(a.Notify) != 1 {
			t.Errorf("alert %s to %v: deliveries %v", a.ID, a.Notify, a.Deliveries)
		}
		for target, o := range a.Deliveries {
			if target != a.Notify[0] || (o.Status != "sent" && o.Status != "pending") {
				t.Errorf("alert %s: %s %+v", a.ID, target, o)
			}
		}
	}
	var d api.AlertDetail
	var id string // an alert routed to console (the page's goes to quiet)
	for _, a := range all.Alerts {
		if a.Rule == "setting-changed" {
			id = a.ID
		}
	}
	if code := r.get(t, "/api/v1/alerts/"+id, &d); code != 200 || d.ID != id || d.Event == nil || d.Deliveries["console"].Status != "sent" {
		t.Errorf("alert %s: %d %+v", id, code, d)
	}
	var e struct{ Error string }
	if code := r.get(t, "/api/v1/alerts/01NOSUCHALERT000000000000X", &e); code != 404 {
		t.Errorf("unknown alert: %d %v", code, e)
	}
	if code := r.get(t, "/api/v1/nothing", &e); code != 404 || !strings.Contains(e.Error, "no API route") {
		t.Errorf("unknown route: %d %v", code, e)
	}
}

func TestEvaluateAPI(t *testing.T) {
	r := start(t, t.TempDir())
	eval := func(body string) (int, playground.EvalResponse) {
		t.Helper()
		resp, err := http.Post(r.url+"/api/v1/evaluate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out playground.EvalResponse
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	req := func(rule, events string) string {
		b, _ := json.Marshal(map[string]string{"rule": rule, "events": events})
		return string(b)
	}
	ev := setting("x1", "zoe", "2024-05-14T10:00:00Z")

	// An error in a single rule, positioned in the text as typed.
	code, out := eval(req("id: try\nseverity: high\nwhen: event.actor.nmae == \"zoe\"\n", ev))
	if code != 200 || out.OK || len(out.Errors) != 1 || out.Errors[0].Line != 3 || out.Errors[0].Column != 19 || !strings.Contains(out.Errors[0].Message, "nmae") {
		t.Errorf("compile error: %d %+v", code, out)
	}
	// A match, with the title rendered and the targets after routing.
	code, out = eval(req("id: try\nseverity: critical\nwhen: event.actor.name == \"zoe\"\ntitle: \"{{ event.actor.name }} did it\"\n", ev))
	if code != 200 || !out.OK || len(out.Results) != 1 || len(out.Results[0].Alerts) != 1 {
		t.Fatalf("match: %d %+v", code, out)
	}
	a := out.Results[0].Alerts[0]
	if a.Title != "zoe did it" || strings.Join(a.Notify, ",") != "console" || out.Results[0].Matches[0] != "try" {
		t.Errorf("alert %+v", a)
	}
	if ns := out.Results[0].Notifications; len(ns) != 1 || ns[0].Target != "console" || !strings.Contains(ns[0].Text, `CRITICAL try "zoe did it"`) {
		t.Errorf("notifications %+v", ns)
	}
	// No match; a file with its own lists; the event in another format.
	code, out = eval(req("lists: {vips: [ann]}\nrules:\n  - id: vip\n    severity: low\n    when: event.actor.name in lists.vips\n", ev))
	if code != 200 || !out.OK || len(out.Results[0].Matches) != 0 {
		t.Errorf("no match: %d %+v", code, out)
	}
	// A broken event, positioned.
	code, out = eval(req("id: try\nseverity: low\nwhen: true\n", "{\"id\": \"a\",\n \"time\": }"))
	if code != 200 || out.OK || out.Errors[0].File != "events" || out.Errors[0].Line != 2 {
		t.Errorf("event error: %d %+v", code, out)
	}
	// The rule's own tests run too, their lines as typed.
	withTests := "id: try\nseverity: low\nwhen: event.actor.name == \"zoe\"\ntests:\n" +
		"  - {name: zoe fires, event: {id: t1, time: \"2024-05-14T10:00:00Z\", actor: {name: zoe}}, expect: alert}\n" +
		"  - {name: wrong, event: {id: t2, time: \"2024-05-14T10:00:00Z\", actor: {name: ann}}, expect: alert}\n"
	code, out = eval(req(withTests, ev))
	if code != 200 || len(out.Tests) != 2 || !out.Tests[0].OK || out.Tests[0].Line != 5 || out.Tests[1].OK || out.Tests[1].Line != 6 ||
		out.Tests[1].Test != "wrong" || !strings.Contains(out.Tests[1].Error, "expected an alert, got none") {
		t.Errorf("tests: %d %+v", code, out.Tests)
	}
	// A malformed request.
	if code, _ := eval(`{"rules": "x"}`); code != 400 {
		t.Errorf("unknown field: %d", code)
	}
}

// The playground's backtest: a rule run over the stored events, with
// windows in event time, answering the counts and the matching events.
func TestEvaluateBacktest(t *testing.T) {
	r := start(t, t.TempDir())
	for i := range 5 {
		r.post(t, "/in", setting(fmt.Sprintf("e%d", i), fmt.Sprintf("u%d", i%3), fmt.Sprintf("2024-05-14T10:0%d:00Z", i)))
	}
	r.post(t, "/in", `{"id":"p1","time":"2024-05-14T09:00:00Z","action":"page_created"}`)
	backtest := func(rule, since, events string) playground.EvalResponse {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"rule": rule, "since": since, "events": events})
		resp, err := http.Post(r.url+"/api/v1/evaluate", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out playground.EvalResponse
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %v", resp.StatusCode, err)
		}
		return out
	}
	const when = "id: bt\nseverity: low\nwhen: event.action == \"Global setting changed\"\n"
	for _, tt := range []struct {
		name, rule, want string
	}{
		{"dedup by actor", when + "dedup: {by: [event.actor.name], window: 1h}\n", "6 events, 5 matched, 3 alerts, 2 suppressed, 5 shown: e0 e1 e2 e3 e4"},
		{"two within 10m by actor", when + "threshold: {count: 2, within: 10m, by: [event.actor.name]}\n", "6 events, 5 matched, 2 alerts, 0 suppressed, 5 shown: e0 e1 e2 e3 e4"},
		{"no match", "id: bt\nseverity: low\nwhen: event.action == \"nothing\"\n", "6 events, 0 matched, 0 alerts, 0 suppressed, 0 shown: "},
	} {
		out := backtest(tt.rule, "1h", "")
		bt := out.Backtest
		if !out.OK || bt == nil {
			t.Errorf("%s: %+v", tt.name, out)
			continue
		}
		var ids []string
		for _, res := range out.Results {
			ids = append(ids, res.Event.ID)
		}
		got := fmt.Sprintf("%d events, %d matched, %d alerts, %d suppressed, %d shown: %s", bt.Events, bt.Matched, bt.Alerts, bt.Suppressed, bt.Shown, strings.Join(ids, " "))
		if got != tt.want || bt.Truncated || !bt.From.Equal(time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)) || !bt.To.Equal(time.Date(2024, 5, 14, 10, 4, 0, 0, time.UTC)) {
			t.Errorf("%s: %s (%+v), want %s", tt.name, got, bt, tt.want)
		}
		wantDays := "[]"
		if bt.Alerts > 0 {
			wantDays = fmt.Sprintf("[{2024-05-14 %d}]", bt.Alerts)
		}
		if fmt.Sprint(bt.ByDay) != wantDays {
			t.Errorf("%s: by day %v, want %s", tt.name, bt.ByDay, wantDays)
		}
	}
	if out := backtest(when, "1h", ""); out.Backtest == nil || out.Backtest.Running != nil {
		t.Errorf("a new rule has no running counterpart: %+v", out.Backtest)
	}
	// The loaded setting-changed dedups by actor for an hour; without the
	// dedup, the change fires 5 alerts where it fired 3.
	changed := "id: setting-changed\nseverity: high\nwhen: event.action == \"Global setting changed\"\n"
	if out := backtest(changed, "1h", ""); out.Backtest == nil || out.Backtest.Alerts != 5 || fmt.Sprint(out.Backtest.Running) != "map[setting-changed:3]" {
		t.Errorf("a change to a loaded rule: %+v", out.Backtest)
	}
	for since, want := range map[string]string{"yesterday": `since "yesterday": a duration such as 24h`, "-1h": `since "-1h": a duration such as 24h`} {
		if out := backtest(when, since, ""); out.OK || len(out.Errors) != 1 || out.Errors[0].Message != want {
			t.Errorf("since %s: %+v", since, out.Errors)
		}
	}
	if out := backtest(when, "1h", setting("x", "y", "2024-05-14T10:00:00Z")); out.OK || len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Message, "not both") {
		t.Errorf("events and since: %+v", out.Errors)
	}

	// Over the bound, the newest are kept, in the order stored.
	evs, truncated, err := stored{Streams: r.svc.streams, js: r.svc.js}.NewestEvents(t.Context(), time.Now().Add(-time.Hour), 4)
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	if err != nil || !truncated || strings.Join(ids, " ") != "e2 e3 e4 p1" {
		t.Errorf("the newest 4: %v %v %v", ids, truncated, err)
	}
}

// The stored events, newest first, found by words, source and time, in
// pages: how an event is found to be explained without its id.
func TestEventsAPI(t *testing.T) {
	r := start(t, t.TempDir())
	for i := range 5 {
		r.post(t, "/in", setting(fmt.Sprintf("e%d", i), fmt.Sprintf("u%d", i%3), fmt.Sprintf("2024-05-14T10:0%d:00Z", i)))
	}
	r.post(t, "/in", `{"id":"p1","time":"2024-05-14T11:00:00Z","action":"page_created","objects":[{"type":"page","name":"Q3 Board Minutes"}]}`)

	type page struct {
		Events []struct {
			Stored time.Time
			Event  struct{ ID string }
		}
		Next  string
		Error string
	}
	ids := func(p page) string {
		var s []string
		for _, e := range p.Events {
			if e.Stored.IsZero() {
				t.Errorf("event %s without its stored time", e.Event.ID)
			}
			s = append(s, e.Event.ID)
		}
		return strings.Join(s, ",")
	}
	for q, want := range map[string]string{
		"":                                 "p1,e4,e3,e2,e1,e0",
		"?q=u1":                            "e4,e1",
		"?q=GLOBAL+u1":                     "e4,e1",
		"?q=board+minutes":                 "p1",
		"?q=u1+board":                      "",
		"?since=2024-05-14T10:03:00Z":      "p1,e4,e3",
		"?until=2024-05-14T10:01:00Z":      "e0",
		"?source=open&q=setting&limit=1":   "e4",
		"?source=hook":                     "",
		"?since=2024-05-14T10:02:00Z&q=u0": "e3",
	} {
		var p page
		if code := r.get(t, "/api/v1/events"+q, &p); code != 200 || ids(p) != want {
			t.Errorf("%s: %d %q, want %q (%s)", q, code, ids(p), want, p.Error)
		}
	}
	var all []string
	before := ""
	for range 4 {
		var p page
		r.get(t, "/api/v1/events?limit=4"+before, &p)
		all = append(all, ids(p))
		if p.Next == "" {
			break
		}
		before = "&before=" + p.Next
	}
	if got := strings.Join(all, " | "); got != "p1,e4,e3,e2 | e1,e0" {
		t.Errorf("pages %q", got)
	}
	for _, q := range []string{"?source=nope", "?limit=0", "?before=x", "?since=today"} {
		var p page
		if code := r.get(t, "/api/v1/events"+q, &p); code != 400 || p.Error == "" {
			t.Errorf("%s: %d %q, want 400", q, code, p.Error)
		}
	}
}
