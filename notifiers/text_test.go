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
