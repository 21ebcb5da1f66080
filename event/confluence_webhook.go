package event

import (
	"fmt"
	"strconv"
)

// webhook normalizes a Confluence webhook body. Data Center bodies name their
// event ({"event": "page_created", "userKey": ..., "page": {"id": ...}});
// Cloud (Connect) bodies carry only the content object and the account
// ({"page": {...}, "userAccountId": ..., "timestamp": ...}), so their action
// is name (the event the webhook route was registered for) or else the kind
// of the content object ("page"). Both are thin: ids, no IP, no changes.
func (w *wire[S]) webhook(e *Event, name string) error {
	t, err := parseTime(w.Timestamp)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	e.Time = t
	contents := [...]struct {
		key, typ string
		c        *wireContent[S]
	}{
		{"page", "Page", w.Page},
		{"blog", "Blog", w.Blog},
		{"blogpost", "Blog", w.BlogPost},
		{"comment", "Comment", w.Comment},
		{"attachment", "Attachment", w.Attachment},
		{"space", "Space", w.Space},
		{"group", "Group", w.Group},
		{"label", "Label", w.Label},
		{"user", "User", w.User},
		{"content", "Content", w.Content},
	}
	n := 0
	kind := ""
	for _, c := range contents {
		if c.c != nil {
			if n == 0 {
				kind = c.key
			}
			n++
		}
	}
	e.Objects = make([]Object, 0, n)
	for _, c := range contents {
		if c.c != nil {
			e.Objects = append(e.Objects, c.c.object(c.typ))
		}
	}
	action := string(w.Event)
	if action == "" {
		action = name
	}
	if action == "" {
		action = kind
	}
	e.Action, e.ActionKey, e.Summary = action, action, action
	id := string(first(w.UserKey, w.UserAccountID))
	e.Actor = Actor{ID: id, Groups: []string{}}
	if id != "" {
		e.Actor.Type = "user"
	}
	e.Changes = []Change{}
	if w.UpdateTrigger != "" || w.AccountType != "" || w.SuppressNotifications != nil {
		e.Attrs = make(map[string]string, 3)
		if w.UpdateTrigger != "" {
			e.Attrs["updateTrigger"] = string(w.UpdateTrigger)
		}
		if w.AccountType != "" {
			e.Attrs["accountType"] = string(w.AccountType)
		}
		if w.SuppressNotifications != nil {
			e.Attrs["suppressNotifications"] = strconv.FormatBool(*w.SuppressNotifications)
		}
	}
	return nil
}

func (w *wire[S]) hasContent() bool {
	return w.Page != nil || w.Blog != nil || w.BlogPost != nil || w.Comment != nil || w.Attachment != nil ||
		w.Space != nil || w.Group != nil || w.Label != nil || w.User != nil || w.Content != nil
}

// object makes the content object of a webhook an event object. Its type is
// capitalized as the audit framework names objects ("Page", "Space"), so that
// object("Page") finds pages in both. A space known only by its key, a group
// or label known only by its name, a user only by its account, get that as id
// (the audit framework's group objects have the name as id too).
func (c *wireContent[S]) object(typ string) Object {
	id := string(c.ID)
	if id == "" {
		id = string(first(c.IDAsString, c.Key, c.AccountID, c.UserKey))
	}
	if id == "" && (typ == "Group" || typ == "Label") {
		id = string(c.Name)
	}
	return Object{
		Type: typ,
		ID:   id,
		Name: string(first(c.Title, c.Name, c.DisplayName, c.Username)),
		URI:  string(c.Self),
	}
}
