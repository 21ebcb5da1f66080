package bus

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alerter/alerter/event"
)

func TestEmbeddedDedupAndRestart(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	e := startEmbedded(t, EmbeddedOptions{StoreDir: filepath.Join(dir, "nested", "nats")})
	if e.ClientURL() != "" {
		t.Errorf("ClientURL without listener = %q, want empty", e.ClientURL())
	}
	_, js := connectJS(t, e)
	s, err := EnsureStreams(ctx, js, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}

	dup, err := s.PublishEvent(ctx, "confluence", "ev-1", []byte(`{"a":1}`))
	if err != nil || dup {
		t.Fatalf("first publish: dup=%v err=%v", dup, err)
	}
	dup, err = s.PublishEvent(ctx, "confluence", "ev-1", []byte(`{"a":1}`))
	if err != nil || !dup {
		t.Fatalf("second publish: dup=%v err=%v, want dup", dup, err)
	}
	res, err := s.PublishEvents(ctx, "confluence", []Msg{
		{ID: "ev-2", Data: []byte("2")}, {ID: "ev-1", Data: []byte("1")}, {ID: "ev-3", Data: []byte("3")},
		{ID: "ev-2", Data: []byte("2")}, {ID: "bad\r\nNats-TTL: 1", Data: nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantDup := []bool{false, true, false, true}
	for i, w := range wantDup {
		if res[i].Err != nil || res[i].Dup != w {
			t.Errorf("batch[%d] = %+v, want dup=%v", i, res[i], w)
		}
	}
	if !errors.Is(res[4].Err, errBadMsgID) {
		t.Errorf("id with CRLF: err = %v, want invalid message id", res[4].Err)
	}
	if _, err := s.PublishAlert(ctx, "rule-a", "alert-1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, s.Events, 3)
	wantMsgs(t, s.Alerts, 1)

	e.Shutdown()
	e2 := startEmbedded(t, EmbeddedOptions{StoreDir: filepath.Join(dir, "nested", "nats")})
	_, js2 := connectJS(t, e2)
	// A changed retention updates the existing stream.
	s2, err := EnsureStreams(ctx, js2, StreamOptions{Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	wantMsgs(t, s2.Events, 3)
	wantMsgs(t, s2.Alerts, 1)
	info, err := s2.Events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 24*time.Hour || info.Config.Duplicates != DefaultDuplicates {
		t.Errorf("after update: MaxAge=%s Duplicates=%s", info.Config.MaxAge, info.Config.Duplicates)
	}
	m, err := s2.Events.GetLastMsgForSubject(ctx, "events.confluence")
	if err != nil || string(m.Data) != "3" || m.Header.Get(jetstream.MsgIDHeader) != "ev-3" {
		t.Errorf("last event after restart: %+v, %v", m, err)
	}
	// The dedup window survives the restart too.
	if dup, err := s2.PublishEvent(ctx, "confluence", "ev-2", []byte("2")); err != nil || !dup {
		t.Errorf("publish after restart: dup=%v err=%v, want dup", dup, err)
	}
}

func wantMsgs(t *testing.T, s jetstream.Stream, n uint64) {
	t.Helper()
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != n {
		t.Errorf("%s holds %d messages, want %d", info.Config.Name, info.State.Msgs, n)
	}
}

func TestEmbeddedListen(t *testing.T) {
	e := startEmbedded(t, EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", SyncAlways: true, Token: "t"})
	if !strings.HasPrefix(e.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %q", e.ClientURL())
	}
	if c := e.Server().JetStreamConfig(); c == nil || !c.SyncAlways {
		t.Error("SyncAlways not applied")
	}
	nc, err := Connect(t.Context(), e.ClientURL(), ConnectOptions{Name: "test", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := EnsureStreams(t.Context(), js, StreamOptions{Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if dup, err := s.PublishEvent(t.Context(), "file", "x", nil); err != nil || dup {
		t.Fatalf("publish over TCP: dup=%v err=%v", dup, err)
	}
}

func TestStartEmbeddedBadStoreDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := StartEmbedded(t.Context(), EmbeddedOptions{StoreDir: f}, testLog(t))
	if err == nil || !strings.Contains(err.Error(), "store dir") {
		t.Fatalf("err = %v, want a store dir error", err)
	}
	_, err = StartEmbedded(t.Context(), EmbeddedOptions{StoreDir: t.TempDir(), Listen: "nohost"}, testLog(t))
	if err == nil || !strings.Contains(err.Error(), "listen address") {
		t.Fatalf("err = %v, want a listen address error", err)
	}
}

func TestStartEmbeddedPortInUse(t *testing.T) {
	first := startEmbedded(t, EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Token: "t"})
	addr := strings.TrimPrefix(first.ClientURL(), "nats://")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := StartEmbedded(ctx, EmbeddedOptions{StoreDir: t.TempDir(), Listen: addr, Token: "t"}, testLog(t))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v, want address already in use", err)
	}
	t.Log(err)
}

func TestConnectRedactsSecrets(t *testing.T) {
	o := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		Username: "alerter", Password: "right-pass"}
	srv, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	addr := strings.TrimPrefix(srv.ClientURL(), "nats://")

	nc, err := Connect(t.Context(), srv.ClientURL(), ConnectOptions{User: "alerter", Password: "right-pass"})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()

	cases := []struct {
		url    string
		opt    ConnectOptions
		secret string
	}{
		{srv.ClientURL(), ConnectOptions{User: "alerter", Password: "s3cret-pass"}, "s3cret-pass"},
		{srv.ClientURL(), ConnectOptions{Token: "tok-123456"}, "tok-123456"},
		{"nats://alerter:url-pass-9@" + addr, ConnectOptions{}, "url-pass-9"},
		{"nats://url-token-7@" + addr, ConnectOptions{}, "url-token-7"},
		{"nats://alerter:url-pass-9@127.0.0.1:1", ConnectOptions{}, "url-pass-9"},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		nc, err := Connect(ctx, c.url, c.opt)
		cancel()
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected with a wrong secret", c.secret)
			continue
		}
		if strings.Contains(err.Error(), c.secret) {
			t.Errorf("error leaks the secret: %v", err)
		}
		if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(c.url, ":1") {
			t.Errorf("%s: err = %v, want an authorization error", c.secret, err)
		}
		t.Log(err)
	}
}

func TestCheckpoints(t *testing.T) {
	ctx := t.Context()
	_, js := newEnv(t)
	c, err := NewCheckpoints(ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "poll.confluence"); err != nil || v != nil {
		t.Fatalf("Get of a missing key = %q, %v; want nil, nil", v, err)
	}
	for _, want := range []string{"one", "two"} {
		if err := c.Put(ctx, "poll.confluence", []byte(want)); err != nil {
			t.Fatal(err)
		}
		v, err := c.Get(ctx, "poll.confluence")
		if err != nil || string(v) != want {
			t.Fatalf("Get = %q, %v; want %q", v, err, want)
		}
	}
}

func TestStoreEvents(t *testing.T) {
	ctx := t.Context()
	_, js := newEnv(t)
	s, err := EnsureStreams(ctx, js, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := event.Parse([]byte(`{"id":"a","action":"x"}
{"id":"b","action":"y"}`), event.Options{Source: "hook"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Store(ctx, "hook", events)
	if err != nil || got.Accepted != 2 || got.Duplicates != 0 {
		t.Fatalf("first Store = %+v, %v; want 2 accepted", got, err)
	}
	got, err = s.Store(ctx, "hook", events[1:])
	if err != nil || got.Accepted != 0 || got.Duplicates != 1 {
		t.Fatalf("second Store = %+v, %v; want 1 duplicate", got, err)
	}
	m, err := s.Events.GetLastMsgForSubject(ctx, "events.hook")
	if err != nil {
		t.Fatal(err)
	}
	e, err := event.Decode(m.Data)
	if err != nil || e.ID != "b" || e.Action != "y" || e.Source != "hook" {
		t.Fatalf("stored event = %+v, %v", e, err)
	}
	if _, err := s.Store(ctx, "bad.source", events); err == nil {
		t.Fatal("Store to a source name with a dot succeeded")
	}
}

// The token file is made once, private, and kept across restarts; one made
// readable by others is made private again.
func TestEmbeddedTokenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats")
	if _, err := ReadTokenFile(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no file yet: %v, want not exist", err)
	}
	tok, err := EmbeddedToken(dir)
	if err != nil || len(tok) != 64 {
		t.Fatalf("token %q: %v", tok, err)
	}
	fi, err := os.Stat(TokenFile(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v", err, fi.Mode())
	}
	if err := os.Chmod(TokenFile(dir), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := EmbeddedToken(dir)
	if err != nil || again != tok {
		t.Errorf("second start: %q %v, want the same token", again, err)
	}
	if fi, _ := os.Stat(TokenFile(dir)); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after reading, want 0600", fi.Mode().Perm())
	}
}

// A listening server refuses clients without its token; alerter's own
// in-process connection gives it.
func TestEmbeddedRequiresToken(t *testing.T) {
	if _, err := StartEmbedded(t.Context(), EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"}, nil); err == nil {
		t.Fatal("a listening server without a token started")
	}
	e := startEmbedded(t, EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Token: "tok"})
	if nc, err := nats.Connect(e.ClientURL()); !errors.Is(err, nats.ErrAuthorization) {
		if err == nil {
			nc.Close()
		}
		t.Errorf("anonymous client: %v, want an authorization violation", err)
	}
	nc, err := e.Connect()
	if err != nil {
		t.Fatalf("in-process connection: %v", err)
	}
	nc.Close()
	nc, err = nats.Connect(e.ClientURL(), nats.Token("tok"))
	if err != nil {
		t.Fatalf("client with the token: %v", err)
	}
	nc.Close()
}
