package event

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// MaxDepth is how deeply a payload may nest objects and arrays. Audit events
// nest four levels at most; the cap keeps hostile input from costing stack or
// time anywhere downstream (rules reading event.raw, alert encoding).
const MaxDepth = 64

// DefaultMaxEvents is how many events one payload may hold unless
// Options.MaxEvents says otherwise.
const DefaultMaxEvents = 100_000

// ErrUnknownFormat is wrapped by the error of a format name that is not one of
// Formats.
var ErrUnknownFormat = errors.New("unknown event format")

// ErrTooManyEvents is wrapped by the error of a payload that holds more events
// than Options.MaxEvents.
var ErrTooManyEvents = errors.New("too many events in one payload")

// Formats lists the format names Options.Format accepts ("" means auto).
var Formats = []string{FormatAuto, FormatConfluenceAudit, FormatConfluenceAuditing, FormatConfluenceWebhook, FormatJSON}

// Options says how to normalize a payload.
type Options struct {
	// Format is one of Formats; "" means FormatAuto.
	Format string
	// Source is the configured source's name, copied into Event.Source. When
	// empty, an event in the normalized shape keeps its own "source" (so that a
	// replay of recorded events keeps where they came from).
	Source string
	// Mapping fills fields of json-format events (explicit or detected) from
	// expressions over the payload; nil takes only the normalized-shape fields.
	Mapping *Mapping
	// WebhookEvent is the event name of Confluence Cloud webhook bodies, which
	// carry none (Connect registers one route per event, so the route knows
	// it). It is used only for bodies without an "event" member; without it
	// such an event's action is the kind of its content object ("page").
	WebhookEvent string
	// NoContentID leaves ID empty for events whose payload gives none,
	// instead of hashing their content, which is about a quarter of the cost of
	// Parse: for paths that have the id already (a stored event's
	// Nats-Msg-Id) or need it only for the few events that alert. ContentID
	// computes it later.
	NoContentID bool
	// Received is when the payload was received. An event whose payload has
	// no time gets it as its time, with the attribute ReceivedTimeAttr, so
	// that live evaluation, replay, backtests and the API all see one time;
	// zero leaves such an event's time zero. Its id never depends on it.
	Received time.Time
	// RequireFields refuses, under FormatAuto, an object in no known shape
	// that gives none of an event's fields ({}, {"foo": 1}): from a source,
	// such an object is a sender not set up for alerter, and taking it would
	// store events no rule can tell apart. Rule tests and the playground
	// leave it off: {} is a fine test event there.
	RequireFields bool
	// MaxEvents caps the events of one payload: 0 means DefaultMaxEvents, a
	// negative value means no cap. The cap is checked before anything is
	// decoded, so an oversized batch costs only a scan of its bytes.
	MaxEvents int
}

// CheckFormat returns an error wrapping ErrUnknownFormat, which lists the
// valid names, when name is not a format Options.Format accepts.
func CheckFormat(name string) error {
	_, err := checkFormat(name)
	return err
}

func checkFormat(name string) (string, error) {
	switch name {
	case "", FormatAuto:
		return FormatAuto, nil
	case FormatConfluenceAudit, FormatConfluenceAuditing, FormatConfluenceWebhook, FormatJSON:
		return name, nil
	}
	return "", fmt.Errorf("%w %q: valid formats are %s", ErrUnknownFormat, name, strings.Join(Formats, ", "))
}

// SyntaxError is a payload that is not well-formed JSON (or is nested deeper
// than MaxDepth, or is not valid UTF-8).
type SyntaxError struct {
	Msg    string // what is wrong
	Offset int64  // where, as a byte offset in the payload
	Line   int    // where, as a 1-based line
	Column int    // and a 1-based column, in characters
	Object int    // 0-based index of the object of the payload it is in (or follows); -1 for the payload as a whole
	Err    error  // the decoder's error, if it found it
}

func (e *SyntaxError) Error() string {
	if e.Object < 0 {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("line %d, column %d (object %d): %s", e.Line, e.Column, e.Object+1, e.Msg)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// ObjectError is a well-formed JSON value that cannot be made an event: not an
// object, not in the format asked for, or with a field that cannot be read
// (a timestamp that is no time, a failing mapping expression).
type ObjectError struct {
	Object int    // 0-based index of the object in the payload
	Offset int64  // byte offset of the object (or of the value) in the payload
	Line   int    // 1-based line of Offset
	Column int    // 1-based column of Offset, in characters
	Format string // the format it was normalized as, if one was chosen
	Err    error
}

func (e *ObjectError) Error() string {
	if e.Format != "" {
		return fmt.Sprintf("object %d (line %d, column %d): %s: %v", e.Object+1, e.Line, e.Column, e.Format, e.Err)
	}
	return fmt.Sprintf("object %d (line %d, column %d): %v", e.Object+1, e.Line, e.Column, e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

// Parse normalizes a payload into events. The payload may be one JSON object,
// a JSON array of objects, a page of results ({"results": [...]} legacy audit
// page, {"entities": [...]} auditing page; only under the formats they belong
// to and auto), or JSON lines (objects separated by whitespace, as in the audit
// log file). An array element or a line may itself be a page.
//
// Parse keeps data: the events' strings and raw JSON refer to it, so the
// caller must not modify or reuse it afterwards (pass a copy when reading into
// a reused buffer, as bufio.Scanner does). Either every event is returned or
// none, with a *SyntaxError or an *ObjectError that says where the problem is.
func Parse(data []byte, opt Options) ([]Event, error) {
	format, err := checkFormat(opt.Format)
	if err != nil {
		return nil, err
	}
	p := parser{data: data, opt: opt, format: format, maxEvents: opt.MaxEvents}
	if p.maxEvents == 0 {
		p.maxEvents = DefaultMaxEvents
	}
	switch format {
	case FormatAuto:
		p.pageKeys = pageEntities | pageResults
	case FormatConfluenceAuditing:
		p.pageKeys = pageEntities
	case FormatConfluenceAudit:
		p.pageKeys = pageResults
	}

	start := skipBOM(data)
	start = skipSpace(data, start)
	if start == len(data) {
		return nil, p.syntaxError(start, -1, "empty payload: expected a JSON object, an array of objects, or JSON lines", nil)
	}
	if !utf8.Valid(data) {
		return nil, p.utf8Error()
	}
	// The fast path, for the common payload of one event: one decoding and no
	// scan. Counting brackets bounds the nesting from above at SIMD speed; a
	// payload that may nest deeper takes the scanning path, which checks.
	if data[start] == '{' && bytes.Count(data[start:], []byte{'{'})+bytes.Count(data[start:], []byte{'['}) <= MaxDepth {
		if events, ok, err := p.single(start); ok {
			return events, err
		}
	}
	return p.scanned(start)
}

const (
	pageEntities = 1 << iota
	pageResults
)

type parser struct {
	data      []byte
	opt       Options
	format    string
	pageKeys  int
	maxEvents int
	items     []item
	pages     bool // whether page members may be in the payload at all
}

// item is one object of the payload that becomes one event.
type item struct {
	start, end int
	system     string // the base URL of the legacy page it came in
}

// single parses a payload of one object. It returns ok=false when the payload
// is something else (JSON lines, a page, malformed) and must be scanned.
func (p *parser) single(start int) ([]Event, bool, error) {
	obj := trimRightSpace(p.data[start:])
	// The wire stays on the stack (UnmarshalOf decodes into a pooled copy),
	// which costs two copies of it and saves allocating and collecting it.
	var w wire[string]
	lw, err := decodeSingle(obj, &w)
	if err != nil {
		return nil, false, nil
	}
	if p.isPage(w.Entities, w.Results) || (lw != nil && p.isPage(lw.Entities, lw.Results)) {
		return nil, false, nil
	}
	events := make([]Event, 1)
	it := item{start: start, end: start + len(obj)}
	if lw != nil {
		err = normalize(p, lw, it, 0, &events[0])
	} else {
		err = normalize(p, &w, it, 0, &events[0])
	}
	if err != nil {
		return nil, true, err
	}
	return events, true, nil
}

func (p *parser) isPage(entities, results presence) bool {
	return (p.pageKeys&pageEntities != 0 && entities.kind != 0) || (p.pageKeys&pageResults != 0 && results.kind != 0)
}

// scanned splits the payload into its objects with the scanner, which checks
// the nesting depth, then decodes each.
func (p *parser) scanned(start int) ([]Event, error) {
	p.pages = p.pageKeys != 0 && (bytes.Contains(p.data, []byte(`"entities"`)) || bytes.Contains(p.data, []byte(`"results"`)))
	i := start
	for {
		i = skipSpace(p.data, i)
		if i == len(p.data) {
			break
		}
		top := i
		var err error
		switch c := p.data[i]; c {
		case '{':
			i, err = p.object(i, 0, true, top)
		case '[':
			i, err = p.array(i, 0, "", top)
		default:
			if len(p.items) > 0 {
				msg := "invalid character " + quoteByte(c) + " after top-level value"
				if c == ',' {
					msg += " (the objects of JSON lines are separated by newlines, not commas)"
				}
				return nil, p.syntaxError(i, len(p.items), msg, nil)
			}
			if !p.isScalar(i) {
				return nil, p.notJSON(i, -1)
			}
			return nil, p.objectError(i, -1, "", fmt.Errorf("expected a JSON object, an array of objects, or JSON lines, found %s", jsonKind(c)))
		}
		if err != nil {
			return nil, err
		}
	}
	events := make([]Event, len(p.items))
	a := new(arena[string])
	for k := range p.items {
		if err := p.decodeItem(k, a, &events[k]); err != nil {
			return nil, err
		}
	}
	return events, nil
}

func (p *parser) addItem(it item) error {
	if p.maxEvents >= 0 && len(p.items) >= p.maxEvents {
		line, col := position(p.data, it.start)
		return fmt.Errorf("%w: more than %d objects (object %d starts at line %d, column %d); send smaller batches",
			ErrTooManyEvents, p.maxEvents, len(p.items)+1, line, col)
	}
	p.items = append(p.items, it)
	return nil
}

// object scans the object at i, depth containers deep, adding it or, for a
// page, its elements as items. top is where the top-level value started, for
// the decoder's error messages.
func (p *parser) object(i, depth int, pageOK bool, top int) (int, error) {
	if !pageOK || !p.pages {
		end, err := p.skipContainer(i, depth, top)
		if err != nil {
			return 0, err
		}
		return end, p.addItem(item{start: i, end: end})
	}
	end, m, err := p.members(i, depth, top)
	if err != nil {
		return 0, err
	}
	// Offset 0 is never a member's value, so a zero span is an absent member.
	var page span
	switch {
	case p.pageKeys&pageEntities != 0 && m.entities.start != 0:
		page = m.entities
	case p.pageKeys&pageResults != 0 && m.results.start != 0:
		page = m.results
	}
	if page.start == 0 {
		return end, p.addItem(item{start: i, end: end})
	}
	// The scan only delimits values, and the decoder sees only the page's
	// elements: the rest of the page is checked here, so that nothing
	// malformed is accepted.
	var skipped struct{}
	if err := unmarshalCopy(p.data[i:end], &skipped); err != nil {
		return 0, p.decodeError(err, i, end-i, len(p.items))
	}
	if c := p.data[page.start]; c != '[' {
		return 0, p.objectError(page.start, len(p.items), "",
			fmt.Errorf("%q of a page must be an array of events, found %s", page.name, jsonKind(c)))
	}
	var system string
	if m.links.start != 0 {
		var links struct {
			Base string `json:"base"`
		}
		// Best effort: the base URL only fills event.system of legacy
		// records, so a malformed _links loses nothing else.
		_ = unmarshalCopy(p.data[m.links.start:m.links.end], &links)
		system = links.Base
	}
	if _, err := p.array(page.start, depth+1, system, top); err != nil {
		return 0, err
	}
	return end, nil
}

// array scans the array at i, adding its elements, which must be objects. The
// elements of a top-level array may be pages; those of a page may not.
func (p *parser) array(i, depth int, system string, top int) (int, error) {
	if depth+1 > MaxDepth {
		return 0, p.depthError(i)
	}
	pageOK := depth == 0
	i++
	for k := 0; ; k++ {
		i = skipSpace(p.data, i)
		if i == len(p.data) {
			return 0, p.decoderSyntaxError(top, i, "unexpected end of JSON input")
		}
		if k == 0 && p.data[i] == ']' {
			return i + 1, nil
		}
		c := p.data[i]
		if c != '{' {
			if c != '[' && !p.isScalar(i) {
				return 0, p.decoderSyntaxError(top, i, "invalid character "+quoteByte(c)+" looking for beginning of value")
			}
			return 0, p.objectError(i, len(p.items), "", fmt.Errorf("element %d of the array is %s; each event must be a JSON object", k+1, jsonKind(c)))
		}
		var err error
		if pageOK {
			i, err = p.object(i, depth+1, true, top)
		} else {
			var end int
			if end, err = p.skipContainer(i, depth+1, top); err == nil {
				err = p.addItem(item{start: i, end: end, system: system})
				i = end
			}
		}
		if err != nil {
			return 0, err
		}
		i = skipSpace(p.data, i)
		if i == len(p.data) {
			return 0, p.decoderSyntaxError(top, i, "unexpected end of JSON input")
		}
		switch p.data[i] {
		case ',':
			i++
		case ']':
			return i + 1, nil
		default:
			return 0, p.decoderSyntaxError(top, i, "invalid character "+quoteByte(p.data[i])+" after array element")
		}
	}
}

type span struct {
	name       string
	start, end int
}

type pageMembers struct {
	entities, results, links span
}

// members scans the object at i member by member, to find the members that
// make it a page.
func (p *parser) members(i, depth int, top int) (int, pageMembers, error) {
	var m pageMembers
	if depth+1 > MaxDepth {
		return 0, m, p.depthError(i)
	}
	d := p.data
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1, m, nil
	}
	for {
		if i == len(d) || d[i] != '"' {
			return 0, m, p.decoderSyntaxError(top, i, "expected a string for an object key")
		}
		keyEnd := skipString(d, i)
		if keyEnd < 0 {
			return 0, m, p.decoderSyntaxError(top, len(d), "unexpected end of JSON input")
		}
		key := d[i+1 : keyEnd-1]
		i = skipSpace(d, keyEnd)
		if i == len(d) || d[i] != ':' {
			return 0, m, p.decoderSyntaxError(top, i, "expected ':' after object key")
		}
		i = skipSpace(d, i+1)
		if i == len(d) {
			return 0, m, p.decoderSyntaxError(top, i, "unexpected end of JSON input")
		}
		start := i
		end, err := p.skipValue(i, depth+1, top)
		if err != nil {
			return 0, m, err
		}
		switch string(key) {
		case "entities":
			m.entities = span{"entities", start, end}
		case "results":
			m.results = span{"results", start, end}
		case "_links":
			m.links = span{"_links", start, end}
		}
		i = skipSpace(d, end)
		if i == len(d) {
			return 0, m, p.decoderSyntaxError(top, i, "unexpected end of JSON input")
		}
		switch d[i] {
		case ',':
			i = skipSpace(d, i+1)
		case '}':
			return i + 1, m, nil
		default:
			return 0, m, p.decoderSyntaxError(top, i, "invalid character "+quoteByte(d[i])+" after object key:value pair")
		}
	}
}

// skipValue returns the end of the value at i, which is depth containers deep.
// Scalars are only delimited: the decoder checks them.
func (p *parser) skipValue(i, depth, top int) (int, error) {
	d := p.data
	switch d[i] {
	case '{', '[':
		return p.skipContainer(i, depth, top)
	case '"':
		end := skipString(d, i)
		if end < 0 {
			return 0, p.decoderSyntaxError(top, len(d), "unexpected end of JSON input")
		}
		return end, nil
	}
	j := i
	for j < len(d) {
		switch d[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if j == i {
				return 0, p.decoderSyntaxError(top, i, "invalid character "+quoteByte(d[i])+" looking for beginning of value")
			}
			return j, nil
		}
		j++
	}
	return j, nil
}

// skipContainer returns the end of the object or array at i, which is depth
// containers deep. It checks only the structure (strings, brackets, depth);
// the decoder checks the rest, and describes any error the scan finds.
func (p *parser) skipContainer(i, depth, top int) (int, error) {
	d := p.data
	limit := MaxDepth - depth // levels the value may nest, itself included
	if limit <= 0 {
		return 0, p.depthError(i)
	}
	level := 0
	var objects uint64 // bit n: the container at level n is an object
	for i < len(d) {
		switch c := d[i]; c {
		case '"':
			end := skipString(d, i)
			if end < 0 {
				return 0, p.decoderSyntaxError(top, len(d), "unexpected end of JSON input")
			}
			i = end
			continue
		case '{', '[':
			if level == limit {
				return 0, p.depthError(i)
			}
			if c == '{' {
				objects |= 1 << level
			} else {
				objects &^= 1 << level
			}
			level++
		case '}', ']':
			level--
			if (c == '}') != (objects&(1<<level) != 0) {
				return 0, p.decoderSyntaxError(top, i, "invalid character "+quoteByte(c)+" closing a container it does not match")
			}
			if level == 0 {
				return i + 1, nil
			}
		}
		i++
	}
	return 0, p.decoderSyntaxError(top, len(d), "unexpected end of JSON input")
}

// skipString returns the end of the string whose quote is at i, or -1.
func skipString(d []byte, i int) int {
	from := i + 1
	for {
		j := bytes.IndexByte(d[from:], '"')
		if j < 0 {
			return -1
		}
		q := from + j
		// The quote ends the string unless an odd run of backslashes escapes it.
		k := q
		for k > i+1 && d[k-1] == '\\' {
			k--
		}
		if (q-k)%2 == 0 {
			return q + 1
		}
		from = q + 1
	}
}

// isScalar reports whether a well-formed JSON string, number, boolean or
// null starts at i, so that an error can say it is not an object, rather
// than call text that merely starts like one ("not json", "true story") a
// null or a boolean.
func (p *parser) isScalar(i int) bool {
	d := p.data
	end := i
	if d[i] == '"' {
		if end = skipString(d, i); end < 0 {
			return false
		}
	} else {
		for end < len(d) {
			switch d[end] {
			case ',', '}', ']', ' ', '\t', '\n', '\r', '{', '[', '"':
			default:
				end++
				continue
			}
			break
		}
	}
	return json.Valid(d[i:end])
}

// notJSON is the error of a payload that does not start as JSON at all.
func (p *parser) notJSON(i, object int) error {
	return p.syntaxError(i, object, "not JSON: invalid character "+quoteByte(p.data[i])+" looking for beginning of value", nil)
}

// decodeItem decodes and normalizes the k-th item into e, decoding in a.
func (p *parser) decodeItem(k int, a *arena[string], e *Event) error {
	it := p.items[k]
	obj := p.data[it.start:it.end]
	a.reset()
	lw, err := decodeWire(obj, a)
	if err != nil {
		return p.decodeError(err, it.start, len(obj), k)
	}
	if lw != nil {
		return normalize(p, lw, it, k, e)
	}
	return normalize(p, &a.w, it, k, e)
}

// decodeError places an error of the decoder, which decoded the object at
// base, in the payload.
func (p *parser) decodeError(err error, base, n, k int) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return p.syntaxError(base+syntaxErrorPos(se, n), k, se.Error(), se)
	}
	return p.objectError(base, k, "", err)
}

// syntaxErrorPos turns the Offset of the decoder (the bytes read before the
// error) into the position of the offending byte, or, for input that ends too
// soon, of the end.
func syntaxErrorPos(se *json.SyntaxError, n int) int {
	off := int(se.Offset)
	if strings.Contains(se.Error(), "unexpected end of JSON input") {
		return n
	}
	return min(max(off-1, 0), n)
}

// decoderSyntaxError describes a structural error that the scan found at pos:
// with the decoder's message when the decoder, given the top-level value that
// holds it, finds it too (its messages are encoding/json's), else with msg.
func (p *parser) decoderSyntaxError(top, pos int, msg string) error {
	k := len(p.items)
	var v struct{}
	err := unmarshalCopy(p.data[top:], &v)
	var se *json.SyntaxError
	if errors.As(err, &se) && !strings.Contains(se.Error(), "after top-level value") {
		return p.syntaxError(top+syntaxErrorPos(se, len(p.data)-top), k, se.Error(), se)
	}
	return p.syntaxError(pos, k, msg, nil)
}

func (p *parser) depthError(pos int) error {
	return p.syntaxError(pos, len(p.items), fmt.Sprintf("nested deeper than %d levels", MaxDepth), nil)
}

func (p *parser) syntaxError(pos, object int, msg string, err error) error {
	line, col := position(p.data, pos)
	return &SyntaxError{Msg: msg, Offset: int64(pos), Line: line, Column: col, Object: object, Err: err}
}

func (p *parser) objectError(pos, object int, format string, err error) error {
	line, col := position(p.data, pos)
	return &ObjectError{Object: max(object, 0), Offset: int64(pos), Line: line, Column: col, Format: format, Err: err}
}

func (p *parser) utf8Error() error {
	d := p.data
	i := 0
	for i < len(d) {
		r, size := utf8.DecodeRune(d[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	return p.syntaxError(i, -1, fmt.Sprintf("invalid UTF-8 (byte 0x%02x); payloads must be UTF-8 encoded", d[min(i, len(d)-1)]), nil)
}

// position returns the 1-based line and column (in characters) of offset pos.
func position(d []byte, pos int) (line, col int) {
	pos = min(max(pos, 0), len(d))
	line = 1 + bytes.Count(d[:pos], []byte{'\n'})
	lineStart := bytes.LastIndexByte(d[:pos], '\n') + 1
	return line, 1 + utf8.RuneCount(d[lineStart:pos])
}

func skipBOM(d []byte) int {
	if bytes.HasPrefix(d, []byte("\xef\xbb\xbf")) {
		return 3
	}
	return 0
}

func skipSpace(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func trimRightSpace(d []byte) []byte {
	n := len(d)
	for n > 0 {
		switch d[n-1] {
		case ' ', '\t', '\n', '\r':
			n--
			continue
		}
		break
	}
	return d[:n]
}

// Detect returns the format of a single JSON object (for a page, the format of
// its events), as FormatAuto would choose it.
func Detect(obj []byte) (string, error) {
	p := parser{data: obj, format: FormatAuto, maxEvents: 1}
	start := skipSpace(obj, skipBOM(obj))
	if start == len(obj) {
		return "", p.syntaxError(start, -1, "empty input: expected a JSON object", nil)
	}
	if !utf8.Valid(obj) {
		return "", p.utf8Error()
	}
	if c := obj[start]; c != '{' {
		if c != '[' && !p.isScalar(start) {
			return "", p.notJSON(start, -1)
		}
		return "", p.objectError(start, 0, "", fmt.Errorf("expected a JSON object, found %s", jsonKind(c)))
	}
	if _, err := p.skipContainer(start, 0, start); err != nil {
		return "", err
	}
	body := trimRightSpace(obj[start:])
	a := new(arena[string])
	a.prepare()
	lw, err := decodeWire(body, a)
	if err != nil {
		return "", p.decodeError(err, start, len(body), 0)
	}
	if lw != nil {
		return detectFormat(lw), nil
	}
	return detectFormat(&a.w), nil
}

func detectFormat[S str](w *wire[S]) string {
	switch {
	case w.Entities.kind != 0:
		return FormatConfluenceAuditing
	case w.Results.kind != 0:
		return FormatConfluenceAudit
	}
	return w.detect()
}
