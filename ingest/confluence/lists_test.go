package confluence

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/yamlx"
)

func TestListsRefresh(t *testing.T) {
	clock := newClock(at(9, 0, 0))
	f := newFake(t, clock)
	f.groups["confluence-administrators"] = []member{{username: "jdoe", key: jdoeKey}}
	f.groups["soteri-admins"] = []member{{username: "akumar", key: "k-akumar"}}
	var logs logBuffer
	opt := Options{Logger: logs.logger(), Now: clock.Now, Sleep: clock.Sleep}
	dirs := map[string]*Directory{"confluence-dc": newDirectory(t, f.source(), opt)}
	specs := map[string]config.ListSpec{
		"admins":        {ConfluenceGroup: "confluence-administrators", Source: "confluence-dc", Refresh: yamlx.Duration(10 * time.Minute)},
		"soteri_admins": {ConfluenceGroup: "soteri-admins", Source: "confluence-dc"},
		"office":        {Values: []string{"10.0.0.0/8"}},
	}
	l, err := NewLists(specs, dirs, opt)
	if err != nil {
		t.Fatal(err)
	}
	if snap := l.Snapshot(); len(snap) != 2 || len(snap["admins"]) != 0 || snap["admins"] == nil {
		t.Errorf("before the first read: %v, want both dynamic lists, empty", snap)
	}
	if l.Loaded() {
		t.Error("Loaded before the first read")
	}

	ctx := context.Background()
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	first := l.Snapshot()
	if !slices.Equal(first["admins"], []string{jdoeKey, "jdoe"}) || !slices.Equal(first["soteri_admins"], []string{"akumar", "k-akumar"}) {
		t.Errorf("snapshot %v", first)
	}
	if _, ok := first["office"]; ok {
		t.Error("a static list in the snapshot")
	}
	st, ok := l.Status("admins")
	if !ok || !st.Loaded || st.Members != 2 || st.Err != nil || !st.Updated.Equal(at(9, 0, 0)) {
		t.Errorf("status %+v", st)
	}

	// Confluence fails: the lists keep their members, the status says so.
	clock.Advance(10 * time.Minute)
	f.dirFaults = 1000
	f.groups["confluence-administrators"] = nil
	err = l.Refresh(ctx)
	if err == nil || !strings.Contains(err.Error(), "list admins") {
		t.Errorf("Refresh while down = %v", err)
	}
	if snap := l.Snapshot(); !slices.Equal(snap["admins"], first["admins"]) {
		t.Errorf("while down: %v, want the last good %v", snap["admins"], first["admins"])
	}
	st, _ = l.Status("admins")
	if st.Err == nil || !st.Loaded || st.Members != 2 || st.Age(clock.Now()) < 10*time.Minute {
		t.Errorf("status while down %+v (age %s)", st, st.Age(clock.Now()))
	}
	if !l.Loaded() {
		t.Error("not Loaded after a failed refresh of loaded lists")
	}

	// Back up, with a member removed.
	f.dirFaults = 0
	f.groups["confluence-administrators"] = []member{{username: "mchen", key: "k-mchen"}}
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if snap := l.Snapshot(); !slices.Equal(snap["admins"], []string{"k-mchen", "mchen"}) {
		t.Errorf("after recovery: %v", snap["admins"])
	}
	if !slices.Equal(first["admins"], []string{jdoeKey, "jdoe"}) {
		t.Error("an earlier snapshot changed")
	}
	if got := l.Statuses(); len(got) != 2 || got["admins"].Err != nil {
		t.Errorf("statuses %+v", got)
	}
}

func TestNewListsNeedsTheSource(t *testing.T) {
	specs := map[string]config.ListSpec{"admins": {ConfluenceGroup: "confluence-administrators", Source: "gone"}}
	_, err := NewLists(specs, map[string]*Directory{}, Options{})
	if err == nil || !strings.Contains(err.Error(), `list admins: no confluence-poll source "gone"`) {
		t.Errorf("NewLists = %v", err)
	}
}

// TestListsRun runs the refresh loops with readers of the snapshot at the
// same time (go test -race checks them), until ctx ends.
func TestListsRun(t *testing.T) {
	clock := newClock(at(9, 0, 0))
	f := newFake(t, clock)
	f.groups["a"] = []member{{username: "u1", key: "k1"}}
	f.groups["b"] = []member{{username: "u2", key: "k2"}}
	f.dirFaults = 3 // a first read fails (one list's, or both retry)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var waits []time.Duration
	var l *Lists
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		n := len(waits)
		mu.Unlock()
		if n >= 6 && l.Loaded() {
			cancel()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Yield to the readers rather than wait.
		time.Sleep(time.Millisecond)
		return nil
	}
	opt := Options{Now: clock.Now, Sleep: sleep}
	var err error
	dirs := map[string]*Directory{"c": newDirectory(t, f.source(), Options{Now: clock.Now, Sleep: clock.Sleep})}
	l, err = NewLists(map[string]config.ListSpec{
		"a": {ConfluenceGroup: "a", Source: "c", Refresh: yamlx.Duration(5 * time.Minute)},
		"b": {ConfluenceGroup: "b", Source: "c", Refresh: yamlx.Duration(5 * time.Minute)},
	}, dirs, opt)
	if err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for ctx.Err() == nil {
				for _, members := range l.Snapshot() {
					_ = len(members)
				}
				_ = l.Statuses()
			}
		})
	}
	if err := l.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil on cancel", err)
	}
	readers.Wait()
	snap := l.Snapshot()
	if !slices.Equal(snap["a"], []string{"k1", "u1"}) || !slices.Equal(snap["b"], []string{"k2", "u2"}) {
		t.Errorf("snapshot %v", snap)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(waits, 5*time.Minute) {
		t.Errorf("waits %v: no refresh interval", waits)
	}
}
