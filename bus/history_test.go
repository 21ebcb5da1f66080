package bus

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestReadEvents(t *testing.T) {
	_, js := newEnv(t)
	s, err := EnsureStreams(t.Context(), js, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var stored []time.Time // when each of e1..e10 was stored
	for i := 1; i <= 10; i++ {
		if _, err := s.PublishEvent(t.Context(), "src", fmt.Sprintf("e%d", i), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		m, err := s.Events.GetLastMsgForSubject(t.Context(), EventsSubject+".src")
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, m.Time)
		time.Sleep(2 * time.Millisecond) // distinct store times
	}
	ids := func(read func(fn func(jetstream.Msg) error) error) string {
		t.Helper()
		var got []string
		if err := read(func(m jetstream.Msg) error {
			got = append(got, m.Headers().Get("Nats-Msg-Id"))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, " ")
	}
	for _, tt := range []struct {
		name      string
		since     time.Time
		newest    int
		want      string
		truncated bool
	}{
		{"all", time.Time{}, 0, "e1 e2 e3 e4 e5 e6 e7 e8 e9 e10", false},
		{"since e8", stored[7], 0, "e8 e9 e10", false},
		{"the newest 4 of all", time.Time{}, 4, "e7 e8 e9 e10", true},
		{"the newest 4 since e8: all of them", stored[7], 4, "e8 e9 e10", false},
		{"the newest 3 since e8: all of them", stored[7], 3, "e8 e9 e10", false},
		{"the newest 2 since e8", stored[7], 2, "e9 e10", true},
		{"more than stored", time.Time{}, 50, "e1 e2 e3 e4 e5 e6 e7 e8 e9 e10", false},
		{"since after the last", stored[9].Add(time.Second), 4, "", false},
	} {
		var truncated bool
		got := ids(func(fn func(jetstream.Msg) error) error {
			if tt.newest == 0 {
				return ReadEvents(t.Context(), js, tt.since, fn)
			}
			var err error
			truncated, err = ReadNewestEvents(t.Context(), js, tt.since, tt.newest, fn)
			return err
		})
		if got != tt.want || truncated != tt.truncated {
			t.Errorf("%s: %q (truncated %v), want %q (%v)", tt.name, got, truncated, tt.want, tt.truncated)
		}
	}
	if got := ids(func(fn func(jetstream.Msg) error) error {
		return ReadEvents(t.Context(), js, time.Time{}, func(m jetstream.Msg) error {
			if err := fn(m); err != nil {
				return err
			}
			if m.Headers().Get("Nats-Msg-Id") == "e3" {
				return ErrStop
			}
			return nil
		})
	}); got != "e1 e2 e3" {
		t.Errorf("stopped at e3: %q", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := ReadEvents(ctx, js, time.Time{}, func(jetstream.Msg) error { return nil }); err == nil {
		t.Error("a cancelled read did not say so")
	}
}
