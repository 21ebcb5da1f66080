package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/oklog/ulid/v2"
)

// groupHash names a group by its values. It is stable across processes and
// versions, because dedup state and PagerDuty incidents are keyed by it.
func groupHash(values []string) string {
	h := sha256.New()
	var n [8]byte
	for _, v := range values {
		// Length-prefixed so that ("ab","c") and ("a","bc") differ.
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// alertID is a ULID whose time is the firing event's and whose entropy is
// derived from the rule, group and firing event, so that evaluating the same
// event again (a redelivery after a crash) yields the same id, which the
// ALERTS stream then deduplicates.
func alertID(dedupKey, eventID string, t time.Time) string {
	h := sha256.Sum256([]byte(dedupKey + "\x00" + eventID))
	var id ulid.ULID
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	_ = id.SetTime(uint64(ms) & ulid.MaxTime())
	_ = id.SetEntropy(h[:10])
	return id.String()
}
