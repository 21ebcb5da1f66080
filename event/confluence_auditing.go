package event

import (
	"fmt"
	"net/url"
	"strings"
)

// auditing normalizes a Data Center audit-framework AuditEntity, in the REST
// shape (GET /rest/auditing/1.0/events: a "type" object, string timestamps in
// the server's zone) or the audit log file's (an "auditType" object with area
// and level, {epochSecond, nano} timestamps).
func (w *wire[S]) auditing(e *Event) error {
	t, err := parseTime(w.Timestamp)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	e.Time = t
	// Only one of the two is there; taking each field from either copes with
	// a payload that has both.
	at, rt := &w.AuditType, &w.Type
	e.Category = string(first(at.Category, rt.Category))
	e.CategoryKey = string(first(at.CategoryI18nKey, rt.CategoryI18nKey))
	e.Action = string(first(at.Action, rt.Action))
	e.ActionKey = string(first(at.ActionI18nKey, rt.ActionI18nKey))
	e.Area = string(first(at.Area, rt.Area))
	e.Level = string(first(at.Level, rt.Level))
	e.Summary = e.Action
	e.Actor = Actor{
		ID:          string(w.Author.ID),
		Name:        usernameFromURI(string(w.Author.URI)),
		DisplayName: string(w.Author.Name),
		Type:        string(w.Author.Type),
		Groups:      []string{},
	}
	e.IP = string(w.Source)
	e.System = string(w.System)
	e.Node = string(w.Node)
	e.Method = string(w.Method)
	e.Objects = []Object{}
	if len(w.AffectedObjects) > 0 {
		e.Objects = appendObjects(make([]Object, 0, len(w.AffectedObjects)), w.AffectedObjects)
	}
	e.Changes = changes(w.ChangedValues)
	e.Attrs = extraAttributes(w.ExtraAttributes)
	return nil
}

// extraAttributes maps extra attributes by their display name, as docs/rules.md (The event) has
// attrs "by name" and as the audit log UI shows them. The i18n keys are not
// added as keys too: that would double every attribute in alerts and in
// templates that list attrs, and the keys stay in event.raw. An attribute
// without a name is kept under its key; of two with one name the first wins.
func extraAttributes[S str](src []wireAttr[S]) map[string]string {
	if len(src) == 0 {
		return nil
	}
	m := make(map[string]string, len(src))
	for i := range src {
		a := &src[i]
		name := string(first(a.Name, a.NameI18nKey))
		if name == "" {
			continue
		}
		if _, dup := m[name]; !dup {
			m[name] = string(a.Value)
		}
	}
	return m
}

// usernameFromURI returns the username query parameter of an author's uri
// (https://confluence.example.com/admin/users/viewuser.action?username=jdoe),
// which is the only place the REST shape has the login name, or "".
func usernameFromURI(uri string) string {
	q := strings.IndexByte(uri, '?')
	if q < 0 {
		return ""
	}
	query := uri[q:] // keeps the '?', so every parameter follows '?' or '&'
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query = query[:h]
	}
	for from := 1; ; {
		i := strings.Index(query[from:], "username=")
		if i < 0 {
			return ""
		}
		i += from
		if c := query[i-1]; c != '?' && c != '&' {
			from = i + 1
			continue
		}
		value := query[i+len("username="):]
		if end := strings.IndexByte(value, '&'); end >= 0 {
			value = value[:end]
		}
		if strings.ContainsAny(value, "%+") {
			if v, err := url.QueryUnescape(value); err == nil {
				return v
			}
		}
		return value
	}
}
