package confluence

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
)

// instantRE is how Instant.parse wants from and to: UTC, to the ms.
var instantRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// at is 2024-05-14 UTC, the fixtures' day.
func at(h, m, s int) time.Time { return time.Date(2024, 5, 14, h, m, s, 0, time.UTC) }

// fixtureIDs parses a fixture page as the poller does and returns its
// events' ids by action, leaving out the service account's own searches.
func fixtureIDs(t *testing.T, data []byte, format string) map[string]string {
	t.Helper()
	events, err := event.Parse(data, event.Options{Format: format, Source: "confluence-dc"})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, e := range events {
		if e.Action == auditSearchAction && e.Actor.ID == svcKey {
			continue
		}
		ids[e.ID] = e.Action + " at " + e.Time.Format(time.RFC3339Nano)
	}
	return ids
}

// searchBy is an "Audit Log search performed" entity by Jane Doe, at ts.
func searchBy(t *testing.T, ts string) []byte {
	t.Helper()
	var page struct {
		Entities []map[string]any `json:"entities"`
	}
	if err := json.Unmarshal(readFixture(t, "auditing-events-page.json"), &page); err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Entities {
		if e["type"].(map[string]any)["actionI18nKey"] == auditSearchKey {
			e["timestamp"] = ts
			e["author"] = map[string]any{"name": "Jane Doe", "type": "user", "id": jdoeKey,
				"uri": "https://confluence.example.com/admin/users/viewuser.action?username=jdoe", "avatarUri": ""}
			b, err := json.Marshal(map[string]any{"entities": []any{e}})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatal("no search event in the fixture")
	return nil
}

func newPoller(t *testing.T, src config.Source, sink *memSink, cps *memCheckpoints, opt Options) *Poller {
	t.Helper()
	p, err := NewPoller(src, sink, cps, opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkpointOf(t *testing.T, cps *memCheckpoints, name string) checkpoint {
	t.Helper()
	b := cps.get("poll." + name)
	if b == nil {
		t.Fatal("no checkpoint")
	}
	cp, err := decodeCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// checkExactlyOnce checks that the sink was handed every wanted id once and
// nothing else.
func checkExactlyOnce(t *testing.T, sink *memSink, want map[string]string) {
	t.Helper()
	calls, _ := sink.snapshot()
	for id, what := range want {
		if n := calls[id]; n != 1 {
			t.Errorf("%s handed to the sink %d times, want once", what, n)
		}
	}
	for id, n := range calls {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected event %s handed to the sink %d times", id, n)
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for i, b := range sink.batches {
		if !slices.IsSortedFunc(b, time.Time.Compare) {
			t.Errorf("Store call %d: events not in time order: %v", i+1, b)
		}
	}
}

// TestPollerAuditing polls the auditing API across the fixture's hour in
// windows that overlap, through several pages each, a 429, a 500, an event
// that commits late and a restart, and checks that every event is stored
// exactly once and the poller's own searches never.
func TestPollerAuditing(t *testing.T) {
	clock := newClock(at(8, 30, 0))
	f := newFake(t, clock)
	page := readFixture(t, "auditing-events-page.json")
	f.addAuditing(page, time.Time{})
	other := searchBy(t, "2024-05-14T08:50:00.000Z")
	f.addAuditing(other, time.Time{})
	// "User created" at 09:08:15 commits late: a search before 09:12 does
	// not find it, and the window that covered its time is gone by then.
	late := time.Date(2024, 5, 14, 9, 8, 15, 6e6, time.UTC).UnixMilli()
	f.mu.Lock()
	for i := range f.auditing {
		if f.auditing[i].ms == late {
			f.auditing[i].visibleAt = at(9, 12, 0)
		}
	}
	f.mu.Unlock()

	want := fixtureIDs(t, page, event.FormatConfluenceAuditing)
	for id, what := range fixtureIDs(t, other, event.FormatConfluenceAuditing) {
		want[id] = what
	}
	if len(want) != 10 {
		t.Fatalf("want 10 events (9 of the fixture and Jane's search), have %d", len(want))
	}

	var logs logBuffer
	sink, cps := newSink(), newCheckpoints()
	opt := Options{Logger: logs.logger(), Now: clock.Now, Sleep: clock.Sleep, PageSize: 3}
	p := newPoller(t, f.source(), sink, cps, opt)
	first := p
	ctx := context.Background()
	for i := 0; clock.Now().Before(at(9, 25, 0)); i++ {
		switch i {
		case 5: // 08:55: the first request is rate limited, the retry fails
			f.addFaults(
				fault{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "7", "X-RateLimit-Remaining": "0"}},
				fault{status: http.StatusInternalServerError, body: "<html>Internal Server Error</html>"},
			)
		case 7: // 09:05: restart, with the same checkpoints
			p = newPoller(t, f.source(), sink, cps, opt)
		}
		caughtUp, err := p.Poll(ctx)
		if err != nil {
			t.Fatalf("poll %d at %s: %v", i+1, clock.Now().Format(time.TimeOnly), err)
		}
		if !caughtUp {
			t.Fatalf("poll %d: not caught up", i+1)
		}
		clock.Advance(5 * time.Minute)
	}

	checkExactlyOnce(t, sink, want)
	if got := first.Stats().RateLimited.Load(); got != 1 {
		t.Errorf("RateLimited = %d, want 1", got)
	}
	if got := first.Stats().ServerErrors.Load(); got != 1 {
		t.Errorf("ServerErrors = %d, want 1", got)
	}
	if !slices.Contains(clock.Sleeps(), 7*time.Second) {
		t.Errorf("waits %v: Retry-After 7 not honoured", clock.Sleeps())
	}
	own := first.Stats().OwnSearches.Load() + p.Stats().OwnSearches.Load()
	if own < 10 {
		t.Errorf("OwnSearches = %d, want one per search at least (the fixture's and the poller's)", own)
	}
	if got := first.Stats().Overlap.Load() + p.Stats().Overlap.Load(); got == 0 {
		t.Error("no event was read twice: the windows do not overlap")
	}
	if n := first.Stats().NetworkErrors.Load() + p.Stats().NetworkErrors.Load(); n != 0 {
		t.Errorf("%d network errors: was nextPageLink followed?", n)
	}

	cursors := 0
	for _, raw := range f.auditRequests() {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		for _, k := range []string{"from", "to"} {
			if v := q.Get(k); !instantRE.MatchString(v) {
				t.Errorf("%s: %s=%q, want a UTC instant with milliseconds", raw, k, v)
			}
		}
		if q.Get("limit") != "3" {
			t.Errorf("%s: limit %q, want 3", raw, q.Get("limit"))
		}
		if q.Has("pageCursor") {
			cursors++
		}
	}
	if cursors == 0 {
		t.Error("no request used pageCursor: the windows were not paged")
	}

	cp := checkpointOf(t, cps, "confluence-dc")
	if want := clock.Now().Add(-5*time.Minute - time.Minute); !cp.End.Equal(want.Truncate(time.Millisecond)) {
		t.Errorf("checkpoint end %s, want %s", cp.End, want)
	}
	for id, ms := range cp.Seen {
		if ms < cp.End.Add(-7*time.Minute).UnixMilli() {
			t.Errorf("checkpoint keeps %s of %s, before the overlap", id, time.UnixMilli(ms).UTC())
		}
	}
	if strings.Contains(logs.String(), testToken) {
		t.Error("the token is in the logs")
	}
}

func TestPollerLegacy(t *testing.T) {
	clock := newClock(at(8, 35, 0))
	f := newFake(t, clock)
	page := readFixture(t, "legacy-audit-page.json")
	f.addLegacy(page)
	want := fixtureIDs(t, page, event.FormatConfluenceAudit)
	if len(want) != 10 {
		t.Fatalf("fixture has %d events, want 10", len(want))
	}
	src := f.source()
	edit(&src, func(c *Config) { c.API = APILegacy })
	sink, cps := newSink(), newCheckpoints()
	opt := Options{Now: clock.Now, Sleep: clock.Sleep, PageSize: 3}
	p := newPoller(t, src, sink, cps, opt)
	for i := 0; clock.Now().Before(at(10, 10, 0)); i++ {
		if i == 10 {
			p = newPoller(t, src, sink, cps, opt)
		}
		if _, err := p.Poll(context.Background()); err != nil {
			t.Fatalf("poll %d: %v", i+1, err)
		}
		clock.Advance(5 * time.Minute)
	}
	checkExactlyOnce(t, sink, want)

	paged := false
	for _, raw := range f.auditRequests() {
		u, _ := url.Parse(raw)
		q := u.Query()
		if q.Has("from") || q.Has("pageCursor") {
			t.Errorf("%s: auditing parameters on the legacy API", raw)
		}
		for _, k := range []string{"startDate", "endDate"} {
			if strings.Trim(q.Get(k), "0123456789") != "" || q.Get(k) == "" {
				t.Errorf("%s: %s=%q, want epoch ms", raw, k, q.Get(k))
			}
		}
		paged = paged || q.Get("start") == "3"
	}
	if !paged {
		t.Error("no request with start=3: the legacy API was not paged")
	}
}

func TestPollerStoreFailureKeepsCheckpoint(t *testing.T) {
	clock := newClock(at(9, 5, 0))
	f := newFake(t, clock)
	f.addAuditing(readFixture(t, "auditing-events-page.json"), time.Time{})
	sink, cps := newSink(), newCheckpoints()
	p := newPoller(t, f.source(), sink, cps, Options{Now: clock.Now, Sleep: clock.Sleep})
	ctx := context.Background()

	if _, err := p.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	before := cps.get("poll.confluence-dc")

	clock.Set(at(9, 10, 0))
	sink.failNext(1)
	if _, err := p.Poll(ctx); err == nil || !strings.Contains(err.Error(), "EVENTS stream unavailable") {
		t.Fatalf("Poll with a failing sink: %v", err)
	}
	if after := cps.get("poll.confluence-dc"); string(after) != string(before) {
		t.Fatalf("checkpoint moved after a failed Store:\n%s\n%s", before, after)
	}

	clock.Set(at(9, 15, 0))
	if _, err := p.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	calls, stored := sink.snapshot()
	again := 0
	for _, e := range stored {
		if calls[e.ID] == 2 {
			again++
		}
	}
	// 08:58:12, 09:05:59 and 09:08:15 were new in the failed window and
	// come again.
	if again != 3 {
		t.Errorf("%d events handed twice, want the 3 of the failed window", again)
	}
	if got := checkpointOf(t, cps, "confluence-dc").End; !got.Equal(at(9, 14, 0)) {
		t.Errorf("checkpoint end %s, want 09:14", got)
	}
	if p.Stats().StoreErrors.Load() != 1 || p.Stats().PollErrors.Load() != 1 {
		t.Errorf("StoreErrors %d, PollErrors %d, want 1 and 1", p.Stats().StoreErrors.Load(), p.Stats().PollErrors.Load())
	}
}

// TestRunMalformedPage checks that a page that is not JSON is logged with
// its position, does not move the checkpoint, and is read again at the next
// poll.
func TestRunMalformedPage(t *testing.T) {
	clock := newClock(at(9, 15, 0))
	f := newFake(t, clock)
	f.addAuditing(readFixture(t, "auditing-events-page.json"), time.Time{})
	f.addFaults(fault{status: 200, body: "{\"entities\": [\n{\"timestamp\": \"2024-05-14T09:12:03.417Z\",,}]}"})
	var logs logBuffer
	sink, cps := newSink(), newCheckpoints()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits []time.Duration
	var checkpoints []int
	sleep := func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		cps.mu.Lock()
		checkpoints = append(checkpoints, cps.puts)
		cps.mu.Unlock()
		if len(waits) == 2 {
			cancel()
		}
		// The clock stays, so that the retry reads the same window.
		return ctx.Err()
	}
	p := newPoller(t, f.source(), sink, cps, Options{Logger: logs.logger(), Now: clock.Now, Sleep: sleep})
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil on cancel", err)
	}
	if !slices.Equal(checkpoints, []int{0, 1}) {
		t.Errorf("checkpoints written before each wait: %v, want [0 1]", checkpoints)
	}
	if interval := 5 * time.Minute; waits[0] < interval/2 || waits[0] > interval || waits[1] != interval {
		t.Errorf("waits %v: want the first within an interval (a retry), then the interval", waits)
	}
	if !strings.Contains(logs.String(), "confluence poll failed") || !strings.Contains(logs.String(), "line 2, column") {
		t.Errorf("the malformed page is not logged with its position:\n%s", logs.String())
	}
	if _, stored := sink.snapshot(); len(stored) != 2 {
		t.Errorf("%d events stored after the retry, want the 2 of 09:09-09:14", len(stored))
	}
	st := p.Stats()
	if st.ParseErrors.Load() != 1 || st.PollErrors.Load() != 1 || st.Polls.Load() != 1 {
		t.Errorf("ParseErrors %d, PollErrors %d, Polls %d, want 1, 1, 1", st.ParseErrors.Load(), st.PollErrors.Load(), st.Polls.Load())
	}
}

func TestPollerRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header string
		want   func(time.Duration) bool
	}{
		{"429 seconds", 429, "7", func(d time.Duration) bool { return d == 7*time.Second }},
		{"429 date", 429, at(9, 16, 30).Format(http.TimeFormat), func(d time.Duration) bool { return d == 90*time.Second }},
		{"503 seconds", 503, "120", func(d time.Duration) bool { return d == 2*time.Minute }},
		{"429 without", 429, "", func(d time.Duration) bool { return d >= 500*time.Millisecond && d <= time.Second }},
		{"500 backoff", 500, "", func(d time.Duration) bool { return d >= 500*time.Millisecond && d <= time.Second }},
		{"502 garbage", 502, "soon", func(d time.Duration) bool { return d >= 500*time.Millisecond && d <= time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock(at(9, 15, 0))
			f := newFake(t, clock)
			f.addAuditing(readFixture(t, "auditing-events-page.json"), time.Time{})
			ft := fault{status: tt.status}
			if tt.header != "" {
				ft.header = map[string]string{"Retry-After": tt.header}
			}
			f.addFaults(ft)
			sink := newSink()
			p := newPoller(t, f.source(), sink, newCheckpoints(), Options{Now: clock.Now, Sleep: clock.Sleep})
			if _, err := p.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
			waits := clock.Sleeps()
			if len(waits) != 1 || !tt.want(waits[0]) {
				t.Errorf("waits %v", waits)
			}
			if _, stored := sink.snapshot(); len(stored) != 2 {
				t.Errorf("%d events stored after the retry, want 2", len(stored))
			}
		})
	}
}

func TestPollerBackoffGrowsAndIsCapped(t *testing.T) {
	clock := newClock(at(9, 15, 0))
	f := newFake(t, clock)
	for range 12 {
		f.addFaults(fault{status: http.StatusBadGateway})
	}
	p := newPoller(t, f.source(), newSink(), newCheckpoints(),
		Options{Now: clock.Now, Sleep: clock.Sleep, MaxBackoff: 30 * time.Second})
	if _, err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	waits := clock.Sleeps()
	if len(waits) != 12 {
		t.Fatalf("%d waits, want 12", len(waits))
	}
	for i, d := range waits {
		limit := min(time.Second<<i, 30*time.Second)
		if d < limit/2 || d > limit {
			t.Errorf("wait %d = %s, want within [%s, %s]", i+1, d, limit/2, limit)
		}
	}
}

// TestPollerAuthFailures checks that refused credentials fail the poll at
// once with a clear error, and that no secret reaches an error or a log,
// even when the server echoes it.
func TestPollerAuthFailures(t *testing.T) {
	basic := func(user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	}
	tests := []struct {
		name    string
		token   string // of the source
		user    string
		pass    string
		forbid  bool // the server answers 403 (a user who is not an admin)
		status  int
		secrets []string
	}{
		{name: "wrong token", token: "wrong-" + testToken, status: 401, secrets: []string{"wrong-" + testToken}},
		{name: "wrong password", user: svcUser, pass: "wrong-" + testPassword, status: 401,
			secrets: []string{"wrong-" + testPassword, basic(svcUser, "wrong-"+testPassword)}},
		{name: "not an admin", token: testToken, forbid: true, status: 403, secrets: []string{testToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock(at(9, 15, 0))
			f := newFake(t, clock)
			if tt.user != "" {
				f.token, f.user, f.pass = "", svcUser, testPassword
			}
			if tt.forbid {
				for range 10 {
					f.addFaults(fault{status: 403, body: `{"statusCode":403,"message":"admin required"}`})
				}
			}
			src := f.source()
			edit(&src, func(c *Config) {
				c.Token, c.Username, c.Password = config.Secret(tt.token), tt.user, config.Secret(tt.pass)
			})
			var logs logBuffer
			cps := newCheckpoints()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var waits []time.Duration
			sleep := func(ctx context.Context, d time.Duration) error {
				waits = append(waits, d)
				if len(waits) == 6 {
					cancel()
				}
				return clock.Sleep(ctx, d)
			}
			p := newPoller(t, src, newSink(), cps, Options{Logger: logs.logger(), Now: clock.Now, Sleep: sleep, MaxBackoff: time.Hour})

			_, err := p.Poll(ctx)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Poll = %v, want ErrUnauthorized", err)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.status {
				t.Fatalf("Poll = %v, want HTTP %d", err, tt.status)
			}
			if !strings.Contains(err.Error(), "check the token") {
				t.Errorf("error %q does not say to check the token", err)
			}
			if n := len(f.auditRequests()); n != 1 {
				t.Errorf("%d audit requests, want 1: credentials are not retried within a poll", n)
			}
			if cps.get("poll.confluence-dc") != nil {
				t.Error("checkpoint written")
			}

			// Run keeps trying, more and more slowly.
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if len(waits) < 5 || waits[4] <= waits[0] {
				t.Errorf("waits %v do not grow", waits)
			}
			if p.Stats().AuthErrors.Load() == 0 {
				t.Error("AuthErrors not counted")
			}
			text := err.Error() + "\n" + logs.String()
			for _, s := range tt.secrets {
				if strings.Contains(text, s) {
					t.Errorf("secret %q in the error or logs:\n%s", s, text)
				}
			}
			if !strings.Contains(logs.String(), "check the token") {
				t.Errorf("the log does not say to check the token:\n%s", logs.String())
			}
		})
	}
}

func TestPollerOwnSearches(t *testing.T) {
	tests := []struct {
		name      string
		basic     bool
		currentOK bool
		wantOwn   bool // the service account's searches are dropped
	}{
		{"token, account known", false, true, true},
		{"basic, account known", true, true, true},
		{"basic, account unknown: configured username", true, false, true},
		{"token, account unknown: kept", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock(at(8, 40, 0))
			f := newFake(t, clock)
			f.currentOK = tt.currentOK
			f.addAuditing(readFixture(t, "auditing-events-page.json"), time.Time{})
			f.addAuditing(searchBy(t, "2024-05-14T08:36:00.000Z"), time.Time{})
			src := f.source()
			if tt.basic {
				f.token, f.user, f.pass = "", svcUser, testPassword
				edit(&src, func(c *Config) { c.Token, c.Username, c.Password = "", svcUser, testPassword })
			}
			var logs logBuffer
			sink := newSink()
			p := newPoller(t, src, sink, newCheckpoints(), Options{Logger: logs.logger(), Now: clock.Now, Sleep: clock.Sleep})
			for range 2 {
				if _, err := p.Poll(context.Background()); err != nil {
					t.Fatal(err)
				}
				clock.Advance(5 * time.Minute)
			}
			var svc, jane int
			_, stored := sink.snapshot()
			for _, e := range stored {
				if isAuditSearch(&e) {
					switch e.Actor.ID {
					case svcKey:
						svc++
					case jdoeKey:
						jane++
					}
				}
			}
			if jane != 1 {
				t.Errorf("%d of Jane's searches stored, want 1", jane)
			}
			if tt.wantOwn && svc != 0 {
				t.Errorf("%d of the poller's own searches stored", svc)
			}
			if !tt.wantOwn && svc == 0 {
				t.Error("the poller's searches were dropped without knowing its account")
			}
			if warned := strings.Count(logs.String(), "cannot tell the poller's own account"); warned != map[bool]int{true: 0, false: 1}[tt.currentOK] {
				t.Errorf("warned %d times", warned)
			}
		})
	}
}

func TestIsOwnSearch(t *testing.T) {
	search := func(actor event.Actor) *event.Event {
		return &event.Event{ActionKey: auditSearchKey, Action: auditSearchAction, Actor: actor}
	}
	legacy := &event.Event{Action: auditSearchAction, Category: "Auditing", Actor: event.Actor{ID: svcKey, Name: svcUser}}
	svc := event.Actor{ID: svcKey, Name: svcUser}
	tests := []struct {
		name string
		e    *event.Event
		self identity
		want bool
	}{
		{"by key", search(svc), identity{key: svcKey}, true},
		{"by name, any case", search(event.Actor{ID: "x", Name: "SVC-Audit"}), identity{name: svcUser}, true},
		{"legacy record without keys", legacy, identity{name: svcUser}, true},
		{"someone else's search", search(event.Actor{ID: jdoeKey, Name: "jdoe"}), identity{name: svcUser, key: svcKey}, false},
		{"another action of the account", &event.Event{ActionKey: "audit.logging.summary.global.settings.edited", Actor: svc}, identity{key: svcKey}, false},
		{"a translated action with its key", &event.Event{ActionKey: auditSearchKey, Action: "Recherche dans le journal d'audit", Actor: svc}, identity{key: svcKey}, true},
		{"an English action under another key", &event.Event{ActionKey: "app.custom", Action: auditSearchAction, Actor: svc}, identity{key: svcKey}, false},
		{"account unknown", search(svc), identity{}, false},
		{"anonymous", search(event.Actor{ID: "-2", Name: ""}), identity{name: svcUser}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isAuditSearch(tt.e) && tt.self.is(&tt.e.Actor); got != tt.want {
				t.Errorf("own search = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPollerCatchesUpInWindows(t *testing.T) {
	clock := newClock(at(9, 15, 0))
	f := newFake(t, clock)
	page := readFixture(t, "auditing-events-page.json")
	f.addAuditing(page, time.Time{})
	sink, cps := newSink(), newCheckpoints()
	_ = cps.Put(context.Background(), "poll.confluence-dc", []byte(`{"end":"2024-05-14T08:00:00Z"}`))
	p := newPoller(t, f.source(), sink, cps, Options{Now: clock.Now, Sleep: clock.Sleep})
	var ends []time.Time
	for {
		caughtUp, err := p.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, checkpointOf(t, cps, "confluence-dc").End)
		if caughtUp {
			break
		}
		if len(ends) > 10 {
			t.Fatal("never caught up")
		}
	}
	// 08:00 to 09:14 in windows of at most 15m.
	wantEnds := []time.Time{at(8, 15, 0), at(8, 30, 0), at(8, 45, 0), at(9, 0, 0), at(9, 14, 0)}
	if !slices.EqualFunc(ends, wantEnds, time.Time.Equal) {
		t.Errorf("window ends %v, want %v", ends, wantEnds)
	}
	checkExactlyOnce(t, sink, fixtureIDs(t, page, event.FormatConfluenceAuditing))
}

func TestPollerClockBehindCheckpoint(t *testing.T) {
	clock := newClock(at(9, 0, 0))
	f := newFake(t, clock)
	cps := newCheckpoints()
	value := []byte(`{"end":"2024-05-14T09:30:00Z"}`)
	_ = cps.Put(context.Background(), "poll.confluence-dc", value)
	p := newPoller(t, f.source(), newSink(), cps, Options{Now: clock.Now, Sleep: clock.Sleep})
	if caughtUp, err := p.Poll(context.Background()); err != nil || !caughtUp {
		t.Fatalf("Poll = %v, %v", caughtUp, err)
	}
	if string(cps.get("poll.confluence-dc")) != string(value) || len(f.auditRequests()) != 0 {
		t.Error("a clock behind the checkpoint moved it or polled")
	}
}

func TestPollerSkipsUnreadableRecord(t *testing.T) {
	clock := newClock(at(9, 15, 0))
	f := newFake(t, clock)
	f.addAuditing(readFixture(t, "auditing-events-page.json"), time.Time{})
	bad := []byte(`{"entities": [{"timestamp": "2024-05-14T09:11:00.000Z", "author": {"id": "x", "type": "user"},
		"type": "Odd"}]}`)
	f.addAuditing(bad, time.Time{})
	var logs logBuffer
	sink, cps := newSink(), newCheckpoints()
	p := newPoller(t, f.source(), sink, cps, Options{Logger: logs.logger(), Now: clock.Now, Sleep: clock.Sleep})
	if _, err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, stored := sink.snapshot(); len(stored) != 2 {
		t.Errorf("%d events stored, want the 2 readable ones", len(stored))
	}
	if p.Stats().BadEvents.Load() != 1 || !strings.Contains(logs.String(), "record skipped") {
		t.Errorf("BadEvents = %d; logs:\n%s", p.Stats().BadEvents.Load(), logs.String())
	}
	if cps.get("poll.confluence-dc") == nil {
		t.Error("no checkpoint")
	}
}

func TestPollerRejectsWhatIsNoPage(t *testing.T) {
	for _, body := range []string{
		`<html><body>Log in</body></html>`,
		`{"message": "maintenance"}`,
		`{"entities": {"not": "a list"}}`,
		`{"entities": [{"timestamp": "2024-05-14T09:11:00.000Z"`,
	} {
		t.Run(body, func(t *testing.T) {
			clock := newClock(at(9, 15, 0))
			f := newFake(t, clock)
			f.addFaults(fault{status: 200, body: body})
			cps := newCheckpoints()
			p := newPoller(t, f.source(), newSink(), cps, Options{Now: clock.Now, Sleep: clock.Sleep})
			if _, err := p.Poll(context.Background()); err == nil {
				t.Fatal("Poll accepted it")
			}
			if cps.get("poll.confluence-dc") != nil || p.Stats().ParseErrors.Load() != 1 {
				t.Errorf("checkpoint written, or ParseErrors = %d", p.Stats().ParseErrors.Load())
			}
		})
	}
}

func TestPollerCorruptCheckpoint(t *testing.T) {
	clock := newClock(at(9, 15, 0))
	f := newFake(t, clock)
	cps := newCheckpoints()
	_ = cps.Put(context.Background(), "poll.confluence-dc", []byte("garbage"))
	p := newPoller(t, f.source(), newSink(), cps, Options{Now: clock.Now, Sleep: clock.Sleep})
	_, err := p.Poll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "poll.confluence-dc is corrupt") {
		t.Fatalf("Poll = %v", err)
	}
}

func TestBoundary(t *testing.T) {
	cut := at(9, 0, 0)
	ms := func(tm time.Time) int64 { return tm.UnixMilli() }
	old := map[string]int64{"stale": ms(cut.Add(-time.Millisecond)), "kept": ms(cut)}
	ids := map[string]int64{"new": ms(cut.Add(time.Minute)), "old-in-window": ms(cut.Add(-time.Minute))}
	got := boundary(old, ids, cut)
	if len(got) != 2 || got["kept"] == 0 || got["new"] == 0 {
		t.Errorf("boundary = %v, want kept and new", got)
	}

	many := map[string]int64{}
	for i := range maxSeen + 5 {
		many[string(rune('a'+i%26))+strings.Repeat("x", i/26)] = int64(i)
	}
	got = boundary(many, nil, time.UnixMilli(0))
	if len(got) != maxSeen {
		t.Fatalf("%d ids kept, want %d", len(got), maxSeen)
	}
	for _, t0 := range got {
		if t0 < 5 {
			t.Errorf("kept an oldest id (time %d) over a newer one", t0)
		}
	}
}

// TestValidate: config refuses what a poller cannot run with.
func TestValidate(t *testing.T) {
	for _, tc := range []struct{ name, keys, want string }{
		{"relative base", "base_url: confluence.example.com, token: t", "base_url: not an absolute http or https URL"},
		{"unknown api", "base_url: 'https://c.example.com', token: t, api: graphql", `api "graphql": one of auditing`},
		{"negative overlap", "base_url: 'https://c.example.com', token: t, overlap: -1s", "a duration cannot be negative"},
		{"no credentials", "base_url: 'https://c.example.com'", "needs token, or username and password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("c.yaml", []byte("sources: [{name: c, type: confluence-poll, "+tc.keys+"}]"), nil,
				config.Plugins{Sources: []config.Plugin{Plugin{}}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNewPoller(t *testing.T) {
	ok := config.Source{Name: "c", Type: Type, Settings: Config{BaseURL: "https://confluence.example.com", Token: "t"}}
	tests := []struct {
		name    string
		edit    func(*config.Source)
		wantErr string
		wantAPI string
	}{
		{name: "defaults", edit: func(*config.Source) {}, wantAPI: APIAuditing},
		{name: "cloud defaults to legacy", edit: func(s *config.Source) { edit(s, func(c *Config) { c.BaseURL = "https://acme.atlassian.net/wiki" }) }, wantAPI: APILegacy},
		{name: "explicit legacy", edit: func(s *config.Source) { edit(s, func(c *Config) { c.API = APILegacy }) }, wantAPI: APILegacy},
		{name: "wrong type", edit: func(s *config.Source) { s.Type = "webhook" }, wantErr: "is not confluence-poll"},
		{name: "no credentials", edit: func(s *config.Source) { edit(s, func(c *Config) { c.Token = "" }) }, wantErr: "no credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := ok
			tt.edit(&src)
			p, err := NewPoller(src, newSink(), newCheckpoints(), Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.api != tt.wantAPI || p.interval != defaultInterval {
				t.Errorf("api %s, interval %s", p.api, p.interval)
			}
		})
	}
	if _, err := NewPoller(ok, nil, newCheckpoints(), Options{}); err == nil {
		t.Error("no error without a sink")
	}
}
