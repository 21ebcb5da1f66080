package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream names and subject prefixes.
const (
	EventsStream    = "EVENTS"
	AlertsStream    = "ALERTS"
	RejectedStream  = "REJECTED"
	DeadStream      = "DEADLETTERS"
	DeadSubject     = "deadletters" // deadletters.<notifier>
	EventsSubject   = "events"      // events.<source>
	AlertsSubject   = "alerts"      // alerts.<rule id>.<alert id>
	RejectedSubject = "rejected"    // rejected.<source>
	// ReasonHeader says why a message in REJECTED was not taken as an event.
	ReasonHeader = "Alerter-Reason"
)

// Defaults of StreamOptions.
const (
	DefaultRetention = 168 * time.Hour
	// DefaultDuplicates is the window in which a second publish with the
	// same message id is dropped, so a retried delivery is not evaluated
	// twice. It must outlast a sender's retries of one delivery: webhook
	// senders time out after 10-30s and retry a few times with backoff, and
	// a restarted poller re-reads its last page; 5 minutes covers those.
	// Longer costs memory: the server keeps every id of the window, ~110
	// bytes each (measured, 26-byte ids), i.e. 33 MB at a sustained 1,000
	// events/s; very high sustained rates should lower it.
	DefaultDuplicates = 5 * time.Minute
	// defaultPublishTimeout bounds a publish whose context has no
	// deadline, so that a lost NATS turns into an error rather than a hang.
	defaultPublishTimeout = 5 * time.Second
	// maxMsgIDLen bounds Nats-Msg-Id: the server keeps every id of the
	// dedup window in memory.
	maxMsgIDLen = 512
)

// StreamOptions configure the EVENTS and ALERTS streams.
type StreamOptions struct {
	// Retention is how long messages are kept (MaxAge); default 168h.
	Retention time.Duration
	// Duplicates is the message-id dedup window; default 5m. It is capped
	// at Retention, as the server requires.
	Duplicates time.Duration
	// MaxBytes caps the size of the streams it names (EventsStream, ...):
	// past it the oldest messages are dropped. A stream not named has no
	// cap but its age.
	MaxBytes map[string]int64
	// Replicas per stream; default 1. Use 3 on a 3-node cluster.
	Replicas int
	// Timeout bounds publishes whose context has no deadline; default 5s.
	Timeout time.Duration
}

// Streams publishes into the EVENTS and ALERTS streams.
type Streams struct {
	js       jetstream.JetStream
	timeout  time.Duration
	Events   jetstream.Stream
	Alerts   jetstream.Stream
	Rejected jetstream.Stream
	Dead     jetstream.Stream
}

// Msg is one message of a batch.
type Msg struct {
	ID   string
	Data []byte
}

// Result is the outcome of one message of a batch.
type Result struct {
	Dup bool // the id was already stored; nothing was written
	Err error
}

// EnsureStreams creates the streams, or updates them to opt (a changed
// retention applies to existing streams).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, opt StreamOptions) (*Streams, error) {
	if opt.Retention <= 0 {
		opt.Retention = DefaultRetention
	}
	if opt.Duplicates <= 0 {
		opt.Duplicates = DefaultDuplicates
	}
	opt.Duplicates = min(opt.Duplicates, opt.Retention)
	if opt.Replicas <= 0 {
		opt.Replicas = 1
	}
	if opt.Timeout <= 0 {
		opt.Timeout = defaultPublishTimeout
	}
	s := &Streams{js: js, timeout: opt.Timeout}
	mk := func(name, subj, desc string) (jetstream.Stream, error) {
		maxBytes := int64(-1)
		if b, ok := opt.MaxBytes[name]; ok && b > 0 {
			maxBytes = b
		}
		st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    []string{subj + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      opt.Retention,
			MaxBytes:    maxBytes,
			Duplicates:  opt.Duplicates,
			Replicas:    opt.Replicas,
			Discard:     jetstream.DiscardOld,
		})
		var api *jetstream.APIError
		if errors.As(err, &api) && api.ErrorCode == errCodeStorageExceeded {
			return nil, fmt.Errorf("ensure stream %s: %w (its byte limit, %d, does not fit the storage JetStream has left: lower nats.max_bytes, or give the servers more storage)", name, err, maxBytes)
		}
		if err != nil {
			return nil, fmt.Errorf("ensure stream %s: %w", name, err)
		}
		return st, nil
	}
	var err error
	if s.Events, err = mk(EventsStream, EventsSubject, "alerter: normalized audit events, one subject per source"); err != nil {
		return nil, err
	}
	if s.Alerts, err = mk(AlertsStream, AlertsSubject, "alerter: fired alerts, the alert id as message id"); err != nil {
		return nil, err
	}
	if s.Rejected, err = mk(RejectedStream, RejectedSubject, "alerter: messages of NATS sources that were not events, with the reason"); err != nil {
		return nil, err
	}
	if s.Dead, err = mk(DeadStream, DeadSubject, "alerter: notifications given up on, per notifier"); err != nil {
		return nil, err
	}
	return s, nil
}

// PublishEvent stores one event of source with its id as message id, and
// reports dup when the id was already stored within the dedup window.
func (s *Streams) PublishEvent(ctx context.Context, source, id string, data []byte) (dup bool, err error) {
	return s.publish(ctx, EventsSubject, source, id, data)
}

// Reject keeps a message a source could not take as an event aside, with
// the reason, so that it is neither lost nor blocking the source.
func (s *Streams) Reject(ctx context.Context, source string, data []byte, reason string) error {
	subj, err := subject(RejectedSubject, source)
	if err != nil {
		return err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	m := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{ReasonHeader: []string{strings.ToValidUTF8(strings.NewReplacer("\r", " ", "\n", " ").Replace(reason), "?")}}}
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish %s: %w", subj, err)
	}
	return nil
}

// PublishDeadLetter stores a notification given up on, once per alert,
// target and round of tries: round is "" for the first, and names a
// redelivery for the others, each of which is a dead letter of its own.
func (s *Streams) PublishDeadLetter(ctx context.Context, target, alertID, round string, data []byte) error {
	id := target + "." + alertID
	if round != "" {
		id += "." + round
	}
	_, err := s.publish(ctx, DeadSubject, target, id, data)
	return err
}

// PublishAlert stores one alert of a rule with the alert id as message id,
// so that an alert re-fired after a crash is stored once.
//
// The alert id is the last token of the subject, so that an alert can be
// found by its id (Alert) without an index.
func (s *Streams) PublishAlert(ctx context.Context, rule, id string, data []byte) (dup bool, err error) {
	subj, err := subject(AlertsSubject, rule)
	if err != nil {
		return false, err
	}
	if _, err := subject(subj, id); err != nil {
		return false, err
	}
	return s.publish(ctx, subj, id, id, data)
}

// Alert returns the stored alert with id, and its stream sequence; an
// error wrapping ErrNotFound if there is none.
func (s *Streams) Alert(ctx context.Context, id string) ([]byte, uint64, error) {
	subj, err := subject(AlertsSubject+".*", id)
	if err != nil {
		return nil, 0, err
	}
	m, err := s.Alerts.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, 0, err
	}
	return m.Data, m.Sequence, nil
}

// RedeliverHeader names the one target a copy of an alert in ALERTS is
// for: a dead letter handed back (PublishRedelivery). Other targets skip
// it, and histories of alerts leave it out.
const RedeliverHeader = "Alerter-Redeliver-To"

// RedeliverRevHeader carries the revision of the requeue a copy was stored
// for (see Deliveries.Claim).
const RedeliverRevHeader = "Alerter-Redeliver-Rev"

// PublishRedelivery stores a copy of an alert for target alone, under the
// alert's subject; rev (from Deliveries.Requeue) makes its message id, so
// that several requests for one redelivery store it once.
func (s *Streams) PublishRedelivery(ctx context.Context, rule, id, target string, rev uint64, data []byte) error {
	subj, err := subject(AlertsSubject, rule)
	if err == nil {
		subj, err = subject(subj, id)
	}
	if err != nil {
		return err
	}
	msgID := fmt.Sprintf("%s/redeliver/%s/%d", id, target, rev)
	if err := checkMsgID(msgID); err != nil {
		return err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	m := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{RedeliverHeader: {target}, RedeliverRevHeader: {strconv.FormatUint(rev, 10)}}}
	if _, err := s.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("publish %s %q: %w", subj, msgID, err)
	}
	return nil
}

// NoticeHeader marks a notice in ALERTS — a resolve or an
// acknowledgement notification (PublishNotice) — with the id of the alert
// it is about: histories of alerts leave it out, as it is no alert of its
// own. (Its name is from when resolves were the only notices; stored
// notices keep it.)
const NoticeHeader = "Alerter-Resolves"

// PublishNotice stores the notice id of alert of (of rule), for the
// targets it names, with its id as message id: it is stored once however
// often the act is retried within the dedup window, and the deliveries
// record keeps a target from getting it twice after. It has a subject of
// its own, so that it is found by its id (its dead letter can be handed
// back) and not by the alert's.
func (s *Streams) PublishNotice(ctx context.Context, rule, id, of string, data []byte) error {
	subj, err := subject(AlertsSubject, rule)
	if err == nil {
		subj, err = subject(subj, id)
	}
	if err == nil {
		err = checkMsgID(id)
	}
	if err != nil {
		return err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	m := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{NoticeHeader: {of}}}
	if _, err := s.js.PublishMsg(ctx, m, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("publish %s %q: %w", subj, id, err)
	}
	return nil
}

func (s *Streams) publish(ctx context.Context, prefix, token, id string, data []byte) (bool, error) {
	subj, err := subject(prefix, token)
	if err != nil {
		return false, err
	}
	if err := checkMsgID(id); err != nil {
		return false, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: data}, jetstream.WithMsgID(id))
	if err != nil {
		return false, fmt.Errorf("publish %s %q: %w", subj, id, err)
	}
	return ack.Duplicate, nil
}

// PublishEvents stores a batch of events of one source: all are sent at
// once and then all acks awaited, which is many times faster than one
// round trip per event. Per-message outcomes are in the results; the error
// is for the batch as a whole (bad source, context done), and then the
// results say which messages were nonetheless acknowledged.
func (s *Streams) PublishEvents(ctx context.Context, source string, msgs []Msg) ([]Result, error) {
	subj, err := subject(EventsSubject, source)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	res := make([]Result, len(msgs))
	futs := make([]jetstream.PubAckFuture, len(msgs))
	stall := s.timeout
	if dl, ok := ctx.Deadline(); ok {
		stall = max(time.Until(dl), time.Millisecond)
	}
	// One allocation for all the messages, which the client keeps until
	// their acks come (to publish again after a "no responders").
	nms := make([]nats.Msg, len(msgs))
	stallOpt := jetstream.WithStallWait(stall)
	for i, m := range msgs {
		if err := checkMsgID(m.ID); err != nil {
			res[i].Err = err
			continue
		}
		// The id header is set here, as jetstream.WithMsgID would.
		nm := &nms[i]
		nm.Subject, nm.Data, nm.Header = subj, m.Data, nats.Header{jetstream.MsgIDHeader: {m.ID}}
		futs[i], res[i].Err = s.js.PublishMsgAsync(nm, stallOpt)
		if res[i].Err != nil {
			res[i].Err = fmt.Errorf("publish %s %q: %w", subj, m.ID, res[i].Err)
		}
	}
	var batchErr error
	for i, f := range futs {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			res[i].Dup = ack.Duplicate
		case err := <-f.Err():
			res[i].Err = fmt.Errorf("publish %s %q: %w", subj, msgs[i].ID, err)
		case <-ctx.Done():
			// The ack may still come; it is only no longer awaited.
			res[i].Err = fmt.Errorf("publish %s %q: %w", subj, msgs[i].ID, ctx.Err())
			batchErr = fmt.Errorf("publish batch to %s: %w", subj, ctx.Err())
		}
	}
	return res, batchErr
}

func (s *Streams) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// subject builds prefix.token, refusing tokens that would change the
// subject's shape (wildcards, separators, spaces).
func subject(prefix, token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("empty %s subject token", prefix)
	}
	if strings.ContainsAny(token, ".*> \t\r\n") {
		return "", fmt.Errorf("invalid %s subject token %q: no '.', '*', '>' or whitespace allowed", prefix, token)
	}
	return prefix + "." + token, nil
}

var errBadMsgID = errors.New("invalid message id")

// errCodeStorageExceeded is JetStream's "insufficient storage resources
// available": the byte limits of the streams are reserved on the server.
const errCodeStorageExceeded = 10047

// checkMsgID refuses ids that could not be a header value: a CR or LF in an
// id from an untrusted payload would inject headers into the message.
func checkMsgID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", errBadMsgID)
	case len(id) > maxMsgIDLen:
		return fmt.Errorf("%w: %d bytes, at most %d", errBadMsgID, len(id), maxMsgIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w %q: control character", errBadMsgID, id)
		}
	}
	return nil
}
