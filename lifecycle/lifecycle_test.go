package lifecycle_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/internal/natstest"
	"github.com/alerter/alerter/lifecycle"
)

var t0 = time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)

// alert is alert id of one group, fired at minute m.
func alert(id string, m int) *alerter.Alert {
	return &alerter.Alert{ID: id, Rule: "r", DedupKey: "r:0123456789abcdef", FiredAt: t0.Add(time.Duration(m) * time.Minute)}
}

// TestTransitions applies acts ("ack a1 @5", "resolve a2 @9") in order and
// checks, after them, where each alert stands ("a1 acknowledged by ann").
func TestTransitions(t *testing.T) {
	alerts := map[string]*alerter.Alert{"a1": alert("a1", 0), "a2": alert("a2", 3), "a3": alert("a3", 20)}
	tests := []struct {
		name string
		acts []string // "ack|resolve ALERT @MINUTE BY" → "changed", "same" or the error
		want []string // "ALERT STATUS [ack BY] [resolved BY]"
	}{
		{"nobody acted: firing", nil,
			[]string{"a1 firing", "a3 firing"}},
		{"an ack covers the group's alerts, earlier and later", []string{"ack a1 @5 ann: changed"},
			[]string{"a1 acknowledged ack ann", "a2 acknowledged ack ann", "a3 acknowledged ack ann"}},
		{"a second ack changes nothing", []string{"ack a1 @5 ann: changed", "ack a2 @6 bob: same"},
			[]string{"a2 acknowledged ack ann"}},
		{"a resolve closes what fired up to it, and a later alert opens the group again", []string{"ack a1 @5 ann: changed", "resolve a2 @10 bob: changed"},
			[]string{"a1 resolved ack ann resolved bob", "a2 resolved ack ann resolved bob", "a3 firing"}},
		{"the reopened group is acknowledged anew", []string{"resolve a1 @10 bob: changed", "ack a3 @25 cid: changed"},
			[]string{"a1 resolved resolved bob", "a3 acknowledged ack cid"}},
		{"a resolved alert is not acknowledged", []string{"resolve a1 @10 bob: changed", "ack a2 @11 ann: the alert is resolved"},
			[]string{"a2 resolved resolved bob"}},
		{"resolving twice changes nothing", []string{"resolve a1 @10 bob: changed", "resolve a2 @11 ann: same"},
			[]string{"a2 resolved resolved bob"}},
		{"a verdict given after the resolve is the resolve's", []string{"resolve a1 @10 bob: changed", "resolve a2 @12 ann/benign: changed"},
			[]string{"a1 resolved resolved bob benign", "a3 firing"}},
		{"a verdict corrected; the same again changes nothing", []string{"resolve a1 @10 bob/benign: changed",
			"resolve a1 @11 ann/false_positive: changed", "resolve a2 @12 cid/false_positive: same"},
			[]string{"a2 resolved resolved bob false_positive"}},
		{"resolved without an ack", []string{"resolve a3 @30 bob: changed"},
			[]string{"a1 resolved resolved bob", "a3 resolved resolved bob"}},
		{"a resolve stamped before the alert (another replica's clock) still covers it", []string{"resolve a3 @19 bob: changed"},
			[]string{"a3 resolved resolved bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st *lifecycle.State
			for _, act := range tt.acts {
				var verb, id, by, want string
				var m int
				if _, err := fmt.Sscanf(strings.Replace(act, ":", "", 1), "%s %s @%d %s", &verb, &id, &m, &by); err != nil {
					t.Fatalf("act %q: %v", act, err)
				}
				_, want, _ = strings.Cut(act, ": ")
				if st == nil {
					st = &lifecycle.State{}
				}
				by, verdict, _ := strings.Cut(by, "/")
				c := lifecycle.Change{By: by, At: t0.Add(time.Duration(m) * time.Minute), Comment: "c", Verdict: lifecycle.Verdict(verdict)}
				var changed bool
				var err error
				if verb == "ack" {
					changed, err = lifecycle.Ack(st, alerts[id], c)
				} else {
					changed = lifecycle.Resolve(st, alerts[id], c)
				}
				got := map[bool]string{true: "changed", false: "same"}[changed]
				if err != nil {
					got = err.Error()
				}
				if got != want {
					t.Errorf("%s: got %q, want %q", act, got, want)
				}
			}
			for _, w := range tt.want {
				id, _, _ := strings.Cut(w, " ")
				v := lifecycle.Of(st, alerts[id])
				got := id + " " + string(v.Status)
				if v.Acked != nil {
					got += " ack " + v.Acked.By
				}
				if v.Resolved != nil {
					got += " resolved " + v.Resolved.By
					if v.Resolved.Verdict != "" {
						got += " " + string(v.Resolved.Verdict)
					}
				}
				if got != w {
					t.Errorf("got %q, want %q", got, w)
				}
			}
		})
	}
}

func TestParseVerdict(t *testing.T) {
	for _, ok := range []string{"", "true_positive", "false_positive", "benign"} {
		if _, err := lifecycle.ParseVerdict(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if _, err := lifecycle.ParseVerdict("maybe"); err == nil || !strings.Contains(err.Error(), "want true_positive, false_positive or benign") {
		t.Errorf("maybe: %v", err)
	}
}

// The history keeps the newest changes, at most MaxHistory.
func TestHistoryBounded(t *testing.T) {
	st := &lifecycle.State{}
	for i := range lifecycle.MaxHistory + 5 {
		a := alert(fmt.Sprint("a", i), 2*i)
		lifecycle.Resolve(st, a, lifecycle.Change{By: "ann", At: a.FiredAt.Add(time.Minute)})
	}
	if n := len(st.History); n != lifecycle.MaxHistory || st.History[n-1].Alert != fmt.Sprint("a", lifecycle.MaxHistory+4) {
		t.Fatalf("%d changes kept, the last of %s", n, st.History[n-1].Alert)
	}
}

// Replicas acting on one group at once: each change is applied once, on
// the state the others left (compare-and-set), and none is lost.
func TestStoreConcurrentUpdates(t *testing.T) {
	env := natstest.Start(t)
	s, err := lifecycle.Open(t.Context(), env.JS, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a := alert("a1", 0)
	if st, err := s.Get(t.Context(), a); err != nil || st != nil {
		t.Fatalf("a group nobody acted on: %+v %v", st, err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := s.Update(t.Context(), a, func(st *lifecycle.State) (bool, error) {
				st.History = append(st.History, lifecycle.Change{By: fmt.Sprint("u", i)})
				return true, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st, err := s.Get(t.Context(), a)
	if err != nil || st == nil || len(st.History) != 8 {
		t.Fatalf("after 8 updates: %+v %v", st, err)
	}
	// An update that changes nothing writes nothing, and fn's error comes back.
	boom := errors.New("boom")
	if _, err := s.Update(t.Context(), a, func(*lifecycle.State) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
}

// A resolve or an acknowledgement notification is a copy of the alert,
// for the targets given, with the act's status fields; the alert itself is
// left as it was.
func TestNotice(t *testing.T) {
	a := alert("a1", 0)
	a.Notify = []string{"pd", "mail"}
	st := &lifecycle.State{}
	lifecycle.Resolve(st, a, lifecycle.Change{By: "ann", At: t0.Add(time.Hour), Verdict: lifecycle.Benign})
	n := lifecycle.Notice(a, lifecycle.Of(st, a), []string{"pd"})
	got := fmt.Sprintf("%s resolves=%s notify=%v %s by %s at %s verdict=%s dedup=%s", n.ID, n.Resolves, n.Notify, n.Status,
		n.ResolvedBy, n.ResolvedAt.Format(time.TimeOnly), n.Verdict, n.DedupKey)
	if want := "a1-resolved resolves=a1 notify=[pd] resolved by ann at 11:00:00 verdict=benign dedup=r:0123456789abcdef"; got != want {
		t.Errorf("notice\n %s\nwant\n %s", got, want)
	}
	if a.ID != "a1" || a.Status != "" || a.Resolves != "" || len(a.Notify) != 2 {
		t.Errorf("the alert was changed: %+v", a)
	}

	// An acknowledgement's notice, and none of a firing alert.
	st = &lifecycle.State{}
	if _, err := lifecycle.Ack(st, a, lifecycle.Change{By: "bob", At: t0.Add(time.Minute), From: []string{"pd"}}); err != nil {
		t.Fatal(err)
	}
	n = lifecycle.Notice(a, lifecycle.Of(st, a), []string{"mail"})
	got = fmt.Sprintf("%s acknowledges=%s resolves=%s notify=%v %s by %s at %s", n.ID, n.Acknowledges, n.Resolves, n.Notify, n.Status,
		n.AcknowledgedBy, n.AcknowledgedAt.Format(time.TimeOnly))
	if want := "a1-acked acknowledges=a1 resolves= notify=[mail] acknowledged by bob at 10:01:00"; got != want {
		t.Errorf("notice\n %s\nwant\n %s", got, want)
	}
	if lifecycle.NoticeOf(n) != "a1" || lifecycle.NoticeOf(a) != "" {
		t.Errorf("NoticeOf: %q of the notice, %q of the alert", lifecycle.NoticeOf(n), lifecycle.NoticeOf(a))
	}
	if n := lifecycle.Notice(a, lifecycle.View{Status: lifecycle.Firing}, []string{"pd"}); n != nil {
		t.Errorf("a firing alert's notice: %+v", n)
	}
}
