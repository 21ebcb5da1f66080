package bus

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFindEvents(t *testing.T) {
	_, js := newEnv(t)
	s, err := EnsureStreams(t.Context(), js, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var stored []time.Time // when each of e1..e6 was stored
	for i := 1; i <= 6; i++ {
		if _, err := s.PublishEvent(t.Context(), "src", fmt.Sprintf("e%d", i), fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
		m, err := s.Events.GetLastMsgForSubject(t.Context(), EventsSubject+".src")
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, m.Time)
		time.Sleep(2 * time.Millisecond) // distinct store times
	}
	for _, tt := range []struct {
		name       string
		ids        []string
		start, end time.Time
		want       string
	}{
		{"one", []string{"e3"}, time.Time{}, time.Time{}, "e3"},
		{"several, in any order", []string{"e5", "e2"}, time.Time{}, time.Time{}, "e2 e5"},
		{"not stored", []string{"e2", "nope"}, time.Time{}, time.Time{}, "e2"},
		{"stored before the start", []string{"e2", "e4"}, stored[2], time.Time{}, "e4"},
		{"stored after the end", []string{"e2", "e4"}, time.Time{}, stored[2], "e2"},
		{"within the range", []string{"e1", "e3", "e6"}, stored[1], stored[4], "e3"},
		{"an id twice", []string{"e1", "e1"}, time.Time{}, time.Time{}, "e1"},
		{"none", nil, time.Time{}, time.Time{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			found, err := FindEvents(t.Context(), js, tt.ids, tt.start, tt.end)
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(maps.Keys(found))
			if strings.Join(got, " ") != tt.want {
				t.Errorf("found %v, want %s", got, tt.want)
			}
			for _, id := range got {
				n := strings.TrimPrefix(id, "e")
				if e := found[id]; string(e.Data) != `{"n":`+n+`}` || !e.Stored.Equal(stored[int(n[0]-'1')]) {
					t.Errorf("%s: %s stored %s, want its own data, stored %s", id, e.Data, e.Stored, stored[int(n[0]-'1')])
				}
			}
		})
	}
}
