package pagerduty

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// oneLine makes s a single line: control characters and Unicode line and
// paragraph separators become spaces, runs of spaces one.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// cut cuts s to max characters, the last an ellipsis.
func cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

func cmpStr(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

// httpURL is s if it is an absolute http(s) URL, else "": a link that
// the PagerDuty UI cannot open is left out rather than risk the event.
func httpURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}
