package event

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// normalize fills e from the decoded object of item it, the k-th of the
// payload, in the format of the parser (or the detected one).
func normalize[S str](p *parser, w *wire[S], it item, k int, e *Event) error {
	obj := p.data[it.start:it.end]
	format := p.format
	if format == FormatAuto {
		format = w.detect()
	} else if reason := w.mismatch(format); reason != "" {
		if looks := detectFormat(w); looks != FormatJSON && looks != format {
			reason += fmt.Sprintf("; it looks like %s", looks)
		}
		return p.objectError(it.start, k, "", fmt.Errorf("not a %s event: %s", format, reason))
	}
	var err error
	switch format {
	case FormatConfluenceAudit:
		err = w.audit(e)
	case FormatConfluenceAuditing:
		err = w.auditing(e)
	case FormatConfluenceWebhook:
		err = w.webhook(e, p.opt.WebhookEvent)
	default:
		err = w.normalized(e, obj, p.opt.Mapping)
	}
	// Under auto, an object in no known shape and with no field of an event
	// is refused; an explicit json format takes any object (for rules that
	// read only event.raw).
	if err == nil && p.opt.RequireFields && p.format == FormatAuto && format == FormatJSON && e.isEmpty() {
		err = errNoEvent(p.opt.Mapping != nil)
	}
	if err != nil {
		return p.objectError(it.start, k, format, err)
	}
	e.Format = format
	if p.opt.Source != "" || format != FormatJSON {
		e.Source = p.opt.Source
	}
	if e.System == "" {
		e.System = it.system
	}
	if e.rawJSON == nil {
		e.rawJSON = obj
	}
	timeless := e.Time.IsZero()
	switch {
	case e.ID != "":
		if err := checkID(e.ID); err != nil {
			return p.objectError(it.start, k, format, err)
		}
	case p.opt.NoContentID:
	case timeless:
		// Without the source's id or time, the fields ContentID leaves out
		// (the actor's name, unknown members) may be all that tells two
		// events apart: "Login failed" by carol and by dave.
		e.ID = e.WholeContentID()
	default:
		e.ID = e.ContentID()
	}
	if timeless && !p.opt.Received.IsZero() {
		e.Time = p.opt.Received.UTC()
		if e.Attrs == nil {
			e.Attrs = make(map[string]string, 1)
		}
		e.Attrs[ReceivedTimeAttr] = "true"
	}
	return nil
}

// ReceivedTimeAttr is the attribute that marks an event whose time is when
// alerter received it, its payload having none.
const ReceivedTimeAttr = "alerter_received_time"

// errNoEvent is the error of an object, in no known shape, that gives none
// of the fields of an event: {} or {"foo": 1} is no event (most likely a sender
// that is not configured for alerter, or a source lacking a fields:
// mapping), and taking it would store events that no rule can match.
func errNoEvent(mapped bool) error {
	const msg = `no event fields: an event needs at least one of "id", "time", "action", "category", "actor", "objects", ...`
	if mapped {
		return errors.New(msg + "; the source's fields: mapping gave none for this object")
	}
	return errors.New(msg + "; for payloads of another shape, map their fields with fields: on the source, or set format: json to take any JSON object")
}

// isEmpty reports whether the event has none of the normalized fields set
// (raw aside).
func (e *Event) isEmpty() bool {
	a := &e.Actor
	return e.ID == "" && e.Time.IsZero() && e.System == "" && e.Category == "" && e.CategoryKey == "" &&
		e.Action == "" && e.ActionKey == "" && e.Summary == "" && e.Area == "" && e.Level == "" &&
		a.ID == "" && a.Name == "" && a.DisplayName == "" && a.Type == "" && !a.Sysadmin && len(a.Groups) == 0 &&
		e.IP == "" && e.Node == "" && e.Method == "" && len(e.Objects) == 0 && len(e.Changes) == 0 && len(e.Attrs) == 0
}

// MaxIDLength is the longest id a payload may give its event.
const MaxIDLength = 256

// checkID vets an id a payload gave: it becomes the Nats-Msg-Id header of the
// stored event, so it must be short and hold no control characters (a CR LF
// would end the header).
func checkID(id string) error {
	if len(id) > MaxIDLength {
		return fmt.Errorf("id is %d bytes long; at most %d are allowed", len(id), MaxIDLength)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (0x80 <= r && r < 0xa0) || r == utf8.RuneError {
			return fmt.Errorf("id %q holds a control character", id)
		}
	}
	return nil
}

// detect picks the format of one object (not a page) by which fields it has.
func (w *wire[S]) detect() string {
	switch {
	case !w.AuditType.empty() || w.Type.Action != "" || w.Type.ActionI18nKey != "":
		return FormatConfluenceAuditing
	case present(w.CreationDate) && (w.Summary != "" || w.RemoteAddress != "" || !w.AffectedObject.empty()):
		return FormatConfluenceAudit
	case w.Event != "" && (w.UserKey != "" || isNumber(w.Timestamp) || w.hasContent()):
		return FormatConfluenceWebhook
	case w.hasContent() && (w.UserAccountID != "" || w.UserKey != "" || present(w.Timestamp)):
		return FormatConfluenceWebhook
	}
	return FormatJSON
}

// mismatch says why an object is not in the format it was said to be in, or
// "" when it may be. The test is loose (one telling field is enough): it is
// there to catch a source configured with the wrong format, not to validate.
func (w *wire[S]) mismatch(format string) string {
	switch format {
	case FormatConfluenceAuditing:
		if w.AuditType.empty() && w.Type.empty() {
			return `it has no "type" or "auditType" object`
		}
	case FormatConfluenceAudit:
		if !present(w.CreationDate) && w.Summary == "" {
			return `it has no "creationDate" or "summary"`
		}
	case FormatConfluenceWebhook:
		if w.Event == "" && !w.hasContent() {
			return `it has no "event" name and no content object (page, blog, comment, space, attachment, group, label, user, content)`
		}
	}
	return ""
}

func (o *wireObject[S]) empty() bool {
	return o.Type == "" && o.ID == "" && o.Name == "" && o.URI == "" && o.ObjectType == ""
}

// objects converts wire objects, leaving out empty ones (DC's legacy API
// reports "no affected object" as {"name": "", "objectType": ""}).
func appendObjects[S str](dst []Object, src []wireObject[S]) []Object {
	for i := range src {
		o := &src[i]
		if o.empty() {
			continue
		}
		typ := o.Type
		if typ == "" {
			typ = o.ObjectType
		}
		dst = append(dst, Object{Type: string(typ), ID: string(o.ID), Name: string(o.Name), URI: string(o.URI)})
	}
	return dst
}

// changes converts changed values of any shape; a missing from or to is "".
func changes[S str](src []wireChange[S]) []Change {
	if len(src) == 0 {
		return []Change{}
	}
	dst := make([]Change, 0, len(src))
	for i := range src {
		c := &src[i]
		dst = append(dst, Change{
			Key:  string(first(c.Key, c.I18nKey, c.Name)),
			From: string(first(c.From, c.OldValue)),
			To:   string(first(c.To, c.NewValue)),
		})
	}
	return dst
}

func first[S str](values ...S) S {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseTime interprets a timestamp: an RFC 3339 string (any offset), epoch
// seconds, milliseconds, microseconds or nanoseconds (told apart by
// magnitude), or the audit file's {epochSecond, nano}. Absent or null is the
// zero time. The result is UTC and within years 0-9999, which is what JSON
// can carry.
func parseTime(b json.RawMessage) (time.Time, error) {
	if len(b) == 0 || string(b) == "null" {
		return time.Time{}, nil
	}
	var (
		v   time.Time
		err error
	)
	switch c := b[0]; {
	case c == '"':
		// The REST shape's timestamps: read from the bytes, without making a
		// string of them.
		if v, ok := parseRFC3339([]byte(b[1 : len(b)-1])); ok {
			return inRange(v)
		}
		s, ok := unquoteSimple(b)
		if !ok {
			if s, err = unquote(b); err != nil {
				return time.Time{}, err
			}
		}
		v, err = parseTimeString(s)
	case c == '{':
		v, err = parseEpochObject(b)
	case c == '-' || ('0' <= c && c <= '9'):
		v, err = parseEpoch(string(b))
	default:
		return time.Time{}, fmt.Errorf("expected a time (RFC 3339 string, epoch number or {epochSecond, nano}), found %s", jsonKind(c))
	}
	if err != nil {
		return time.Time{}, err
	}
	return inRange(v)
}

func present(b json.RawMessage) bool { return len(b) > 0 && string(b) != "null" }

func isNumber(b json.RawMessage) bool {
	return len(b) > 0 && (b[0] == '-' || ('0' <= b[0] && b[0] <= '9'))
}

func inRange(v time.Time) (time.Time, error) {
	v = v.UTC()
	if y := v.Year(); y < 0 || y > 9999 {
		return time.Time{}, fmt.Errorf("time %s is out of range (years 0 to 9999)", v.Format(time.RFC3339Nano))
	}
	return v, nil
}

// timeLayouts are tried after RFC 3339: offsets without a colon, a space for
// the T, and no offset at all (taken as UTC).
var timeLayouts = []string{
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

func parseTimeString(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if isEpoch(s) {
		return parseEpoch(s)
	}
	if v, ok := parseRFC3339(s); ok {
		return v, nil
	}
	if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return v, nil
	}
	// Java's ZonedDateTime appends the zone's name: 2024-05-14T11:12:03+02:00[Europe/Berlin].
	if i := strings.IndexByte(s, '['); i > 0 && strings.HasSuffix(s, "]") {
		s = s[:i]
		if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return v, nil
		}
	}
	for _, layout := range timeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			return v, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a time: expected RFC 3339 (2024-05-14T09:12:03.417Z) or epoch seconds or milliseconds", s)
}

// isEpoch reports whether s looks like a number rather than a date.
func isEpoch(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', c == '.', c == 'e', c == 'E', c == '+':
		case c == '-' && i == 0:
		default:
			return false
		}
	}
	return true
}

// parseRFC3339 parses what REST timestamps look like,
// 2024-05-14T09:12:03.417Z or with a ±hh:mm offset, in a fifth of the time
// time.Parse takes; ok is false for anything else, which time.Parse then
// reads (or rejects).
func parseRFC3339[T []byte | string](s T) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := atoi(s[0:4])
	month, ok2 := atoi(s[5:7])
	day, ok3 := atoi(s[8:10])
	hour, ok4 := atoi(s[11:13])
	minute, ok5 := atoi(s[14:16])
	sec, ok6 := atoi(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if s[i] == '.' {
		j := i + 1
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		digits := j - i - 1
		if digits < 1 || digits > 9 {
			return time.Time{}, false
		}
		nsec, _ = atoi(s[i+1 : j])
		for range 9 - digits {
			nsec *= 10
		}
		i = j
	}
	offset := 0
	switch zone := s[i:]; {
	case len(zone) == 1 && zone[0] == 'Z':
	case len(zone) == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':':
		h, okh := atoi(zone[1:3])
		m, okm := atoi(zone[4:6])
		if !okh || !okm || h > 23 || m > 59 {
			return time.Time{}, false
		}
		offset = h*3600 + m*60
		if zone[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// atoi reads a run of decimal digits.
func atoi[T []byte | string](s T) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch is the number of days from 1970-01-01 to a proleptic
// Gregorian date (Howard Hinnant's days_from_civil), for years 0 to 9999.
func daysSinceEpoch(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400
	if year < 0 {
		era = (year - 399) / 400
	}
	yoe := year - era*400
	m := month - 3
	if month <= 2 {
		m = month + 9
	}
	doy := (153*m+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// Epoch numbers are told apart by magnitude: 1e11 seconds is the year 5138,
// 1e11 milliseconds is 1973, so any date after 1973 is read right whichever
// unit it is in.
const (
	maxEpochSeconds = 1e11
	maxEpochMillis  = 1e14
	maxEpochMicros  = 1e17
)

func parseEpoch(s string) (time.Time, error) {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || (hasFrac && !isDigits(frac)) {
		return parseEpochFloat(s)
	}
	a := n
	if a < 0 {
		a = -a
	}
	var unit time.Duration
	switch {
	case a < maxEpochSeconds:
		unit = time.Second
	case a < maxEpochMillis:
		unit = time.Millisecond
	case a < maxEpochMicros:
		unit = time.Microsecond
	default:
		unit = time.Nanosecond
	}
	sec, sub := n/int64(time.Second/unit), n%int64(time.Second/unit)*int64(unit)
	// The fraction is read as decimal digits, exactly: 1715677923.417 is
	// 417 ms, not the nearest float64.
	if frac = frac[:min(len(frac), 9)]; frac != "" {
		f, _ := strconv.ParseInt(frac, 10, 64)
		for range 9 - len(frac) {
			f *= 10
		}
		f = f * int64(unit) / int64(time.Second)
		if strings.HasPrefix(intPart, "-") {
			f = -f
		}
		sub += f
	}
	return time.Unix(sec, sub), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseEpochFloat reads an epoch number with an exponent (JSON allows 1.7e9).
func parseEpochFloat(s string) (time.Time, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, fmt.Errorf("cannot parse %q as an epoch time", s)
	}
	a := math.Abs(f)
	var perSecond float64
	switch {
	case a < maxEpochSeconds:
		perSecond = 1
	case a < maxEpochMillis:
		perSecond = 1e3
	case a < maxEpochMicros:
		perSecond = 1e6
	case a < 1e20:
		perSecond = 1e9
	default:
		return time.Time{}, fmt.Errorf("epoch time %s is out of range", s)
	}
	sec, frac := math.Modf(f / perSecond)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))), nil
}

// parseEpochObject reads the audit file's {"epochSecond": s, "nano": n}.
func parseEpochObject(b []byte) (time.Time, error) {
	sec, nano, ok := scanEpochObject(b)
	if !ok {
		// Not the compact shape the file has: let the decoder read it.
		var v struct {
			EpochSecond *json.Number `json:"epochSecond"`
			Nano        json.Number  `json:"nano"`
		}
		if err := unmarshalCopy(b, &v); err != nil {
			return time.Time{}, fmt.Errorf("expected {epochSecond, nano}: %w", err)
		}
		if v.EpochSecond == nil {
			return time.Time{}, errors.New(`the timestamp object has no "epochSecond"`)
		}
		var err error
		if sec, err = v.EpochSecond.Int64(); err != nil {
			return time.Time{}, fmt.Errorf("epochSecond: %w", err)
		}
		if v.Nano != "" {
			if nano, err = v.Nano.Int64(); err != nil {
				return time.Time{}, fmt.Errorf("nano: %w", err)
			}
		}
	}
	if sec > maxEpochSeconds*1e3 || sec < -maxEpochSeconds*1e3 {
		return time.Time{}, fmt.Errorf("epochSecond %d is out of range", sec)
	}
	return time.Unix(sec, nano), nil
}

// scanEpochObject reads {"epochSecond":1715681444,"nano":7000000} (in either
// key order, with whitespace) without the decoder, which costs more than the
// rest of the timestamp's handling; ok is false for anything else.
func scanEpochObject(b []byte) (sec, nano int64, ok bool) {
	i := skipSpace(b, 1)
	seen := false
	for i < len(b) && b[i] == '"' {
		end := skipString(b, i)
		if end < 0 {
			return 0, 0, false
		}
		key := string(b[i+1 : end-1])
		i = skipSpace(b, end)
		if i == len(b) || b[i] != ':' {
			return 0, 0, false
		}
		i = skipSpace(b, i+1)
		j := i
		for j < len(b) && (b[j] == '-' || ('0' <= b[j] && b[j] <= '9')) {
			j++
		}
		n, err := strconv.ParseInt(string(b[i:j]), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		switch key {
		case "epochSecond":
			sec, seen = n, true
		case "nano":
			nano = n
		default:
			return 0, 0, false
		}
		i = skipSpace(b, j)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return sec, nano, seen && i == len(b)-1 && b[i] == '}'
}
