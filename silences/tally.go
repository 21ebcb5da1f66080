package silences

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/bus"
)

// TallyBucket is the KV bucket of what each silence suppressed.
const TallyBucket = "ALERTER_SILENCED"

// Bounds on what a Count keeps: the rules for the announcement's text
// (docs/notifications.md, When a silence ends), the targets for its
// route. Alerts past them are still counted.
const (
	MaxCountRules   = 20
	MaxCountTargets = 64
)

// Count is what one silence suppressed: how many alerts, when the first
// and the last were, of which rules and to which targets they were
// routed, the first MaxCountRules and MaxCountTargets of them.
type Count struct {
	Alerts int64     `json:"alerts"`
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	Rules  []string  `json:"rules"`
	// MoreRules says that alerts of rules beyond Rules were suppressed.
	MoreRules bool     `json:"more_rules,omitempty"`
	Targets   []string `json:"targets"`
}

// add counts a, suppressed at at.
func (c *Count) add(a *alerter.Alert, at time.Time) {
	c.Alerts++
	if c.First.IsZero() || at.Before(c.First) {
		c.First = at
	}
	if at.After(c.Last) {
		c.Last = at
	}
	if !slices.Contains(c.Rules, a.Rule) {
		if len(c.Rules) < MaxCountRules {
			c.Rules = append(c.Rules, a.Rule)
		} else {
			c.MoreRules = true
		}
	}
	for _, t := range a.Notify {
		if !slices.Contains(c.Targets, t) && len(c.Targets) < MaxCountTargets {
			c.Targets = append(c.Targets, t)
		}
	}
}

// Tally keeps a Count per silence in a KV bucket shared by the replicas,
// so that what a silence suppressed is known, after restarts, when it
// ends. Writes of one process to one silence's count queue on its lock,
// so compare-and-set conflicts only happen between replicas, and the
// counts of other silences (other targets' deliverers) do not wait.
type Tally struct {
	kv    jetstream.KeyValue
	locks sync.Map // silence id → *sync.Mutex
}

// maxTries bounds the compare-and-set attempts of one count: each
// conflict means another replica counted meanwhile.
const maxTries = 20

// OpenTally opens (creating it if needed) the bucket of counts. A count
// lives ttl after its last change: make it longer than a silence may last
// (silences.max_duration), with a margin for an announcement that is
// late; Forget removes it once announced.
func OpenTally(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (*Tally, error) {
	kv, err := bus.OpenBucket(ctx, js, TallyBucket, "alerter: what each silence suppressed", replicas, ttl)
	if err != nil {
		return nil, fmt.Errorf("silenced bucket: %w", err)
	}
	return &Tally{kv: kv}, nil
}

// Count adds a, suppressed at at, to the count of each silence of ids
// (keys of the silences bucket, as Store.Matching returns them).
func (t *Tally) Count(ctx context.Context, ids []string, a *alerter.Alert, at time.Time) error {
	var errs []error
	for _, id := range ids {
		l, _ := t.locks.LoadOrStore(id, &sync.Mutex{})
		mu := l.(*sync.Mutex)
		mu.Lock()
		errs = append(errs, t.update(ctx, id, func(c *Count) { c.add(a, at) }))
		mu.Unlock()
	}
	return errors.Join(errs...)
}

func (t *Tally) update(ctx context.Context, id string, fn func(*Count)) error {
	for try := 0; try < maxTries; try++ {
		c, rev, err := t.get(ctx, id)
		if err != nil {
			return err
		}
		fn(&c)
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = t.kv.Create(ctx, id, b)
		} else {
			_, err = t.kv.Update(ctx, id, b, rev)
		}
		if err == nil || !bus.IsConflict(err) {
			if err != nil {
				return fmt.Errorf("counting for silence %s: %w", id, err)
			}
			return nil
		}
	}
	return fmt.Errorf("counting for silence %s: %d conflicting writes in a row", id, maxTries)
}

// get reads the count of silence id and its revision, 0 when there is
// none. One that cannot be read (written by hand) counts from nothing.
func (t *Tally) get(ctx context.Context, id string) (Count, uint64, error) {
	e, err := t.kv.Get(ctx, id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return Count{}, 0, nil
	case err != nil:
		return Count{}, 0, fmt.Errorf("reading the count of silence %s: %w", id, err)
	}
	var c Count
	if json.Unmarshal(e.Value(), &c) != nil {
		c = Count{}
	}
	return c, e.Revision(), nil
}

// Get returns the count of silence id; false when it suppressed nothing
// (or was forgotten).
func (t *Tally) Get(ctx context.Context, id string) (Count, bool, error) {
	c, rev, err := t.get(ctx, id)
	return c, rev != 0 && c.Alerts > 0, err
}

// Forget removes the count of silence id, once its end is announced.
func (t *Tally) Forget(ctx context.Context, id string) error {
	t.locks.Delete(id)
	if err := t.kv.Purge(ctx, id); err != nil {
		return fmt.Errorf("forgetting the count of silence %s: %w", id, err)
	}
	return nil
}

// Muter tells which silences mute an alert now (Store).
type Muter interface {
	Matching(a *alerter.Alert, now time.Time) []string
}

// Counting is the Muter of the deliverer of Target that also counts, in
// Tally, the alerts the silences mute. An alert is counted by the
// deliverer of the first of its targets only, so that it counts once
// however many targets silence it; a replica killed between counting an
// alert and recording it as silenced has it handed out again and counts
// it a second time, so a count may be over by the alerts in flight at a
// crash (docs/notifications.md, When a silence ends).
type Counting struct {
	Silences Muter
	Tally    *Tally
	Target   string
	Log      *slog.Logger
}

// countTimeout bounds a count, which the delivery of the alert waits for.
const countTimeout = 5 * time.Second

// Matching returns the ids of the silences that mute a at now, counting a
// for them if this is its first target. A count that fails is logged: the
// alert is silenced all the same.
func (c Counting) Matching(a *alerter.Alert, now time.Time) []string {
	ids := c.Silences.Matching(a, now)
	if len(ids) == 0 || len(a.Notify) == 0 || a.Notify[0] != c.Target {
		return ids
	}
	ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
	defer cancel()
	if err := c.Tally.Count(ctx, ids, a, now); err != nil && c.Log != nil {
		c.Log.Warn("counting a silenced alert; the silence's announcement will count it short", "alert", a.ID, "silences", ids, "err", err)
	}
	return ids
}
