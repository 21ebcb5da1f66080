package email

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/syncbuf"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	testUser = "alerter-smtp"
	testPass = "SECRET-smtp-pass-7f3e"
)

// logBuffer collects what a notifier logs, safely across goroutines.
type logBuffer struct{ syncbuf.Buffer }

func newNotifier(t *testing.T, cfg config.Notifier, logs io.Writer) *Notifier {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	if cfg.Timeout == 0 {
		// Long, so that a hanging server proves cancellation, not a timeout.
		cfg.Timeout = yamlx.Duration(time.Minute)
	}
	n, err := New(cfg, Options{
		ExternalURL: "https://alerter.example.com/",
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TLSConfig:   clientTLS(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		user, pass string
		reject     int
	}{
		{TLSStartTLS, testUser, testPass, 535},
		{TLSImplicit, testUser, testPass, 550},
		{TLSNone, "", "", 550},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			notifiertest.Run(t, func(t *testing.T) notifiertest.Target {
				s := newSMTPServer(t, tc.mode, tc.user, tc.pass)
				s.reject = tc.reject
				logs := &logBuffer{}
				n := newNotifier(t, s.notifierConfig(), logs)
				return notifiertest.Target{
					Notify:       n.Notify,
					Set:          s.set,
					Received:     func() int { return len(s.messages()) },
					Secrets:      []string{tc.pass},
					Logs:         logs.String,
					NoRetryAfter: true,
				}
			})
		})
	}
}

// parsed is a received message, parsed the way a mail client would.
type parsed struct {
	msg        *mail.Message
	subject    string
	text, html string
	textType   string
	htmlType   string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, data)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject %q: %v", m.Header.Get("Subject"), err)
	}
	p := parsed{msg: m, subject: subject}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		ct := part.Header.Get("Content-Type")
		// Lines end in CRLF on the wire; a bare CR or LF would be a bug.
		if bare := regexp.MustCompile(`\r[^\n]|[^\r]\n|^\n|\r$`); bare.Match(body) {
			t.Errorf("part %q has a bare CR or LF", ct)
		}
		text := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch {
		case strings.HasPrefix(ct, "text/plain"):
			p.text, p.textType = text, ct
		case strings.HasPrefix(ct, "text/html"):
			p.html, p.htmlType = text, ct
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	return p
}

func TestDeliversOverSTARTTLSWithAuth(t *testing.T) {
	s := newSMTPServer(t, TLSStartTLS, testUser, testPass)
	n := newNotifier(t, s.notifierConfig(), nil)
	a := notifiers.Sample(alerter.Critical, time.Date(2024, 5, 14, 10, 8, 0, 12e6, time.UTC))
	if err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	// A re-send of the same alert (a retry after a lost reply).
	if err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	msgs := s.messages()
	if len(msgs) != 2 {
		t.Fatalf("the server received %d messages, want 2", len(msgs))
	}
	s.mu.Lock()
	authed, tlsAuth := slices.Clone(s.authed), slices.Clone(s.tlsAuth)
	s.mu.Unlock()
	if !slices.Equal(authed, []string{testUser, testUser}) || !slices.Equal(tlsAuth, []bool{true, true}) {
		t.Errorf("AUTH: users %q, over TLS %v; want PLAIN as %s after STARTTLS, twice", authed, tlsAuth, testUser)
	}

	rx := msgs[0]
	if rx.from != "alerter@example.com" {
		t.Errorf("MAIL FROM %q", rx.from)
	}
	if want := []string{"secops@example.com", "oncall@example.org"}; !slices.Equal(rx.to, want) {
		t.Errorf("RCPT TO %q, want %q: no one else (the sample's text carries a Bcc: line)", rx.to, want)
	}
	p := parse(t, rx.data)
	h := p.msg.Header
	if want := "[CRITICAL] Ming <Chen> & Co (mchen) weakened Soteri protection"; p.subject != want {
		t.Errorf("subject %q, want %q", p.subject, want)
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "alerter@example.com" || from[0].Name != "Alerter" {
		t.Errorf("From %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "secops@example.com" || to[1].Address != "oncall@example.org" || to[1].Name != "Oncall Team" {
		t.Errorf("To %v (%v)", to, err)
	}
	for _, k := range []string{"Bcc", "Cc"} {
		if v, ok := h[k]; ok {
			t.Errorf("header %s: %q was injected", k, v)
		}
	}
	if id := h.Get("Message-Id"); id != "<alert.01HXV8VQSYBTC29ZQ6YHKQYR13@example.com>" {
		t.Errorf("Message-ID %q, want one derived from the alert id", id)
	}
	if id2 := parse(t, msgs[1].data).msg.Header.Get("Message-Id"); id2 != h.Get("Message-Id") {
		t.Errorf("a re-send has Message-ID %q, the first %q", id2, h.Get("Message-Id"))
	}
	for k, want := range map[string]string{
		"X-Alerter-Dedup-Key": "soteri-protection-weakened:6b1f0c2d9e8a7b44",
		"X-Alerter-Alert-Id":  "01HXV8VQSYBTC29ZQ6YHKQYR13",
		"X-Alerter-Severity":  "critical",
		"Auto-Submitted":      "auto-generated",
		"Mime-Version":        "1.0",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}

	if !strings.Contains(p.textType, "charset=UTF-8") || !strings.Contains(p.htmlType, "charset=UTF-8") {
		t.Errorf("part types %q, %q", p.textType, p.htmlType)
	}
	for _, want := range []string{
		"[CRITICAL] Ming <Chen> & Co (mchen) weakened Soteri protection\n",
		"Security hook (scan content on publish): Enabled → Disabled\nBcc: injected@example.com\n",
		"Actor       Ming <Chen> & Co (mchen)\n",
		"IP          198.51.100.7\n",
		"Time        2024-05-14 10:08:00 UTC\n",
		"Rule        Soteri protection weakened (soteri-protection-weakened)\n",
		"Count       1\n",
		"Suppressed  2 matching events since the previous alert of this group\n",
		"Group       event.actor.name = mchen\n",
		"  - Space: Finance & Payroll (98305) <https://confluence.example.com/display/FIN>\n",
		"Runbook     https://wiki.example.com/runbooks/soteri-settings\n",
		"Alert       https://alerter.example.com/alerts/01HXV8VQSYBTC29ZQ6YHKQYR13\n",
	} {
		if !strings.Contains(p.text, want) {
			t.Errorf("the text part lacks %q:\n%s", want, p.text)
		}
	}
	for _, want := range []string{
		"<h1 style=\"margin:6px 0 0;font-size:18px;font-weight:600\">Ming &lt;Chen&gt; &amp; Co (mchen) weakened Soteri protection</h1>",
		"<a href=\"https://confluence.example.com/display/FIN\">Finance &amp; Payroll</a>",
		"<a href=\"https://wiki.example.com/runbooks/soteri-settings\"",
		"<a href=\"https://alerter.example.com/alerts/01HXV8VQSYBTC29ZQ6YHKQYR13\"",
		"Soteri&#39;s global settings from 198.51.100.7:\nSecurity hook",
		"<code>event.actor.name</code> = mchen",
	} {
		if !strings.Contains(p.html, want) {
			t.Errorf("the HTML part lacks %q:\n%s", want, p.html)
		}
	}
	if strings.Contains(p.html, "<Chen>") {
		t.Errorf("the HTML part has event data unescaped")
	}
}

// An acknowledgement notification mails nothing, and is done with.
func TestAckSendsNothing(t *testing.T) {
	s := newSMTPServer(t, TLSStartTLS, testUser, testPass)
	n := newNotifier(t, s.notifierConfig(), nil)
	fired := time.Date(2024, 5, 14, 10, 8, 0, 12e6, time.UTC)
	if err := n.Notify(t.Context(), notifiers.SampleAck(alerter.Critical, fired, fired.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if msgs := s.messages(); len(msgs) != 0 {
		t.Errorf("the server received %d messages for an acknowledgement, want none", len(msgs))
	}
}

// A resolve notification is mailed as "[RESOLVED] title" in the alert's
// thread: In-Reply-To and References name the alert's message. It says
// who resolved the alert, when and the verdict, and links to the alert.
func TestResolveInThread(t *testing.T) {
	s := newSMTPServer(t, TLSStartTLS, testUser, testPass)
	n := newNotifier(t, s.notifierConfig(), nil)
	fired := time.Date(2024, 5, 14, 10, 8, 0, 12e6, time.UTC)
	for _, a := range []*alerter.Alert{notifiers.Sample(alerter.Critical, fired), notifiers.SampleResolve(alerter.Critical, fired, fired.Add(22*time.Minute))} {
		if err := n.Notify(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	msgs := s.messages()
	if len(msgs) != 2 {
		t.Fatalf("the server received %d messages, want 2", len(msgs))
	}
	alert, resolve := parse(t, msgs[0].data), parse(t, msgs[1].data)
	h := resolve.msg.Header
	orig := alert.msg.Header.Get("Message-Id")
	if want := "[RESOLVED] Ming <Chen> & Co (mchen) weakened Soteri protection"; resolve.subject != want {
		t.Errorf("subject %q, want %q", resolve.subject, want)
	}
	if id := h.Get("Message-Id"); id == orig || id != "<alert.01HXV8VQSYBTC29ZQ6YHKQYR13-resolved@example.com>" {
		t.Errorf("Message-ID %q: want its own, stable one (the alert's is %q)", id, orig)
	}
	if got := h.Get("In-Reply-To"); got != orig {
		t.Errorf("In-Reply-To %q, want the alert's Message-ID %q", got, orig)
	}
	refs := strings.Fields(h.Get("References"))
	if len(refs) != 2 || refs[0] != alert.msg.Header.Get("References") || refs[1] != orig {
		t.Errorf("References %q, want the group's %q and the alert's %q", refs, alert.msg.Header.Get("References"), orig)
	}
	if v := h.Get("Importance"); v != "" {
		t.Errorf("Importance %q on a resolve", v)
	}
	for _, want := range []string{
		"[RESOLVED] Ming <Chen> & Co (mchen) weakened Soteri protection\n\nResolved by Ann <Lee> & Co at 2024-05-14 10:30:00 UTC, verdict: false positive.\n",
		"Alert       https://alerter.example.com/alerts/01HXV8VQSYBTC29ZQ6YHKQYR13\n",
	} {
		if !strings.Contains(resolve.text, want) {
			t.Errorf("the text part lacks %q:\n%s", want, resolve.text)
		}
	}
	if want := "Resolved by Ann &lt;Lee&gt; &amp; Co at 2024-05-14 10:30:00 UTC, verdict: false positive."; !strings.Contains(resolve.html, want) {
		t.Errorf("the HTML part lacks %q:\n%s", want, resolve.html)
	}
	if strings.Contains(resolve.text, "Silence") {
		t.Errorf("a resolve offers to silence the alert:\n%s", resolve.text)
	}
}

func TestNoHeaderInjection(t *testing.T) {
	s := newSMTPServer(t, TLSNone, "", "")
	n := newNotifier(t, s.notifierConfig(), nil)
	a := notifiers.Sample(alerter.High, time.Now())
	a.Title = "Evil\r\nBcc: evil@example.com\r\nX-Injected: yes\nSubject: second" + strings.Repeat(" long title", 40)
	a.Name = "name\r\nX-Injected: name"
	a.Rule = "rule\r\nX-Injected: rule"
	a.DedupKey = "rule:1\r\nX-Injected: dedup"
	a.ID = "id\r\nX-Injected: id"
	a.Severity = "high\r\nX-Injected: sev"
	if err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	msgs := s.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if want := []string{"secops@example.com", "oncall@example.org"}; !slices.Equal(msgs[0].to, want) {
		t.Errorf("RCPT TO %q, want %q", msgs[0].to, want)
	}
	p := parse(t, msgs[0].data)
	for _, k := range []string{"Bcc", "X-Injected"} {
		if v, ok := p.msg.Header[k]; ok {
			t.Errorf("header %s: %q was injected", k, v)
		}
	}
	if n := len(p.msg.Header["Subject"]); n != 1 {
		t.Errorf("%d Subject headers", n)
	}
	if !strings.HasPrefix(p.subject, "[HIGH X-INJECTED: SEV] Evil Bcc: evil@example.com X-Injected: yes Subject: second long title") ||
		!strings.HasSuffix(p.subject, "…") || strings.ContainsAny(p.subject, "\r\n") {
		t.Errorf("subject %q: want one cleaned line, cut with …", p.subject)
	}
	if n := len([]rune(p.subject)); n > maxSubject+30 {
		t.Errorf("subject of %d characters", n)
	}
	// Every header line is short: the long subject is folded.
	head, _, _ := bytes.Cut(msgs[0].data, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a header line of %d bytes", len(line))
		}
		if strings.HasPrefix(line, "Subject:") && len(line) > 78 {
			t.Errorf("the subject is not folded: %q", line)
		}
	}
	if id := p.msg.Header.Get("Message-Id"); !regexp.MustCompile(`^<alert\.h[0-9a-f]{32}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID %q: an unusable alert id is hashed", id)
	}
}

func TestClassifies(t *testing.T) {
	smtpErr := func(code int, enh smtp.EnhancedCode, msg string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
	}
	for _, tc := range []struct {
		name  string
		mode  string // the server's
		setup func(s *smtpServer, cfg *config.Notifier, opt *Options)
		retry bool
		is    error // errors.Is the returned error, when set
	}{
		{"421 greeting", TLSNone, func(s *smtpServer, _ *config.Notifier, _ *Options) {
			s.greeting = "421 4.3.2 Service not available, closing transmission channel"
		}, true, nil},
		{"421 at MAIL", TLSNone, func(s *smtpServer, _ *config.Notifier, _ *Options) {
			s.state = notifiertest.RateLimit
		}, true, nil},
		{"450 at RCPT", TLSNone, func(s *smtpServer, _ *config.Notifier, _ *Options) {
			s.rcptErr = smtpErr(450, smtp.EnhancedCode{4, 2, 0}, "Mailbox busy")
		}, true, nil},
		{"451 at MAIL", TLSNone, func(s *smtpServer, _ *config.Notifier, _ *Options) {
			s.mailErr = smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "Local error in processing")
		}, true, nil},
		{"452 at RCPT", TLSNone, func(s *smtpServer, _ *config.Notifier, _ *Options) {
			s.rcptErr = smtpErr(452, smtp.EnhancedCode{4, 3, 1}, "Insufficient system storage")
		}, true, nil},
		{"451 after DATA", TLSNone, func(s *smtpServer, _ *config.Notifier, _ *Options) {
			s.dataErr = smtpErr(451, smtp.EnhancedCode{4, 7, 1}, "Greylisted, try again later")
		}, true, nil},
		{"535 bad credentials", TLSStartTLS, func(_ *smtpServer, cfg *config.Notifier, _ *Options) {
			edit(cfg, func(c *Config) { c.Password = "wrong-" + testPass })
		}, false, nil},
		{"550 at RCPT", TLSNone, func(s *smtpServer, _ *config.Notifier, _ *Options) {
			s.rcptErr = smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "Mailbox unavailable")
		}, false, nil},
		{"553 at MAIL", TLSNone, func(s *smtpServer, _ *config.Notifier, _ *Options) {
			s.mailErr = smtpErr(553, smtp.EnhancedCode{5, 1, 8}, "Sender address rejected")
		}, false, nil},
		{"554 after DATA", TLSNone, func(s *smtpServer, _ *config.Notifier, _ *Options) {
			s.dataErr = smtpErr(554, smtp.EnhancedCode{5, 7, 1}, "Message rejected as spam")
		}, false, nil},
		{"connection refused", TLSNone, func(s *smtpServer, _ *config.Notifier, _ *Options) {
			_ = s.ln.Close()
		}, true, nil},
		{"timeout", TLSNone, func(s *smtpServer, cfg *config.Notifier, _ *Options) {
			s.state = notifiertest.Hang
			cfg.Timeout = yamlx.Duration(100 * time.Millisecond)
		}, true, context.DeadlineExceeded},
		{"untrusted certificate (STARTTLS)", TLSStartTLS, func(_ *smtpServer, _ *config.Notifier, opt *Options) {
			opt.TLSConfig = nil // the system roots
		}, false, nil},
		{"untrusted certificate (TLS)", TLSImplicit, func(_ *smtpServer, _ *config.Notifier, opt *Options) {
			opt.TLSConfig = nil
		}, false, nil},
		{"certificate for another name", TLSStartTLS, func(_ *smtpServer, _ *config.Notifier, opt *Options) {
			opt.TLSConfig.ServerName = "smtp.example.com"
		}, false, nil},
		{"TLS to a plain-text port", TLSNone, func(_ *smtpServer, cfg *config.Notifier, _ *Options) {
			edit(cfg, func(c *Config) { c.TLS = TLSImplicit })
		}, false, nil},
		{"STARTTLS required, not offered", TLSNone, func(_ *smtpServer, cfg *config.Notifier, _ *Options) {
			edit(cfg, func(c *Config) { c.TLS = TLSStartTLS })
		}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := "", ""
			if tc.mode != TLSNone {
				user, pass = testUser, testPass
			}
			s := newSMTPServer(t, tc.mode, user, pass)
			cfg := s.notifierConfig()
			cfg.Timeout = yamlx.Duration(time.Minute)
			opt := Options{TLSConfig: clientTLS(t)}
			s.mu.Lock()
			tc.setup(s, &cfg, &opt)
			s.mu.Unlock()
			logs := &logBuffer{}
			opt.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			n, err := New(cfg, opt)
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(t.Context(), notifiers.Sample(alerter.High, time.Now()))
			if err == nil {
				t.Fatal("no error")
			}
			retry, after := notifiers.Classify(err)
			if retry != tc.retry || after != 0 {
				t.Errorf("%v: retryable %v after %v, want %v", err, retry, after, tc.retry)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v does not wrap %v", err, tc.is)
			}
			for _, text := range []string{err.Error(), logs.String()} {
				if strings.Contains(text, testPass) {
					t.Errorf("the password appears in %q", text)
				}
			}
			if len(s.messages()) != 0 {
				t.Errorf("the server accepted the message")
			}
			t.Log(err)
		})
	}
}

func TestRedactsPasswordEchoedByServer(t *testing.T) {
	s := newSMTPServer(t, TLSStartTLS, testUser, testPass)
	s.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user; you said " + testPass}
	n := newNotifier(t, s.notifierConfig(), nil)
	err := n.Notify(t.Context(), notifiers.Sample(alerter.High, time.Now()))
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), testPass) || !strings.Contains(err.Error(), "<secret>") {
		t.Errorf("%v", err)
	}
	if retry, _ := notifiers.Classify(err); retry {
		t.Errorf("%v: a 550 is retryable", err)
	}
}

// A server that quotes the AUTH PLAIN blob it got in its refusal (base64 of
// "\0user\0password") must not put the password, in any encoding, into the
// error, which dead letters, test answers and logs show.
func TestRedactsAuthEchoedByServer(t *testing.T) {
	s := newSMTPServer(t, TLSStartTLS, testUser, testPass)
	s.echoAuth = true
	n := newNotifier(t, s.notifierConfig(), nil)
	err := n.Notify(t.Context(), notifiers.Sample(alerter.High, time.Now()))
	if err == nil {
		t.Fatal("no error")
	}
	blob := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPass))
	for _, leak := range []string{testPass, blob, strings.TrimRight(blob, "=")} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q shows %q", err, leak)
		}
	}
	if !strings.Contains(err.Error(), "Authentication failed for <secret>") {
		t.Errorf("error %q: want the server's reply with the blob scrubbed", err)
	}
}

func TestNew(t *testing.T) {
	ok := Config{Host: "smtp.example.com", From: "alerter@example.com", To: []string{"a@example.com"},
		Username: "u", Password: "SECRET-pw-1234"}
	const base = "name: e, type: email, username: u, password: SECRET-pw-1234"
	for _, tc := range []struct {
		name  string
		entry string
		want  string
	}{
		{"no host", "{" + base + ", from: a@example.com, to: [a@example.com]}", "needs host"},
		{"bad tls", "{" + base + ", host: h, tls: ssl, from: a@example.com, to: [a@example.com]}", "tls \"ssl\""},
		{"bad from", "{" + base + ", host: h, from: not an address, to: [a@example.com]}", "from"},
		{"no to", "{" + base + ", host: h, from: a@example.com}", "needs to"},
		{"bad to", "{" + base + ", host: h, from: a@example.com, to: [\"x\\r\\nBcc: y@example.com\"]}", "to"},
		{"user without password", "{name: e, type: email, username: u, host: h, from: a@example.com, to: [a@example.com]}", "username needs password"},
		{"password in clear text", "{" + base + ", host: h, tls: none, from: a@example.com, to: [a@example.com]}", "clear text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := notifiertest.Validate(Plugin{}, tc.entry)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one about %q", err, tc.want)
			}
			if strings.Contains(err.Error(), ok.Password.Value()) {
				t.Errorf("%v shows the password", err)
			}
		})
	}
	for tls, port := range map[string]int{"": 587, TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25} {
		c := ok
		c.TLS = tls
		if tls == TLSNone {
			c.Host = "127.0.0.1" // a password over none only to loopback
		}
		n, err := New(config.Notifier{Settings: c}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n.port != port {
			t.Errorf("tls %q: port %d, want %d", tls, n.port, port)
		}
	}
}

// edit changes the email keys of cfg.
func edit(cfg *config.Notifier, f func(*Config)) {
	c := cfg.Settings.(Config)
	f(&c)
	cfg.Settings = c
}

func TestSubject(t *testing.T) {
	for _, tc := range []struct {
		sev   alerter.Severity
		title string
		want  string
	}{
		{alerter.Critical, "Jane changed a setting", "[CRITICAL] Jane changed a setting"},
		{alerter.Info, "  two\r\nlines\tand  spaces  ", "[INFO] two lines and spaces"},
		{alerter.Low, "null\x00byte and \u2028separator", "[LOW] null byte and separator"},
		{alerter.Medium, "", "[MEDIUM] Soteri protection weakened"},
		{alerter.High, strings.Repeat("x", 300), "[HIGH] " + strings.Repeat("x", maxSubject-1) + "…"},
		{alerter.High, "Ünïcödé → ✓", "[HIGH] Ünïcödé → ✓"},
	} {
		a := notifiers.Sample(tc.sev, time.Now())
		a.Title = tc.title
		if got := Subject(a); got != tc.want {
			t.Errorf("Subject(%q) = %q, want %q", tc.title, got, tc.want)
		}
	}
}

var boundaryRE = regexp.MustCompile(`boundary=([0-9A-Za-z'()+_,./:=?-]+)`)

// TestGolden renders notifiers.Sample for each severity as the whole
// message, with the random MIME boundary normalised, and compares it byte
// for byte with testdata/<severity>.golden (go test -update rewrites them).
func TestGolden(t *testing.T) {
	fired := time.Date(2024, 5, 14, 10, 8, 0, 12e6, time.UTC)
	n, err := New(config.Notifier{Settings: Config{Host: "smtp.example.com", From: "Alerter <alerter@example.com>",
		To: []string{"secops@example.com", "Oncall Team <oncall@example.org>"}}}, Options{ExternalURL: "https://alerter.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sev := range alerter.Severities() {
		t.Run(string(sev), func(t *testing.T) {
			m, err := n.message(notifiers.Sample(sev, fired), fired.Add(250*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if _, err := m.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			got := b.Bytes()
			sub := boundaryRE.FindSubmatch(got)
			if sub == nil {
				t.Fatalf("no boundary in\n%s", got)
			}
			got = bytes.ReplaceAll(got, sub[1], []byte("BOUNDARY"))
			path := filepath.Join("testdata", string(sev)+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the message (go test -update rewrites it):\n%s", path, got)
			}
			// The golden message is one a mail client reads.
			p := parse(t, got)
			if !strings.HasPrefix(p.subject, "["+strings.ToUpper(string(sev))+"] ") {
				t.Errorf("subject %q", p.subject)
			}
		})
	}
}

func TestLongUnicodeSubjectFolds(t *testing.T) {
	s := newSMTPServer(t, TLSNone, "", "")
	n := newNotifier(t, s.notifierConfig(), nil)
	a := notifiers.Sample(alerter.Medium, time.Now())
	a.Title = strings.Repeat("Ünïcödé → ✓ ", 30)
	if err := n.Notify(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	msgs := s.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	p := parse(t, msgs[0].data)
	if want := Subject(a); p.subject != want || !strings.HasSuffix(want, "…") {
		t.Errorf("subject %q, want %q", p.subject, want)
	}
	head, _, _ := bytes.Cut(msgs[0].data, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		if len(line) > 78 && !strings.HasPrefix(line, "Content-Type") {
			t.Errorf("header line of %d bytes: %q", len(line), line)
		}
	}
}
