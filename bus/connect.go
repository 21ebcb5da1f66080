package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectOptions authenticate and name a connection to an existing NATS
// cluster. At most one of CredsFile, User/Password and Token is used.
type ConnectOptions struct {
	CredsFile string
	User      string
	Password  string
	Token     string
	TLS       *TLSFiles
	// Name shows in the server's connection list; default "alerter".
	Name string
	// Logger receives disconnects, reconnects and asynchronous errors;
	// nil discards them.
	Logger *slog.Logger
}

// TLSFiles are PEM files for TLS to NATS. CA alone verifies the server;
// Cert and Key together add a client certificate.
type TLSFiles struct {
	CA, Cert, Key string
}

// Connect connects to an existing NATS cluster. url may list several
// servers, comma-separated. The first connection must succeed (a wrong URL
// fails at startup, loudly); after that the client reconnects forever, so
// an outage of NATS never ends the process. Errors never contain the
// password or token, also when they were given inside the URL.
func Connect(ctx context.Context, url string, opt ConnectOptions) (*nats.Conn, error) {
	secrets := []string{opt.Password, opt.Token}
	secrets = append(secrets, urlSecrets(url)...)
	fail := func(err error) error {
		return &redactedError{err: fmt.Errorf("connect to nats %s: %w", redactURLs(url), err), secrets: secrets}
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(err)
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name := opt.Name
	if name == "" {
		name = "alerter"
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", redact(err.Error(), secrets))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "server", redactURLs(nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			log.Warn("nats async error", "err", redact(err.Error(), secrets))
		}),
	}
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(max(time.Until(dl), time.Millisecond)))
	}
	switch {
	case opt.CredsFile != "":
		opts = append(opts, nats.UserCredentials(opt.CredsFile))
	case opt.User != "":
		opts = append(opts, nats.UserInfo(opt.User, opt.Password))
	case opt.Token != "":
		opts = append(opts, nats.Token(opt.Token))
	}
	if t := opt.TLS; t != nil {
		if t.CA != "" {
			opts = append(opts, nats.RootCAs(t.CA))
		}
		if (t.Cert == "") != (t.Key == "") {
			return nil, fail(errors.New("tls: cert and key must be given together"))
		}
		if t.Cert != "" {
			opts = append(opts, nats.ClientCert(t.Cert, t.Key))
		}
		if t.CA == "" && t.Cert == "" {
			opts = append(opts, nats.Secure())
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fail(err)
	}
	return nc, nil
}

// redactedError keeps the cause for errors.Is/As but prints it without
// secrets: nats errors can echo the URL, and the URL can carry user:pass.
type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string { return redact(e.err.Error(), e.secrets) }
func (e *redactedError) Unwrap() error { return e.err }

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// urlSecrets are the passwords and tokens written into a server list.
func urlSecrets(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.User == nil {
			continue
		}
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		} else if tok := u.User.Username(); tok != "" {
			// nats://token@host: the user part is the token.
			out = append(out, tok)
		}
	}
	return out
}

// redactURLs hides the credentials of every URL in a server list.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, s := range parts {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			if strings.Contains(s, "@") {
				parts[i] = "[REDACTED URL]"
			}
			continue
		}
		if u.User != nil {
			u.User = url.User("redacted")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
