package email

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

// testCA is a self-signed certificate for 127.0.0.1 and localhost, made
// once per test binary.
var testCA = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "alerter test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
})

// clientTLS trusts the test certificate.
func clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return &tls.Config{RootCAs: pool}
}

// received is one message the server accepted.
type received struct {
	from string
	to   []string
	data []byte
}

// smtpServer is a real SMTP server (emersion/go-smtp) on a loopback port,
// with STARTTLS or implicit TLS and AUTH PLAIN, whose answers the test
// sets.
type smtpServer struct {
	t        *testing.T
	mode     string // TLSStartTLS, TLSImplicit, TLSNone
	user     string
	pass     string
	addr     string
	port     int
	ln       net.Listener // the TCP listener
	srv      *smtp.Server
	mu       sync.Mutex
	state    notifiertest.Mode
	reject   int             // reply of Reject: 535 (at AUTH) or 550 (at RCPT)
	greeting string          // a raw greeting that replaces the server's ("421 ..."), then close
	mailErr  *smtp.SMTPError // the reply to MAIL FROM, nil: accept
	rcptErr  *smtp.SMTPError // the reply to RCPT TO, nil: accept
	dataErr  *smtp.SMTPError // the reply after DATA, nil: accept
	msgs     []received
	held     []net.Conn
	echoAuth bool     // refuse AUTH, quoting the AUTH PLAIN blob it got (as some servers log and answer)
	authed   []string // the usernames that authenticated
	tlsAuth  []bool   // whether each AUTH came over TLS
	closed   bool
}

// newSMTPServer starts a server in the given TLS mode; with user set, it
// offers AUTH PLAIN (only over TLS, except in mode none) and requires it.
func newSMTPServer(t *testing.T, mode, user, pass string) *smtpServer {
	t.Helper()
	cert, err := testCA()
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{t: t, mode: mode, user: user, pass: pass, reject: 550}
	if user != "" {
		s.reject = 535
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.addr = ln.Addr().String()
	s.port = ln.Addr().(*net.TCPAddr).Port

	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.AllowInsecureAuth = mode == TLSNone
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	var l net.Listener = &gate{Listener: ln, s: s}
	switch mode {
	case TLSStartTLS:
		s.srv.TLSConfig = tc
	case TLSImplicit:
		l = tls.NewListener(l, tc)
	}
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(s.close)
	return s
}

func (s *smtpServer) close() {
	s.mu.Lock()
	s.closed = true
	held := s.held
	s.held = nil
	s.mu.Unlock()
	for _, c := range held {
		_ = c.Close()
	}
	_ = s.srv.Close()
}

// set makes the server answer the following sends in mode m.
func (s *smtpServer) set(m notifiertest.Mode) {
	s.mu.Lock()
	s.state = m
	s.mu.Unlock()
	if m == notifiertest.Down {
		// Connection refused from now on.
		_ = s.ln.Close()
	}
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// notifierConfig is an email notifier config aimed at the server.
func (s *smtpServer) notifierConfig() config.Notifier {
	return config.Notifier{
		Name: "email-test", Type: Type, Settings: Config{Host: "127.0.0.1", Port: s.port, TLS: s.mode,
			Username: s.user, Password: config.Secret(s.pass),
			From: "Alerter <alerter@example.com>", To: []string{"secops@example.com", "Oncall Team <oncall@example.org>"}},
	}
}

// gate is the TCP listener in front of go-smtp: in mode Hang it accepts a
// connection and never answers; with a raw greeting set, it sends that and
// hangs up.
type gate struct {
	net.Listener
	s *smtpServer
}

func (g *gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.s.mu.Lock()
		hang, greeting, closed := g.s.state == notifiertest.Hang, g.s.greeting, g.s.closed
		if hang && !closed {
			g.s.held = append(g.s.held, c)
		}
		g.s.mu.Unlock()
		switch {
		case closed:
			_ = c.Close()
		case hang:
		case greeting != "":
			_, _ = io.WriteString(c, greeting+"\r\n")
			_ = c.Close()
		default:
			return c, nil
		}
	}
}

type session struct {
	s      *smtpServer
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s := ss.s
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.echoAuth {
			blob := base64.StdEncoding.EncodeToString([]byte(identity + "\x00" + username + "\x00" + password))
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed for " + blob}
		}
		if (s.state == notifiertest.Reject && s.reject == 535) || username != s.user || password != s.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		_, isTLS := ss.conn.TLSConnectionState()
		s.authed = append(s.authed, username)
		s.tlsAuth = append(s.tlsAuth, isTLS)
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	if s.state == notifiertest.RateLimit {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many messages, try again later"}
	}
	if s.mailErr != nil {
		return s.mailErr
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == notifiertest.Reject && s.reject == 550 {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Mailbox unavailable"}
	}
	if s.rcptErr != nil {
		return s.rcptErr
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dataErr != nil {
		return s.dataErr
	}
	s.msgs = append(s.msgs, received{from: ss.from, to: ss.to, data: b.Bytes()})
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }
