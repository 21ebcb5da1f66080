// Package engine evaluates a rule set against events: it finds the rules an
// event can match through an index, runs their conditions, and applies the
// threshold and dedup windows of each matching rule's group to decide which
// alerts fire.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/exprlimit"
	"github.com/alerter/alerter/rules"
)

// MemoryBudget bounds what one expression evaluation may allocate, counted
// in elements as expr counts them, so a rule like `len(1..1e9) > 0` fails
// alone instead of taking the process down.
const MemoryBudget = 100_000

// EvalTimeout is how long one rule may take on one event by default (its
// condition and group-by, or its title and text): a rule that runs past it
// is stopped and reported, and the other rules run (docs/rules.md, Safety limits).
const EvalTimeout = exprlimit.Timeout

// Engine evaluates events against the current rule set. It is safe for
// concurrent use; the rule set can be swapped while events are evaluated.
type Engine struct {
	snap  atomic.Pointer[snapshot]
	store Store
	now   func() time.Time
	log   *slog.Logger
	pool  sync.Pool // *worker
	// timeout is how long one rule may take on one event.
	timeout time.Duration

	// learned maps a new_value rule's id to the learning start last read
	// from the store (a learnedStart), so that most events need no write
	// of the rule-level key (see learningStart).
	learned sync.Map

	mu    sync.Mutex // serializes Swap
	stats map[string]*RuleStats
	// noIndex runs every rule on every event, which tests and benchmarks
	// compare the index with.
	noIndex bool
	// noSlots runs the compiled programs as they are (see WithoutSlots).
	noSlots bool
	// clock keeps the deadlines handed out, WithEventClock.
	clock *eventClock
}

// Option configures an Engine.
type Option func(*Engine)

// WithClock sets the clock used for fired_at (tests, replay).
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithEvalTimeout sets how long one rule may take on one event
// (EvalTimeout by default); 0 leaves only the context's end.
func WithEvalTimeout(d time.Duration) Option { return func(e *Engine) { e.timeout = d } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

func withoutIndex() Option { return func(e *Engine) { e.noIndex = true } }

// New returns an engine for set, keeping group state in store.
func New(set *rules.Set, store Store, opts ...Option) *Engine {
	e := &Engine{store: store, now: time.Now, log: slog.New(slog.DiscardHandler), stats: map[string]*RuleStats{}, timeout: EvalTimeout}
	for _, o := range opts {
		o(e)
	}
	e.pool.New = func() any { return &worker{vm: vm.VM{MemoryBudget: MemoryBudget}} }
	e.Swap(set)
	return e
}

// Swap replaces the rule set atomically. Counters and window state of rules
// whose id stays carry over.
func (e *Engine) Swap(set *rules.Set) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := newSnapshot(set, e.stats, !e.noIndex, !e.noSlots)
	e.snap.Store(s)
}

// Rules returns the current rule set.
func (e *Engine) Rules() *rules.Set { return e.snap.Load().set }

// Stats returns the counters of the rule with id, or nil.
func (e *Engine) Stats(id string) *RuleStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats[id]
}

// RuleStats counts what a rule did.
type RuleStats struct {
	Evaluations atomic.Int64
	Matches     atomic.Int64
	Alerts      atomic.Int64
	// Escalations and Digests the rule's groups made (an escalation of a
	// group acknowledged meanwhile is made, and not sent).
	Escalations atomic.Int64
	Digests     atomic.Int64
	Suppressed  atomic.Int64
	Errors      atomic.Int64
	LastMatch   atomic.Int64 // event time of the last match, unix nanos
	lastErr     atomic.Pointer[string]
}

// LastError is the last evaluation error of the rule, or "".
func (s *RuleStats) LastError() string {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// snapshot is an immutable rule set with its index.
type snapshot struct {
	set   *rules.Set
	rules []*rules.Rule // enabled rules, in set order
	stats []*RuleStats  // parallel to rules
	pol   []policy      // parallel to rules
	// direct, when and groupBy are the rules' conditions and group-by
	// programs as evaluate runs them, parallel to rules; a condition runs
	// direct where it is not nil.
	direct   []direct
	when     []program
	groupBy  [][]program
	distinct [][]program // threshold.distinct or new_value.of, parallel to rules
	// resolveDirect and resolveWhen are the rules' resolve.when as
	// evaluate runs them, parallel to rules: direct where not nil, else
	// in the VM; both empty for a rule without one.
	resolveDirect []direct
	resolveWhen   []program
	// steps are a sequence rule's step conditions run direct, nil where a
	// step runs in the VM; parallel to rules.
	steps [][]direct
	slots slotPlan
	// byField maps an indexed field to its values to the rules (indices
	// into rules, ascending) that need that value.
	byField []fieldIndex
	always  []int32 // rules with no usable constraint
	byID    map[string]int32
	multi   bool // a rule can be reached through two fields
	usesRaw bool
}

// newSnapshot builds the snapshot of set; indexed and slotted switch the
// index and the slot rewriting on.
func newSnapshot(set *rules.Set, stats map[string]*RuleStats, indexed, slotted bool) *snapshot {
	s := &snapshot{set: set, byID: map[string]int32{}}
	b := indexBuilder{fields: map[string]*fieldIndex{}}
	var progs []*vm.Program
	for _, r := range set.Rules {
		if !r.Enabled {
			continue
		}
		i := int32(len(s.rules))
		s.byID[r.ID] = i
		s.rules = append(s.rules, r)
		st := stats[r.ID]
		if st == nil {
			st = &RuleStats{}
			stats[r.ID] = st
		}
		s.stats = append(s.stats, st)
		s.pol = append(s.pol, policyOf(r))
		s.usesRaw = s.usesRaw || r.UsesRaw
		var d direct
		if r.When.Program != nil {
			d, _ = compileDirect(r.When.Program.Node())
		}
		s.direct = append(s.direct, d)
		if d == nil {
			progs = append(progs, r.When.Program)
		}
		s.steps = append(s.steps, stepsDirect(r.Sequence))
		var rd direct
		if rw := resolveWhen(r); rw != nil {
			if rd, _ = compileDirect(rw.Node()); rd == nil {
				progs = append(progs, rw)
			}
		}
		s.resolveDirect = append(s.resolveDirect, rd)
		for _, g := range r.GroupBy {
			progs = append(progs, g.Program)
		}
		for _, g := range distinctOf(r) {
			progs = append(progs, g.Program)
		}
		switch {
		case !indexed || r.When.Program == nil:
			b.always = append(b.always, i)
		default:
			// An event that can meet the rule's resolve.when is a
			// candidate too: the rule is filed under both conditions.
			b.add(i, r.When.Program.Node(), resolveNode(r))
		}
	}
	s.always, s.multi = b.always, b.multi
	for _, f := range indexOrder {
		if fi := b.fields[f]; fi != nil {
			s.byField = append(s.byField, *fi)
		}
	}
	if slotted {
		// Without a plan, rewrite leaves every program as compiled.
		s.slots = newSlotPlan(progs)
	}
	for i, r := range s.rules {
		w := program{prog: r.When.Program}
		if s.direct[i] == nil {
			w = s.slots.rewrite(r.When.Program)
		}
		s.when = append(s.when, w)
		s.groupBy = append(s.groupBy, s.valuePrograms(r.GroupBy))
		s.distinct = append(s.distinct, s.valuePrograms(distinctOf(r)))
		var rp program
		if rw := resolveWhen(r); rw != nil && s.resolveDirect[i] == nil {
			rp = s.slots.rewrite(rw)
		}
		s.resolveWhen = append(s.resolveWhen, rp)
	}
	return s
}

// valuePrograms are the programs of expressions whose values group or
// count events (by, distinct, of): a plain string field of the event is
// read directly, as conditions are (direct.go), not through the VM.
func (s *snapshot) valuePrograms(es []rules.Expr) []program {
	var ps []program
	for _, e := range es {
		p := s.slots.rewrite(e.Program)
		if f, ok := eventField(e.Program.Node()); ok {
			p.field = stringFields[f]
		}
		ps = append(ps, p)
	}
	return ps
}

// stepsDirect are the conditions of sq's steps that run direct, nil for
// those that run in the VM; nil without a sequence.
func stepsDirect(sq *rules.Sequence) []direct {
	if sq == nil {
		return nil
	}
	ds := make([]direct, len(sq.Steps))
	for k, st := range sq.Steps {
		ds[k], _ = compileDirect(st.When.Program.Node())
	}
	return ds
}

// distinctOf are the expressions whose tuple of values a match carries
// (Match.Tuple): r's threshold.distinct or new_value.of, or nil.
func distinctOf(r *rules.Rule) []rules.Expr {
	switch {
	case r.NewValue != nil:
		return r.NewValue.Of
	case r.Threshold != nil:
		return r.Threshold.Distinct
	}
	return nil
}

func policyOf(r *rules.Rule) policy {
	p := policy{dedupWindow: int64(r.DedupWindow())}
	if r.Threshold != nil {
		p.count = r.Threshold.Count
		p.within = int64(r.Threshold.Within)
		p.distinct = len(r.Threshold.Distinct) > 0
	}
	if nv := r.NewValue; nv != nil {
		p.history = int64(nv.History)
		p.learning = int64(nv.Learning)
		p.maxValues = nv.MaxValues
	}
	if sq := r.Sequence; sq != nil {
		p.steps = len(sq.Steps)
		p.within = int64(sq.Within)
		p.absent = sq.Absent
	}
	if q := r.Quiet; q != nil {
		p.quiet = true
		p.within = int64(q.Within)
	}
	for _, s := range r.Escalate {
		p.escalate = append(p.escalate, int64(s.AfterSuppressed))
	}
	if r.Timed() {
		p.resolveAfter = int64(r.ResolveAfter())
		p.digest = int64(r.Digest)
		for _, s := range r.Escalate {
			p.escalateAfter = append(p.escalateAfter, int64(s.After))
		}
	}
	return p
}

// worker is what one goroutine needs to evaluate: expr VMs are not safe
// for concurrent use, and reusing one makes a run allocation-free.
type worker struct {
	vm   vm.VM
	env  *rules.Env
	fast evalEnv // embeds env
	// slots point into fast; filled has a bit for each slot holding the
	// current event's value.
	slots   [slotCount]*any
	filled  uint32
	cand    []int32
	matches []Match
}

// getWorker takes a worker from the pool for the snapshot, with lists
// overriding the set's own when not nil (rule tests).
func (e *Engine) getWorker(s *snapshot, lists map[string][]string) *worker {
	if lists == nil {
		lists = s.set.Lists
	}
	w := e.pool.Get().(*worker)
	if w.env == nil {
		w.env = rules.NewEnv(nil)
		w.fast.Env = w.env
		w.slots = slotPointers(&w.fast)
	}
	w.env.Lists = lists
	return w
}

func (e *Engine) putWorker(w *worker) {
	w.env.Event = nil
	w.clearSlots()
	clear(w.matches)
	w.matches = w.matches[:0]
	e.pool.Put(w)
}

// Match is a rule whose condition an event met.
type Match struct {
	Rule  *rules.Rule
	index int32
	// Steps has, for a sequence rule, bit k set if the event met step k.
	Steps uint8
	// Group holds the values of the rule's group-by expressions.
	Group []string
	// Tuple is, for a rule with threshold.distinct or new_value, the
	// event's tuple of those values (see TupleValues).
	Tuple string
}

// RuleError is a rule that failed to evaluate on an event. The rule counts
// as not matching; the other rules still run.
type RuleError struct {
	Rule string
	Err  error
}

func (e RuleError) Error() string { return fmt.Sprintf("rule %s: %v", e.Rule, e.Err) }

// Evaluate runs the conditions of the candidate rules for ev and returns
// the matches. It changes no state.
func (e *Engine) Evaluate(ev *event.Event) ([]Match, []RuleError) {
	m, _, errs := e.evaluate(context.Background(), e.snap.Load(), ev, nil)
	return m, errs
}

// evaluate runs the candidate rules on ev. Each rule has its own time
// limit; ctx's end stops them all (each then fails with the reason).
//
// It also returns the resolves of the candidates whose resolve.when ev
// meets (see Resolve).
func (e *Engine) evaluate(ctx context.Context, s *snapshot, ev *event.Event, lists map[string][]string) ([]Match, []Resolve, []RuleError) {
	if s.usesRaw {
		e.loadRaw(ev)
	}
	w := e.getWorker(s, lists)
	defer e.putWorker(w)
	w.env.Event = ev
	w.cand = s.candidates(ev, w.cand)
	// Matches gather in the worker's buffer and leave in one allocation of
	// the right size, rather than one per doubling.
	matches := w.matches[:0]
	var errs []RuleError
	var resolves []Resolve
	for _, i := range w.cand {
		r, st := s.rules[i], s.stats[i]
		st.Evaluations.Add(1)
		if s.direct[i] == nil || len(s.groupBy[i]) > 0 || len(s.distinct[i]) > 0 || r.Sequence != nil || r.Resolve != nil {
			// Only expr programs count: a direct condition is bounded.
			exprlimit.Begin(w.env.Budget, ctx, e.timeout)
		}
		if rv, err := w.resolve(s, ev, i); err != nil {
			errs = append(errs, s.fail(i, err))
		} else if rv != nil {
			resolves = append(resolves, *rv)
		}
		ok, err := w.match(s, ev, i)
		if err != nil {
			errs = append(errs, s.fail(i, err))
			continue
		}
		if !ok {
			continue
		}
		m := Match{Rule: r, index: i}
		if r.Sequence != nil {
			if m.Steps, err = w.steps(s, i, ev); err != nil {
				errs = append(errs, s.fail(i, err))
				continue
			}
		}
		if len(s.groupBy[i]) > 0 {
			m.Group, err = w.values(s, ev, r.GroupBy, s.groupBy[i], "group by")
			if err != nil {
				errs = append(errs, s.fail(i, err))
				continue
			}
			boundGroup(m.Group)
		}
		if len(s.distinct[i]) > 0 {
			what := "distinct"
			if r.NewValue != nil {
				what = "new_value.of"
			}
			tuple, err := w.values(s, ev, distinctOf(r), s.distinct[i], what)
			if err != nil {
				errs = append(errs, s.fail(i, err))
				continue
			}
			m.Tuple = tupleKey(tuple)
		}
		st.Matches.Add(1)
		st.LastMatch.Store(ev.Time.UnixNano())
		matches = append(matches, m)
	}
	w.matches = matches
	if len(matches) == 0 {
		return nil, resolves, errs
	}
	return slices.Clone(matches), resolves, errs
}

func (s *snapshot) fail(i int32, err error) RuleError {
	st := s.stats[i]
	st.Errors.Add(1)
	msg := err.Error()
	st.lastErr.Store(&msg)
	return RuleError{Rule: s.rules[i].ID, Err: err}
}

// values runs the programs ps, compiled from exprs, on ev, and formats
// their values as text.
func (w *worker) values(s *snapshot, ev *event.Event, exprs []rules.Expr, ps []program, what string) ([]string, error) {
	out := make([]string, len(ps))
	for j, p := range ps {
		if p.field != nil {
			out[j] = p.field(ev)
			continue
		}
		v, err := w.runFor(s, ev, p)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, exprs[j].Source, err)
		}
		out[j] = rules.Format(v)
	}
	return out, nil
}

// steps runs the conditions of the steps of rule i, a sequence, on ev
// (in w.env), which met one of them, and returns the mask of those it met.
func (w *worker) steps(s *snapshot, i int32, ev *event.Event) (uint8, error) {
	var mask uint8
	for k, st := range s.rules[i].Sequence.Steps {
		if d := s.steps[i][k]; d != nil {
			if d(ev, w.env.Lists) {
				mask |= 1 << k
			}
			continue
		}
		out, err := w.run(st.When.Program, w.env)
		if err != nil {
			return 0, fmt.Errorf("step %s: %w", st.Name, err)
		}
		if ok, _ := out.(bool); ok {
			mask |= 1 << k
		}
	}
	return mask, nil
}

// match runs the condition of rule i on ev.
func (w *worker) match(s *snapshot, ev *event.Event, i int32) (bool, error) {
	if d := s.direct[i]; d != nil {
		return d(ev, w.env.Lists), nil
	}
	out, err := w.runFor(s, ev, s.when[i])
	if err != nil {
		return false, err
	}
	ok, _ := out.(bool)
	return ok, nil
}

// runFor runs p on ev, which is in w.env, boxing the event fields it reads
// from slots that no earlier program filled for ev.
func (w *worker) runFor(s *snapshot, ev *event.Event, p program) (any, error) {
	if !p.fast {
		return w.run(p.prog, w.env)
	}
	if missing := p.need &^ w.filled; missing != 0 {
		w.fill(&s.slots, ev, missing)
	}
	return w.run(p.prog, &w.fast)
}

// run runs a program, containing panics: expr recovers its own, but a
// helper function or a bug must not take the process down either.
func (w *worker) run(p *vm.Program, env any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			w.vm = vm.VM{MemoryBudget: MemoryBudget}
		}
	}()
	return w.vm.Run(p, env)
}

// Result is what processing one event gave.
type Result struct {
	Matches []Match
	Alerts  []*alerter.Alert
	// Suppressed are the ids of the rules whose match was suppressed.
	Suppressed []string
	Errors     []RuleError
	// Deadlines are the deadlines of absences and quiet groups that are to
	// be kept, durably, until their time comes, and then handed to Fire;
	// Cancelled are those no longer needed, which may be dropped (Fire
	// ignores a deadline that is no longer its group's). An engine made
	// WithEventClock keeps them itself.
	Deadlines []Deadline
	Cancelled []Deadline
	// Escalations are the group alerts sent again by an escalate: step
	// that a suppressed match took (docs/rules.md, Escalations): alerts
	// with Escalation set, to be sent unless their group was acknowledged
	// or resolved. Their matches are in Suppressed too.
	Escalations []*alerter.Alert
	// Resolves are the groups whose resolve.when the event met
	// (docs/rules.md, Resolving), to be resolved by "rule". Their dedup
	// windows have ended: a later match opens a new alert.
	Resolves []Resolve
	// Digests are the digests of groups whose digest period ended
	// (docs/rules.md, Digests): alerts with Digest set, to be sent to the
	// targets of the group's alerts.
	Digests []*alerter.Alert
}

// Merge adds o's matches, alerts, suppressions, errors, deadlines,
// escalations and resolves to r's: the result of applying a plan in parts
// (Plan.Part) is the merge of the parts' results. Every field of Result
// is merged here.
func (r *Result) Merge(o Result) {
	r.Matches = append(r.Matches, o.Matches...)
	r.Alerts = append(r.Alerts, o.Alerts...)
	r.Suppressed = append(r.Suppressed, o.Suppressed...)
	r.Errors = append(r.Errors, o.Errors...)
	r.Deadlines = append(r.Deadlines, o.Deadlines...)
	r.Cancelled = append(r.Cancelled, o.Cancelled...)
	r.Escalations = append(r.Escalations, o.Escalations...)
	r.Resolves = append(r.Resolves, o.Resolves...)
	r.Digests = append(r.Digests, o.Digests...)
}

// Process evaluates ev and applies every match to its group's state,
// returning the alerts that fire. An event without a time is given the
// current time, since windows are measured in event time.
func (e *Engine) Process(ctx context.Context, ev *event.Event) (Result, error) {
	return e.ProcessWithLists(ctx, ev, nil)
}

// ProcessWithLists is Process with the rule set's lists replaced (rule
// tests use it).
//
// WithEventClock, the deadlines due before the event's time fire first,
// and their alerts lead the result.
func (e *Engine) ProcessWithLists(ctx context.Context, ev *event.Event, lists map[string][]string) (Result, error) {
	if e.clock == nil {
		return e.Apply(ctx, e.Plan(ctx, ev, lists))
	}
	if ev.Time.IsZero() {
		ev.Time = e.now().UTC()
	}
	fired, err := e.advance(ctx, ev.Time.UnixNano(), false)
	if err != nil {
		return fired, err
	}
	res, err := e.Apply(ctx, e.Plan(ctx, ev, lists))
	fired.Matches, fired.Deadlines, fired.Cancelled = res.Matches, res.Deadlines, res.Cancelled
	fired.add(res)
	return fired, err
}

// Plan is an event evaluated against the rules, before the stateful stage:
// which rules matched it, and their groups. A caller that must know an
// event's groups before applying it (to keep each group's events in
// order) plans first and applies later, and the event is evaluated once.
type Plan struct {
	s     *snapshot
	ev    *event.Event
	lists map[string][]string
	// Matches are the rules that matched, with their group values.
	Matches []Match
	// Resolves are the groups whose resolve.when the event met.
	Resolves []Resolve
	// Errors are the rules that failed on the event.
	Errors []RuleError
	// Ref is where the caller keeps the event (a stream sequence), 0 if
	// nowhere: an absence or a quiet group remembers it with the event,
	// and Fire hands it to its Lookup to find the event again.
	Ref uint64
}

// Plan evaluates ev against the current rules (lists, if not nil, replace
// the rule set's). An event without a time is given the current time.
// ctx's end stops the rules still running, which then fail.
func (e *Engine) Plan(ctx context.Context, ev *event.Event, lists map[string][]string) *Plan {
	s := e.snap.Load()
	if ev.Time.IsZero() {
		ev.Time = e.now().UTC()
	}
	p := &Plan{s: s, ev: ev, lists: lists}
	p.Matches, p.Resolves, p.Errors = e.evaluate(ctx, s, ev, lists)
	return p
}

// Part returns a plan of the same event, rule set and lists with only the
// given matches and resolves (taken from p's), and no errors: a caller that
// orders updates per group applies each group's part on its own.
func (p *Plan) Part(matches []Match, resolves []Resolve) *Plan {
	return &Plan{s: p.s, ev: p.ev, lists: p.lists, Matches: matches, Resolves: resolves, Ref: p.Ref}
}

// Apply runs the stateful stage of a plan: each match's group state, and
// the alerts that fire. It uses the rule set the plan was made with, even
// if another was swapped in since.
func (e *Engine) Apply(ctx context.Context, p *Plan) (Result, error) {
	res := Result{Matches: p.Matches, Errors: p.Errors, Resolves: slices.Clone(p.Resolves)}
	var errs []error
	for _, m := range p.Matches {
		a, suppressed, err := e.decide(ctx, p, m, &res)
		var rerr RuleError
		switch {
		case errors.As(err, &rerr):
			// A template failed: the alert still goes out, with the error
			// in its text, and the rule's error is reported.
			res.Errors = append(res.Errors, rerr)
			res.Alerts = append(res.Alerts, a)
		case err != nil:
			errs = append(errs, fmt.Errorf("rule %s: %w", m.Rule.ID, err))
		case suppressed:
			res.Suppressed = append(res.Suppressed, m.Rule.ID)
			if a != nil {
				res.Escalations = append(res.Escalations, a)
			}
		case a != nil:
			res.Alerts = append(res.Alerts, a)
		}
	}
	// An event that meets a rule's when and its resolve.when counts as a
	// match of the group as it stood, then resolves it.
	if err := e.endDedup(ctx, p, res.Resolves); err != nil {
		errs = append(errs, err)
	}
	if e.clock != nil {
		e.clock.keep(p, res)
	}
	return res, errors.Join(errs...)
}

// errUnchanged ends a state update that has nothing to write: the store
// returns it as it returns any error of fn, without writing.
var errUnchanged = errors.New("unchanged")

// decide runs the stateful stage for one match.
func (e *Engine) decide(ctx context.Context, pl *Plan, m Match, res *Result) (*alerter.Alert, bool, error) {
	s, ev := pl.s, pl.ev
	// The policy by pointer: a closure holds a policy (over 128 bytes)
	// on the heap, for every match.
	r, st, p := m.Rule, s.stats[m.index], &s.pol[m.index]
	var d decision
	switch {
	case !r.Stateful():
		d = decision{fire: true, count: 1, ids: []string{ev.ID}}
	case r.NewValue != nil:
		var err error
		if d, err = e.decideNew(ctx, pl, m, p, res); err != nil {
			return nil, false, err
		}
	default:
		// What the update decides, in one value the closure writes.
		var out struct {
			d      decision
			hand   int64
			cancel bool
			hands  []timerHand
		}
		t := ev.Time.UnixNano()
		err := e.store.Update(ctx, StateKey(r.ID, m.Group), stateTTL(r, *p), func(g *GroupState) error {
			switch {
			case p.quiet:
				if out.d = decideQuiet(g, *p, t, ev.ID, pl.Ref); out.d.unchanged {
					return errUnchanged
				}
			case p.steps > 0:
				out.d = decideSeq(g, *p, t, ev.ID, m.Steps, pl.Ref)
			default:
				out.d = decide(g, *p, t, ev.ID, m.Tuple)
			}
			out.hand, out.cancel = 0, false
			if r.Deadlined() {
				out.hand, out.cancel = g.handOut(ev.ID)
				if out.hand == 0 && g.SchedBy == ev.ID {
					// Redelivered: the deadline it handed out may not have
					// been kept.
					out.hand = g.SchedAt
				}
			}
			if p.timed() {
				out.hands = g.timers(*p, out.d, Entry{Time: t, ID: ev.ID, Ref: pl.Ref}, e.timerNow(t))
			}
			return nil
		})
		switch {
		case errors.Is(err, errUnchanged):
			return nil, false, nil
		case err != nil:
			return nil, false, fmt.Errorf("update group state: %w", err)
		}
		d = out.d
		if out.hand != 0 {
			res.Deadlines = append(res.Deadlines, Deadline{Rule: r.ID, Group: m.Group, Due: time.Unix(0, out.hand).UTC()})
		}
		if out.cancel {
			res.Cancelled = append(res.Cancelled, Deadline{Rule: r.ID, Group: m.Group})
		}
		res.handTimers(r, m.Group, out.hands)
	}
	if d.suppressed {
		st.Suppressed.Add(1)
		if d.escalation == 0 {
			return nil, true, nil
		}
		return e.escalation(ctx, s, m, ev, d, pl.lists), true, nil
	}
	if !d.fire {
		return nil, false, nil
	}
	return e.alert(ctx, s, m.index, m.Group, ev, ev.ID, ev.Time, d, pl.lists)
}

// alert makes the alert that d fires for rule i of s and its group, on
// the event ev at t; fireID names what fired it (ev's id, or a deadline),
// for the alert id.
func (e *Engine) alert(ctx context.Context, s *snapshot, i int32, group []string, ev *event.Event, fireID string, t time.Time, d decision, lists map[string][]string) (*alerter.Alert, bool, error) {
	r := s.rules[i]
	switch {
	case d.escalation > 0:
		s.stats[i].Escalations.Add(1)
	case d.digest:
		s.stats[i].Digests.Add(1)
	default:
		s.stats[i].Alerts.Add(1)
	}
	dedupKey := DedupKey(r.ID, group)
	// The alert's event carries its raw payload as the original bytes
	// (event.MarshalJSON), so raw is not decoded for it; rules and
	// templates that read event.raw had it decoded before evaluation.
	a := &alerter.Alert{
		ID:         alertID(dedupKey, fireID, t),
		Rule:       r.ID,
		Name:       r.Name,
		Severity:   r.Severity,
		Runbook:    r.Runbook,
		Labels:     r.Labels,
		Tags:       r.Tags,
		Group:      GroupMap(r, group),
		DedupKey:   dedupKey,
		Time:       t,
		FiredAt:    e.now().UTC(),
		Count:      d.count,
		Suppressed: d.suppressedBefore,
		Distinct:   d.distinct,
		Event:      ev,
		EventIDs:   d.ids,
	}
	if a.Labels == nil {
		a.Labels = map[string]string{}
	}
	if a.Tags == nil {
		a.Tags = []string{}
	}
	w := e.getWorker(s, lists)
	w.env.Event = ev
	exprlimit.Begin(w.env.Budget, ctx, e.timeout)
	title, terr := r.Title.Render(w, w.env)
	text, xerr := r.Text.Render(w, w.env)
	e.putWorker(w)
	a.Title, a.Text = strings.TrimSpace(title), strings.TrimSpace(text)
	if err := errors.Join(terr, xerr); err != nil {
		return a, false, s.fail(i, err)
	}
	return a, false, nil
}

// escalation makes the escalation that d, a suppressed match of ev, takes
// (docs/rules.md, Escalations): the group's alert made again on ev, with
// the step's severity, its escalation index, the id of the alert it
// escalates, and an id derived from that one and the step, so that the
// same step of the same alert always has the same id. A template that
// fails leaves its error in the text, as on an alert; the rule's error was
// reported with the alert.
func (e *Engine) escalation(ctx context.Context, s *snapshot, m Match, ev *event.Event, d decision, lists map[string][]string) *alerter.Alert {
	a, _, _ := e.alert(ctx, s, m.index, m.Group, ev, ev.ID, ev.Time, d, lists)
	a.Escalation = d.escalation
	a.Escalates = alertID(a.DedupKey, d.escalates, time.Unix(0, d.escalatedAt).UTC())
	a.ID = alertID(a.DedupKey, fmt.Sprintf("%s\x00escalation %d", a.Escalates, d.escalation), ev.Time)
	if k := d.escalation; k <= len(m.Rule.Escalate) && m.Rule.Escalate[k-1].Severity != "" {
		a.Severity = m.Rule.Escalate[k-1].Severity
	}
	return a
}

// decideNew runs the stateful stage of a new_value rule: the rule's
// learning start, then the group's remembered tuples.
func (e *Engine) decideNew(ctx context.Context, pl *Plan, m Match, p *policy, res *Result) (decision, error) {
	rule, t := m.Rule.ID, pl.ev.Time.UnixNano()
	since, err := e.learningStart(ctx, rule, *p, t)
	if err != nil {
		return decision{}, err
	}
	var out struct {
		d     decision
		hands []timerHand
	}
	err = e.store.Update(ctx, StateKey(rule, m.Group), stateTTL(m.Rule, *p), func(g *GroupState) error {
		out.d = decideNew(g, *p, t, pl.ev.ID, m.Tuple, since)
		if p.timed() {
			out.hands = g.timers(*p, out.d, Entry{Time: t, ID: pl.ev.ID, Ref: pl.Ref}, e.timerNow(t))
		}
		return nil
	})
	if err != nil {
		return decision{}, fmt.Errorf("update group state: %w", err)
	}
	res.handTimers(m.Rule, m.Group, out.hands)
	return out.d, nil
}

// learnedStart is a learning start as read from the store, and when.
type learnedStart struct {
	since int64
	read  time.Time
}

// learningRefresh is how often an engine reads again a learning start it
// would not move, for what other replicas recorded.
const learningRefresh = 10 * time.Second

// learningStart is the learning start of new_value rule rule for an event
// at t, which it records if earlier. Every matching event of every group
// would otherwise write this one key, and a single key takes one write at
// a time. The start only moves back, so an event at or after the start
// last read has nothing to record: once t is past that start plus the
// learning window, learning is over whatever other replicas recorded;
// before that, the start is read again every learningRefresh, so that an
// earlier start another replica recorded (events out of order) counts
// within seconds. One engine alone (replay, rule tests) is exact.
func (e *Engine) learningStart(ctx context.Context, rule string, p policy, t int64) (int64, error) {
	if v, ok := e.learned.Load(rule); ok {
		l := v.(learnedStart)
		if t >= l.since+p.learning || (t >= l.since && e.now().Sub(l.read) < learningRefresh) {
			return l.since, nil
		}
	}
	var since int64
	// The learning start is kept for good (ttl 0), one key per new_value
	// rule id: once it expired, learning would start again. A removed
	// rule's key stays, so a rule added back under its id does not learn
	// again.
	err := e.store.Update(ctx, LearningKey(rule), 0, func(g *GroupState) error {
		since = g.learn(t)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("update learning start: %w", err)
	}
	e.learned.Store(rule, learnedStart{since: since, read: e.now()})
	return since, nil
}

// Run implements rules.Runner.
func (w *worker) Run(p *vm.Program, env any) (any, error) { return w.run(p, w.env) }

func (e *Engine) loadRaw(ev *event.Event) {
	if err := ev.LoadRaw(); err != nil {
		e.log.Warn("decode event.raw", "event", ev.ID, "err", err)
	}
}
