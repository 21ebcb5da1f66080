package config

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
)

// Secret is a credential: a token, a password, a signing secret, a URL that
// embeds a token. Every way a Config can be printed, logged or serialized
// (fmt with any verb, JSON, YAML, text, slog) shows "<secret>" instead of the
// value, so that dumping a Config for debugging leaks nothing. An empty
// Secret prints as "", which says "not set" without revealing anything.
// Value gives the real value, to the code that sends it.
type Secret string

const redacted = "<secret>"

// Value returns the credential itself.
func (s Secret) Value() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Format implements fmt.Formatter. Without it, a verb that does not suit a
// string (%d, %x of a struct holding a Secret) makes fmt print the raw value
// inside its "%!d(...)" complaint.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q', verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, strconv.Quote(s.String()))
	default:
		_, _ = io.WriteString(f, s.String())
	}
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText implements encoding.TextMarshaler, which covers encoders that
// know no other interface (and map keys in encoding/json).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
