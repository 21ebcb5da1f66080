package confluence

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/ingest"
	"github.com/alerter/alerter/internal/retry"
)

const (
	auditingPath = "/rest/auditing/1.0/events"
	legacyPath   = "/rest/api/audit"
	currentPath  = "/rest/api/user/current"

	defaultInterval  = 30 * time.Second
	defaultMaxWindow = 15 * time.Minute
	defaultPageSize  = 1000
	// storeBatch is how many events one Store call gets.
	storeBatch = 1000
	// maxPages stops a server whose cursors never end.
	maxPages = 10_000
	// maxSeen caps the boundary ids in a checkpoint: a NATS KV value is
	// at most 1 MB by default, and an id with its time takes about 50
	// bytes. Beyond it the oldest are left to the EVENTS stream's dedup.
	maxSeen = 10_000

	// The "Audit Log search performed" event that every audit search,
	// the poller's included, writes.
	auditSearchKey    = "atlassian.audit.event.action.audit.search"
	auditSearchAction = "Audit Log search performed"
)

// Stats counts a Poller's outcomes, for metrics. Its fields may be read at
// any time.
type Stats struct {
	Polls          atomic.Int64 // windows read, stored and checkpointed
	PollErrors     atomic.Int64 // polls that failed; their window is read again
	Requests       atomic.Int64 // HTTP requests sent
	Pages          atomic.Int64 // audit pages read
	Events         atomic.Int64 // events read from the pages
	Stored         atomic.Int64 // events the sink stored anew
	SinkDuplicates atomic.Int64 // events the sink had already
	Overlap        atomic.Int64 // events dropped as read before (window overlap)
	OwnSearches    atomic.Int64 // the poller's own audit-search events dropped
	BadEvents      atomic.Int64 // well-formed records the normalizer could not read, skipped
	RateLimited    atomic.Int64 // 429 responses
	ServerErrors   atomic.Int64 // 5xx responses
	NetworkErrors  atomic.Int64 // requests without a response
	AuthErrors     atomic.Int64 // 401 and 403 responses
	ParseErrors    atomic.Int64 // pages that were not well-formed JSON
	StoreErrors    atomic.Int64 // Store calls that failed
	LastSuccess    atomic.Int64 // unix ns when the last window was checkpointed; 0 before
	Checkpoint     atomic.Int64 // unix ns of the checkpointed window end; now - this is the lag
}

// Poller polls one confluence-poll source. Run it, or call Poll.
type Poller struct {
	src      config.Source
	api      string
	key      string
	sink     ingest.Sink
	cps      ingest.Checkpoints
	c        *client
	opt      Options
	log      *slog.Logger
	interval time.Duration
	lag      time.Duration
	overlap  time.Duration
	pageSize int
	stats    Stats

	mu         sync.Mutex // serializes polls; guards the fields below
	self       identity
	selfKnown  bool
	selfWarned bool
}

// identity is the poller's own Confluence account.
type identity struct {
	name string // username (Data Center)
	key  string // userKey (Data Center) or accountId (Cloud)
}

func (id identity) is(a *event.Actor) bool {
	return (id.key != "" && a.ID == id.key) || (id.name != "" && strings.EqualFold(a.Name, id.name))
}

// checkpoint is what a source keeps under poll.<name>.
type checkpoint struct {
	// End is the end of the last window stored.
	End time.Time `json:"end"`
	// Seen are the ids of the events at or after End - overlap, which the
	// next window reads again, with their times in unix ms.
	Seen map[string]int64 `json:"seen,omitempty"`
}

// NewPoller returns the poller of src, a confluence-poll source as config
// loads it (defaults applied, keys checked), storing into sink and keeping
// its position in cps.
func NewPoller(src config.Source, sink ingest.Sink, cps ingest.Checkpoints, opt Options) (*Poller, error) {
	if src.Type != Type {
		return nil, fmt.Errorf("source %s: type %q is not %s", src.Name, src.Type, Type)
	}
	if src.Name == "" {
		return nil, errors.New("confluence-poll source without a name")
	}
	if sink == nil || cps == nil {
		return nil, fmt.Errorf("source %s: a poller needs a sink and checkpoints", src.Name)
	}
	opt = opt.withDefaults()
	if opt.MaxWindow <= 0 {
		opt.MaxWindow = defaultMaxWindow
	}
	c := ConfigOf(src)
	p := &Poller{
		src:      src,
		api:      c.API,
		key:      "poll." + src.Name,
		sink:     sink,
		cps:      cps,
		opt:      opt,
		log:      opt.Logger,
		interval: time.Duration(c.Interval),
		lag:      time.Duration(c.Lag),
		overlap:  time.Duration(c.Overlap),
		pageSize: opt.PageSize,
	}
	if p.interval <= 0 {
		p.interval = defaultInterval
	}
	if p.pageSize <= 0 {
		p.pageSize = defaultPageSize
	}
	var err error
	if p.c, err = newClient(src, opt, &p.stats); err != nil {
		return nil, err
	}
	if p.api == "" {
		// What config defaults to; repeated for callers that build a Source
		// by hand.
		p.api = APIAuditing
		if isCloud(p.c.base) {
			p.api = APILegacy
		}
	}
	return p, nil
}

// Stats returns the poller's counters.
func (p *Poller) Stats() *Stats { return &p.stats }

// Counters are the poller's counters in the shape every source shares.
func (p *Poller) Counters() ingest.Counters {
	st := &p.stats
	return ingest.Counters{Received: &st.Stored, Rejected: map[string]*atomic.Int64{
		ingest.Malformed: &st.BadEvents,
	}}
}

// Run polls until ctx is done, then returns nil: a window every interval, at
// once while it is behind, and with a growing delay (up to MaxBackoff) while
// polls fail.
func (p *Poller) Run(ctx context.Context) error {
	p.log.Info("confluence poller started", "source", p.src.Name, "base_url", p.c.base, "api", p.api,
		"interval", p.interval, "lag", p.lag, "overlap", p.overlap)
	failures := 0
	for {
		caughtUp, err := p.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := p.interval
		switch {
		case err != nil:
			failures++
			wait = retry.Backoff(failures, p.interval, max(p.interval, p.opt.MaxBackoff))
			p.log.Error("confluence poll failed; its window will be read again",
				"source", p.src.Name, "error", err, "failures", failures, "retry_in", wait)
		case !caughtUp:
			failures = 0
			wait = 0
		default:
			failures = 0
		}
		if p.opt.Sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// Poll reads the next window, stores its events and advances the
// checkpoint. It returns caughtUp false when the window was cut at
// MaxWindow, so that the caller polls again at once. On an error nothing is
// checkpointed: the next Poll reads the same window.
func (p *Poller) Poll(ctx context.Context) (caughtUp bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	caughtUp, err = p.poll(ctx)
	if err != nil && ctx.Err() == nil {
		p.stats.PollErrors.Add(1)
	}
	return caughtUp, err
}

func (p *Poller) poll(ctx context.Context) (bool, error) {
	cp, err := p.load(ctx)
	if err != nil {
		return false, err
	}
	now := p.opt.Now().UTC()
	to := now.Add(-p.lag).Truncate(time.Millisecond)
	caughtUp := true
	var from time.Time
	if cp.End.IsZero() {
		from = to.Add(-p.interval)
	} else {
		if !to.After(cp.End) {
			// The clock is behind the checkpoint (skew, or a larger lag):
			// wait for it rather than move the checkpoint back.
			return true, nil
		}
		if to.Sub(cp.End) > p.opt.MaxWindow {
			to = cp.End.Add(p.opt.MaxWindow)
			caughtUp = false
		}
		from = cp.End.Add(-p.overlap)
	}

	p.resolveSelf(ctx)
	events, err := p.read(ctx, from, to)
	if err != nil {
		return false, err
	}

	fresh := make([]event.Event, 0, len(events))
	ids := make(map[string]int64, len(events))
	var own, dup int64
	for i := range events {
		e := &events[i]
		if isAuditSearch(e) && p.self.is(&e.Actor) {
			own++
			continue
		}
		if _, ok := cp.Seen[e.ID]; ok {
			dup++
			continue
		}
		// Offset paging (legacy) over a log that grows can return a record
		// on two pages.
		if _, ok := ids[e.ID]; ok {
			dup++
			continue
		}
		ids[e.ID] = e.Time.UnixMilli()
		fresh = append(fresh, *e)
	}
	p.stats.OwnSearches.Add(own)
	p.stats.Overlap.Add(dup)
	// The APIs answer newest first; the sink gets them in event time.
	slices.Reverse(fresh)
	slices.SortStableFunc(fresh, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	if err := p.store(ctx, fresh); err != nil {
		return false, err
	}

	next := checkpoint{End: to, Seen: boundary(cp.Seen, ids, to.Add(-p.overlap))}
	if err := p.save(ctx, next); err != nil {
		return false, err
	}
	p.stats.Polls.Add(1)
	p.stats.LastSuccess.Store(now.UnixNano())
	p.stats.Checkpoint.Store(to.UnixNano())
	p.log.Debug("confluence poll", "source", p.src.Name, "from", from, "to", to,
		"events", len(events), "stored", len(fresh), "overlap", dup, "own_searches", own)
	return caughtUp, nil
}

// boundary keeps the ids of events at or after cutoff, which the next
// window reads again.
func boundary(old, ids map[string]int64, cutoff time.Time) map[string]int64 {
	cut := cutoff.UnixMilli()
	out := make(map[string]int64)
	for _, m := range []map[string]int64{old, ids} {
		for id, t := range m {
			if t >= cut {
				out[id] = t
			}
		}
	}
	if len(out) > maxSeen {
		keys := slices.SortedFunc(maps.Keys(out), func(a, b string) int { return cmp.Compare(out[b], out[a]) })
		for _, id := range keys[maxSeen:] {
			delete(out, id)
		}
	}
	return out
}

func isAuditSearch(e *event.Event) bool {
	if e.ActionKey != "" {
		return e.ActionKey == auditSearchKey
	}
	return e.Action == auditSearchAction
}

// resolveSelf learns the poller's account, for dropping its own audit
// searches. It asks once per poll until Confluence answers; a failure only
// costs the filter, so it does not fail the poll.
func (p *Poller) resolveSelf(ctx context.Context) {
	if p.selfKnown {
		return
	}
	body, err := p.c.get(ctx, currentPath, nil, 1)
	if err == nil {
		var u struct {
			Type      string `json:"type"`
			Username  string `json:"username"`
			UserKey   string `json:"userKey"`
			AccountID string `json:"accountId"`
		}
		switch err = json.Unmarshal(body, &u); {
		case err != nil:
			err = fmt.Errorf("source %s: GET %s: %w", p.src.Name, currentPath, err)
		case u.Type == "anonymous" || (u.Username == "" && u.UserKey == "" && u.AccountID == ""):
			err = fmt.Errorf("source %s: GET %s: Confluence took the request as anonymous", p.src.Name, currentPath)
		default:
			p.self = identity{name: u.Username, key: cmp.Or(u.AccountID, u.UserKey)}
			p.selfKnown = true
			p.log.Info("confluence poller account", "source", p.src.Name, "username", u.Username, "user_key", p.self.key)
			return
		}
	}
	if ctx.Err() != nil {
		return
	}
	p.self = identity{name: ConfigOf(p.src).Username}
	if !p.selfWarned {
		p.selfWarned = true
		msg := "cannot tell the poller's own account; its own audit-search events are kept until it can"
		if ConfigOf(p.src).Username != "" {
			msg = "cannot tell the poller's own account; its own audit-search events are recognised by the configured username until it can"
		}
		p.log.Warn(msg, "source", p.src.Name, "error", err)
	}
}

// read returns the events of [from, to], newest first, as the API gives
// them.
func (p *Poller) read(ctx context.Context, from, to time.Time) ([]event.Event, error) {
	if p.api == APILegacy {
		return p.readLegacy(ctx, from, to)
	}
	return p.readAuditing(ctx, from, to)
}

func (p *Poller) readAuditing(ctx context.Context, from, to time.Time) ([]event.Event, error) {
	q := url.Values{
		"from":  {instant(from)},
		"to":    {instant(to)},
		"limit": {strconv.Itoa(p.pageSize)},
	}
	var all []event.Event
	prev := ""
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, fmt.Errorf("source %s: more than %d pages in the window %s to %s", p.src.Name, maxPages, instant(from), instant(to))
		}
		body, err := p.c.get(ctx, auditingPath, q, 0)
		if err != nil {
			return nil, err
		}
		events, n, err := p.parse(body, event.FormatConfluenceAuditing, auditingPath, page)
		if err != nil {
			return nil, err
		}
		all = append(all, events...)
		var info struct {
			PagingInfo *struct {
				LastPage       bool   `json:"lastPage"`
				NextPageCursor string `json:"nextPageCursor"`
			} `json:"pagingInfo"`
		}
		if err := json.Unmarshal(body, &info); err != nil {
			return nil, fmt.Errorf("source %s: page %d of %s: pagingInfo: %w", p.src.Name, page, auditingPath, err)
		}
		pi := info.PagingInfo
		if pi == nil || pi.LastPage || n == 0 {
			return all, nil
		}
		// A server that cannot go on would make the source loop or stall
		// forever; stopping loses at most the rest of this window, loudly.
		switch cursor := pi.NextPageCursor; {
		case cursor == "":
			p.log.Error("confluence page is not the last but has no nextPageCursor; the rest of the window is skipped",
				"source", p.src.Name, "page", page, "from", from, "to", to)
			return all, nil
		case cursor == prev:
			p.log.Error("confluence returned the same nextPageCursor twice; the rest of the window is skipped",
				"source", p.src.Name, "page", page, "cursor", cursor, "from", from, "to", to)
			return all, nil
		default:
			prev = cursor
			q.Set("pageCursor", cursor)
		}
	}
}

func (p *Poller) readLegacy(ctx context.Context, from, to time.Time) ([]event.Event, error) {
	q := url.Values{
		"startDate": {strconv.FormatInt(from.UnixMilli(), 10)},
		"endDate":   {strconv.FormatInt(to.UnixMilli(), 10)},
		"limit":     {strconv.Itoa(p.pageSize)},
	}
	var all []event.Event
	start := 0
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, fmt.Errorf("source %s: more than %d pages in the window %s to %s", p.src.Name, maxPages, instant(from), instant(to))
		}
		q.Set("start", strconv.Itoa(start))
		body, err := p.c.get(ctx, legacyPath, q, 0)
		if err != nil {
			return nil, err
		}
		events, n, err := p.parse(body, event.FormatConfluenceAudit, legacyPath, page)
		if err != nil {
			return nil, err
		}
		all = append(all, events...)
		var links struct {
			Links struct {
				Next string `json:"next"`
			} `json:"_links"`
		}
		if err := json.Unmarshal(body, &links); err != nil {
			return nil, fmt.Errorf("source %s: page %d of %s: _links: %w", p.src.Name, page, legacyPath, err)
		}
		if n == 0 || links.Links.Next == "" {
			return all, nil
		}
		start += n
	}
}

// parse normalizes a page, returning its events and how many records it
// held (which differs when records were skipped).
func (p *Poller) parse(body []byte, format, path string, page int) ([]event.Event, int, error) {
	p.stats.Pages.Add(1)
	opt := event.Options{Format: format, Source: p.src.Name, NoContentID: true, MaxEvents: -1}
	events, err := event.Parse(body, opt)
	n := len(events)
	if err != nil {
		var oe *event.ObjectError
		if !errors.As(err, &oe) {
			p.stats.ParseErrors.Add(1)
			return nil, 0, fmt.Errorf("source %s: page %d of %s is not well-formed: %w", p.src.Name, page, path, err)
		}
		if events, n, err = p.parseEach(body, opt, path, page, err); err != nil {
			p.stats.ParseErrors.Add(1)
			return nil, 0, fmt.Errorf("source %s: page %d of %s: %w", p.src.Name, page, path, err)
		}
	}
	for i := range events {
		e := &events[i]
		if e.System == "" {
			e.System = p.c.base
		}
		// The id hashes the system, so it is made once the system is known.
		if e.ID == "" {
			e.ID = e.ContentID()
		}
	}
	p.stats.Events.Add(int64(len(events)))
	return events, n, nil
}

// parseEach normalizes a page record by record, skipping (and reporting)
// those the normalizer cannot read: one odd record must not stall the
// source, as failing the page would, poll after poll. err is the error of
// the whole page, returned when the body is no page at all.
func (p *Poller) parseEach(body []byte, opt event.Options, path string, page int, err error) ([]event.Event, int, error) {
	var pg struct {
		Entities *[]json.RawMessage `json:"entities"`
		Results  *[]json.RawMessage `json:"results"`
		Links    struct {
			Base string `json:"base"`
		} `json:"_links"`
	}
	if jerr := json.Unmarshal(body, &pg); jerr != nil {
		return nil, 0, err
	}
	records := pg.Entities
	if opt.Format == event.FormatConfluenceAudit {
		records = pg.Results
	}
	if records == nil {
		// Not a page at all (a proxy's answer, say): that is no record to skip.
		return nil, 0, err
	}
	var events []event.Event
	for i, raw := range *records {
		evs, err := event.Parse(raw, opt)
		if err != nil {
			p.stats.BadEvents.Add(1)
			p.log.Error("confluence audit record skipped: it cannot be normalized",
				"source", p.src.Name, "path", path, "page", page, "record", i+1, "error", err)
			continue
		}
		for k := range evs {
			if evs[k].System == "" {
				evs[k].System = pg.Links.Base
			}
		}
		events = append(events, evs...)
	}
	return events, len(*records), nil
}

// store hands events to the sink in batches.
func (p *Poller) store(ctx context.Context, events []event.Event) error {
	for len(events) > 0 {
		n := min(len(events), storeBatch)
		st, err := p.sink.Store(ctx, p.src.Name, events[:n])
		p.stats.Stored.Add(int64(st.Accepted))
		p.stats.SinkDuplicates.Add(int64(st.Duplicates))
		if err != nil {
			p.stats.StoreErrors.Add(1)
			return fmt.Errorf("source %s: storing %d events (%d not stored): %w", p.src.Name, n, len(st.Failed), err)
		}
		events = events[n:]
	}
	return nil
}

func (p *Poller) load(ctx context.Context) (checkpoint, error) {
	b, err := p.cps.Get(ctx, p.key)
	if err != nil {
		return checkpoint{}, fmt.Errorf("source %s: reading checkpoint %s: %w", p.src.Name, p.key, err)
	}
	if b == nil {
		return checkpoint{}, nil
	}
	cp, err := decodeCheckpoint(b)
	if err != nil {
		// Starting over from now would silently skip what happened since
		// the last poll; an operator decides.
		return checkpoint{}, fmt.Errorf("source %s: checkpoint %s is corrupt (%w); delete the key to start again from now", p.src.Name, p.key, err)
	}
	return cp, nil
}

func (p *Poller) save(ctx context.Context, cp checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("source %s: encoding checkpoint: %w", p.src.Name, err)
	}
	if err := p.cps.Put(ctx, p.key, b); err != nil {
		return fmt.Errorf("source %s: writing checkpoint %s: %w", p.src.Name, p.key, err)
	}
	return nil
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return checkpoint{}, err
	}
	if cp.End.IsZero() {
		return checkpoint{}, errors.New("no window end")
	}
	cp.End = cp.End.UTC()
	return cp, nil
}

// instant formats t as Instant.parse reads it: UTC, with milliseconds.
func instant(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
