// Package email is the notifier that mails an alert: a multipart/alternative
// message (plain text and HTML) sent over SMTP with STARTTLS, implicit TLS
// or none, and SMTP AUTH when a username is configured.
//
// A notification is one SMTP transaction on its own connection. Its
// Message-ID is derived from the alert id, so that a message sent twice (a
// retry after a lost reply) is recognisable as the same one, and its
// References header from the dedup key, so that mail clients thread the
// re-fires of one group. A resolve notification is "[RESOLVED] title" in
// reply to its alert's message (In-Reply-To, References); an
// acknowledgement notification sends nothing (docs/notifications.md, The
// alert lifecycle).
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Options are what the notifier takes from outside its config entry.
type Options struct {
	// ExternalURL is server.external_url; when set, the message links to
	// <ExternalURL>/alerts/<id>.
	ExternalURL string
	// Logger receives debug lines about deliveries; nil: discard. It never
	// receives a credential.
	Logger *slog.Logger
	// TLSConfig is the base of the client's TLS configuration (custom
	// roots, client certificates); nil: the system roots. ServerName
	// defaults to the configured host and MinVersion to TLS 1.2.
	TLSConfig *tls.Config
}

// Notifier sends alerts by e-mail. It is safe for concurrent use.
type Notifier struct {
	host      string
	port      int
	mode      string // TLSStartTLS, TLSImplicit or TLSNone
	username  string
	password  config.Secret
	from      string
	to        []string
	timeout   time.Duration
	tlsConfig *tls.Config
	extURL    string
	domain    string // right-hand side of generated Message-IDs
	log       *slog.Logger
	now       func() time.Time
}

// New returns an email notifier for the config entry cfg (of type email),
// whose keys config has checked.
func New(cfg config.Notifier, opt Options) (*Notifier, error) {
	sc := settings(cfg)
	n := &Notifier{
		host:     sc.Host,
		port:     sc.Port,
		mode:     sc.TLS,
		username: sc.Username,
		password: sc.Password,
		from:     sc.From,
		to:       append([]string(nil), sc.To...),
		timeout:  time.Duration(cfg.Timeout),
		extURL:   strings.TrimRight(opt.ExternalURL, "/"),
		log:      opt.Logger,
		now:      time.Now,
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.mode == "" {
		n.mode = TLSStartTLS
	}
	if n.timeout <= 0 {
		n.timeout = config.DefaultNotifierTimeout
	}
	if n.port == 0 {
		n.port = defaultPort(n.mode)
	}
	from, err := mail.ParseAddress(n.from)
	if err != nil {
		return nil, fmt.Errorf("email: from %q: %w", n.from, err)
	}
	n.domain = msgIDDomain(from.Address)

	tc := &tls.Config{}
	if opt.TLSConfig != nil {
		tc = opt.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = n.host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	n.tlsConfig = tc
	return n, nil
}

// Notify mails the alert to the configured recipients. A failure is
// classified: 4xx replies, timeouts and network errors are retryable; 5xx
// replies and TLS or authentication set-up failures are permanent.
func (n *Notifier) Notify(ctx context.Context, a *alerter.Alert) error {
	if a == nil {
		return notifiers.Permanent(errors.New("email: no alert"))
	}
	if a.Acknowledges != "" {
		// A mail per acknowledgement would be noise in every
		// recipient's inbox; the alert's page shows who is on it.
		return nil
	}
	if err := ctx.Err(); err != nil {
		return notifiers.Retry(fmt.Errorf("email: %w", err), 0)
	}
	msg, err := n.message(a, n.now())
	if err != nil {
		return notifiers.Permanent(fmt.Errorf("email: alert %s: %w", a.ID, err))
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	c, err := n.client(ctx)
	if err != nil {
		return notifiers.Permanent(n.redact(fmt.Errorf("email: %w", err)))
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if err != nil && msg.IsDelivered() {
		// The server took the message; only QUIT or the close failed.
		// Sending again would mail it twice.
		n.log.LogAttrs(ctx, slog.LevelWarn, "email delivered, but closing the SMTP session failed",
			slog.String("alert", a.ID), slog.String("server", n.addr()), slog.String("error", n.redact(err).Error()))
		err = nil
	}
	if err != nil {
		err = n.classify(ctx, err)
		n.log.LogAttrs(ctx, slog.LevelDebug, "email not sent",
			slog.String("alert", a.ID), slog.String("server", n.addr()), slog.String("error", err.Error()))
		return err
	}
	n.log.LogAttrs(ctx, slog.LevelDebug, "email sent",
		slog.String("alert", a.ID), slog.String("rule", a.Rule), slog.String("server", n.addr()),
		slog.Int("recipients", len(n.to)), slog.String("response", notifiers.SMTPAuth(n.username, n.password.Value()).Scrub(oneLine(msg.ServerResponse(), 200))))
	return nil
}

func (n *Notifier) addr() string { return net.JoinHostPort(n.host, strconv.Itoa(n.port)) }

// client is a go-mail client for one send. A fresh one per send, because
// its dial function closes the connection when ctx ends: go-mail bounds
// the conversation after the dial only by its own deadlines, not by ctx.
func (n *Notifier) client(ctx context.Context) (*gomail.Client, error) {
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if n.mode == TLSImplicit {
			// A *tls.Conn, unwrapped, so that go-mail's SMTP client sees
			// the session as encrypted (PLAIN and LOGIN require it).
			conn, err = (&tls.Dialer{NetDialer: d, Config: n.tlsConfig}).DialContext(dctx, network, addr)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		// Closing the connection unblocks whatever go-mail waits for (the
		// greeting, a reply). The context ends at the latest when Notify
		// returns, after QUIT, when a second Close is harmless.
		context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(n.port),
		gomail.WithTimeout(n.timeout),
		gomail.WithTLSConfig(n.tlsConfig),
		gomail.WithDialContextFunc(dial),
	}
	switch n.mode {
	case TLSStartTLS:
		// Required, not opportunistic: a server (or a man in the middle)
		// that does not offer STARTTLS gets nothing.
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if n.username != "" {
		// PLAIN, else LOGIN, whichever the server offers (go-mail refuses
		// both on an unencrypted session except to localhost); neither
		// offered: go-mail picks among the others it supports.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(n.username),
			gomail.WithPassword(n.password.Value()))
	}
	return gomail.NewClient(n.host, opts...)
}

// classify wraps a failed send as retryable or permanent.
func (n *Notifier) classify(ctx context.Context, err error) error {
	wrapped := n.redact(fmt.Errorf("email: %s: %w", n.addr(), err))
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(dl) {
		// go-mail's own deadline (the same timeout) fired just before
		// the context's timer did.
		cerr = context.DeadlineExceeded
	}
	if cerr != nil {
		// Cancelled by the caller, or past the attempt's timeout: the
		// failure (a closed connection) is the consequence, not the cause.
		return notifiers.Retry(fmt.Errorf("%w: %w", cerr, wrapped), 0)
	}
	if code := smtpCode(err); code != 0 {
		if code >= 500 {
			return notifiers.Permanent(wrapped)
		}
		return notifiers.Retry(wrapped, 0)
	}
	if permanentSetup(err) {
		return notifiers.Permanent(wrapped)
	}
	// Connection refused or reset, timeouts, a server gone mid-session.
	return notifiers.Retry(wrapped, 0)
}

// smtpCode is the SMTP reply code behind err, 0 if there is none. A
// failed MAIL, RCPT or DATA comes as a go-mail SendError (which does not
// unwrap to the reply); the greeting, EHLO, STARTTLS and AUTH come as the
// reply itself. SendError first: when both are there, the reply is the
// QUIT's, after the transaction failed.
func smtpCode(err error) int {
	var se *gomail.SendError
	if errors.As(err, &se) {
		if c := se.ErrorCode(); c >= 400 && c < 600 {
			return c
		}
		return 0
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 400 && te.Code < 600 {
		return te.Code
	}
	return 0
}

// permanentSetup tells the failures that trying again cannot fix: an
// untrusted or mismatched certificate, a port that does not speak TLS, a
// server without STARTTLS (required), no usable authentication mechanism.
func permanentSetup(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		rhe tls.RecordHeaderError
		ae  tls.AlertError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci),
		errors.As(err, &rhe), errors.As(err, &ae):
		return true
	case errors.Is(err, gosmtp.ErrUnencrypted), errors.Is(err, gosmtp.ErrWrongHostname),
		errors.Is(err, gomail.ErrPlainAuthNotSupported), errors.Is(err, gomail.ErrLoginAuthNotSupported),
		errors.Is(err, gomail.ErrNoSupportedAuthDiscovered):
		return true
	}
	// go-mail reports these two as plain strings.
	s := err.Error()
	return strings.Contains(s, "does not support STARTTLS") || strings.Contains(s, "does not support SMTP AUTH")
}

// redact keeps the password out of err's text, in any encoding (a server
// may echo what it was sent: AUTH PLAIN's base64 blob), while err still
// unwraps to its causes.
func (n *Notifier) redact(err error) error {
	return notifiers.SMTPAuth(n.username, n.password.Value()).Redact(err)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
