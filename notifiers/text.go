package notifiers

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// OneLine makes s a single line, for a subject, a summary or a header:
// control characters and Unicode line and paragraph separators become
// spaces, and runs of spaces one; bidirectional overrides and isolates
// are dropped. Text from events cannot start a new header line through
// it, nor show its words in another order than they are.
func OneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') {
			continue
		}
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

// EventURL is a stored event's page in alerter's web UI (what each rule
// made of it), <externalURL>/explain?event=<id>, or "" as for AlertURL.
func EventURL(externalURL, id string) string {
	if externalURL == "" || id == "" {
		return ""
	}
	return HTTPURL(strings.TrimRight(externalURL, "/") + "/explain?event=" + url.QueryEscape(id))
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

// Scrub replaces every secret in s by <secret>, as it is and in the
// encodings a protocol may carry it in, which a target that echoes what it
// was sent quotes back: base64 (standard and URL alphabets, with and without
// padding; SMTP AUTH, HTTP Basic), hex, and URL query escaping. Values
// shorter than four bytes are not secrets worth hiding and would mangle the
// text.
func (sec Secrets) Scrub(s string) string {
	var forms []string
	for _, v := range sec {
		if len(v) < 4 || v == "/" {
			continue
		}
		forms = append(forms, encodings(v)...)
	}
	// Longest first: a secret's form may hold another's (the AUTH PLAIN
	// blob holds the password's base64), and the whole must go, not a part.
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		if len(f) >= 4 {
			s = strings.ReplaceAll(s, f, "<secret>")
		}
	}
	return s
}

// encodings are v and its encodings, longest form of each first (padded
// base64 before unpadded, so that no "=" is left behind).
func encodings(v string) []string {
	b := []byte(v)
	return []string{
		base64.StdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		hex.EncodeToString(b),
		strings.ToUpper(hex.EncodeToString(b)),
		url.QueryEscape(v),
		v,
	}
}

// SMTPAuth are the secrets of an SMTP login: the password, and the blobs
// that AUTH PLAIN ("\0user\0password", with or without the user as
// authorization identity) and AUTH LOGIN (the user, then the password, each
// base64 on its own) send, which a server may quote in its error reply.
func SMTPAuth(user, password string) Secrets {
	if password == "" {
		return nil
	}
	sec := Secrets{password, "\x00" + user + "\x00" + password, user + "\x00" + user + "\x00" + password}
	if user != "" {
		// Only the base64 form: the user name itself is no secret, and
		// errors that name it help.
		sec = append(sec, base64.StdEncoding.EncodeToString([]byte(user)))
	}
	return sec
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
