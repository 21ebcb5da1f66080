package confluence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/config"
)

const (
	defaultCacheTTL = 10 * time.Minute
	// dirPageSize is Cloud's cap on group members per page; Data Center's
	// default too.
	dirPageSize = 200
	// dirAttempts bounds the tries of a directory request: a lookup has a
	// caller waiting, and a list is refreshed again later anyway.
	dirAttempts = 3
	// errRetry is how long a failed user lookup is not tried again, so that
	// a burst of events during an outage does not hammer Confluence.
	errRetry = time.Minute
	// maxCached bounds the users whose groups are cached.
	maxCached = 10_000
)

// Directory reads Confluence group membership with a confluence-poll
// source's base URL and credentials. It is safe for concurrent use.
type Directory struct {
	c        *client
	cloud    bool
	ttl      time.Duration
	pageSize int
	log      *slog.Logger
	now      func() time.Time

	mu    sync.Mutex
	users map[string]*groupsEntry // by "username=NAME", "key=KEY" or "accountId=ID"
}

// groupsEntry is a user's cached groups.
type groupsEntry struct {
	groups  []string
	good    bool      // groups were read at least once
	err     error     // the last read's error, while it is the latest word
	expires time.Time // when to read again
	wait    chan struct{}
}

// NewDirectory returns the directory of src, a confluence-poll source.
func NewDirectory(src config.Source, opt Options) (*Directory, error) {
	opt = opt.withDefaults()
	c, err := newClient(src, opt, nil)
	if err != nil {
		return nil, err
	}
	d := &Directory{
		c:        c,
		cloud:    isCloud(c.base),
		ttl:      opt.CacheTTL,
		pageSize: opt.PageSize,
		log:      opt.Logger,
		now:      opt.Now,
		users:    map[string]*groupsEntry{},
	}
	if d.ttl <= 0 {
		d.ttl = defaultCacheTTL
	}
	if d.pageSize <= 0 {
		d.pageSize = dirPageSize
	}
	return d, nil
}

// GroupMembers returns the members of group, sorted: on Data Center each
// member's username and user key (so that a list of them matches
// event.actor.name and event.actor.id alike), on Cloud their account ids.
// It is not cached: Lists keeps the last good answer.
func (d *Directory) GroupMembers(ctx context.Context, group string) ([]string, error) {
	if group == "" {
		return nil, fmt.Errorf("source %s: members of a group: no group name", d.c.source)
	}
	path, q := "/rest/api/group/"+url.PathEscape(group)+"/member", url.Values{}
	if d.cloud {
		path, q = "/rest/api/group/member", url.Values{"name": {group}}
	}
	set := map[string]bool{}
	err := d.pages(ctx, path, q, func(raw json.RawMessage) (bool, error) {
		var u struct {
			Username  string `json:"username"`
			UserKey   string `json:"userKey"`
			AccountID string `json:"accountId"`
		}
		if err := json.Unmarshal(raw, &u); err != nil {
			return false, err
		}
		n := len(set)
		for _, v := range []string{u.Username, u.UserKey, u.AccountID} {
			if v != "" {
				set[v] = true
			}
		}
		return len(set) > n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("members of group %q: %w", group, err)
	}
	return sorted(set), nil
}

// UserGroups returns the groups of the user with this username (on Cloud,
// which has no usernames, this account id), sorted. Answers are cached for
// Options.CacheTTL; when Confluence fails, the last good answer is returned
// (and the failure logged), and a user never read gets the error. An unknown
// user has no groups. The slice is the caller's.
func (d *Directory) UserGroups(ctx context.Context, username string) ([]string, error) {
	if d.cloud {
		return d.userGroups(ctx, "accountId", username)
	}
	return d.userGroups(ctx, "username", username)
}

// UserKeyGroups is UserGroups by user key (event.actor.id of Data Center
// events, which is there when the username is not); on Cloud, by account id.
func (d *Directory) UserKeyGroups(ctx context.Context, key string) ([]string, error) {
	if d.cloud {
		return d.userGroups(ctx, "accountId", key)
	}
	return d.userGroups(ctx, "key", key)
}

func (d *Directory) userGroups(ctx context.Context, param, user string) ([]string, error) {
	if user == "" {
		return nil, fmt.Errorf("source %s: groups of a user: no %s", d.c.source, param)
	}
	k := param + "=" + user
	for {
		d.mu.Lock()
		e := d.users[k]
		switch {
		case e != nil && e.wait != nil:
			// Another caller is reading this user: wait for its answer.
			w := e.wait
			d.mu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case e != nil && d.now().Before(e.expires):
			groups, err := e.answer()
			d.mu.Unlock()
			return groups, err
		case e == nil:
			d.prune()
			e = &groupsEntry{}
			d.users[k] = e
		}
		e.wait = make(chan struct{})
		d.mu.Unlock()

		groups, err := d.fetchGroups(ctx, param, user)

		d.mu.Lock()
		switch {
		case err == nil || errors.Is(err, ErrNotFound):
			if groups == nil {
				groups = []string{}
			}
			e.groups, e.good, e.err, e.expires = groups, true, nil, d.now().Add(d.ttl)
		case ctx.Err() != nil:
			// The caller gave up; that says nothing about Confluence.
		default:
			e.err, e.expires = err, d.now().Add(min(d.ttl, errRetry))
			if e.good {
				d.log.Warn("confluence user groups unavailable; using the last known", "source", d.c.source, param, user, "error", err)
			}
		}
		close(e.wait)
		e.wait = nil
		answer, aerr := e.answer()
		d.mu.Unlock()
		if ctx.Err() != nil && !e.good {
			return nil, ctx.Err()
		}
		return answer, aerr
	}
}

// answer is what a caller gets from the entry: the last good groups, else
// the error. d.mu is held.
func (e *groupsEntry) answer() ([]string, error) {
	if e.good {
		return slices.Clone(e.groups), nil
	}
	if e.err == nil {
		return nil, errors.New("no answer")
	}
	return nil, e.err
}

// prune drops expired entries once the cache is full, then any. d.mu is
// held.
func (d *Directory) prune() {
	if len(d.users) < maxCached {
		return
	}
	now := d.now()
	for k, e := range d.users {
		if e.wait == nil && !now.Before(e.expires) {
			delete(d.users, k)
		}
	}
	for k, e := range d.users {
		if len(d.users) < maxCached {
			break
		}
		if e.wait == nil {
			delete(d.users, k)
		}
	}
}

func (d *Directory) fetchGroups(ctx context.Context, param, user string) ([]string, error) {
	set := map[string]bool{}
	err := d.pages(ctx, "/rest/api/user/memberof", url.Values{param: {user}}, func(raw json.RawMessage) (bool, error) {
		var g struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &g); err != nil {
			return false, err
		}
		if g.Name == "" || set[g.Name] {
			return false, nil
		}
		set[g.Name] = true
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("groups of %s %q: %w", param, user, err)
	}
	return sorted(set), nil
}

// pages reads a start/limit paged collection, calling add for each result.
// It stops at an empty page, a page without _links.next, or a page that adds
// nothing new: a server that ignores start (Confluence Cloud did:
// CONFCLOUD-56322) would otherwise be read forever. _links.next itself is
// not followed: it is built from the host the request came in on.
func (d *Directory) pages(ctx context.Context, path string, q url.Values, add func(json.RawMessage) (bool, error)) error {
	q.Set("limit", strconv.Itoa(d.pageSize))
	start := 0
	for page := 1; page <= maxPages; page++ {
		q.Set("start", strconv.Itoa(start))
		body, err := d.c.get(ctx, path, q, dirAttempts)
		if err != nil {
			return err
		}
		var pg struct {
			Results []json.RawMessage `json:"results"`
			Links   struct {
				Next string `json:"next"`
			} `json:"_links"`
		}
		if err := json.Unmarshal(body, &pg); err != nil {
			return fmt.Errorf("source %s: GET %s: page %d: %w", d.c.source, path, page, err)
		}
		added := false
		for i, raw := range pg.Results {
			ok, err := add(raw)
			if err != nil {
				return fmt.Errorf("source %s: GET %s: page %d, result %d: %w", d.c.source, path, page, i+1, err)
			}
			added = added || ok
		}
		if len(pg.Results) == 0 || pg.Links.Next == "" || !added {
			return nil
		}
		start += len(pg.Results)
	}
	return fmt.Errorf("source %s: GET %s: more than %d pages", d.c.source, path, maxPages)
}

func sorted(set map[string]bool) []string {
	out := slices.Sorted(maps.Keys(set))
	if out == nil {
		out = []string{}
	}
	return out
}
