// Package exprlimit bounds what an expr expression may cost: its source
// before it is parsed (length, nesting), and each evaluation after it is
// compiled (bytes of strings and lists it builds, time). Rule conditions,
// templates, group-by expressions and the `fields:` mappings of sources all
// go through it, since all of them may come from people other than the
// operator (the playground, the API) or run on attacker-controlled event
// content. docs/rules.md ("Safety limits") describes the limits to rule writers.
package exprlimit

import "fmt"

// Limits on an expression's source, checked before expr parses it: expr's
// parser recurses on every bracket, and a megabyte of "(" overflows the
// goroutine stack, which is a fatal error, not a panic. Real rules are a
// few hundred bytes and nest a handful of levels deep.
const (
	// MaxBytes is the longest expression accepted.
	MaxBytes = 64 << 10
	// MaxDepth is how deeply ( [ { may nest in an expression.
	MaxDepth = 100
)

// SourceError is an expression over a source limit, at a byte offset of
// the expression.
type SourceError struct {
	Offset int
	Msg    string
}

func (e *SourceError) Error() string { return e.Msg }

// CheckSource checks an expression's length and nesting without parsing
// it. Brackets inside string literals do not count.
func CheckSource(src string) error {
	if len(src) > MaxBytes {
		return &SourceError{Offset: MaxBytes, Msg: fmt.Sprintf("expression is %d bytes long, over the limit of %d KiB", len(src), MaxBytes>>10)}
	}
	depth := 0
	var quote byte // the quote of the string literal being read, or 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if quote != 0 {
			switch {
			case c == '\\' && quote != '`':
				i++ // the escaped character, whatever it is
			case c == quote:
				quote = 0
			}
			continue
		}
		switch c {
		case '"', '\'', '`':
			quote = c
		case '(', '[', '{':
			depth++
			if depth > MaxDepth {
				return &SourceError{Offset: i, Msg: fmt.Sprintf("expression nests ( [ { more than %d levels deep", MaxDepth)}
			}
		case ')', ']', '}':
			// An unbalanced closing bracket is the parser's to report.
			depth = max(depth-1, 0)
		}
	}
	return nil
}
