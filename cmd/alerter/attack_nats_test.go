package main

// Attacks on alerter's NATS: the embedded server's port, when it listens.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alerter/alerter/bus"
	"github.com/alerter/alerter/internal/natscluster"
)

// An anonymous client that reaches the embedded NATS port could read every
// stream, forge events and alerts, write silences and delete the streams:
// the listening server requires a token, generated into the store dir
// (mode 0600) when none is configured, which replay --since uses.
func TestAttackNATSPortNeedsToken(t *testing.T) {
	natsAddr := fmt.Sprintf("127.0.0.1:%d", natscluster.FreePort(t))
	tg := startTarget(t, targetConfig{nats: fmt.Sprintf("listen: %q", natsAddr)})
	for _, body := range crashEvents(2) {
		if code, answer := tg.do(request{method: "POST", path: "/webhooks/hook", body: []byte(body)}); code != 202 {
			t.Fatalf("POST an event: %d %s", code, answer)
		}
	}

	url := "nats://" + natsAddr
	for name, opts := range map[string][]nats.Option{
		"anonymous":   nil,
		"wrong token": {nats.Token("guess")},
		"user":        {nats.UserInfo("alerter", "alerter")},
	} {
		nc, err := nats.Connect(url, append(opts, nats.Timeout(5*time.Second))...)
		if err == nil {
			// Not refused: show what it could do.
			_, perr := nc.Request("$JS.API.STREAM.NAMES", nil, 2*time.Second)
			nc.Close()
			t.Errorf("%s: connected to the embedded NATS (stream names request: %v)", name, perr)
			continue
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: refused with %v, want an authorization violation", name, err)
		}
	}

	file := filepath.Join(tg.dir, "nats", bus.TokenFileName)
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("no token file: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("token file mode %o, want 600", perm)
	}
	token, err := bus.ReadTokenFile(filepath.Join(tg.dir, "nats"))
	if err != nil || len(token) < 32 {
		t.Fatalf("token %q: %v", token, err)
	}
	if strings.Contains(tg.output(), token) {
		t.Error("the token is in alerter's output")
	}
	nc, err := nats.Connect(url, nats.Token(token), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("the token from the file is refused: %v", err)
	}
	nc.Close()

	// alerter's own command connects with it.
	code, out, errs := runCLI(t, "", "replay", "--since", "1h", "--config", filepath.Join(tg.dir, "alerter.yaml"))
	if code != 0 || !strings.Contains(errs, "replayed 4 events") || strings.Count(out, "\n") != 2 {
		t.Errorf("replay --since against the running alerter: %d\n%s\n%s", code, out, errs)
	}
	tg.mustBeAlive()
}

// A configured token (from the environment) replaces the generated one.
func TestAttackNATSConfiguredToken(t *testing.T) {
	natsAddr := fmt.Sprintf("127.0.0.1:%d", natscluster.FreePort(t))
	const token = "s3cret-nats-token-from-the-environment"
	tg := startTarget(t, targetConfig{
		nats: fmt.Sprintf(`listen: %q, token: "${NATS_TOKEN}"`, natsAddr),
		env:  []string{"NATS_TOKEN=" + token},
	})
	if _, err := os.Stat(filepath.Join(tg.dir, "nats", bus.TokenFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a token file was made though a token is configured: %v", err)
	}
	if nc, err := nats.Connect("nats://"+natsAddr, nats.Timeout(5*time.Second)); err == nil {
		nc.Close()
		t.Error("an anonymous client connected")
	}
	nc, err := nats.Connect("nats://"+natsAddr, nats.Token(token), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("the configured token is refused: %v", err)
	}
	nc.Close()
	if strings.Contains(tg.output(), token) {
		t.Error("the token is in alerter's output")
	}
	tg.mustBeAlive()
}
