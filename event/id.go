package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"

	json "github.com/goccy/go-json"
)

// idVersion starts every hashed content, so that a change of what is hashed
// can never give an old id to a different event.
const idVersion = "ev1\x00"

// ContentID is the id of an event whose source gives none (no Confluence
// audit API does), which Parse sets as its ID: a hash of the fields that identify what happened, so that
// the same event seen twice gets the same id however it was serialized (key
// order, whitespace, escapes), and the REST and file copies of one auditing
// event get the same id. So it leaves out what those copies do not share
// (object uris, the actor's name, area and level, which only one has), what
// merely describes (display names, the summary, which is the action, the
// translated category and action when their i18n keys are there), and where
// and how it was read (source, format, method). Objects, changes and
// attributes are hashed as sets, since the legacy API returns associated
// objects in no set order.
//
// It is SHA-256, truncated to 128 bits: a payload an attacker shapes must not
// collide with another event's id, or the EVENTS stream's dedup would drop it.
func (e *Event) ContentID() string {
	var stack [1024]byte
	sum := sha256.Sum256(e.appendContent(append(stack[:0], idVersion...)))
	return hex.EncodeToString(sum[:16])
}

// wholeIDVersion starts the content hashed by WholeContentID.
const wholeIDVersion = "ev1-whole\x00"

// WholeContentID is the id of an event whose source gives neither an id nor
// a time: what ContentID hashes and the whole raw payload, compacted.
// Such an event has nothing else that tells it from another: without the
// whole payload, two failed logins of different users would be one event,
// and a threshold rule could never fire. The same payload sent twice gets
// the same id, whatever its whitespace; its bytes are not otherwise
// canonicalized (key order, escapes), as decoding and encoding them again
// would make payloads an attacker shapes (duplicate keys, long numbers)
// collide with others.
func (e *Event) WholeContentID() string {
	var stack [1024]byte
	b := e.appendContent(append(stack[:0], wholeIDVersion...))
	d := sha256.New()
	d.Write(b)
	raw := e.rawJSON
	var c bytes.Buffer
	c.Grow(len(raw))
	if err := json.Compact(&c, raw); err == nil {
		raw = c.Bytes()
	}
	d.Write(binary.AppendUvarint(nil, uint64(len(raw))))
	d.Write(raw)
	var sum [sha256.Size]byte
	return hex.EncodeToString(d.Sum(sum[:0])[:16])
}

// appendContent appends the fields ContentID hashes to b.
func (e *Event) appendContent(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(e.Time.Nanosecond()))
	b = appendField(b, e.Actor.ID)
	b = appendField(b, first(e.ActionKey, e.Action))
	b = appendField(b, first(e.CategoryKey, e.Category))
	b = appendField(b, e.IP)
	b = appendField(b, e.Node)
	b = appendField(b, e.System)

	b = binary.AppendUvarint(b, uint64(len(e.Objects)))
	var idx [16]int
	for _, i := range sortedIndexes(idx[:0], len(e.Objects), func(i, j int) int {
		a, c := &e.Objects[i], &e.Objects[j]
		if d := strings.Compare(a.Type, c.Type); d != 0 {
			return d
		}
		if d := strings.Compare(a.ID, c.ID); d != 0 {
			return d
		}
		return strings.Compare(a.Name, c.Name)
	}) {
		o := &e.Objects[i]
		b = appendField(appendField(appendField(b, o.Type), o.ID), o.Name)
	}

	b = binary.AppendUvarint(b, uint64(len(e.Changes)))
	for _, i := range sortedIndexes(idx[:0], len(e.Changes), func(i, j int) int {
		a, c := &e.Changes[i], &e.Changes[j]
		if d := strings.Compare(a.Key, c.Key); d != 0 {
			return d
		}
		if d := strings.Compare(a.From, c.From); d != 0 {
			return d
		}
		return strings.Compare(a.To, c.To)
	}) {
		c := &e.Changes[i]
		b = appendField(appendField(appendField(b, c.Key), c.From), c.To)
	}

	b = binary.AppendUvarint(b, uint64(len(e.Attrs)))
	if len(e.Attrs) > 0 {
		var room [16][2]string
		attrs := room[:0]
		for k, v := range e.Attrs {
			attrs = append(attrs, [2]string{k, v})
		}
		for i := 1; i < len(attrs); i++ {
			for j := i; j > 0 && attrs[j-1][0] > attrs[j][0]; j-- {
				attrs[j-1], attrs[j] = attrs[j], attrs[j-1]
			}
		}
		for _, kv := range attrs {
			b = appendField(appendField(b, kv[0]), kv[1])
		}
	}
	return b
}

// appendField appends s with its length, so that no two field lists encode
// alike.
func appendField(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// sortedIndexes returns 0..n-1 ordered by cmp, in buf when it is large
// enough. An insertion sort: events have a handful of objects.
func sortedIndexes(buf []int, n int, cmp func(i, j int) int) []int {
	for i := range n {
		buf = append(buf, i)
	}
	if n > 32 {
		slices.SortStableFunc(buf, cmp)
		return buf
	}
	for i := 1; i < n; i++ {
		for j := i; j > 0 && cmp(buf[j-1], buf[j]) > 0; j-- {
			buf[j-1], buf[j] = buf[j], buf[j-1]
		}
	}
	return buf
}
