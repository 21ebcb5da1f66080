package main

// Cross-site writes: a page the operator opens in the same browser as the
// UI sends requests to alerter. Browsers let any page send a "simple"
// request (a form, a no-cors fetch) to any address without asking the
// server first; only the answer is hidden from the page. These attacks
// make such requests and check that nothing changes, while the UI's own
// requests and a server's webhook posts still pass (docs/api.md,
// "Requests from browsers").

import (
	"net/http"
	"os"
	"strings"
	"testing"

	json "github.com/goccy/go-json"
)

// silenceOfEverything is the one-year silence of everything.
const silenceOfEverything = `{"matchers":[{"name":"rule","value":"","negate":true}],"duration":"8760h","created_by":"ops","comment":"maintenance"}`

// ruleSilence is a silence the UI makes: one rule's alerts about one
// actor, for an hour.
const ruleSilence = `{"matchers":[{"name":"rule","value":"setting-changed"},{"name":"group.event.actor.name","value":"ann"}],"duration":"1h","created_by":"ops","comment":"planned change"}`

// listedSilences is the number of silences the API lists.
func listedSilences(t *testing.T, tg *target) int {
	t.Helper()
	code, body := tg.do(request{method: "GET", path: "/api/v1/silences"})
	var ans struct{ Silences []json.RawMessage }
	if code != 200 || json.Unmarshal([]byte(body), &ans) != nil {
		t.Fatalf("GET /api/v1/silences: %d %s", code, body)
	}
	return len(ans.Silences)
}

// listedEvents is the number of stored events the API lists.
func listedEvents(t *testing.T, tg *target) int {
	t.Helper()
	code, body := tg.do(request{method: "GET", path: "/api/v1/events"})
	var ans struct{ Events []json.RawMessage }
	if code != 200 || json.Unmarshal([]byte(body), &ans) != nil {
		t.Fatalf("GET /api/v1/events: %d %s", code, body)
	}
	return len(ans.Events)
}

// wantRefusal fails unless the answer is code with a JSON {"error"} that
// mentions want.
func wantRefusal(t *testing.T, what string, code int, body string, wantCode int, want string) {
	t.Helper()
	var ans struct{ Error string }
	if code != wantCode || json.Unmarshal([]byte(body), &ans) != nil || !strings.Contains(ans.Error, want) {
		if len(body) > 300 {
			body = body[:300] + "..."
		}
		t.Errorf("%s: answered %d %s, want %d with an error naming %q", what, code, strings.TrimSpace(body), wantCode, want)
	}
}

// pageHeaders are the headers a browser adds to a request a page at origin
// makes; site is its Sec-Fetch-Site ("" for a browser before 2023).
func pageHeaders(origin, site, contentType string) map[string]string {
	h := map[string]string{"Content-Type": contentType}
	if origin != "" {
		h["Origin"] = origin
	}
	if site != "" {
		h["Sec-Fetch-Site"] = site
	}
	return h
}

func TestAttackCrossSiteSilence(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	evil := "http://evil.example"
	for _, tc := range []struct {
		name   string
		header map[string]string
		code   int
		why    string
	}{
		// fetch(url, {method: 'POST', mode: 'no-cors', body: JSON.stringify(...)})
		{"no-cors fetch", pageHeaders(evil, "cross-site", "text/plain;charset=UTF-8"), 403, "cross-site"},
		{"no-cors fetch, browser without Sec-Fetch-Site", pageHeaders(evil, "", "text/plain;charset=UTF-8"), 403, evil},
		// <form method=post enctype=text/plain>, and a plain form.
		{"text/plain form", pageHeaders("", "cross-site", "text/plain"), 403, "cross-site"},
		{"urlencoded form", pageHeaders("", "cross-site", "application/x-www-form-urlencoded"), 403, "cross-site"},
		// A page of another service on this machine (another port):
		// same-site, but not same-origin.
		{"another port of this machine", pageHeaders("http://127.0.0.1:3000", "same-site", "application/json"), 403, "same-site"},
		// A sandboxed frame, a file, or a page with Referrer-Policy:
		// no-referrer sends Origin: null.
		{"Origin null", pageHeaders("null", "", "application/json"), 403, "null"},
		// A fetch of a Blob body has no Content-Type; a page may forge
		// neither Origin nor Sec-Fetch-Site, but a browser extension or an
		// old browser may send none: the body's type still counts.
		{"text/plain without Origin", pageHeaders("", "", "text/plain"), 415, "application/json"},
		{"body without Content-Type", map[string]string{"Content-Type": ""}, 415, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := tg.do(request{method: "POST", path: "/api/v1/silences", body: []byte(silenceOfEverything), header: tc.header})
			wantRefusal(t, tc.name, code, body, tc.code, tc.why)
			if n := listedSilences(t, tg); n != 0 {
				t.Fatalf("%d silences after a refused request", n)
			}
		})
	}
	// Expiring a silence cross-site is refused too (a DELETE from a page
	// needs CORS, which alerter never grants, but the check does not rely
	// on that).
	code, body := tg.do(request{method: "POST", path: "/api/v1/silences", body: []byte(ruleSilence)})
	if code != 201 {
		t.Fatalf("a silence from a client: %d %s", code, body)
	}
	var sl struct{ ID string }
	_ = json.Unmarshal([]byte(body), &sl)
	code, body = tg.do(request{method: "DELETE", path: "/api/v1/silences/" + sl.ID, header: map[string]string{"Origin": evil}})
	wantRefusal(t, "cross-site DELETE", code, body, 403, evil)
	code, body = tg.do(request{method: "POST", path: "/-/reload", header: pageHeaders(evil, "cross-site", "text/plain")})
	wantRefusal(t, "cross-site reload", code, body, 403, "cross-site")
	tg.mustBeAlive()
}

func TestAttackCrossSiteEventInjection(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	ev, err := os.ReadFile("../../examples/events/soteri-global-setting.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
		why    string
	}{
		{"fetch with Origin", pageHeaders("http://evil.example", "cross-site", "text/plain"), "cross-site"},
		{"fetch from an old browser", pageHeaders("http://evil.example", "", "application/json"), "http://evil.example"},
		{"form", pageHeaders("", "cross-site", "application/x-www-form-urlencoded"), "cross-site"},
	} {
		code, body := tg.do(request{method: "POST", path: "/webhooks/hook", body: ev, header: tc.header})
		wantRefusal(t, tc.name, code, body, 403, tc.why)
	}
	if n := listedEvents(t, tg); n != 0 {
		t.Fatalf("%d events stored by cross-site posts", n)
	}
	// Confluence's server sends neither Origin nor Sec-Fetch-*.
	if code, body := tg.do(request{method: "POST", path: "/webhooks/hook", body: ev}); code != 202 {
		t.Fatalf("a webhook post from a server: %d %s", code, body)
	}
	if n := listedEvents(t, tg); n != 1 {
		t.Fatalf("%d events stored after a server's post, want 1", n)
	}
}

func TestAttackCrossSiteTestNotification(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	for _, tc := range []struct {
		name   string
		body   []byte
		header map[string]string
		why    string
	}{
		// fetch(url, {method: 'POST', mode: 'no-cors'}): no body, no
		// Content-Type.
		{"no-cors fetch without a body", nil, map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, "cross-site"},
		{"no-cors fetch", []byte(`{"severity":"critical"}`), pageHeaders("http://evil.example", "cross-site", "text/plain"), "cross-site"},
		{"form", nil, pageHeaders("", "cross-site", "application/x-www-form-urlencoded"), "cross-site"},
	} {
		code, body := tg.do(request{method: "POST", path: "/api/v1/notifiers/console/test", body: tc.body, header: tc.header})
		wantRefusal(t, tc.name, code, body, 403, tc.why)
	}
	const sent = "Test notification from alerter"
	if strings.Contains(tg.output(), sent) {
		t.Fatalf("a cross-site request sent a test notification:\n%s", lastLines(tg.output(), 10))
	}
	// The UI's own button still works, and shows up where the refused ones
	// would have.
	code, body := tg.do(request{method: "POST", path: "/api/v1/notifiers/console/test", body: []byte(`{"severity":"high"}`),
		header: pageHeaders(tg.url, "same-origin", "application/json")})
	if code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("the UI's test notification: %d %s", code, body)
	}
	if !strings.Contains(tg.output(), sent) {
		t.Fatalf("the UI's test notification was not printed:\n%s", lastLines(tg.output(), 10))
	}
}

// DNS rebinding: a page at http://evil.example:PORT whose name is made to
// resolve to 127.0.0.1 is same-origin with itself, so the browser sends
// its requests with Host: evil.example:PORT and reads the answers.
func TestAttackDNSRebinding(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	_, port, _ := strings.Cut(tg.listen, ":")
	rebound := "evil.example:" + port
	page := pageHeaders("http://"+rebound, "same-origin", "application/json")
	for _, req := range []request{
		{method: "GET", path: "/api/v1/silences", header: map[string]string{"Host": rebound}},
		{method: "GET", path: "/api/v1/events", header: map[string]string{"Host": rebound}},
		{method: "GET", path: "/metrics", header: map[string]string{"Host": rebound}},
		{method: "POST", path: "/api/v1/silences", body: []byte(silenceOfEverything), header: page},
		{method: "POST", path: "/webhooks/hook", body: []byte(`{"action":"Global setting changed"}`), header: page},
	} {
		if req.header["Origin"] != "" {
			req.header["Host"] = rebound
		}
		code, body := tg.do(req)
		wantRefusal(t, req.method+" "+req.path, code, body, http.StatusMisdirectedRequest, rebound)
	}
	if n := listedSilences(t, tg); n != 0 {
		t.Fatalf("%d silences created through a rebound name", n)
	}
	if n := listedEvents(t, tg); n != 0 {
		t.Fatalf("%d events stored through a rebound name", n)
	}
	// The names a user of this machine opens still answer.
	for _, host := range []string{tg.listen, "localhost:" + port, "[::1]:" + port, "LOCALHOST:" + port} {
		if code, body := tg.do(request{method: "GET", path: "/api/v1/silences", header: map[string]string{"Host": host}}); code != 200 {
			t.Errorf("Host %s: %d %s", host, code, body)
		}
	}
}

// The configured server.external_url is the UI's address behind a proxy:
// its name is accepted as Host, and its origin as Origin.
func TestAttackExternalURLIsOwn(t *testing.T) {
	tg := startTarget(t, targetConfig{server: `external_url: "https://alerter.example.com/"`})
	code, body := tg.do(request{method: "POST", path: "/api/v1/silences", body: []byte(ruleSilence),
		header: map[string]string{"Host": "alerter.example.com", "Origin": "https://alerter.example.com"}})
	if code != 201 {
		t.Fatalf("a silence from the UI behind its proxy: %d %s", code, body)
	}
	// A proxy that passes its upstream's address as Host: an old browser's
	// Origin is then the external URL's.
	code, body = tg.do(request{method: "POST", path: "/api/v1/silences/preview", body: []byte(ruleSilence),
		header: map[string]string{"Origin": "https://alerter.example.com"}})
	if code != 200 {
		t.Fatalf("a preview from the UI behind a proxy that rewrites Host: %d %s", code, body)
	}
	code, body = tg.do(request{method: "POST", path: "/api/v1/silences", body: []byte(silenceOfEverything),
		header: map[string]string{"Host": "alerter.example.com", "Origin": "http://alerter.example.com.evil.example"}})
	wantRefusal(t, "a look-alike origin", code, body, 403, "alerter.example.com.evil.example")
}

// The UI's own requests (Origin: its own address, Sec-Fetch-Site:
// same-origin) still change what they should.
func TestAttackSameOriginStillWorks(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	_, port, _ := strings.Cut(tg.listen, ":")
	for _, origin := range []string{tg.url, "http://localhost:" + port} {
		host := strings.TrimPrefix(origin, "http://")
		ui := pageHeaders(origin, "same-origin", "application/json")
		ui["Host"] = host
		code, body := tg.do(request{method: "POST", path: "/api/v1/silences", body: []byte(ruleSilence), header: ui})
		if code != 201 {
			t.Fatalf("%s: the UI's silence: %d %s", origin, code, body)
		}
		var sl struct{ ID string }
		_ = json.Unmarshal([]byte(body), &sl)
		// The UI expires a silence with a DELETE without a body.
		delete(ui, "Content-Type")
		if code, body := tg.do(request{method: "DELETE", path: "/api/v1/silences/" + sl.ID, header: ui}); code != 200 {
			t.Fatalf("%s: the UI's expiry: %d %s", origin, code, body)
		}
		ui["Content-Type"] = "application/json; charset=utf-8"
		if code, body := tg.do(request{method: "POST", path: "/api/v1/evaluate", header: ui,
			body: []byte(`{"rule":"id: r\nseverity: low\nwhen: event.action == \"x\"\ntitle: t\n","event":{"action":"x"}}`)}); code != 200 {
			t.Fatalf("%s: the playground: %d %s", origin, code, body)
		}
		// A bookmark or a typed address: Sec-Fetch-Site: none.
		if code, body := tg.do(request{method: "POST", path: "/-/reload", header: map[string]string{"Sec-Fetch-Site": "none", "Host": host}}); code != 200 {
			t.Fatalf("%s: a reload: %d %s", origin, code, body)
		}
	}
	// A proxy that passes its upstream's address as Host, without
	// server.external_url: a browser's Sec-Fetch-Site says the page is
	// the server's own, under the address the user opened.
	code, body := tg.do(request{method: "POST", path: "/api/v1/silences/preview", body: []byte(ruleSilence),
		header: pageHeaders("https://alerter.corp.example", "same-origin", "application/json")})
	if code != 200 {
		t.Fatalf("a preview from the UI behind a proxy: %d %s", code, body)
	}
	if n := listedSilences(t, tg); n != 2 {
		t.Fatalf("%d silences listed, want the 2 expired ones", n)
	}
}

// API answers are JSON that a browser must neither sniff as HTML nor run
// nor frame.
func TestAttackAPIAnswerHeaders(t *testing.T) {
	tg := startTarget(t, targetConfig{})
	for _, path := range []string{"/api/v1/silences", "/api/v1/nothing", "/webhooks/nothing", "/healthz", "/api/v1/openapi.json"} {
		resp, err := tg.client.Get(tg.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", path, got)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != "default-src 'none'; frame-ancestors 'none'" {
			t.Errorf("%s: Content-Security-Policy %q", path, got)
		}
	}
	// The UI's pages keep their own policy, which lets them load their
	// scripts.
	resp, err := tg.client.Get(tg.url + "/silences")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
		t.Errorf("the silences page: Content-Security-Policy %q", got)
	}
}

// With a token, a page of another site has none to send: the Host is not
// checked (a proxy may pass any name), the token is asked for, and
// cross-site writes are refused before it is.
func TestAttackRebindingWithToken(t *testing.T) {
	tg := startTarget(t, targetConfig{server: "api_token: t0ken"})
	_, port, _ := strings.Cut(tg.listen, ":")
	code, body := tg.do(request{method: "GET", path: "/api/v1/silences", header: map[string]string{"Host": "evil.example:" + port}})
	wantRefusal(t, "a rebound GET without the token", code, body, 401, "Bearer")
	code, body = tg.do(request{method: "POST", path: "/api/v1/silences", body: []byte(silenceOfEverything),
		header: map[string]string{"Authorization": "Bearer t0ken", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}})
	wantRefusal(t, "a cross-site write with the token", code, body, 403, "cross-site")
	code, body = tg.do(request{method: "GET", path: "/api/v1/silences", header: map[string]string{"Authorization": "Bearer t0ken", "Host": "alerter.internal:" + port}})
	if code != 200 || !strings.Contains(body, `"silences":[]`) {
		t.Fatalf("a GET with the token under a proxy's name: %d %s", code, body)
	}
}
