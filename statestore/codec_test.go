package statestore

import (
	"errors"
	"math"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/engine"
)

func TestCodecRoundTrip(t *testing.T) {
	const t0 = 1_715_681_280_000_000_000
	states := []engine.GroupState{
		{Alerted: true, LastAlert: 1715680805120000000, Expires: 1715682605120000000, Fired: []string{"e1", "e2"}},
		{},
		{Alerted: true, LastAlert: t0, Suppressed: 3, Expires: t0 + 30*60e9},
		{Window: []engine.Entry{{Time: t0 - 5e9, ID: "a"}, {Time: t0, ID: ""}, {Time: t0 - 9e9, ID: "out-of-order"}}, Expires: t0 + 600e9},
		{LastAlert: math.MinInt64, Expires: math.MaxInt64, Suppressed: math.MaxInt64},
		{LastAlert: math.MaxInt64, Expires: math.MinInt64, Suppressed: -1},
		{Alerted: true, LastAlert: t0, Suppressed: 2, FiredSuppressed: 5, Fired: []string{"f"}, Seen: []uint64{0, 1, math.MaxUint64, 0xdeadbeef}},
		// A distinct threshold's window: tuples, one of them empty.
		{Window: []engine.Entry{{Time: t0, ID: "a", Tuple: "ENG"}, {Time: t0 + 1, ID: "b", Tuple: ""}, {Time: t0 + 2, ID: "c", Tuple: "\x1eHR…0123456789abcdef"}},
			Alerted: true, LastAlert: t0 - 1, Fired: []string{"x", "y"}, FiredDistinct: 2, Expires: t0 + 3600e9},
		// A new_value group's remembered tuples, and a rule's learning start.
		{Values: []engine.Value{{Tuple: "10.0.0.1", Last: t0 - 7e9}, {Tuple: "", Last: t0}, {Tuple: "\x1elong…0123456789abcdef", Last: t0}},
			Alerted: true, LastAlert: t0, Fired: []string{"z"}, Seen: []uint64{9}, Expires: t0 + 30*86400e9},
		{Since: t0, Expires: math.MaxInt64},
		// A sequence group's partial chains: none of one step, one of two.
		{Chains: [][]engine.Entry{nil, {{Time: t0 - 9e9, ID: "s1"}, {Time: t0 - 9e9, ID: ""}}, {{Time: t0, ID: "x"}}},
			Alerted: true, LastAlert: t0 - 1, Fired: []string{"a", "b"}, Seen: []uint64{3}, Expires: t0 + 1800e9},
		// An absence's pending deadline, with a chain waiting to take over,
		// and the deadline handed out.
		{Due: t0 + 900e9, Pending: []engine.Entry{{Time: t0, ID: "d1", Ref: 42}, {Time: t0 + 1, ID: "d2", Ref: math.MaxUint64}},
			Next: []engine.Entry{{Time: t0 + 1000e9, ID: "n"}}, SchedAt: t0 + 900e9, SchedBy: "d2", Expires: t0 + 2000e9},
		// A quiet group that fired at its deadline.
		{Alerted: true, LastAlert: t0, Fired: []string{"q"}, FiredDue: t0, FiredRef: 7, Expires: t0 + 3600e9},
		{Due: 1, SchedAt: -1, FiredDue: math.MaxInt64},
		// A group that took escalate: steps 1 and 3, the latest by s.
		{Alerted: true, LastAlert: t0, Suppressed: 5, Fired: []string{"f"}, Escalated: 0b101, EscalatedStep: 3, EscalatedBy: "s", Expires: t0 + 3600e9},
		// A group's lifecycle timers: resolve.after moved on since it was
		// handed out, an escalate: after step armed from the wall clock.
		{Alerted: true, LastAlert: t0, Fired: []string{"f"}, FiredRef: 9, Expires: t0 + 7200e9,
			ResolveAt: engine.Timer{Due: t0 + 7300e9, Sched: t0 + 7200e9}, EscalateAt: engine.Timer{Due: t0 + 99e9, Fired: t0 - 1}, EscalateFrom: t0 + 1},
		{ResolveAt: engine.Timer{Fired: math.MaxInt64}, EscalateAt: engine.Timer{Sched: math.MinInt64 + 1}},
		// A digest period with two examples, one of them no longer stored.
		{Alerted: true, LastAlert: t0, Suppressed: 3, Fired: []string{"f"}, Expires: t0 + 3600e9,
			DigestAt: engine.Timer{Due: t0 + 600e9, Sched: t0 + 600e9, Fired: t0 - 5}, DigestCount: 3, DigestFirst: t0 + 1, DigestLast: t0 + 9e9,
			DigestOf: []engine.Entry{{Time: t0 + 1, ID: "s1", Ref: 12}, {Time: t0 + 2e9, ID: "s2"}}},
		// The digest sent last kept while the next period counts.
		{Alerted: true, LastAlert: t0, Suppressed: 4, Fired: []string{"f"}, Expires: t0 + 3600e9,
			DigestAt: engine.Timer{Due: t0 + 1300e9, Sched: t0 + 1300e9, Fired: t0 + 600e9}, DigestCount: 1, DigestFirst: t0 + 700e9, DigestLast: t0 + 700e9,
			DigestOf: []engine.Entry{{Time: t0 + 700e9, ID: "s4", Ref: 15}},
			Sent:     engine.DigestCounts{Count: 3, First: t0 + 1, Last: t0 + 9e9, Of: []engine.Entry{{Time: t0 + 1, ID: "s1", Ref: 12}, {Time: t0 + 2e9, ID: "s2"}}}},
		{Sent: engine.DigestCounts{Count: 1}},
	}
	for _, st := range states {
		b := encodeState(nil, &st)
		got, err := decodeState(b)
		if err != nil {
			t.Fatalf("%+v: %v", st, err)
		}
		if !equalState(got, st) {
			t.Errorf("round trip: got %+v, want %+v", got, st)
		}
	}
	dedup := states[1]
	j, _ := json.Marshal(dedup)
	t.Logf("typical dedup state: %d bytes binary, %d bytes JSON", len(encodeState(nil, &dedup)), len(j))
}

func TestCodecCorrupt(t *testing.T) {
	good := encodeState(nil, &engine.GroupState{Window: []engine.Entry{{Time: 5, ID: "abc"}}})
	bad := [][]byte{
		nil, {1}, {2, 0, 0, 0, 0, 0}, {'{', '}'},
		good[:len(good)-1],                            // truncated id
		append(good[:len(good):len(good)], 0),         // trailing byte
		{1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, // huge window count
		{1, 0, 0x80},                         // unterminated varint
		{3, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2, 3}, // two fingerprints in 3 bytes
		{4, 0, 0, 0, 0, 1, 0, 1, 'a', 0, 0, 0, 0, 2, 1, 'x', 1, 'y'},   // two tuples for a window of one
		{4, 0, 0, 0, 0, 1, 0, 1, 'a', 0, 0, 0, 0, 1, 5, 'x'},           // truncated tuple
		{5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},                  // three values in 2 bytes
		{5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 4, 'a'},             // truncated value
		{6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0},                  // five chains in 1 byte
		{6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 0, 0},            // chain of three in 2 bytes
		{6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 3, 'a'},       // truncated chain id
		{7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                     // no deadline byte
		{7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 << 5, 0},          // an empty pending chain
		{7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 << 5, 9, 0, 0, 0}, // nine entries in 3 bytes
		{7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 << 3, 4, 'a'},     // truncated SchedBy
		{8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // no escalations byte
		{8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3, 'a'},    // truncated EscalatedBy
		{9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},               // no timers byte
		{9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2},         // a timer missing
		{9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x40},   // digest examples missing
	}
	for _, b := range bad {
		if _, err := decodeState(b); !errors.Is(err, errCorruptState) {
			t.Errorf("decode %x: err = %v, want corrupt", b, err)
		}
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add(encodeState(nil, &engine.GroupState{Alerted: true, LastAlert: 7, Window: []engine.Entry{{Time: 1, ID: "x"}}}))
	f.Add([]byte{1, 0})
	f.Add(encodeState(nil, &engine.GroupState{FiredSuppressed: 3, Seen: []uint64{42, 7}, Fired: []string{"a"}}))
	f.Add(encodeState(nil, &engine.GroupState{FiredDistinct: 2, Window: []engine.Entry{{Time: 1, ID: "x", Tuple: "ENG"}, {Time: 2, ID: "y"}}}))
	f.Add(encodeState(nil, &engine.GroupState{Since: 4, Values: []engine.Value{{Tuple: "a", Last: 1}, {Tuple: "b", Last: 3}}}))
	f.Add(encodeState(nil, &engine.GroupState{Chains: [][]engine.Entry{{{Time: 1, ID: "a"}}, nil, {{Time: 2, ID: "b"}, {Time: 3, ID: "c"}}}}))
	f.Add(encodeState(nil, &engine.GroupState{Due: 9, SchedAt: 9, SchedBy: "a", Pending: []engine.Entry{{Time: 1, ID: "a", Ref: 3}}, Next: []engine.Entry{{Time: 10, ID: "b"}}}))
	f.Add(encodeState(nil, &engine.GroupState{Escalated: 3, EscalatedStep: 2, EscalatedBy: "e"}))
	f.Add(encodeState(nil, &engine.GroupState{ResolveAt: engine.Timer{Due: 5, Sched: 4}, EscalateAt: engine.Timer{Fired: 2}, EscalateFrom: 1}))
	f.Add(encodeState(nil, &engine.GroupState{DigestAt: engine.Timer{Due: 5}, DigestCount: 2, DigestFirst: 1, DigestLast: 3, DigestOf: []engine.Entry{{Time: 1, ID: "a", Ref: 2}}}))
	f.Add(encodeState(nil, &engine.GroupState{DigestAt: engine.Timer{Fired: 5}, Sent: engine.DigestCounts{Count: 2, First: 1, Last: 3, Of: []engine.Entry{{Time: 1, ID: "a", Ref: 2}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		st2, err := decodeState(encodeState(nil, &st))
		if err != nil || !equalState(st, st2) {
			t.Fatalf("re-decode of %x: %+v vs %+v (%v)", b, st, st2, err)
		}
	})
}

// States written by the previous versions still decode.
func TestCodecOlderVersions(t *testing.T) {
	v2 := []byte{2, 1, 14, 6, 0, 0, 1, 2, 'e', '1'} // alerted at 7, suppressed 3, fired e1
	st, err := decodeState(v2)
	if err != nil || !st.Alerted || st.LastAlert != 7 || st.Suppressed != 3 || len(st.Fired) != 1 || st.Fired[0] != "e1" || st.Seen != nil {
		t.Errorf("v2: %+v, %v", st, err)
	}
	// A threshold window of one event (a at 5) as version 3 wrote it,
	// before distinct thresholds: its entry has no tuple.
	v3 := []byte{3, 0, 0, 0, 20, 1, 10, 1, 'a', 0, 0, 0}
	st, err = decodeState(v3)
	want := engine.GroupState{Expires: 10, Window: []engine.Entry{{Time: 5, ID: "a"}}}
	if err != nil || !equalState(st, want) {
		t.Errorf("v3: %+v, %v; want %+v", st, err, want)
	}
	// A distinct window of one event (a at 5, tuple ENG) as version 4
	// wrote it, before new_value.
	v4 := []byte{4, 0, 0, 0, 20, 1, 10, 1, 'a', 0, 0, 0, 0, 1, 3, 'E', 'N', 'G'}
	st, err = decodeState(v4)
	want = engine.GroupState{Expires: 10, Window: []engine.Entry{{Time: 5, ID: "a", Tuple: "ENG"}}}
	if err != nil || !equalState(st, want) {
		t.Errorf("v4: %+v, %v; want %+v", st, err, want)
	}
	// A new_value group remembering a at 5, as version 5 wrote it,
	// before sequences: no partial chains.
	v5 := []byte{5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 10, 1, 'a'}
	st, err = decodeState(v5)
	want = engine.GroupState{Values: []engine.Value{{Tuple: "a", Last: 5}}}
	if err != nil || !equalState(st, want) || st.Chains != nil {
		t.Errorf("v5: %+v, %v; want %+v", st, err, want)
	}
	// A sequence group with a chain of one step (a at 5) as version 6
	// wrote it, before absences: no deadline.
	v6 := []byte{6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 10, 1, 'a'}
	st, err = decodeState(v6)
	want = engine.GroupState{Chains: [][]engine.Entry{{{Time: 5, ID: "a"}}}}
	if err != nil || !equalState(st, want) || st.Due != 0 || st.Pending != nil {
		t.Errorf("v6: %+v, %v; want %+v", st, err, want)
	}
	// A quiet group's deadline at 9 as version 7 wrote it, before
	// escalations: none taken.
	v7 := []byte{7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 18}
	st, err = decodeState(v7)
	want = engine.GroupState{Due: 9}
	if err != nil || !equalState(st, want) {
		t.Errorf("v7: %+v, %v; want %+v", st, err, want)
	}
	// A group that took escalate: step 1 by event s, as version 8 wrote
	// it, before lifecycle timers: none.
	v8 := []byte{8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 's'}
	st, err = decodeState(v8)
	want = engine.GroupState{Escalated: 1, EscalatedStep: 1, EscalatedBy: "s"}
	if err != nil || !equalState(st, want) {
		t.Errorf("v8: %+v, %v; want %+v", st, err, want)
	}
	// A digest period of 2 matches due at 5 as version 9 wrote it, before
	// the digest sent last was kept: none.
	v9 := []byte{9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x21, 0xa, 0x4}
	st, err = decodeState(v9)
	want = engine.GroupState{DigestAt: engine.Timer{Due: 5}, DigestCount: 2}
	if err != nil || !equalState(st, want) {
		t.Errorf("v9: %+v, %v; want %+v", st, err, want)
	}
	v1 := []byte{1, 0, 0, 2, 0, 0}
	if st, err := decodeState(v1); err != nil || st.Suppressed != 1 {
		t.Errorf("v1: %+v, %v", st, err)
	}
}
