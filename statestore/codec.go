package statestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/alerter/alerter/engine"
)

// The stored form of a GroupState is binary rather than its JSON: a
// typical dedup state takes ~20 bytes instead of ~65, and the state bucket
// holds one of these per live group, which the ≤200 bytes/key memory
// target counts.
//
// Layout (version 1): version byte, flags byte (bit 0: Alerted), then
// zigzag varints: LastAlert, Suppressed, Expires-LastAlert, then the
// window: uvarint count and per entry the time as a delta to the previous
// one (the first to LastAlert) and the id as uvarint length + bytes.
// Deltas keep nanosecond times, which need 9 bytes absolute, to 5-6.
//
// Version 2 appends the ids of the last alert's events: uvarint count, then
// each as uvarint length + bytes. Version 3 appends FiredSuppressed (zigzag
// varint) and the Seen fingerprints: uvarint count, then 8 big-endian bytes
// each (they are hash values, for which varints would be longer). Older
// versions still decode, with the newer fields zero.
//
// Version 4 appends what a distinct threshold keeps (docs/rules.md,
// Distinct counts): FiredDistinct (uvarint), then the window entries'
// tuples: uvarint count, either zero (no entry has one: every other rule)
// or the window's length, then each as uvarint length + bytes.
//
// Version 5 appends what a new_value rule keeps (docs/rules.md, First-seen
// values): Since (zigzag varint), then the remembered values: uvarint
// count, and per value its last-seen time as a delta to the previous one
// (the first to LastAlert; they are in time order, so deltas are short)
// and its tuple as uvarint length + bytes.
//
// Version 6 appends a sequence rule's partial chains (docs/rules.md,
// Sequences): uvarint count of chain slots, then per slot the uvarint
// length of its chain (0: none) and per entry its time as a delta to the
// previous one (the first to LastAlert) and its id as uvarint length +
// bytes.
//
// Version 7 appends a group's deadline (docs/rules.md, Absences and Quiet
// sources): Due, SchedAt and FiredDue as zigzag varint deltas to
// LastAlert, SchedBy as uvarint length + bytes, FiredRef (uvarint), then
// Pending and Next, each as a uvarint count and per entry its time as a
// delta to the previous one (the first to LastAlert), its id as uvarint
// length + bytes and its Ref (uvarint).
//
// Version 8 appends the escalate: steps taken since the last alert
// (docs/rules.md, Escalations): the Escalated mask as one byte, and, if
// it is not zero, EscalatedStep (uvarint) and EscalatedBy as uvarint
// length + bytes. A group that took none pays one byte.
//
// Version 9 appends the lifecycle timers (docs/rules.md, Resolving,
// Escalations and Digests): a uvarint with a bit for each field that is
// not zero, then those fields: the times (ResolveAt's Due, Sched and
// Fired, EscalateAt's, EscalateFrom, DigestAt's, DigestFirst, DigestLast)
// as zigzag varint deltas to LastAlert, DigestCount as a zigzag varint,
// and DigestOf as Pending is. A group without them pays one byte.
//
// Version 10 appends the counts of the digest period sent last (Sent): a
// uvarint with a bit for each field that is not zero, then Count as a zigzag
// varint, First and Last as zigzag varint deltas to LastAlert, and Of as
// Pending is. A group without them pays one byte.
const (
	codecV1  = 1
	codecV2  = 2
	codecV3  = 3
	codecV4  = 4
	codecV5  = 5
	codecV6  = 6
	codecV7  = 7
	codecV8  = 8
	codecV9  = 9
	codecV10 = 10
)

const flagAlerted = 1

var errCorruptState = errors.New("corrupt group state")

func encodeState(dst []byte, st *engine.GroupState) []byte {
	var flags byte
	if st.Alerted {
		flags |= flagAlerted
	}
	dst = append(dst, codecV10, flags)
	dst = binary.AppendVarint(dst, st.LastAlert)
	dst = binary.AppendVarint(dst, st.Suppressed)
	dst = binary.AppendVarint(dst, st.Expires-st.LastAlert)
	dst = binary.AppendUvarint(dst, uint64(len(st.Window)))
	prev := st.LastAlert
	for _, e := range st.Window {
		dst = binary.AppendVarint(dst, e.Time-prev)
		prev = e.Time
		dst = binary.AppendUvarint(dst, uint64(len(e.ID)))
		dst = append(dst, e.ID...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(st.Fired)))
	for _, id := range st.Fired {
		dst = binary.AppendUvarint(dst, uint64(len(id)))
		dst = append(dst, id...)
	}
	dst = binary.AppendVarint(dst, st.FiredSuppressed)
	dst = binary.AppendUvarint(dst, uint64(len(st.Seen)))
	for _, fp := range st.Seen {
		dst = binary.BigEndian.AppendUint64(dst, fp)
	}
	dst = binary.AppendUvarint(dst, uint64(st.FiredDistinct))
	if !slices.ContainsFunc(st.Window, func(e engine.Entry) bool { return e.Tuple != "" }) {
		dst = binary.AppendUvarint(dst, 0)
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(st.Window)))
		for _, e := range st.Window {
			dst = binary.AppendUvarint(dst, uint64(len(e.Tuple)))
			dst = append(dst, e.Tuple...)
		}
	}
	dst = appendValues(dst, st)
	dst = appendChains(dst, st)
	dst = appendDeadline(dst, st)
	dst = appendEscalated(dst, st)
	dst = appendTimers(dst, st)
	return appendSent(dst, st)
}

// appendSent appends version 10's counts of the digest sent last.
func appendSent(dst []byte, st *engine.GroupState) []byte {
	c := &st.Sent
	var present uint64
	for i, set := range []bool{c.Count != 0, c.First != 0, c.Last != 0, len(c.Of) > 0} {
		if set {
			present |= 1 << i
		}
	}
	dst = binary.AppendUvarint(dst, present)
	if c.Count != 0 {
		dst = binary.AppendVarint(dst, c.Count)
	}
	for _, t := range []int64{c.First, c.Last} {
		if t != 0 {
			dst = binary.AppendVarint(dst, t-st.LastAlert)
		}
	}
	if len(c.Of) > 0 {
		dst = appendEntries(dst, c.Of, st.LastAlert)
	}
	return dst
}

// timerFields are version 9's lifecycle timer times, in their order.
func timerFields(st *engine.GroupState) []*int64 {
	return []*int64{&st.ResolveAt.Due, &st.ResolveAt.Sched, &st.ResolveAt.Fired,
		&st.EscalateAt.Due, &st.EscalateAt.Sched, &st.EscalateAt.Fired, &st.EscalateFrom,
		&st.DigestAt.Due, &st.DigestAt.Sched, &st.DigestAt.Fired, &st.DigestFirst, &st.DigestLast}
}

// The bits of version 9's fields that are no timer times.
const (
	bitDigestCount = 12
	bitDigestOf    = 13
)

// appendTimers appends version 9's lifecycle timers.
func appendTimers(dst []byte, st *engine.GroupState) []byte {
	fields := timerFields(st)
	var present uint64
	for i, t := range fields {
		if *t != 0 {
			present |= 1 << i
		}
	}
	if st.DigestCount != 0 {
		present |= 1 << bitDigestCount
	}
	if len(st.DigestOf) > 0 {
		present |= 1 << bitDigestOf
	}
	dst = binary.AppendUvarint(dst, present)
	for _, t := range fields {
		if *t != 0 {
			dst = binary.AppendVarint(dst, *t-st.LastAlert)
		}
	}
	if st.DigestCount != 0 {
		dst = binary.AppendVarint(dst, st.DigestCount)
	}
	if len(st.DigestOf) > 0 {
		dst = appendEntries(dst, st.DigestOf, st.LastAlert)
	}
	return dst
}

// appendEscalated appends version 8's escalate: steps taken.
func appendEscalated(dst []byte, st *engine.GroupState) []byte {
	dst = append(dst, st.Escalated)
	if st.Escalated == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(st.EscalatedStep))
	dst = binary.AppendUvarint(dst, uint64(len(st.EscalatedBy)))
	return append(dst, st.EscalatedBy...)
}

// appendDeadline appends version 7's deadline: a byte with a bit for
// each field present, then those fields; most groups have none, for one
// byte.
func appendDeadline(dst []byte, st *engine.GroupState) []byte {
	times := []int64{st.Due, st.SchedAt, st.FiredDue}
	var present byte
	for i, t := range times {
		if t != 0 {
			present |= 1 << i
		}
	}
	if st.SchedBy != "" {
		present |= 1 << 3
	}
	if st.FiredRef != 0 {
		present |= 1 << 4
	}
	if len(st.Pending) > 0 {
		present |= 1 << 5
	}
	if len(st.Next) > 0 {
		present |= 1 << 6
	}
	dst = append(dst, present)
	for _, t := range times {
		if t != 0 {
			dst = binary.AppendVarint(dst, t-st.LastAlert)
		}
	}
	if st.SchedBy != "" {
		dst = binary.AppendUvarint(dst, uint64(len(st.SchedBy)))
		dst = append(dst, st.SchedBy...)
	}
	if st.FiredRef != 0 {
		dst = binary.AppendUvarint(dst, st.FiredRef)
	}
	for _, c := range [][]engine.Entry{st.Pending, st.Next} {
		if len(c) > 0 {
			dst = appendEntries(dst, c, st.LastAlert)
		}
	}
	return dst
}

// appendEntries appends a count and entries with refs, times as deltas
// from base, as entries reads them.
func appendEntries(dst []byte, c []engine.Entry, base int64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(c)))
	prev := base
	for _, e := range c {
		dst = binary.AppendVarint(dst, e.Time-prev)
		prev = e.Time
		dst = binary.AppendUvarint(dst, uint64(len(e.ID)))
		dst = append(dst, e.ID...)
		dst = binary.AppendUvarint(dst, e.Ref)
	}
	return dst
}

// appendChains appends version 6's partial chains.
func appendChains(dst []byte, st *engine.GroupState) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(st.Chains)))
	for _, c := range st.Chains {
		dst = binary.AppendUvarint(dst, uint64(len(c)))
		prev := st.LastAlert
		for _, e := range c {
			dst = binary.AppendVarint(dst, e.Time-prev)
			prev = e.Time
			dst = binary.AppendUvarint(dst, uint64(len(e.ID)))
			dst = append(dst, e.ID...)
		}
	}
	return dst
}

// appendValues appends version 5's Since and remembered values.
func appendValues(dst []byte, st *engine.GroupState) []byte {
	dst = binary.AppendVarint(dst, st.Since)
	dst = binary.AppendUvarint(dst, uint64(len(st.Values)))
	prev := st.LastAlert
	for _, v := range st.Values {
		dst = binary.AppendVarint(dst, v.Last-prev)
		prev = v.Last
		dst = binary.AppendUvarint(dst, uint64(len(v.Tuple)))
		dst = append(dst, v.Tuple...)
	}
	return dst
}

func decodeState(b []byte) (engine.GroupState, error) {
	var st engine.GroupState
	if len(b) < 2 {
		return st, fmt.Errorf("%w: %d bytes", errCorruptState, len(b))
	}
	if b[0] < codecV1 || b[0] > codecV10 {
		return st, fmt.Errorf("%w: unknown version %d", errCorruptState, b[0])
	}
	st.Alerted = b[1]&flagAlerted != 0
	d := decoder{b: b[2:]}
	st.LastAlert = d.varint()
	st.Suppressed = d.varint()
	st.Expires = st.LastAlert + d.varint()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) { // each entry takes ≥ 2 bytes
		d.err = fmt.Errorf("%w: window of %d entries in %d bytes", errCorruptState, n, len(d.b))
	}
	if d.err == nil && n > 0 {
		st.Window = make([]engine.Entry, n)
		prev := st.LastAlert
		for i := range st.Window {
			prev += d.varint()
			st.Window[i] = engine.Entry{Time: prev, ID: d.str()}
		}
	}
	if b[0] >= codecV2 {
		n := d.uvarint()
		if d.err == nil && n > uint64(len(d.b)) { // each id takes ≥ 1 byte
			d.err = fmt.Errorf("%w: %d fired ids in %d bytes", errCorruptState, n, len(d.b))
		}
		if d.err == nil && n > 0 {
			st.Fired = make([]string, n)
			for i := range st.Fired {
				st.Fired[i] = d.str()
			}
		}
	}
	if b[0] >= codecV3 {
		st.FiredSuppressed = d.varint()
		n := d.uvarint()
		if d.err == nil && n > uint64(len(d.b))/8 {
			d.err = fmt.Errorf("%w: %d fingerprints in %d bytes", errCorruptState, n, len(d.b))
		}
		if d.err == nil && n > 0 {
			st.Seen = make([]uint64, n)
			for i := range st.Seen {
				st.Seen[i] = binary.BigEndian.Uint64(d.b)
				d.b = d.b[8:]
			}
		}
	}
	if b[0] >= codecV4 {
		d.tuples(&st)
	}
	if b[0] >= codecV5 {
		d.values(&st)
	}
	if b[0] >= codecV6 {
		d.chains(&st)
	}
	if b[0] >= codecV7 {
		d.deadline(&st)
	}
	if b[0] >= codecV8 {
		d.escalated(&st)
	}
	if b[0] >= codecV9 {
		d.timers(&st)
	}
	if b[0] >= codecV10 {
		d.sent(&st)
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorruptState, len(d.b))
	}
	if d.err != nil {
		return engine.GroupState{}, d.err
	}
	return st, nil
}

// tuples reads version 4's FiredDistinct and the window's tuples.
func (d *decoder) tuples(st *engine.GroupState) {
	fd := d.uvarint()
	if d.err == nil && fd > math.MaxInt32 {
		d.err = fmt.Errorf("%w: distinct count %d", errCorruptState, fd)
	}
	st.FiredDistinct = int(fd)
	n := d.uvarint()
	if d.err == nil && n != 0 && n != uint64(len(st.Window)) {
		d.err = fmt.Errorf("%w: %d tuples for a window of %d", errCorruptState, n, len(st.Window))
	}
	for i := range int(n) {
		if d.err != nil {
			return
		}
		st.Window[i].Tuple = d.str()
	}
}

// values reads version 5's Since and remembered values.
func (d *decoder) values(st *engine.GroupState) {
	st.Since = d.varint()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b))/2 { // each value takes ≥ 2 bytes
		d.err = fmt.Errorf("%w: %d values in %d bytes", errCorruptState, n, len(d.b))
	}
	if d.err != nil || n == 0 {
		return
	}
	st.Values = make([]engine.Value, n)
	prev := st.LastAlert
	for i := range st.Values {
		prev += d.varint()
		st.Values[i] = engine.Value{Last: prev, Tuple: d.str()}
	}
}

// chains reads version 6's partial chains.
func (d *decoder) chains(st *engine.GroupState) {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) { // each slot takes ≥ 1 byte
		d.err = fmt.Errorf("%w: %d chains in %d bytes", errCorruptState, n, len(d.b))
	}
	if d.err != nil || n == 0 {
		return
	}
	st.Chains = make([][]engine.Entry, n)
	for k := range st.Chains {
		m := d.uvarint()
		if d.err == nil && m > uint64(len(d.b))/2 { // each entry takes ≥ 2 bytes
			d.err = fmt.Errorf("%w: chain of %d entries in %d bytes", errCorruptState, m, len(d.b))
		}
		if d.err != nil {
			return
		}
		if m == 0 {
			continue
		}
		st.Chains[k] = make([]engine.Entry, m)
		prev := st.LastAlert
		for i := range st.Chains[k] {
			prev += d.varint()
			st.Chains[k][i] = engine.Entry{Time: prev, ID: d.str()}
		}
	}
}

// deadline reads version 7's deadline.
func (d *decoder) deadline(st *engine.GroupState) {
	if d.err != nil {
		return
	}
	if len(d.b) == 0 {
		d.err = fmt.Errorf("%w: no deadline", errCorruptState)
		return
	}
	present := d.b[0]
	d.b = d.b[1:]
	for i, t := range []*int64{&st.Due, &st.SchedAt, &st.FiredDue} {
		if present&(1<<i) != 0 {
			*t = st.LastAlert + d.varint()
		}
	}
	if present&(1<<3) != 0 {
		st.SchedBy = d.str()
	}
	if present&(1<<4) != 0 {
		st.FiredRef = d.uvarint()
	}
	if present&(1<<5) != 0 {
		st.Pending = d.entries(st.LastAlert)
	}
	if present&(1<<6) != 0 {
		st.Next = d.entries(st.LastAlert)
	}
}

// escalated reads version 8's escalate: steps taken.
func (d *decoder) escalated(st *engine.GroupState) {
	if d.err != nil {
		return
	}
	if len(d.b) == 0 {
		d.err = fmt.Errorf("%w: no escalations", errCorruptState)
		return
	}
	st.Escalated = d.b[0]
	d.b = d.b[1:]
	if st.Escalated != 0 {
		st.EscalatedStep = int(d.uvarint())
		st.EscalatedBy = d.str()
	}
}

// timers reads version 9's lifecycle timers.
func (d *decoder) timers(st *engine.GroupState) {
	present := d.uvarint()
	if d.err != nil {
		return
	}
	for i, t := range timerFields(st) {
		if present&(1<<i) != 0 {
			*t = st.LastAlert + d.varint()
		}
	}
	if present&(1<<bitDigestCount) != 0 {
		st.DigestCount = d.varint()
	}
	if present&(1<<bitDigestOf) != 0 {
		st.DigestOf = d.entries(st.LastAlert)
	}
}

// sent reads version 10's counts of the digest sent last.
func (d *decoder) sent(st *engine.GroupState) {
	present := d.uvarint()
	if d.err != nil {
		return
	}
	c := &st.Sent
	if present&1 != 0 {
		c.Count = d.varint()
	}
	if present&2 != 0 {
		c.First = st.LastAlert + d.varint()
	}
	if present&4 != 0 {
		c.Last = st.LastAlert + d.varint()
	}
	if present&8 != 0 {
		c.Of = d.entries(st.LastAlert)
	}
}

// entries reads a count and entries with refs, times as deltas from base.
func (d *decoder) entries(base int64) []engine.Entry {
	n := d.uvarint()
	if d.err == nil && (n == 0 || n > uint64(len(d.b))/3) { // each entry takes ≥ 3 bytes
		d.err = fmt.Errorf("%w: %d entries in %d bytes", errCorruptState, n, len(d.b))
	}
	if d.err != nil {
		return nil
	}
	out := make([]engine.Entry, n)
	prev := base
	for i := range out {
		prev += d.varint()
		out[i] = engine.Entry{Time: prev, ID: d.str(), Ref: d.uvarint()}
	}
	return out
}

// decoder reads varints, remembering the first error so that decodeState
// reads straight through and checks once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", errCorruptState)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad uvarint", errCorruptState)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: string of %d bytes in %d", errCorruptState, n, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
