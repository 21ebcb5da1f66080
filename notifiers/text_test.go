package notifiers

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestText(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{OneLine("a\r\nBcc: x@y\u2028 b\t\tc"), "a Bcc: x@y b c"},
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
