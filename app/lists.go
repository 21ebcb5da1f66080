package app

import (
	"maps"
	"sync/atomic"

	"github.com/alerter/alerter/ingest/confluence"
	"github.com/alerter/alerter/rules"
)

// mergedLists gives rules the lists of their set (rule files and config)
// with the lists loaded from Confluence groups on top. The merge is made
// again only when either side changed, not per event.
type mergedLists struct {
	dynamic *confluence.Lists
	cache   atomic.Pointer[listCache]
}

type listCache struct {
	set     *rules.Set
	version uint64
	lists   map[string][]string
}

func (m *mergedLists) get(set *rules.Set) map[string][]string {
	v := m.dynamic.Version()
	if c := m.cache.Load(); c != nil && c.set == set && c.version == v {
		return c.lists
	}
	// Version is read before Snapshot: a change in between is cached under
	// the old version, and so merged again on the next call.
	merged := maps.Clone(set.Lists)
	if merged == nil {
		merged = map[string][]string{}
	}
	maps.Copy(merged, m.dynamic.Snapshot())
	m.cache.Store(&listCache{set: set, version: v, lists: merged})
	return merged
}
