package confluence

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alerter/alerter/config"
)

// admins is the fixture scenario's confluence-administrators, and more, so
// that the group spans pages.
func admins() []member {
	ms := []member{
		{username: "jdoe", key: jdoeKey},
		{username: "mchen", key: "8a7f808a8b1c2d3e018b1c2e11220001"},
		{username: svcUser, key: svcKey},
	}
	for i := range 4 {
		ms = append(ms, member{username: fmt.Sprintf("admin%d", i), key: fmt.Sprintf("key%d", i)})
	}
	return ms
}

func newDirectory(t *testing.T, src config.Source, opt Options) *Directory {
	t.Helper()
	d, err := NewDirectory(src, opt)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGroupMembersDataCenter(t *testing.T) {
	clock := newClock(at(9, 0, 0))
	f := newFake(t, clock)
	f.groups["confluence-administrators"] = admins()
	f.groups["site admins/EU"] = []member{{username: "eu", key: "eukey"}}
	d := newDirectory(t, f.source(), Options{Now: clock.Now, Sleep: clock.Sleep, PageSize: 3})

	got, err := d.GroupMembers(context.Background(), "confluence-administrators")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range admins() {
		want = append(want, m.username, m.key)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}
	if f.dirCalls != 3 {
		t.Errorf("%d requests for 7 members 3 a page, want 3", f.dirCalls)
	}

	// A name that needs escaping in the path.
	if got, err := d.GroupMembers(context.Background(), "site admins/EU"); err != nil || !slices.Equal(got, []string{"eu", "eukey"}) {
		t.Errorf("escaped group: %v, %v", got, err)
	}

	_, err = d.GroupMembers(context.Background(), "no-such-group")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"no-such-group"`) {
		t.Errorf("unknown group: %v", err)
	}
}

func TestGroupMembersCloud(t *testing.T) {
	clock := newClock(at(9, 0, 0))
	f := newFake(t, clock)
	f.groups["site-admins"] = []member{{accountID: "557058:a"}, {accountID: "557058:b"}, {accountID: "557058:c"}}
	src := f.source()
	edit(&src, func(c *Config) { c.BaseURL = "http://acme.atlassian.net/wiki" })
	d := newDirectory(t, src, Options{Client: cloudClient(f), Now: clock.Now, Sleep: clock.Sleep, PageSize: 2})
	got, err := d.GroupMembers(context.Background(), "site-admins")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"557058:a", "557058:b", "557058:c"}; !slices.Equal(got, want) {
		t.Errorf("members %v, want %v", got, want)
	}

	f.memberOf["accountId=557058:a"] = []string{"site-admins", "confluence-users"}
	groups, err := d.UserKeyGroups(context.Background(), "557058:a")
	if err != nil || !slices.Equal(groups, []string{"confluence-users", "site-admins"}) {
		t.Errorf("UserKeyGroups = %v, %v", groups, err)
	}
}

// TestGroupMembersStartIgnored checks that a server that ignores start
// (Confluence Cloud did) ends the paging instead of looping.
func TestGroupMembersStartIgnored(t *testing.T) {
	clock := newClock(at(9, 0, 0))
	f := newFake(t, clock)
	f.groups["g"] = admins()
	d := newDirectory(t, f.source(), Options{Now: clock.Now, Sleep: clock.Sleep, PageSize: 3})
	f.ignoreStart = true // every page is the first one
	got, err := d.GroupMembers(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 || f.dirCalls != 2 {
		t.Errorf("%d members in %d requests, want the first page's 6 in 2", len(got), f.dirCalls)
	}
}

func TestUserGroupsCache(t *testing.T) {
	clock := newClock(at(9, 0, 0))
	f := newFake(t, clock)
	f.memberOf["username=jdoe"] = []string{"confluence-users", "confluence-administrators"}
	f.memberOf["key="+jdoeKey] = []string{"confluence-users", "confluence-administrators"}
	var logs logBuffer
	d := newDirectory(t, f.source(), Options{Logger: logs.logger(), Now: clock.Now, Sleep: clock.Sleep, CacheTTL: 10 * time.Minute})
	ctx := context.Background()
	want := []string{"confluence-administrators", "confluence-users"}

	got, err := d.UserGroups(ctx, "jdoe")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("UserGroups = %v, %v", got, err)
	}
	got[0] = "changed by the caller"
	clock.Advance(9 * time.Minute)
	if got, _ := d.UserGroups(ctx, "jdoe"); !slices.Equal(got, want) || f.dirCalls != 1 {
		t.Errorf("cached: %v after %d requests, want %v after 1", got, f.dirCalls, want)
	}

	// Expired, and Confluence is down: the last good answer.
	clock.Advance(2 * time.Minute)
	f.dirFaults = 100
	if got, err := d.UserGroups(ctx, "jdoe"); err != nil || !slices.Equal(got, want) {
		t.Errorf("while down: %v, %v; want the last good %v", got, err, want)
	}
	calls := f.dirCalls
	if got, err := d.UserGroups(ctx, "jdoe"); err != nil || !slices.Equal(got, want) || f.dirCalls != calls {
		t.Errorf("right after a failure: %v, %v, %d requests; want the last good without asking", got, err, f.dirCalls-calls)
	}
	if !strings.Contains(logs.String(), "using the last known") {
		t.Error("the failure is not logged")
	}

	// Never read, and Confluence is down: the error.
	if _, err := d.UserKeyGroups(ctx, jdoeKey); err == nil {
		t.Error("no error for a user never read while Confluence is down")
	}

	// Back up: read again once the failure's hold is over.
	f.dirFaults = 0
	f.memberOf["username=jdoe"] = []string{"confluence-users"}
	clock.Advance(errRetry)
	if got, err := d.UserGroups(ctx, "jdoe"); err != nil || !slices.Equal(got, []string{"confluence-users"}) {
		t.Errorf("after recovery: %v, %v", got, err)
	}

	// An unknown user has no groups, and that is cached too.
	calls = f.dirCalls
	for range 2 {
		if got, err := d.UserGroups(ctx, "nobody"); err != nil || len(got) != 0 {
			t.Errorf("unknown user: %v, %v", got, err)
		}
	}
	if f.dirCalls != calls+1 {
		t.Errorf("%d requests for an unknown user asked twice, want 1", f.dirCalls-calls)
	}
}

func TestUserGroupsConcurrentCallersShareARequest(t *testing.T) {
	clock := newClock(at(9, 0, 0))
	f := newFake(t, clock)
	f.memberOf["username=jdoe"] = []string{"confluence-administrators"}
	d := newDirectory(t, f.source(), Options{Now: clock.Now, Sleep: clock.Sleep})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			got, err := d.UserGroups(context.Background(), "jdoe")
			if err != nil || !slices.Equal(got, []string{"confluence-administrators"}) {
				t.Errorf("UserGroups = %v, %v", got, err)
			}
		})
	}
	wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dirCalls > 2 {
		// Callers that arrive after the first answer is cached cost nothing;
		// those during the request wait for it. Two allows for a caller that
		// looked just before the entry was made.
		t.Errorf("%d requests for 20 concurrent callers", f.dirCalls)
	}
}

func TestUserGroupsCanceled(t *testing.T) {
	clock := newClock(at(9, 0, 0))
	f := newFake(t, clock)
	d := newDirectory(t, f.source(), Options{Now: clock.Now, Sleep: clock.Sleep})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.UserGroups(ctx, "jdoe"); !errors.Is(err, context.Canceled) {
		t.Errorf("UserGroups = %v, want context.Canceled", err)
	}
	// The cancellation is not remembered as Confluence's failure.
	f.memberOf["username=jdoe"] = []string{"g"}
	if got, err := d.UserGroups(context.Background(), "jdoe"); err != nil || !slices.Equal(got, []string{"g"}) {
		t.Errorf("after a canceled call: %v, %v", got, err)
	}
}

func TestDirectorySecrets(t *testing.T) {
	clock := newClock(at(9, 0, 0))
	f := newFake(t, clock)
	src := f.source()
	edit(&src, func(c *Config) { c.Token = "wrong-" + testToken })
	var logs logBuffer
	d := newDirectory(t, src, Options{Logger: logs.logger(), Now: clock.Now, Sleep: clock.Sleep})
	_, err := d.GroupMembers(context.Background(), "confluence-administrators")
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("GroupMembers = %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(logs.String(), testToken) {
		t.Errorf("token in the error or logs: %v\n%s", err, logs.String())
	}
}
