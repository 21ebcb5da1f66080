package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// defaultReadyTimeout bounds the wait for the embedded server when the
// caller's context has no deadline: a server that is not up by then has
// failed (bad store dir, port in use), and waiting longer only hides it.
const defaultReadyTimeout = 15 * time.Second

// EmbeddedOptions configure the embedded nats-server.
type EmbeddedOptions struct {
	// StoreDir holds JetStream's files; it is created if missing.
	StoreDir string
	// Listen is the client address, e.g. "127.0.0.1:4222" to let other
	// processes in ("127.0.0.1:0" picks a free port). Empty: no listener at
	// all, only in-process connections.
	Listen string
	// SyncAlways makes JetStream fsync every write, so that accepted data
	// also survives a crash of the machine, not only of the process. It
	// costs several times the write throughput.
	SyncAlways bool
	// ServerName names the server in its logs and cluster; default
	// "alerter".
	ServerName string
	// Token, when set, is required of every client, in-process ones
	// included (Connect gives it). A server that listens must have one:
	// anyone who reaches the port could otherwise read, forge and delete
	// every stream.
	Token string
}

// Embedded is a running in-process nats-server with JetStream.
type Embedded struct {
	srv    *server.Server
	listen bool
	token  string
	log    *slog.Logger
}

// StartEmbedded starts a nats-server with JetStream file storage in
// opt.StoreDir and waits until it accepts connections. The wait is bounded
// by ctx, or by 15s when ctx has no deadline.
func StartEmbedded(ctx context.Context, opt EmbeddedOptions, log *slog.Logger) (*Embedded, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.StoreDir == "" {
		return nil, errors.New("embedded nats: store dir is required")
	}
	if err := os.MkdirAll(opt.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded nats: create store dir: %w", err)
	}
	name := opt.ServerName
	if name == "" {
		name = "alerter"
	}
	so := &server.Options{
		ServerName:    name,
		JetStream:     true,
		StoreDir:      opt.StoreDir,
		SyncAlways:    opt.SyncAlways,
		NoSigs:        true, // signals belong to alerter, not to the library
		Authorization: opt.Token,
		// The streams' byte limits (nats.max_bytes) are the disk budget.
		// Without this the server reserves them against 75% of the disk
		// free when it starts, which shrinks as the streams fill: a store
		// that fit when it was made would fail to load its streams later.
		JetStreamMaxStore: server.JetStreamMaxStoreDefault,
	}
	if opt.Listen == "" {
		so.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(opt.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen address %q: %w", opt.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("embedded nats: listen address %q: bad port", opt.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		if opt.Token == "" {
			return nil, fmt.Errorf("embedded nats: listen address %q: a server that listens needs a token", opt.Listen)
		}
		so.Host, so.Port = host, p
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	slogger := newServerLogger(log.With("component", "nats-server"))
	srv.SetLogger(slogger, log.Enabled(ctx, slog.LevelDebug), false)

	wait := defaultReadyTimeout
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	go srv.Start()
	ready := waitReady(srv, slogger, wait)
	if !ready || !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		switch e := slogger.lastError(); {
		case e != "":
			return nil, fmt.Errorf("embedded nats: start failed: %s", e)
		case ready:
			return nil, fmt.Errorf("embedded nats: JetStream did not start (store dir %s)", opt.StoreDir)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("embedded nats: not ready: %w", ctx.Err())
		}
		return nil, fmt.Errorf("embedded nats: not ready after %s (store dir %s)", wait.Round(time.Millisecond), opt.StoreDir)
	}
	e := &Embedded{srv: srv, listen: !so.DontListen, token: opt.Token, log: log}
	log.Info("embedded nats-server ready", "store_dir", opt.StoreDir, "client_url", e.ClientURL(), "sync_always", opt.SyncAlways, "auth", opt.Token != "")
	return e, nil
}

// waitReady waits for the server in short steps, so that a fatal start
// error (port in use, unusable store) fails at once rather than after the
// whole timeout.
func waitReady(srv *server.Server, l *serverLogger, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		step := min(50*time.Millisecond, time.Until(deadline))
		if srv.ReadyForConnections(max(step, time.Millisecond)) {
			return true
		}
		if l.fatal.Load() || time.Now().After(deadline) {
			return false
		}
	}
}

// Connect opens a client connection to the embedded server. It is always
// in-process (no TCP, even when the server listens), so it is the fastest
// path; it gives the server's token, if any.
func (e *Embedded) Connect(opts ...nats.Option) (*nats.Conn, error) {
	all := []nats.Option{
		nats.Name("alerter"),
		nats.InProcessServer(e.srv),
		nats.MaxReconnects(-1),
	}
	if e.token != "" {
		all = append(all, nats.Token(e.token))
	}
	all = append(all, opts...)
	nc, err := nats.Connect("", all...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

// ClientURL is the URL other processes connect to, or "" when the server
// does not listen.
func (e *Embedded) ClientURL() string {
	if !e.listen {
		return ""
	}
	return e.srv.ClientURL()
}

// Server is the underlying nats-server, for diagnostics.
func (e *Embedded) Server() *server.Server { return e.srv }

// Shutdown stops the server and waits until it has stopped and flushed its
// files.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.log.Info("embedded nats-server stopped")
}

// serverLogger adapts nats-server's printf-style logger to slog. Notices
// go to Debug: they are the server's banner and housekeeping, noise in
// alerter's log where the server is an implementation detail; warnings and
// errors keep their level.
type serverLogger struct {
	log *slog.Logger

	mu    sync.Mutex
	last  string // last error, to explain a failed start
	fatal atomic.Bool
}

func newServerLogger(log *slog.Logger) *serverLogger { return &serverLogger{log: log} }

func (l *serverLogger) Noticef(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.emit(slog.LevelWarn, format, v) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }
func (l *serverLogger) Tracef(format string, v ...any)  { l.emit(slog.LevelDebug-4, format, v) }

// Fatalf does not exit: the embedding process decides what a failed
// server means (StartEmbedded reports it as an error).
func (l *serverLogger) Fatalf(format string, v ...any) {
	l.errorf(format, v)
	l.fatal.Store(true)
}
func (l *serverLogger) Errorf(format string, v ...any) { l.errorf(format, v) }

func (l *serverLogger) errorf(format string, v []any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	l.last = msg
	l.mu.Unlock()
	l.log.Error(msg)
}

func (l *serverLogger) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprintf(format, v...))
}

func (l *serverLogger) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// TokenFileName is the file in the store dir that holds the embedded
// server's generated token (see EmbeddedToken).
const TokenFileName = "alerter-nats.token"

// TokenFile is the path of the embedded server's token file in storeDir.
func TokenFile(storeDir string) string { return filepath.Join(storeDir, TokenFileName) }

// EmbeddedToken returns the token kept in storeDir's token file, creating
// the file (mode 0600, 32 random bytes) when there is none, so that the
// token stays the same across restarts and alerter's other commands (and
// the operator's nats CLI) can read it. A file others could read is made
// private again, since whoever holds the token owns every stream.
func EmbeddedToken(storeDir string) (string, error) {
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return "", fmt.Errorf("embedded nats: create store dir: %w", err)
	}
	path := TokenFile(storeDir)
	tok, err := ReadTokenFile(storeDir)
	if err == nil {
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	tok = hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it meanwhile: theirs is the token.
		return ReadTokenFile(storeDir)
	}
	if err != nil {
		return "", fmt.Errorf("embedded nats: create token file: %w", err)
	}
	_, err = f.WriteString(tok + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("embedded nats: write token file: %w", err)
	}
	return tok, nil
}

// ReadTokenFile reads the token file of storeDir (fs.ErrNotExist when there
// is none), making it private (0600) if it was not.
func ReadTokenFile(storeDir string) (string, error) {
	path := TokenFile(storeDir)
	fi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("embedded nats: token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("embedded nats: token file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("embedded nats: token file %s is readable by others and cannot be made private: %w", path, err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("embedded nats: token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("embedded nats: token file %s is empty; delete it to have a new token made", path)
	}
	return tok, nil
}
