package event

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// str is the type of the string fields of the wire structs. Every payload is
// first decoded with plain strings, which is fast and needs no allocation
// (the strings refer to the payload); only a payload where some value has an
// unexpected JSON type (a number where a string was expected, say) is decoded
// again with looseString, which accepts any JSON value.
type str interface{ ~string }

// wire is the union of the top-level fields of every supported shape. One
// decoding into it both detects the format and carries everything the
// normalizers need, so no payload is decoded into a map on the hot path.
type wire[S str] struct {
	// confluence-auditing, REST and file shapes
	Timestamp       json.RawMessage `json:"timestamp"`
	Author          wireAuthor[S]   `json:"author"`
	Type            wireType[S]     `json:"type"`
	AuditType       wireType[S]     `json:"auditType"`
	AffectedObjects []wireObject[S] `json:"affectedObjects"`
	ChangedValues   []wireChange[S] `json:"changedValues"`
	Source          S               `json:"source"`
	System          S               `json:"system"`
	Node            S               `json:"node"`
	Method          S               `json:"method"`
	ExtraAttributes []wireAttr[S]   `json:"extraAttributes"`

	// confluence-audit (legacy AuditRecord); changedValues is shared above
	RemoteAddress     S               `json:"remoteAddress"`
	CreationDate      json.RawMessage `json:"creationDate"`
	Summary           S               `json:"summary"`
	Description       S               `json:"description"`
	Category          S               `json:"category"`
	SysAdmin          bool            `json:"sysAdmin"`
	SuperAdmin        *bool           `json:"superAdmin"`
	AffectedObject    wireObject[S]   `json:"affectedObject"`
	AssociatedObjects []wireObject[S] `json:"associatedObjects"`

	// confluence-webhook, Data Center and Cloud
	Event                 S               `json:"event"`
	UserKey               S               `json:"userKey"`
	UserAccountID         S               `json:"userAccountId"`
	AccountType           S               `json:"accountType"`
	UpdateTrigger         S               `json:"updateTrigger"`
	SuppressNotifications *bool           `json:"suppressNotifications"`
	Page                  *wireContent[S] `json:"page"`
	Blog                  *wireContent[S] `json:"blog"`
	BlogPost              *wireContent[S] `json:"blogpost"`
	Comment               *wireContent[S] `json:"comment"`
	Attachment            *wireContent[S] `json:"attachment"`
	Space                 *wireContent[S] `json:"space"`
	Group                 *wireContent[S] `json:"group"`
	Label                 *wireContent[S] `json:"label"`
	User                  *wireContent[S] `json:"user"`
	Content               *wireContent[S] `json:"content"`

	// json: the normalized shape of docs/rules.md (The event)
	ID          looseString     `json:"id"`
	Time        json.RawMessage `json:"time"`
	Format      S               `json:"format"`
	CategoryKey S               `json:"category_key"`
	Action      S               `json:"action"`
	ActionKey   S               `json:"action_key"`
	Area        S               `json:"area"`
	Level       S               `json:"level"`
	Actor       wireActor[S]    `json:"actor"`
	IP          S               `json:"ip"`
	Objects     []wireObject[S] `json:"objects"`
	Changes     []wireChange[S] `json:"changes"`
	Attrs       map[string]S    `json:"attrs"`
	Raw         rawObject       `json:"raw"`

	// pages of results: only whether they are there is decoded here, their
	// elements are split by the scanner so that each keeps its own bytes.
	Entities presence `json:"entities"`
	Results  presence `json:"results"`
}

type wireAuthor[S str] struct {
	ID          S `json:"id"`
	Name        S `json:"name"`
	Type        S `json:"type"`
	URI         S `json:"uri"`
	Username    S `json:"username"`
	UserKey     S `json:"userKey"`
	DisplayName S `json:"displayName"`
	AccountID   S `json:"accountId"`
}

type wireType[S str] struct {
	Category        S `json:"category"`
	CategoryI18nKey S `json:"categoryI18nKey"`
	Action          S `json:"action"`
	ActionI18nKey   S `json:"actionI18nKey"`
	Area            S `json:"area"`
	Level           S `json:"level"`
}

func (t *wireType[S]) empty() bool {
	return t.Category == "" && t.CategoryI18nKey == "" && t.Action == "" && t.ActionI18nKey == "" &&
		t.Area == "" && t.Level == ""
}

// wireObject is an auditing affected object, a legacy affected or associated
// object (objectType), or an object of the normalized shape.
type wireObject[S str] struct {
	Type       S `json:"type"`
	ID         S `json:"id"`
	Name       S `json:"name"`
	URI        S `json:"uri"`
	ObjectType S `json:"objectType"`
}

// wireChange is an auditing changed value (key/from/to), a legacy one
// (name/oldValue/newValue), or a change of the normalized shape.
type wireChange[S str] struct {
	Key      S `json:"key"`
	I18nKey  S `json:"i18nKey"`
	From     S `json:"from"`
	To       S `json:"to"`
	Name     S `json:"name"`
	OldValue S `json:"oldValue"`
	NewValue S `json:"newValue"`
}

type wireAttr[S str] struct {
	Name        S `json:"name"`
	NameI18nKey S `json:"nameI18nKey"`
	Value       S `json:"value"`
}

// wireContent is the content object of a webhook body. Its id is a number in
// both Data Center and Cloud bodies, so it is always loose.
type wireContent[S str] struct {
	ID          looseString `json:"id"`
	IDAsString  S           `json:"idAsString"`
	Key         S           `json:"key"`
	Title       S           `json:"title"`
	Name        S           `json:"name"`
	DisplayName S           `json:"displayName"`
	Username    S           `json:"username"`
	UserKey     S           `json:"userKey"`
	AccountID   S           `json:"accountId"`
	Self        S           `json:"self"`
}

type wireActor[S str] struct {
	ID          S    `json:"id"`
	Name        S    `json:"name"`
	DisplayName S    `json:"display_name"`
	Type        S    `json:"type"`
	Sysadmin    bool `json:"sysadmin"`
	Groups      []S  `json:"groups"`
}

// looseString accepts any JSON value: a string as its text, a number or a
// boolean as its literal, null as "", an object or an array as its JSON text.
// Its decoder is given a copy of the value, so it is used where numbers are
// expected (webhook ids) and in the second, tolerant decoding.
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '"' {
		if string(b) == "null" {
			*s = ""
		} else {
			*s = looseString(b)
		}
		return nil
	}
	if v, ok := unquoteSimple(b); ok {
		*s = looseString(v)
		return nil
	}
	v, err := unquote(b)
	if err != nil {
		return err
	}
	*s = looseString(v)
	return nil
}

// unquote decodes the JSON string b, escapes and all.
func unquote(b []byte) (string, error) {
	var s string
	err := unmarshalCopy(b, &s)
	return s, err
}

// unquoteSimple returns the text of the JSON string b when it has no escape.
func unquoteSimple(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(inner) {
		return "", false
	}
	return string(inner), true
}

// presence records that a member is there and the kind of its value; its bytes
// are not kept (a page's elements are split from the payload itself).
type presence struct {
	kind byte // 0 when absent, else the first byte of the value
}

func (p *presence) UnmarshalJSON(b []byte) error {
	if len(b) > 0 {
		p.kind = b[0]
	}
	return nil
}

// rawObject keeps the value of the "raw" member of the normalized shape: when
// the object is one of our own events being replayed, raw is its original
// payload.
type rawObject struct {
	raw []byte
}

func (r *rawObject) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		r.raw = b
	}
	return nil
}

// decodeOptions makes the decoded strings refer to the payload: Parse keeps
// the payload anyway (each event's raw JSON is a part of it), and copying
// every string would cost a third of the decoding.
var decodeOptions = []json.DecodeOptionFunc{json.DecodeNoCopyString()}

// arena holds a wire and room for the arrays and timestamps of a usual
// event, so that decoding one allocates once instead of once per growth of
// each array; the scanning path reuses one arena for all its objects. The
// timestamps are json.RawMessage, which the decoder fills without a copy of
// its own when they fit.
type arena[S str] struct {
	w       wire[S]
	objects [4]wireObject[S]
	changes [4]wireChange[S]
	attrs   [4]wireAttr[S]
	times   [3][40]byte
}

// reset readies a used arena for decoding: zeroed, since the decoder leaves
// the fields of reused array elements that an object lacks as they were.
func (a *arena[S]) reset() {
	*a = arena[S]{}
	a.prepare()
}

// prepare points the wire of a zero arena at the arena's room.
func (a *arena[S]) prepare() {
	a.w.AffectedObjects = a.objects[:0]
	a.w.ChangedValues = a.changes[:0]
	a.w.ExtraAttributes = a.attrs[:0]
	a.w.Timestamp = a.times[0][:0]
	a.w.CreationDate = a.times[1][:0]
	a.w.Time = a.times[2][:0]
}

// decodeWire decodes one object into a (prepared), with plain strings. When a value had
// an unexpected type it decodes the object again with loose strings and
// returns that wire instead. It returns the decoder's error (a
// *json.SyntaxError for malformed JSON) and never panics.
func decodeWire(obj []byte, a *arena[string]) (*wire[looseString], error) {
	if err := unmarshal(obj, &a.w); err == nil || !isTypeError(err) {
		return nil, err
	}
	return decodeLoose(obj)
}

// decodeSingle is decodeWire for a wire on the caller's stack.
func decodeSingle(obj []byte, w *wire[string]) (*wire[looseString], error) {
	if err := unmarshalOf(obj, w); err == nil || !isTypeError(err) {
		return nil, err
	}
	return decodeLoose(obj)
}

// decodeLoose decodes obj with loose strings, after the plain ones met a value
// of an unexpected type. What is still of the wrong type (a string where an
// object is expected) is left out: tolerating it is better than rejecting an
// audit event.
func decodeLoose(obj []byte) (*wire[looseString], error) {
	l := new(arena[looseString])
	l.prepare()
	if err := unmarshal(obj, &l.w); err != nil && !isTypeError(err) {
		return nil, err
	}
	return &l.w, nil
}

// isTypeError reports whether err is only a value of an unexpected type. It
// is a function of its own so that the hot path, which has no error, does not
// allocate the target errors.As needs.
func isTypeError(err error) bool {
	var typeErr *json.UnmarshalTypeError
	return errors.As(err, &typeErr)
}

// unmarshalOf is unmarshal for a value that may stay on the caller's stack:
// it must not point into itself (no arena).
func unmarshalOf[T any](data []byte, v *T) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("JSON decoder failed: %v", r)
		}
	}()
	return json.UnmarshalOf(data, v, decodeOptions...)
}

// unmarshal is goccy's Unmarshal, with any panic of the decoder turned into an
// error: hostile input must never crash the process.
func unmarshal(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("JSON decoder failed: %v", r)
		}
	}()
	return json.UnmarshalWithOption(data, v, decodeOptions...)
}

// unmarshalCopy is unmarshal for values that must not refer to data.
func unmarshalCopy(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("JSON decoder failed: %v", r)
		}
	}()
	return json.Unmarshal(data, v)
}

// jsonKind names the kind of the JSON value that starts with c, for errors.
func jsonKind(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || ('0' <= c && c <= '9'):
		return "a number"
	}
	return "invalid character " + quoteByte(c)
}

// quoteByte quotes c as encoding/json does in its messages.
func quoteByte(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= utf8.RuneSelf:
		return fmt.Sprintf("byte 0x%02x", c)
	}
	q := strconv.Quote(string(rune(c)))
	return "'" + q[1:len(q)-1] + "'"
}
