package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// Alert is one firing of a rule for a group. Its JSON shape is the same
// everywhere: replay output, the webhook notifier's body, the API.
type Alert struct {
	ID         string            `json:"id"`
	Rule       string            `json:"rule"`
	Name       string            `json:"name"`
	Severity   rules.Severity    `json:"severity"`
	Title      string            `json:"title"`
	Text       string            `json:"text"`
	Runbook    string            `json:"runbook"`
	Labels     map[string]string `json:"labels"`
	Tags       []string          `json:"tags"`
	Group      map[string]string `json:"group"`
	DedupKey   string            `json:"dedup_key"`
	Time       time.Time         `json:"time"`
	FiredAt    time.Time         `json:"fired_at"`
	Count      int               `json:"count"`
	Suppressed int64             `json:"suppressed"`
	Event      *event.Event      `json:"event"`
	EventIDs   []string          `json:"event_ids"`
	// Notify are the targets after routing, where routing has been done.
	Notify []string `json:"notify,omitempty"`
}

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
