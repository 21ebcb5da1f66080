// Package ui is alerter's web interface (docs/ui.md): recent alerts, an
// alert's detail, rules with their counters, silences, dead letters, the
// targets, a playground for writing rules, and the explanation of one
// event. The pages are HTML templates and a little
// JavaScript that calls the JSON API under /api/v1; everything is embedded
// in the binary and nothing is loaded from elsewhere.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed static templates
var files embed.FS

// Options configure the pages.
type Options struct {
	// Title names this alerter in the page header and the window title;
	// default "alerter". Useful when several instances are in use.
	Title string
}

// page is one of the pages: where it is served, which template and script
// make it, and its title.
type page struct {
	pattern string
	name    string // templates/<name>.html and static/<name>.js
	title   string
	nav     string // the navigation entry it belongs to
}

var pages = []page{
	{"GET /{$}", "alerts", "Alerts", "alerts"},
	{"GET /alerts", "alerts", "Alerts", "alerts"},
	{"GET /alerts/{id}", "alert", "Alert", "alerts"},
	{"GET /rules", "rules", "Rules", "rules"},
	{"GET /silences", "silences", "Silences", "silences"},
	{"GET /deadletters", "deadletters", "Dead letters", "deadletters"},
	{"GET /notifiers", "notifiers", "Targets", "notifiers"},
	{"GET /playground", "playground", "Playground", "playground"},
	{"GET /explain", "explain", "Explain an event", "explain"},
}

const staticPattern = "GET /static/"

// Register mounts the pages and their assets on mux, one pattern each, so
// that the webhooks, the API, /healthz and the rest of mux keep their
// routes, and mux keeps its own fallback for "/".
func Register(mux *http.ServeMux, opt Options) {
	h := Handler(opt)
	for _, p := range pages {
		mux.Handle(p.pattern, h)
	}
	mux.Handle(staticPattern, h)
}

// Handler serves the pages at /, /alerts/{id}, /rules, /silences,
// /deadletters, /notifiers, /playground and /explain, and their assets
// under /static/; anything else is 404.
func Handler(opt Options) http.Handler {
	if opt.Title == "" {
		opt.Title = "alerter"
	}
	s := &server{opt: opt, static: map[string]asset{}, pages: map[string]*template.Template{}}
	if err := s.load(); err != nil {
		// The templates and assets are part of the binary: a failure here
		// is a build mistake, which every test catches.
		panic("ui: " + err.Error())
	}
	mux := http.NewServeMux()
	for _, p := range pages {
		mux.Handle(p.pattern, s.page(p))
	}
	mux.HandleFunc(staticPattern, s.asset)
	mux.HandleFunc("/", s.notFound)
	return secure(mux)
}

// asset is an embedded file, ready to serve.
type asset struct {
	data []byte
	typ  string
	etag string
}

type server struct {
	opt      Options
	static   map[string]asset // by path under static/
	pages    map[string]*template.Template
	examples []example
}

// example is an event file of static/examples offered by the playground.
type example struct {
	File  string
	Label string
}

// examples are the bundled events, as the playground's picker lists them.
var examples = []example{
	{"soteri-global-setting.json", "Soteri: global setting changed (audit REST entity)"},
	{"soteri-events.jsonl", "Soteri: 28 events as JSON lines (REST entities)"},
	{"confluence-auditing-page.json", "Confluence DC: a page of /rest/auditing/1.0/events"},
	{"audit-file-sample.log", "Confluence DC: audit log file lines"},
	{"legacy-audit-page.json", "Confluence: a page of legacy /rest/api/audit records"},
	{"webhook-dc-page_created.json", "Webhook (Data Center): page_created"},
	{"webhook-dc-space_permissions_updated.json", "Webhook (Data Center): space_permissions_updated"},
	{"webhook-cloud-page_updated.json", "Webhook (Cloud): page_updated"},
}

// contentTypes are the types of the embedded assets, by extension; an
// asset of another kind is not served (a test checks that there is none).
var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".svg":   "image/svg+xml",
	".json":  "application/json",
	".jsonl": "text/plain; charset=utf-8",
	".log":   "text/plain; charset=utf-8",
}

func (s *server) load() error {
	err := fs.WalkDir(files, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		typ, ok := contentTypes[path.Ext(name)]
		if !ok {
			return &fs.PathError{Op: "serve", Path: name, Err: fs.ErrInvalid}
		}
		sum := sha256.Sum256(data)
		s.static[strings.TrimPrefix(name, "static/")] = asset{data: data, typ: typ, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range examples {
		if _, ok := s.static["examples/"+e.File]; !ok {
			return &fs.PathError{Op: "example", Path: e.File, Err: fs.ErrNotExist}
		}
	}
	s.examples = examples
	layout, err := template.New("layout").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return err
	}
	names := []string{"notfound"}
	for _, p := range pages {
		names = append(names, p.name)
	}
	for _, name := range names {
		if s.pages[name] != nil {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(files, "templates/"+name+".html")
		if err != nil {
			return err
		}
		s.pages[name] = t
	}
	return nil
}

// view is what a page template sees.
type view struct {
	App   string
	Title string
	Nav   string
	// Root leads from the page back to the root ("./" or "../"), so that
	// the pages work behind a proxy that mounts them under a prefix.
	Root     string
	Script   string
	Query    url.Values
	AlertID  string
	Examples []example
	// Rule and Event fill the playground's editors.
	Rule, Event string
}

var funcs = template.FuncMap{
	"severities": func() []string { return []string{"info", "low", "medium", "high", "critical"} },
	"states":     func() []string { return []string{"active", "pending", "expired"} },
	// statuses are an alert's (docs/notifications.md, The alert lifecycle).
	"statuses": func() []string { return []string{"firing", "acknowledged", "resolved"} },
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}

// exampleRule is the playground's rule until one is typed: it matches the
// first example event.
const exampleRule = `# One rule; add more with a rules: list. The loaded rule files' macros
# (soteri, who, is_admin, ...) and lists (lists.admins, ...) can be used.
id: soteri-global-setting-changed
name: Soteri global setting changed
severity: high
when: >-
  event.category == "Soteri Security for Confluence"
  && event.action == "Global setting changed"
  && event.actor.name != ""
dedup: {by: [event.actor.name], window: 30m}
title: "{{ event.actor.display_name }} changed a Soteri global setting"
text: |
  {{ event.actor.display_name }} ({{ event.actor.name }}) from {{ event.ip }} changed
  {{ join(map(event.changes, #.key + ": " + #.from + " → " + #.to), ", ") }}.
labels: {team: security}
`

func (s *server) page(p page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := view{
			App: s.opt.Title, Title: p.title, Nav: p.nav, Root: root(r.URL.EscapedPath()),
			Script: p.name, Query: r.URL.Query(), AlertID: r.PathValue("id"),
		}
		if p.name == "playground" {
			v.Examples = s.examples
			v.Rule = exampleRule
			v.Event = string(s.static["examples/"+s.examples[0].File].data)
		}
		if v.AlertID != "" {
			v.Title = "Alert " + v.AlertID
		}
		s.render(w, http.StatusOK, p.name, v)
	})
}

func (s *server) render(w http.ResponseWriter, code int, name string, v view) {
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout", v); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusNotFound, "notfound", view{
		App: s.opt.Title, Title: "Not found", Root: root(r.URL.EscapedPath()),
	})
}

// asset serves an embedded file. They are revalidated on each use (an
// ETag makes that cheap), so that an upgraded binary never runs with
// yesterday's scripts.
func (s *server) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := s.static[strings.TrimPrefix(r.URL.Path, "/static/")]
	if !ok {
		s.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.typ)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}

// root is the relative way from a page (its escaped path) back to the
// root: "./" for /rules, "../" for /alerts/ID.
func root(p string) string {
	n := strings.Count(strings.TrimPrefix(p, "/"), "/")
	if n == 0 {
		return "./"
	}
	return strings.Repeat("../", n)
}

// csp allows the pages nothing but themselves: no inline script or style,
// no other origin.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}
