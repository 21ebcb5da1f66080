package confluence

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/internal/syncbuf"
	"github.com/alerter/alerter/internal/yamlx"
)

// The fixture scenario's accounts (testdata/*.json, from
// event/testdata).
const (
	jdoeKey = "8a7f808a8b1c2d3e018b1c2d45670000"
	svcKey  = "8a7f808a8b1c2d3e018b1c2e99aa0005"
	svcUser = "svc-audit"

	testToken    = "pat-NjQ2MzY5OTk2OTQ3OkZha2VUb2tlbkZvclRlc3Rz"
	testPassword = "hunter2-correct-horse"
)

// fakeClock is the time of a test: Sleep records the wait and moves the
// clock on instead of sleeping.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// logBuffer collects a test's logs, from any goroutine.
type logBuffer struct{ syncbuf.Buffer }

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// memSink is the other side of ingest.Sink: it keeps what it is given, and
// counts how often each id was handed to it.
type memSink struct {
	mu     sync.Mutex
	fail   int             // fail this many Store calls from now
	calls  map[string]int  // how often each id was handed to Store
	ids    map[string]bool // stored
	stored []event.Event
	// batches are the times of each Store call's events, to check order.
	batches [][]time.Time
}

func newSink() *memSink { return &memSink{calls: map[string]int{}, ids: map[string]bool{}} }

func (s *memSink) Store(ctx context.Context, source string, events []event.Event) (ingest.Stored, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		s.calls[e.ID]++
	}
	if s.fail > 0 {
		s.fail--
		st := ingest.Stored{}
		for i := range events {
			st.Failed = append(st.Failed, i)
		}
		return st, errors.New("EVENTS stream unavailable")
	}
	var st ingest.Stored
	times := make([]time.Time, len(events))
	for i, e := range events {
		if e.Source != source {
			return st, fmt.Errorf("event source %q, stored as %q", e.Source, source)
		}
		times[i] = e.Time
		if s.ids[e.ID] {
			st.Duplicates++
			continue
		}
		s.ids[e.ID] = true
		st.Accepted++
		s.stored = append(s.stored, e)
	}
	s.batches = append(s.batches, times)
	return st, nil
}

func (s *memSink) failNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = n
}

func (s *memSink) snapshot() (map[string]int, []event.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls), slices.Clone(s.stored)
}

// memCheckpoints is an in-memory ingest.Checkpoints.
type memCheckpoints struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
}

func newCheckpoints() *memCheckpoints { return &memCheckpoints{m: map[string][]byte{}} }

func (c *memCheckpoints) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.m[key]), nil
}

func (c *memCheckpoints) Put(ctx context.Context, key string, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = bytes.Clone(value)
	c.puts++
	return nil
}

func (c *memCheckpoints) get(key string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.m[key])
}

// fault is a response the fake gives to an audit request instead of the
// real one.
type fault struct {
	status int
	header map[string]string
	body   string
}

// record is one audit event the fake holds.
type record struct {
	id        int64
	ms        int64 // its time, unix ms
	raw       json.RawMessage
	visibleAt time.Time // it is committed (found by searches) from then on
}

type member struct{ username, key, accountID string }

// fakeConfluence serves what the package reads of Confluence's REST API, as
// the research notes describe it (event/testdata/README.md):
// the auditing events newest first with a "<ms>,<id>" keyset pageCursor
// and a nextPageLink to a host the poller must not follow, the legacy audit
// with epoch-ms dates and start/limit, an "Audit Log search performed" event
// by the caller for every audit search, the directory's start/limit pages,
// and 401 without the right credentials (with a body that echoes them, as a
// careless proxy might).
type fakeConfluence struct {
	t     *testing.T
	srv   *httptest.Server
	clock *fakeClock

	mu          sync.Mutex
	token       string // wanted as Bearer; else user and pass as basic
	user, pass  string
	currentOK   bool // /rest/api/user/current answers
	auditing    []record
	legacy      []record
	nextID      int64
	searchTmpl  map[string]any
	faults      []fault
	audits      []string // the URLs of audit requests
	groups      map[string][]member
	memberOf    map[string][]string // by "username=", "key=" or "accountId=" value
	dirFaults   int                 // answer this many directory requests with 500
	dirCalls    int
	ignoreStart bool // the directory always answers the first page
}

func newFake(t *testing.T, clock *fakeClock) *fakeConfluence {
	f := &fakeConfluence{t: t, clock: clock, token: testToken, currentOK: true, nextID: 1000,
		groups: map[string][]member{}, memberOf: map[string][]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeConfluence) URL() string { return f.srv.URL }

// addAuditing adds the entities of an auditing page (or JSON lines of
// entities), visible from visibleAt (zero: always).
func (f *fakeConfluence) addAuditing(data []byte, visibleAt time.Time) {
	f.t.Helper()
	var page struct {
		Entities []json.RawMessage `json:"entities"`
	}
	if err := json.Unmarshal(data, &page); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, raw := range page.Entities {
		var e struct {
			Timestamp string          `json:"timestamp"`
			Type      json.RawMessage `json:"type"`
			Author    struct {
				ID string `json:"id"`
			} `json:"author"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			f.t.Fatal(err)
		}
		var typ struct {
			ActionKey string `json:"actionI18nKey"`
		}
		_ = json.Unmarshal(e.Type, &typ) // tests add entities of a wrong shape too
		ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
		if err != nil {
			f.t.Fatal(err)
		}
		if typ.ActionKey == auditSearchKey && e.Author.ID == svcKey && f.searchTmpl == nil {
			if err := json.Unmarshal(raw, &f.searchTmpl); err != nil {
				f.t.Fatal(err)
			}
		}
		f.nextID++
		f.auditing = append(f.auditing, record{id: f.nextID, ms: ts.UnixMilli(), raw: raw, visibleAt: visibleAt})
	}
}

func (f *fakeConfluence) addLegacy(data []byte) {
	f.t.Helper()
	var page struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(data, &page); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, raw := range page.Results {
		var r struct {
			CreationDate int64 `json:"creationDate"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			f.t.Fatal(err)
		}
		f.nextID++
		f.legacy = append(f.legacy, record{id: f.nextID, ms: r.CreationDate, raw: raw})
	}
}

func (f *fakeConfluence) addFaults(fs ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fs...)
}

func (f *fakeConfluence) auditRequests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.audits)
}

func (f *fakeConfluence) authorized(r *http.Request) bool {
	if f.token != "" {
		return r.Header.Get("Authorization") == "Bearer "+f.token
	}
	u, p, ok := r.BasicAuth()
	return ok && u == f.user && p == f.pass
}

func (f *fakeConfluence) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodGet {
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/wiki")
	if path == auditingPath || path == legacyPath {
		f.audits = append(f.audits, r.URL.String())
	}
	if !f.authorized(r) {
		// Echo what came, as a careless proxy might: the client must not
		// let it into errors or logs.
		writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401,
			"message": "not authenticated: Authorization: " + r.Header.Get("Authorization")})
		return
	}
	switch {
	case path == auditingPath || path == legacyPath:
		if len(f.faults) > 0 {
			ft := f.faults[0]
			f.faults = f.faults[1:]
			for k, v := range ft.header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(ft.status)
			_, _ = w.Write([]byte(ft.body))
			return
		}
		if path == auditingPath {
			f.serveAuditing(w, r)
		} else {
			f.serveLegacy(w, r)
		}
	case path == currentPath:
		if !f.currentOK {
			http.NotFound(w, r)
			return
		}
		if f.token != "" || f.user == svcUser {
			writeJSON(w, 200, map[string]any{"type": "known", "username": svcUser, "userKey": svcKey, "displayName": "Audit Poller (svc)"})
		} else {
			writeJSON(w, 200, map[string]any{"type": "known", "accountId": "557058:svc", "email": f.user})
		}
	case strings.HasPrefix(path, "/rest/api/group/") || path == "/rest/api/user/memberof":
		f.dirCalls++
		if f.dirFaults > 0 {
			f.dirFaults--
			http.Error(w, "directory down", http.StatusInternalServerError)
			return
		}
		f.serveDirectory(w, r, path)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"message": fmt.Sprintf(format, args...)})
}

// instantParam reads from/to as Instant.parse does: UTC with a Z.
func instantParam(v string) (time.Time, bool) {
	if !strings.HasSuffix(v, "Z") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}

func (f *fakeConfluence) serveAuditing(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, ok1 := instantParam(q.Get("from"))
	to, ok2 := instantParam(q.Get("to"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if !ok1 || !ok2 || err != nil || limit <= 0 {
		badRequest(w, "from, to (UTC instants) and limit are required, got %q", r.URL.RawQuery)
		return
	}
	if q.Has("offset") {
		badRequest(w, "the poller pages with pageCursor, not offset")
		return
	}
	curMS, curID := int64(1<<62), int64(1<<62)
	if c := q.Get("pageCursor"); c != "" {
		ms, id, ok := strings.Cut(c, ",")
		var err1, err2 error
		curMS, err1 = strconv.ParseInt(ms, 10, 64)
		curID, err2 = strconv.ParseInt(id, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			badRequest(w, "pageCursor %q", c)
			return
		}
	}
	now := f.clock.Now()
	var match []record
	for _, rec := range f.auditing {
		if rec.ms < from.UnixMilli() || rec.ms > to.UnixMilli() || now.Before(rec.visibleAt) {
			continue
		}
		if rec.ms > curMS || (rec.ms == curMS && rec.id >= curID) {
			continue
		}
		match = append(match, rec)
	}
	slices.SortFunc(match, func(a, b record) int {
		return cmp.Or(cmp.Compare(b.ms, a.ms), cmp.Compare(b.id, a.id))
	})
	last := len(match) <= limit
	page := match[:min(limit, len(match))]
	entities := make([]json.RawMessage, len(page))
	for i, rec := range page {
		entities[i] = rec.raw
	}
	info := map[string]any{"lastPage": last, "nextPageOffset": 0, "size": len(page)}
	if !last {
		end := page[len(page)-1]
		cursor := fmt.Sprintf("%d,%d", end.ms, end.id)
		info["nextPageCursor"] = cursor
		// Built from the host the request came in on, as behind a proxy:
		// following it would fail.
		info["nextPageLink"] = "http://confluence-internal.invalid:8090/rest/auditing/1.0/events?" + r.URL.RawQuery + "&pageCursor=" + cursor
	}
	writeJSON(w, 200, map[string]any{"entities": entities, "pagingInfo": info})
	f.logSearch(r, now)
}

// logSearch records the "Audit Log search performed" event that a search
// writes, authored by the caller.
func (f *fakeConfluence) logSearch(r *http.Request, now time.Time) {
	if f.searchTmpl == nil {
		return
	}
	e := maps.Clone(f.searchTmpl)
	e["timestamp"] = now.UTC().Format("2006-01-02T15:04:05.000Z")
	e["extraAttributes"] = []map[string]string{{
		"nameI18nKey": "atlassian.audit.event.attribute.query", "name": "Query", "value": r.URL.RawQuery,
	}}
	raw, err := json.Marshal(e)
	if err != nil {
		f.t.Error(err)
		return
	}
	f.nextID++
	f.auditing = append(f.auditing, record{id: f.nextID, ms: now.UnixMilli(), raw: raw})
}

func (f *fakeConfluence) serveLegacy(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	startDate, err1 := strconv.ParseInt(q.Get("startDate"), 10, 64)
	endDate, err2 := strconv.ParseInt(q.Get("endDate"), 10, 64)
	start, err3 := strconv.Atoi(q.Get("start"))
	limit, err4 := strconv.Atoi(q.Get("limit"))
	if err := errors.Join(err1, err2, err3, err4); err != nil || limit <= 0 || start < 0 {
		badRequest(w, "startDate, endDate (epoch ms), start and limit: %q", r.URL.RawQuery)
		return
	}
	var match []record
	for _, rec := range f.legacy {
		if rec.ms >= startDate && rec.ms <= endDate {
			match = append(match, rec)
		}
	}
	slices.SortFunc(match, func(a, b record) int { return cmp.Or(cmp.Compare(b.ms, a.ms), cmp.Compare(b.id, a.id)) })
	page := match[min(start, len(match)):min(start+limit, len(match))]
	results := make([]json.RawMessage, len(page))
	for i, rec := range page {
		results[i] = rec.raw
	}
	links := map[string]any{"base": "https://confluence.example.com", "context": "", "self": "https://confluence.example.com/rest/api/audit"}
	if start+limit < len(match) {
		links["next"] = fmt.Sprintf("/rest/api/audit?startDate=%d&endDate=%d&limit=%d&start=%d", startDate, endDate, limit, start+limit)
	}
	writeJSON(w, 200, map[string]any{"results": results, "start": start, "limit": limit, "size": len(page), "_links": links})
}

func (f *fakeConfluence) serveDirectory(w http.ResponseWriter, r *http.Request, path string) {
	q := r.URL.Query()
	start, err1 := strconv.Atoi(q.Get("start"))
	limit, err2 := strconv.Atoi(q.Get("limit"))
	if err := errors.Join(err1, err2); err != nil || limit <= 0 {
		badRequest(w, "start and limit: %q", r.URL.RawQuery)
		return
	}
	if f.ignoreStart {
		start = 0
	}
	var all []map[string]any
	switch {
	case path == "/rest/api/user/memberof":
		var groups []string
		var ok bool
		for _, p := range []string{"username", "key", "accountId"} {
			if v := q.Get(p); v != "" {
				groups, ok = f.memberOf[p+"="+v]
			}
		}
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "no such user"})
			return
		}
		for _, g := range groups {
			all = append(all, map[string]any{"type": "group", "name": g})
		}
	default:
		name := q.Get("name") // Cloud
		if name == "" {
			name = strings.TrimSuffix(strings.TrimPrefix(path, "/rest/api/group/"), "/member")
		}
		members, ok := f.groups[name]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "no group " + name})
			return
		}
		for _, m := range members {
			if m.accountID != "" {
				all = append(all, map[string]any{"type": "known", "accountId": m.accountID, "accountType": "atlassian"})
			} else {
				all = append(all, map[string]any{"type": "known", "username": m.username, "userKey": m.key, "displayName": m.username})
			}
		}
	}
	page := all[min(start, len(all)):min(start+limit, len(all))]
	links := map[string]any{"base": f.srv.URL, "context": ""}
	if start+limit < len(all) {
		// Absolute, on another host: the client must not follow it.
		links["next"] = fmt.Sprintf("http://confluence-internal.invalid%s?limit=%d&start=%d", r.URL.Path, limit, start+limit)
	}
	writeJSON(w, 200, map[string]any{"results": page, "start": start, "limit": limit, "size": len(page), "_links": links})
}

// source is a confluence-poll source of the fake, as config loads it.
func (f *fakeConfluence) source() config.Source {
	return config.Source{
		Name:   "confluence-dc",
		Type:   Type,
		Format: config.FormatAuto, Settings: Config{BaseURL: f.URL(),
			Token:    config.Secret(f.token),
			Interval: yamlx.Duration(5 * time.Minute),
			Lag:      yamlx.Duration(time.Minute),
			Overlap:  yamlx.Duration(7 * time.Minute),
			API:      APIAuditing},
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// cloudClient sends every request to the fake whatever the URL's host, so
// that a *.atlassian.net base URL reaches it.
func cloudClient(f *fakeConfluence) *http.Client {
	addr := f.srv.Listener.Addr().String()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	f.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// edit changes the confluence-poll keys of src.
func edit(src *config.Source, f func(*Config)) {
	c := ConfigOf(*src)
	f(&c)
	src.Settings = c
}
