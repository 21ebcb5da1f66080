package notifiers

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// OneLine makes s a single line, for a subject, a summary or a header:
// control characters and Unicode line and paragraph separators become
// spaces, and runs of spaces one. Text from events cannot start a new
// header line through it.
func OneLine(s string) string {
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

// TerminalSafe is s as text from an event may be written to a terminal
// or a line of a log: s itself when every character shows as itself
// (letters, marks, numbers, punctuation, symbols, the ASCII space), else s
// quoted as a Go string. Control characters (an ESC sequence that clears
// the screen or sets the window title, BEL, a newline or tab that forges a
// line or a column), other spaces, line separators, bidirectional
// overrides and invalid UTF-8 then show as escapes (\x1b, \n, \u202e) and
// do nothing. The console notifier and every command of the CLI print event
// data through it.
func TerminalSafe(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// Truncate cuts s to max characters, the last an ellipsis.
func Truncate(s string, max int) string {
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

// Or is v, or def when v is blank.
func Or(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

// HTTPURL is s if it is an absolute http(s) URL, else "": a link a target
// cannot open (a runbook written as "see wiki", a javascript: URL) is left
// out rather than make the target refuse the whole message.
func HTTPURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// AlertURL is the alert's page in alerter's web UI, <externalURL>/alerts/<id>,
// or "" without server.external_url (or with one that is not http(s)).
func AlertURL(externalURL, id string) string {
	if externalURL == "" || id == "" {
		return ""
	}
	return HTTPURL(strings.TrimRight(externalURL, "/") + "/alerts/" + url.PathEscape(id))
}

// SilenceURL is the web UI's silence form prefilled from the alert (its
// rule and group), <externalURL>/silences?alert=<id>: one click from a page
// to muting its repeats. "" as for AlertURL.
func SilenceURL(externalURL, id string) string {
	if externalURL == "" || id == "" {
		return ""
	}
	return HTTPURL(strings.TrimRight(externalURL, "/") + "/silences?alert=" + url.QueryEscape(id))
}

// Printable is the start of b, at most limit bytes, as one line of
// printable characters: for quoting a target's answer in an error.
func Printable(b []byte, limit int) string {
	if len(b) > limit {
		b = b[:limit] // a character cut in two becomes a space below
	}
	s := strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, string(b))
	return strings.Join(strings.Fields(s), " ")
}

// Secrets are the values a notifier must never show (tokens, passwords,
// URLs that embed them, header values): targets echo what they were sent,
// and HTTP clients quote URLs in their errors.
type Secrets []string

// Scrub replaces every secret in s by <secret>. Values shorter than four
// bytes are not secrets worth hiding and would mangle the text.
func (sec Secrets) Scrub(s string) string {
	for _, v := range sec {
		if len(v) >= 4 && v != "/" {
			s = strings.ReplaceAll(s, v, "<secret>")
		}
	}
	return s
}

// Redacted is an error whose text has been cleared of secrets; it unwraps
// to its cause (context.Canceled, a *net.OpError, a library's error).
type Redacted struct {
	Msg string
	Err error
}

func (e *Redacted) Error() string { return e.Msg }
func (e *Redacted) Unwrap() error { return e.Err }

// Redact is err with the secrets scrubbed from its text; nil stays nil.
func (sec Secrets) Redact(err error) error {
	if err == nil {
		return nil
	}
	msg := sec.Scrub(err.Error())
	if msg == err.Error() {
		return err
	}
	return &Redacted{Msg: msg, Err: err}
}
