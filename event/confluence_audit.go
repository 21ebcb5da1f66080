package event

import "fmt"

// audit normalizes a legacy AuditRecord of GET /rest/api/audit (Server/DC) or
// /wiki/rest/api/audit (Cloud). It has no i18n keys, ids, node or method.
func (w *wire[S]) audit(e *Event) error {
	t, err := parseTime(w.CreationDate)
	if err != nil {
		return fmt.Errorf("creationDate: %w", err)
	}
	e.Time = t
	a := &w.Author
	// Data Center hard-codes sysAdmin to false, so it is believed only from
	// Cloud, whose records are told by accountId or superAdmin.
	cloud := a.AccountID != "" || w.SuperAdmin != nil
	e.Actor = Actor{
		ID:          string(first(a.AccountID, a.UserKey)),
		Name:        string(a.Username),
		DisplayName: string(a.DisplayName),
		Type:        string(a.Type),
		Sysadmin:    cloud && w.SysAdmin,
		Groups:      []string{},
	}
	e.IP = string(w.RemoteAddress)
	e.Summary = string(w.Summary)
	e.Action = e.Summary
	e.Category = string(w.Category)
	e.Objects = []Object{}
	if n := len(w.AssociatedObjects) + 1; !w.AffectedObject.empty() || n > 1 {
		objects := make([]Object, 0, n)
		objects = appendObjects(objects, []wireObject[S]{w.AffectedObject})
		e.Objects = appendObjects(objects, w.AssociatedObjects)
	}
	e.Changes = changes(w.ChangedValues)
	if w.Description != "" {
		e.Attrs = map[string]string{"description": string(w.Description)}
	}
	return nil
}
