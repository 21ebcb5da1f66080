package ui

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alerter/alerter/lifecycle"
)

func get(t *testing.T, h http.Handler, target string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// localRefs are the src and href values of a page.
var localRefs = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

func TestPages(t *testing.T) {
	h := Handler(Options{Title: "alerter test"})
	for _, tc := range []struct{ path, title, script string }{
		{"/", "Alerts · alerter test", "alerts.js"},
		{"/alerts", "Alerts · alerter test", "alerts.js"},
		{"/alerts/01HXV8VQSY8NHHNRHYCW85J50Z", "Alert 01HXV8VQSY8NHHNRHYCW85J50Z · alerter test", "alert.js"},
		{"/rules", "Rules · alerter test", "rules.js"},
		{"/silences", "Silences · alerter test", "silences.js"},
		{"/silences?alert=01HXV8VQSY8NHHNRHYCW85J50Z", "Silences · alerter test", "silences.js"},
		{"/deadletters", "Dead letters · alerter test", "deadletters.js"},
		{"/playground", "Playground · alerter test", "playground.js"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res := get(t, h, tc.path)
			page := body(t, res)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d:\n%s", res.StatusCode, page)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
				t.Errorf("Content-Security-Policy %q", res.Header.Get("Content-Security-Policy"))
			}
			for _, want := range []string{"<title>" + tc.title + "</title>", `<main id="main"`, `lang="en"`, tc.script + `"></script>`, `aria-current="page"`} {
				if !strings.Contains(page, want) {
					t.Errorf("the page has no %q", want)
				}
			}
			// Every local link and asset of the page resolves, relative
			// to the page as a browser resolves it.
			base, _ := url.Parse("http://alerter.test" + tc.path)
			for _, m := range localRefs.FindAllStringSubmatch(page, -1) {
				ref, err := base.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
				if err != nil {
					t.Errorf("%s: %v", m[1], err)
					continue
				}
				if ref.Host != base.Host || strings.HasPrefix(m[1], "#") {
					continue
				}
				if res := get(t, h, ref.RequestURI()); res.StatusCode != http.StatusOK {
					t.Errorf("%s → %s: status %d", m[1], ref.Path, res.StatusCode)
				}
			}
		})
	}
}

func TestPlaygroundPrefill(t *testing.T) {
	page := body(t, get(t, Handler(Options{}), "/playground"))
	for _, want := range []string{
		"id: soteri-global-setting-changed",
		"&amp;&amp; event.action == &#34;Global setting changed&#34;", // escaped in the textarea
		"Ming Chen",                   // the first example event
		`value="soteri-events.jsonl"`, // the picker
		`<label for="rule"`, `<label for="events"`, `<label for="example"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the playground has no %q", want)
		}
	}
}

func TestAlertIDWithSlash(t *testing.T) {
	page := body(t, get(t, Handler(Options{}), "/alerts/a%2Fb"))
	if !strings.Contains(page, `href="../static/style.css"`) {
		t.Errorf("the assets of /alerts/a%%2Fb are not at ../static/:\n%s", page)
	}
}

// What the address carries into a page (the alert id, the filters) is
// written escaped.
func TestAddressIsEscaped(t *testing.T) {
	const hostile = "%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"
	for _, target := range []string{
		"/alerts/" + hostile,
		"/?rule=" + hostile + "&group=" + hostile,
		"/?status=" + hostile,
		"/?status=resolved" + hostile,
	} {
		res := get(t, Handler(Options{}), target)
		page := body(t, res)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", target, res.StatusCode)
		}
		if strings.Contains(page, "<script>alert") {
			t.Errorf("%s: the address is not escaped:\n%s", target, page)
		}
	}
}

// htmlSinks are the ways a script can make HTML (or code) of a string.
var htmlSinks = regexp.MustCompile(`\.(innerHTML|outerHTML|insertAdjacentHTML|createContextualFragment)\b|document\.write|\beval\(|new Function\(|\bsrcdoc\b|DOMParser`)

// The scripts write what the API answers (titles, names, comments of
// acknowledgements and resolves, event fields) as text only: through h()
// and textContent, never as HTML. So a hostile comment or name is shown
// as written and runs nothing.
func TestScriptsWriteNoHTML(t *testing.T) {
	scripts, err := fs.Glob(files, "static/*.js")
	if err != nil || len(scripts) < 5 {
		t.Fatalf("scripts %v: %v", scripts, err)
	}
	for _, name := range scripts {
		data, _ := files.ReadFile(name)
		for i, line := range strings.Split(string(data), "\n") {
			if m := htmlSinks.FindString(line); m != "" {
				t.Errorf("%s:%d: %s makes HTML of a string: %s", name, i+1, m, strings.TrimSpace(line))
			}
		}
	}
	// And the pattern finds what it must.
	for _, s := range []string{"el.innerHTML = c.comment", "document.write(x)", "row.insertAdjacentHTML('beforeend', s)"} {
		if !htmlSinks.MatchString(s) {
			t.Errorf("the scan misses %s", s)
		}
	}
}

// The status filter offers the API's statuses, and keeps the one chosen.
func TestAlertsStatusFilter(t *testing.T) {
	page := body(t, get(t, Handler(Options{}), "/?status=acknowledged&rule=r1"))
	for _, want := range []string{
		`<label for="f-status">Status</label>`, `<select id="f-status" name="status">`,
		`<option value="">all</option>`, `<option>firing</option>`, `<option selected>acknowledged</option>`, `<option>resolved</option>`,
		`<th scope="col">Status</th>`,
		`value="r1"`, // the other filters are kept
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the alerts page has no %s", want)
		}
	}
	for _, s := range []lifecycle.Status{lifecycle.Firing, lifecycle.Acknowledged, lifecycle.Resolved} {
		if !strings.Contains(page, ">"+string(s)+"</option>") {
			t.Errorf("the status filter does not offer %s", s)
		}
	}
}

var option = regexp.MustCompile(`<option value="([^"]*)">([^<]*)</option>`)

// The alert page's form sends what the API takes: each verdict offered is
// one lifecycle accepts, and a comment no longer than it keeps.
func TestAlertLifecycleForm(t *testing.T) {
	page := body(t, get(t, Handler(Options{}), "/alerts/01HXV8VQSY8NHHNRHYCW85J50Z"))
	for _, want := range []string{
		`<form id="lifecycle-form"`, `<label for="lifecycle-comment">Comment</label>`, `<label for="lifecycle-verdict">Verdict</label>`,
		`<button type="submit" id="ack" value="ack">Acknowledge</button>`, `id="resolve" value="resolve" class="secondary">Resolve</button>`,
		`maxlength="` + strconv.Itoa(lifecycle.MaxComment) + `"`,
		`<tbody id="history">`, `id="alert-status"`, `id="lifecycle-error" class="error" role="alert"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the alert page has no %s", want)
		}
	}
	form := page[strings.Index(page, `<select id="lifecycle-verdict"`):]
	form = form[:strings.Index(form, "</select>")]
	var offered []string
	for _, m := range option.FindAllStringSubmatch(form, -1) {
		if _, err := lifecycle.ParseVerdict(m[1]); err != nil {
			t.Errorf("the verdict %q (%s) is not the API's: %v", m[1], m[2], err)
		}
		offered = append(offered, m[1])
	}
	want := []string{"", string(lifecycle.TruePositive), string(lifecycle.FalsePositive), string(lifecycle.Benign)}
	if !slices.Equal(offered, want) {
		t.Errorf("verdicts offered %q, want %q", offered, want)
	}
}

// wantTypes are the content types the assets must be served with.
var wantTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".svg":   "image/svg+xml",
	".json":  "application/json",
	".jsonl": "text/plain; charset=utf-8",
	".log":   "text/plain; charset=utf-8",
}

func TestAssets(t *testing.T) {
	h := Handler(Options{})
	n := 0
	err := fs.WalkDir(files, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		want, ok := wantTypes[path.Ext(name)]
		if !ok {
			t.Errorf("%s: no content type is known for it", name)
			return nil
		}
		data, _ := files.ReadFile(name)
		res := get(t, h, "/"+name)
		got := body(t, res)
		if res.StatusCode != http.StatusOK || got != string(data) {
			t.Errorf("%s: status %d, %d bytes of %d", name, res.StatusCode, len(got), len(data))
		}
		if ct := res.Header.Get("Content-Type"); ct != want {
			t.Errorf("%s: Content-Type %q, want %q", name, ct, want)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", name)
		}
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Errorf("%s: no ETag", name)
			return nil
		}
		if res := get(t, h, "/"+name, "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
			t.Errorf("%s: If-None-Match its ETag: status %d, want 304", name, res.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("only %d assets", n)
	}
}

func TestNotFound(t *testing.T) {
	h := Handler(Options{})
	for _, p := range []string{
		"/nope", "/static/", "/static/nope.js", "/static/examples/", "/static/ui.go",
		"/alerts/", "/alerts/a/b", "/rules/x", "/templates/layout.html", "/favicon.ico",
	} {
		res := get(t, h, p)
		page := body(t, res)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, res.StatusCode)
		}
		if !strings.Contains(page, "<h1>Not found</h1>") {
			t.Errorf("%s: not the not-found page:\n%s", p, page)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/rules", strings.NewReader("x"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code == http.StatusOK {
		t.Errorf("POST /rules: status %d", w.Code)
	}
}

// externalURL finds absolute and scheme-relative addresses.
var externalURL = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>()\\]+|(?:src|href|url|action)\s*[=(]\s*["']?//[^\s"'<>()]+|@import`)

// allowedURL are addresses that are no request: the SVG namespace, and
// the reserved example and private domains in the example events' data.
func allowedURL(u string) bool {
	if strings.HasPrefix(u, "http://www.w3.org/2000/svg") {
		return true
	}
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	host := p.Hostname()
	return strings.HasPrefix(host, "example.") || strings.Contains(host, ".example.") || strings.HasSuffix(host, ".internal")
}

func TestNoExternalURLs(t *testing.T) {
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		for _, u := range externalURL.FindAllString(string(data), -1) {
			if !allowedURL(u) {
				t.Errorf("%s: external address %s", name, u)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// And the pattern finds what it must.
	for _, s := range []string{`<script src="https://cdn.example.net/x.js">`, `url(//fonts.gstatic.com/a.woff)`, `@import "x.css"`} {
		if !externalURL.MatchString(s) {
			t.Errorf("the scan misses %s", s)
		}
	}
}

func TestExamplesAreAllOffered(t *testing.T) {
	entries, err := fs.ReadDir(files, "static/examples")
	if err != nil {
		t.Fatal(err)
	}
	var offered []string
	for _, e := range examples {
		offered = append(offered, e.File)
	}
	for _, e := range entries {
		if !slices.Contains(offered, e.Name()) {
			t.Errorf("static/examples/%s is not offered by the playground", e.Name())
		}
	}
}

// Register leaves the service's routes alone: webhooks, the API, health
// and the mux's own fallback.
func TestRegister(t *testing.T) {
	mux := http.NewServeMux()
	route := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }
	}
	mux.Handle("/webhooks/default", route("webhook"))
	mux.Handle("GET /healthz", route("healthz"))
	mux.Handle("GET /metrics", route("metrics"))
	mux.Handle("GET /api/v1/alerts/{id}", route("api alert"))
	mux.Handle("/api/", route("api fallback"))
	Register(mux, Options{}) // must not panic on the patterns above
	mux.Handle("/", route("fallback"))

	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/webhooks/default", "webhook"},
		{"GET", "/webhooks/default", "webhook"},
		{"GET", "/healthz", "healthz"},
		{"GET", "/metrics", "metrics"},
		{"GET", "/api/v1/alerts/x", "api alert"},
		{"GET", "/api/v1/nope", "api fallback"},
		{"GET", "/nope", "fallback"},
		{"POST", "/", "fallback"},
		{"GET", "/", "<!doctype html>"},
		{"HEAD", "/rules", ""},
		{"GET", "/alerts/01HXV8VQSY8NHHNRHYCW85J50Z", "<!doctype html>"},
		{"GET", "/static/app.js", "// What every page shares"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if !strings.HasPrefix(strings.TrimSpace(w.Body.String()), tc.want) || (tc.want == "" && w.Code != http.StatusOK) {
			t.Errorf("%s %s: %d %.60q, want %q", tc.method, tc.path, w.Code, w.Body.String(), tc.want)
		}
	}
}

func TestRoot(t *testing.T) {
	for p, want := range map[string]string{"/": "./", "/rules": "./", "/alerts/X": "../", "/a/b/c": "../../"} {
		if got := root(p); got != want {
			t.Errorf("root(%q) = %q, want %q", p, got, want)
		}
	}
}
