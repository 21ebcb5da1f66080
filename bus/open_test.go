package bus

import (
	"strings"
	"testing"
)

// Open starts the embedded server, with a token of its own when it
// listens; Attach reaches it through the listener with that token, and
// opens the store itself once the server is gone.
func TestOpenAndAttach(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c, err := Open(ctx, NATS{Embedded: EmbeddedOptions{StoreDir: dir, Listen: "127.0.0.1:0"}}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := ReadTokenFile(dir); err != nil {
		t.Fatalf("no token made for the listening server: %v", err)
	}
	s, err := EnsureStreams(ctx, c.JS, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishEvent(ctx, "src", "e1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	listen := strings.TrimPrefix(c.Embedded.ClientURL(), "nats://")
	events := func(n NATS) (uint64, error) {
		t.Helper()
		a, err := Attach(ctx, n)
		if err != nil {
			return 0, err
		}
		defer a.Close()
		st, err := a.JS.Stream(ctx, EventsStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs, nil
	}
	if n, err := events(NATS{Embedded: EmbeddedOptions{StoreDir: dir, Listen: listen}}); err != nil || n != 1 {
		t.Errorf("attached to the running server: %d events, %v; want 1", n, err)
	}
	_, err = events(NATS{Embedded: EmbeddedOptions{StoreDir: dir, Listen: listen, Token: "wrong"}})
	if err == nil || !strings.Contains(err.Error(), "the token was refused") {
		t.Errorf("attached with a wrong token: err = %v, want the token refused", err)
	}
	c.Close()
	if n, err := events(NATS{Embedded: EmbeddedOptions{StoreDir: dir}}); err != nil || n != 1 {
		t.Errorf("attached to the store: %d events, %v; want 1", n, err)
	}
}
