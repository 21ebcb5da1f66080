package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
)

// The typed queries of the streams' histories, for the HTTP API
// (docs/api.md): alerts, dead letters and stored events, newest first and
// paged by stream sequence, so that a caller knows no subject or header.

var (
	// ErrNotFound: no alert is stored with the id asked for.
	ErrNotFound = errors.New("not found")
	// ErrUnreadable: a stored alert could not be decoded.
	ErrUnreadable = errors.New("stored alert unreadable")
)

// maxScan bounds how many stored messages one page of a history reads, so
// that a filter that matches little cannot make a request read the whole
// stream; the page's next continues from where it stopped.
const maxScan = 20_000

// FindAlert returns the stored alert with id, as decoded and as stored
// (to store a copy of it); an error wrapping ErrNotFound if there is none,
// ErrUnreadable if it cannot be decoded.
func (s *Streams) FindAlert(ctx context.Context, id string) (*alerter.Alert, []byte, error) {
	data, _, err := s.Alert(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var a alerter.Alert
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	return &a, data, nil
}

// AlertHistory calls fn with the stored alerts, newest first (of rule
// only, if not ""), starting below sequence before (0: at the newest),
// until fn returns false or a page's bound of messages was read. next is
// the before of the next page, 0 when there is none. The copies that hand
// dead letters back (PublishRedelivery) and the resolve and
// acknowledgement notifications (PublishNotice) are not alerts of their
// own.
func (s *Streams) AlertHistory(ctx context.Context, before uint64, rule string, fn func(*alerter.Alert) bool) (next uint64, err error) {
	prefix := AlertsSubject + "." + rule + "."
	return newestFirst(ctx, s.Alerts, before, func(m *jetstream.RawStreamMsg) bool {
		if (rule != "" && !strings.HasPrefix(m.Subject, prefix)) ||
			m.Header.Get(RedeliverHeader) != "" || m.Header.Get(NoticeHeader) != "" {
			return true
		}
		var a alerter.Alert
		if json.Unmarshal(m.Data, &a) != nil {
			return true
		}
		return fn(&a)
	})
}

// DeadLetters calls fn with the stored dead letters, newest first (of
// notifier only, if not ""), paged as AlertHistory.
func (s *Streams) DeadLetters(ctx context.Context, before uint64, notifier string, fn func(*alerter.DeadLetter) bool) (next uint64, err error) {
	subject := DeadSubject + "." + notifier
	return newestFirst(ctx, s.Dead, before, func(m *jetstream.RawStreamMsg) bool {
		if notifier != "" && m.Subject != subject {
			return true
		}
		var dl alerter.DeadLetter
		if json.Unmarshal(m.Data, &dl) != nil || dl.Alert == nil {
			return true
		}
		return fn(&dl)
	})
}

// EventQuery selects stored events.
type EventQuery struct {
	// Source, if not "", is the only source searched.
	Source string
	// Words must all appear, in any case, in one of the fields people
	// search by (see hasWords).
	Words []string
	// Since and Until, if not zero, bound the event's own time: since
	// included, until not.
	Since, Until time.Time
}

// SearchEvents calls fn with the stored events q selects, newest first,
// with the time each was stored, paged as AlertHistory.
func (s *Streams) SearchEvents(ctx context.Context, before uint64, q EventQuery, fn func(stored time.Time, ev *event.Event) bool) (next uint64, err error) {
	subject := EventsSubject + "." + q.Source
	words := make([]string, len(q.Words))
	for i, w := range q.Words {
		words[i] = strings.ToLower(w)
	}
	return newestFirst(ctx, s.Events, before, func(m *jetstream.RawStreamMsg) bool {
		if q.Source != "" && m.Subject != subject {
			return true
		}
		ev, err := event.Decode(m.Data)
		if err != nil || (!q.Since.IsZero() && ev.Time.Before(q.Since)) || (!q.Until.IsZero() && !ev.Time.Before(q.Until)) ||
			!hasWords(&ev, words) {
			return true
		}
		return fn(m.Time.UTC(), &ev)
	})
}

// hasWords reports whether every word (in lower case) appears in one of
// the event's fields that people search by: its id, action, category,
// summary, IP, actor and objects.
func hasWords(ev *event.Event, words []string) bool {
	if len(words) == 0 {
		return true
	}
	fields := []string{ev.ID, ev.Action, ev.ActionKey, ev.Category, ev.Summary, ev.IP,
		ev.Actor.ID, ev.Actor.Name, ev.Actor.DisplayName}
	for _, o := range ev.Objects {
		fields = append(fields, o.Name, o.ID)
	}
	text := strings.ToLower(strings.Join(fields, "\x00"))
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// newestFirst calls fn with the messages of st, newest first, starting
// below sequence before (0: at the newest), until fn returns false or
// maxScan messages were read. next continues below the last message read
// (as the next page's before), or is 0 when the first message was read.
func newestFirst(ctx context.Context, st jetstream.Stream, before uint64, fn func(*jetstream.RawStreamMsg) bool) (next uint64, err error) {
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	first, seq := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 {
		return 0, nil
	}
	if before != 0 {
		seq = min(seq, before-1)
	}
	for scanned := 0; seq >= first && seq > 0; seq-- {
		if scanned == maxScan {
			return seq + 1, nil
		}
		scanned++
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted
		}
		if err != nil {
			return 0, err
		}
		if !fn(m) {
			if seq > first {
				return seq, nil
			}
			return 0, nil
		}
	}
	return 0, nil
}
