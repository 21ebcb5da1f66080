package notifiers

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{OneLine("a\r\nBcc: x@y\u2028 b\t\tc"), "a Bcc: x@y b c"},
		{OneLine("ann\u202Egnp.exe\u2066x\u2069"), "anngnp.exex"},
		{Truncate("héllo wörld", 5), "héll…"},
		{Truncate("short", 5), "short"},
		{Or("  ", "def"), "def"},
		{Or("v", "def"), "v"},
		{HTTPURL("https://wiki.example.com/x"), "https://wiki.example.com/x"},
		{HTTPURL("javascript:alert(1)"), ""},
		{HTTPURL("see wiki"), ""},
		{Printable([]byte("bad\x00\nbody  here"), 100), "bad body here"},
		{Printable([]byte("abcdef"), 3), "abc"},
		{TerminalSafe(`Jane "jd" Doe: ünïcode 日本 ✓`), `Jane "jd" Doe: ünïcode 日本 ✓`},
		{TerminalSafe("Esc \x1b[2J\x1b[31mRED\x1b]0;pwned\x07"), `"Esc \x1b[2J\x1b[31mRED\x1b]0;pwned\a"`},
		{TerminalSafe("page\nFORGED\tROW"), `"page\nFORGED\tROW"`},
		{TerminalSafe("evil\u202etxt.exe \u2028 \u00a0"), `"evil\u202etxt.exe \u2028 \u00a0"`},
		{TerminalSafe("bad \xff\x9b2J"), `"bad \xff\x9b2J"`},
		{Secrets{"tok-12345", "ab"}.Scrub("Bearer tok-12345 ab"), "Bearer <secret> ab"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	err := Secrets{"hunter22"}.Redact(fmt.Errorf("login hunter22: %w", context.Canceled))
	if err.Error() != "login <secret>: context canceled" || !errors.Is(err, context.Canceled) {
		t.Errorf("Redact: %v", err)
	}
	if (Secrets{"x"}).Redact(nil) != nil {
		t.Error("Redact(nil) is not nil")
	}
}

func TestAlertAndSilenceURLs(t *testing.T) {
	for _, tt := range []struct{ ext, id, alert, silence string }{
		{"https://alerter.example.com", "01HX", "https://alerter.example.com/alerts/01HX", "https://alerter.example.com/silences?alert=01HX"},
		{"https://tools.example.com/alerter/", "01HX", "https://tools.example.com/alerter/alerts/01HX", "https://tools.example.com/alerter/silences?alert=01HX"},
		{"https://a.example.com", "a/b c&d", "https://a.example.com/alerts/a%2Fb%20c&d", "https://a.example.com/silences?alert=a%2Fb+c%26d"},
		{"", "01HX", "", ""},
		{"https://a.example.com", "", "", ""},
		{"javascript:alert(1)//", "01HX", "", ""},
	} {
		if got := AlertURL(tt.ext, tt.id); got != tt.alert {
			t.Errorf("AlertURL(%q, %q) = %q, want %q", tt.ext, tt.id, got, tt.alert)
		}
		if got := SilenceURL(tt.ext, tt.id); got != tt.silence {
			t.Errorf("SilenceURL(%q, %q) = %q, want %q", tt.ext, tt.id, got, tt.silence)
		}
	}
}

func TestEventURL(t *testing.T) {
	for _, tt := range []struct{ ext, id, want string }{
		{"https://alerter.example.com/", "e1", "https://alerter.example.com/explain?event=e1"},
		{"https://a.example.com", "a/b c&d", "https://a.example.com/explain?event=a%2Fb+c%26d"},
		{"", "e1", ""},
		{"https://a.example.com", "", ""},
		{"javascript:alert(1)//", "e1", ""},
	} {
		if got := EventURL(tt.ext, tt.id); got != tt.want {
			t.Errorf("EventURL(%q, %q) = %q, want %q", tt.ext, tt.id, got, tt.want)
		}
	}
}

// A target that echoes what it was sent quotes secrets in the encoding it
// got them in: each is scrubbed, and the text around it kept.
func TestScrubEncodings(t *testing.T) {
	const user, pass = "alerter", "SMTPPASSWORD-xyz"
	smtp := SMTPAuth(user, pass)
	tests := []struct {
		name string
		sec  Secrets
		in   string
	}{
		{"raw", Secrets{pass}, "535 bad password " + pass},
		{"AUTH PLAIN blob", smtp, "535 5.7.8 auth failed: AGFsZXJ0ZXIAU01UUFBBU1NXT1JELXh5eg=="},
		{"AUTH PLAIN blob with the user as identity", smtp, "535 " + base64.StdEncoding.EncodeToString([]byte(user+"\x00"+user+"\x00"+pass))},
		{"AUTH PLAIN blob, unpadded", smtp, "535 AGFsZXJ0ZXIAU01UUFBBU1NXT1JELXh5eg"},
		{"AUTH LOGIN password", smtp, "535 you sent " + base64.StdEncoding.EncodeToString([]byte(pass))},
		{"AUTH LOGIN user", smtp, "535 you sent " + base64.StdEncoding.EncodeToString([]byte(user))},
		{"base64url", Secrets{"tok+/en??>>"}, "bad " + base64.URLEncoding.EncodeToString([]byte("tok+/en??>>"))},
		{"base64 raw", Secrets{"token-12345"}, "bad " + base64.RawStdEncoding.EncodeToString([]byte("token-12345"))},
		{"hex", Secrets{"token-12345"}, "bad " + hex.EncodeToString([]byte("token-12345"))},
		{"HEX", Secrets{"token-12345"}, "bad " + strings.ToUpper(hex.EncodeToString([]byte("token-12345")))},
		{"query escaped", Secrets{"a b&c=d/e"}, "GET /x?k=" + url.QueryEscape("a b&c=d/e")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.sec.Scrub(tc.in)
			if !strings.Contains(got, "<secret>") {
				t.Fatalf("Scrub(%q) = %q: nothing scrubbed", tc.in, got)
			}
			for _, leak := range []string{pass, "AGFsZXJ0ZXIAU01UUFBBU1NXT1JELXh5eg", "U01UUFBBU1NXT1JELXh5eg", "token-12345", "746f6b656e"} {
				if strings.Contains(got, leak) {
					t.Errorf("Scrub(%q) = %q: %q left", tc.in, got, leak)
				}
			}
			if strings.Contains(got, "AGFsZXJ0ZXIA") {
				t.Errorf("Scrub(%q) = %q: part of the AUTH blob left", tc.in, got)
			}
			if prefix, _, _ := strings.Cut(tc.in, " "); !strings.HasPrefix(got, prefix) {
				t.Errorf("Scrub(%q) = %q: the text around the secret is lost", tc.in, got)
			}
		})
	}
	if got := SMTPAuth(user, pass).Scrub("535 no such user alerter"); got != "535 no such user alerter" {
		t.Errorf("the user name alone was scrubbed: %q", got)
	}
}
