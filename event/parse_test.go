package event

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	jdoeKey    = "8a7f808a8b1c2d3e018b1c2d45670000"
	mchenKey   = "8a7f808a8b1c2d3e018b1c2e11220001"
	bwilsonKey = "8a7f808a8b1c2d3e018b1c2e33440002"
	tnguyenKey = "8a7f808a8b1c2d3e018b1c2e77880004"
	svcKey     = "8a7f808a8b1c2d3e018b1c2e99aa0005"
	baseURL    = "https://confluence.example.com"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func mustParse(tb testing.TB, data []byte, opt Options) []Event {
	tb.Helper()
	events, err := Parse(data, opt)
	if err != nil {
		tb.Fatalf("Parse(%s): %v", opt.Format, err)
	}
	return events
}

// at is 2024-05-14 UTC at the given time of day.
func at(h, m, s, ms int) time.Time {
	return time.Date(2024, 5, 14, h, m, s, ms*int(time.Millisecond), time.UTC)
}

// checkEvent compares an event with want on every field but the id and the
// raw payload (checked elsewhere), and checks that its time is UTC.
func checkEvent(t *testing.T, name string, got, want Event) {
	t.Helper()
	if got.Time.Location() != time.UTC {
		t.Errorf("%s: time %v is not UTC", name, got.Time)
	}
	if !got.Time.Equal(want.Time) {
		t.Errorf("%s: time = %s, want %s", name, got.Time.Format(time.RFC3339Nano), want.Time.Format(time.RFC3339Nano))
	}
	if got.ID == "" {
		t.Errorf("%s: empty id", name)
	}
	if want.ID != "" && got.ID != want.ID {
		t.Errorf("%s: id = %q, want %q", name, got.ID, want.ID)
	}
	g, w := got, want
	g.ID, w.ID = "", ""
	g.Time, w.Time = time.Time{}, time.Time{}
	g.rawJSON, w.rawJSON = nil, nil
	g.Raw, w.Raw = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got  %+v\n want %+v", name, g, w)
	}
}

func user(id, name, display string) Actor {
	return Actor{ID: id, Name: name, DisplayName: display, Type: "user", Groups: []string{}}
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file   string
		format string
		count  int
	}{
		{"legacy-audit-page.json", FormatConfluenceAudit, 10},
		{"auditing-events-page.json", FormatConfluenceAuditing, 10},
		{"audit-file-sample.log", FormatConfluenceAuditing, 10},
		{"soteri-events.jsonl", FormatConfluenceAuditing, 28},
		{"soteri-events.file.jsonl", FormatConfluenceAuditing, 28},
		{"webhook-dc-page_created.json", FormatConfluenceWebhook, 1},
		{"webhook-dc-page_updated.json", FormatConfluenceWebhook, 1},
		{"webhook-dc-space_permissions_updated.json", FormatConfluenceWebhook, 1},
		{"webhook-cloud-page_updated.json", FormatConfluenceWebhook, 1},
		{"webhook-cloud-group_created.json", FormatConfluenceWebhook, 1},
	}
	for _, tt := range tests {
		data := readFixture(t, tt.file)
		var byFormat [][]Event
		for _, format := range []string{"", FormatAuto, tt.format} {
			t.Run(tt.file+"/"+format, func(t *testing.T) {
				events := mustParse(t, data, Options{Format: format, Source: "confluence-dc"})
				if len(events) != tt.count {
					t.Fatalf("%d events, want %d", len(events), tt.count)
				}
				for i, e := range events {
					if e.Format != tt.format || e.Source != "confluence-dc" || e.ID == "" || e.Time.Location() != time.UTC ||
						e.Time.Year() != 2024 || e.Action == "" || e.Objects == nil || e.Changes == nil || e.Actor.Groups == nil {
						t.Errorf("event %d: format %q source %q id %q time %v action %q objects %v changes %v",
							i, e.Format, e.Source, e.ID, e.Time, e.Action, e.Objects, e.Changes)
					}
					if raw := e.RawJSON(); len(raw) == 0 || raw[0] != '{' || raw[len(raw)-1] != '}' || !bytes.Contains(data, raw) {
						t.Errorf("event %d: raw JSON %.40q is not an object of the payload", i, raw)
					}
				}
				byFormat = append(byFormat, events)
			})
		}
		// Auto and the explicit format normalize alike.
		if len(byFormat) == 3 && !reflect.DeepEqual(byFormat[1], byFormat[2]) {
			t.Errorf("%s: auto and %s disagree", tt.file, tt.format)
		}
	}
}

func TestLegacyAuditPage(t *testing.T) {
	events := mustParse(t, readFixture(t, "legacy-audit-page.json"), Options{Source: "dc"})
	base := Event{Source: "dc", Format: FormatConfluenceAudit, System: baseURL, Changes: []Change{}, Objects: []Object{}}
	jane := Actor{ID: jdoeKey, Name: "jdoe", DisplayName: "Jane Doe", Type: "user", Groups: []string{}}
	ming := Actor{ID: mchenKey, Name: "mchen", DisplayName: "Ming Chen", Type: "user", Groups: []string{}}

	want := base
	want.Time = time.UnixMilli(1715680805120).UTC()
	want.Category, want.Action, want.Summary = "Soteri Security for Confluence", "Scanning rule toggled", "Scanning rule toggled"
	want.Actor, want.IP = jane, "203.0.113.24"
	want.Objects = []Object{{Type: "Scanning rule", Name: "AWS Access Key ID"}}
	want.Changes = []Change{{Key: "Enabled", From: "true", To: "false"}}
	checkEvent(t, "record 0", events[0], want)
	if !events[0].Time.Equal(at(10, 0, 5, 120)) {
		t.Errorf("record 0: creationDate 1715680805120 is %s", events[0].Time)
	}

	// The affected object comes first, then the associated ones.
	want = base
	want.Time = at(9, 10, 41, 902)
	want.Category, want.Action, want.Summary = "Users and groups", "User added to group", "User added to group"
	want.Actor, want.IP = ming, "198.51.100.7"
	want.Objects = []Object{{Type: "Group", Name: "confluence-administrators"}, {Type: "User", Name: "tnguyen"}}
	checkEvent(t, "record 2", events[2], want)

	// DC reports "no affected object" as an empty one, which is left out.
	want = base
	want.Time = at(9, 2, 30, 114)
	want.Category, want.Action, want.Summary = "Global Administration", "Global settings changed", "Global settings changed"
	want.Actor, want.IP = jane, "203.0.113.24"
	want.Changes = []Change{
		{Key: "Site title", From: "Confluence", To: "Example Corp Wiki"},
		{Key: "Base URL", From: "http://confluence.internal:8090", To: "https://confluence.example.com"},
	}
	checkEvent(t, "record 5", events[5], want)

	// The anonymous author has a null username.
	want = base
	want.Time = at(8, 40, 2, 600)
	want.Category, want.Action, want.Summary = "Spaces", "Space deleted", "Space deleted"
	want.Actor, want.IP = Actor{ID: "-2", DisplayName: "Anonymous", Type: "user", Groups: []string{}}, "192.0.2.77"
	want.Objects = []Object{{Type: "Space", Name: "Scratch"}}
	checkEvent(t, "record 9", events[9], want)

	for i, e := range events {
		if e.CategoryKey != "" || e.ActionKey != "" || e.Actor.Sysadmin {
			t.Errorf("record %d: keys %q/%q sysadmin %v: the legacy API has no keys and DC no sysadmin", i, e.CategoryKey, e.ActionKey, e.Actor.Sysadmin)
		}
	}
}

func TestLegacyAuditCloud(t *testing.T) {
	// A Cloud record (shape of Elastic's captured test-audit-cloud.log):
	// accountId-based author, superAdmin, hidden values.
	cloud := []byte(`{"author":{"type":"user","displayName":"Admin","operations":null,"accountId":"5b10ac8d82e05b22cc7d4ef5","accountType":"atlassian","publicName":"Admin","isExternalCollaborator":false},
		"remoteAddress":"81.2.69.142","creationDate":1635852908370,"summary":"Space permissions added","description":"Added to space","category":"Permissions",
		"sysAdmin":true,"superAdmin":false,"affectedObject":{"name":"Team","objectType":"Space"},
		"changedValues":[{"name":"Type","oldValue":"","hiddenOldValue":"","newValue":"VIEWSPACE","hiddenNewValue":""}],
		"associatedObjects":[{"name":"jira-users","objectType":"Group"}]}`)
	for _, format := range []string{FormatAuto, FormatConfluenceAudit} {
		events := mustParse(t, cloud, Options{Format: format})
		checkEvent(t, "cloud record", events[0], Event{
			Format:   FormatConfluenceAudit,
			Time:     time.UnixMilli(1635852908370).UTC(),
			Category: "Permissions", Action: "Space permissions added", Summary: "Space permissions added",
			Actor:   Actor{ID: "5b10ac8d82e05b22cc7d4ef5", DisplayName: "Admin", Type: "user", Sysadmin: true, Groups: []string{}},
			IP:      "81.2.69.142",
			Objects: []Object{{Type: "Space", Name: "Team"}, {Type: "Group", Name: "jira-users"}},
			Changes: []Change{{Key: "Type", To: "VIEWSPACE"}},
			Attrs:   map[string]string{"description": "Added to space"},
		})
	}
	// DC hard-codes sysAdmin false; a DC record claiming true is not believed.
	dc := []byte(`{"author":{"type":"user","username":"jdoe","userKey":"k"},"creationDate":1715680805120,"summary":"x","sysAdmin":true}`)
	if e := mustParse(t, dc, Options{})[0]; e.Actor.Sysadmin {
		t.Error("a DC record's sysAdmin was believed")
	}
}

func TestAuditingPage(t *testing.T) {
	events := mustParse(t, readFixture(t, "auditing-events-page.json"), Options{Source: "poller"})
	base := Event{Source: "poller", Format: FormatConfluenceAuditing, System: baseURL, Method: "Browser",
		Objects: []Object{}, Changes: []Change{}}

	want := base
	want.Time = at(9, 12, 3, 417)
	want.Category, want.CategoryKey = "Permissions", "audit.logging.category.permissions"
	want.Action, want.ActionKey = "Global permission added", "audit.logging.summary.global.permission.added"
	want.Summary = want.Action
	want.Actor = user(jdoeKey, "jdoe", "Jane Doe")
	want.IP, want.Node = "203.0.113.24", "node-1"
	want.Objects = []Object{{Type: "Group", ID: "contractors", Name: "contractors",
		URI: baseURL + "/admin/users/domembersofgroupsearch.action?membersOfGroupTerm=contractors"}}
	// "from" is absent: it is "".
	want.Changes = []Change{{Key: "Group", To: "contractors"}, {Key: "Type", To: "SYSTEMADMINISTRATOR"}}
	checkEvent(t, "entity 0", events[0], want)

	// An object without id or uri.
	want = base
	want.Time = at(9, 5, 59, 771)
	want.Category, want.CategoryKey = "Permissions", "audit.logging.category.permissions"
	want.Action, want.ActionKey = "Space permission added", "audit.logging.summary.space.permission.added"
	want.Summary = want.Action
	want.Actor = user(bwilsonKey, "bwilson", "Bob Wilson")
	want.IP, want.Node = "10.20.30.41", "node-1"
	want.Objects = []Object{{Type: "User", Name: "Anonymous"}, {Type: "Space", ID: "98306", Name: "Finance", URI: baseURL + "/display/FIN"}}
	want.Changes = []Change{{Key: "Space", To: "FIN"}, {Key: "Type", To: "VIEWSPACE"}}
	checkEvent(t, "entity 3", events[3], want)

	want = base
	want.Time = at(8, 47, 44, 19)
	want.Category, want.CategoryKey = "Import/Export", "audit.logging.category.import.export"
	want.Action, want.ActionKey = "Space export", "audit.logging.summary.space.export"
	want.Summary = want.Action
	want.Actor = user(mchenKey, "mchen", "Ming Chen")
	want.IP, want.Node = "198.51.100.7", "node-2"
	want.Objects = []Object{{Type: "Space", ID: "98310", Name: "Human Resources", URI: baseURL + "/display/HR"}}
	want.Attrs = map[string]string{"Export type": "XML"}
	checkEvent(t, "entity 7", events[7], want)

	// The anonymous author has an empty uri, so no login name.
	if a := events[8].Actor; !reflect.DeepEqual(a, Actor{ID: "-2", DisplayName: "Anonymous", Type: "user", Groups: []string{}}) {
		t.Errorf("entity 8: actor %+v", a)
	}
	if e := events[9]; e.Actor.Name != "svc-audit" || e.Method != "Rest API" || e.Action != "Audit Log search performed" ||
		e.Attrs["Results returned"] != "200" || e.Attrs["ID Range"] != "1 - 200" || len(e.Attrs) != 4 {
		t.Errorf("entity 9: actor %q method %q action %q attrs %v", e.Actor.Name, e.Method, e.Action, e.Attrs)
	}
	for i, e := range events {
		if e.Area != "" || e.Level != "" {
			t.Errorf("entity %d: area %q level %q: the REST shape has none", i, e.Area, e.Level)
		}
		// Newest first, as the API returns them.
		if i > 0 && !e.Time.Before(events[i-1].Time) {
			t.Errorf("entity %d is not older than entity %d", i, i-1)
		}
	}
}

func TestAuditFile(t *testing.T) {
	events := mustParse(t, readFixture(t, "audit-file-sample.log"), Options{Format: FormatConfluenceAuditing, Source: "file"})
	want := Event{
		Source: "file", Format: FormatConfluenceAuditing, System: baseURL,
		Time:     at(8, 35, 19, 355),
		Category: "Auditing", CategoryKey: "atlassian.audit.event.category.audit",
		Action: "Audit Log search performed", ActionKey: "atlassian.audit.event.action.audit.search",
		Summary: "Audit Log search performed",
		Area:    "AUDIT_LOG", Level: "BASE",
		// The file shape has no author uri, so no login name.
		Actor: user(svcKey, "", "Audit Poller (svc)"),
		IP:    "10.0.5.12", Node: "node-1", Method: "Rest API",
		Objects: []Object{}, Changes: []Change{},
		Attrs: map[string]string{
			"ID Range":         "1 - 200",
			"Query":            "From : 2024-05-14T08:30:00Z;To : 2024-05-14T08:35:00Z;",
			"Results returned": "200",
			"Timestamp Range":  "2024-05-14T08:30:01.118Z - 2024-05-14T08:34:58.402Z",
		},
	}
	checkEvent(t, "line 1", events[0], want)

	want = Event{
		Source: "file", Format: FormatConfluenceAuditing, System: baseURL,
		Time:     at(8, 47, 44, 19), // {"epochSecond":1715676464,"nano":19000000}
		Category: "Import/Export", CategoryKey: "audit.logging.category.import.export",
		Action: "Space export", ActionKey: "audit.logging.summary.space.export", Summary: "Space export",
		Area: "LOCAL_CONFIG_AND_ADMINISTRATION", Level: "BASE",
		Actor: user(mchenKey, "", "Ming Chen"),
		IP:    "198.51.100.7", Node: "node-2", Method: "Browser",
		Objects: []Object{{Type: "Space", ID: "98310", Name: "Human Resources"}},
		Changes: []Change{},
		Attrs:   map[string]string{"Export type": "XML"},
	}
	checkEvent(t, "line 3", events[2], want)
	for i, e := range events {
		if e.Area == "" || e.Level != "BASE" {
			t.Errorf("line %d: area %q level %q", i+1, e.Area, e.Level)
		}
	}
}

func TestSoteriEvents(t *testing.T) {
	rest := mustParse(t, readFixture(t, "soteri-events.jsonl"), Options{})
	file := mustParse(t, readFixture(t, "soteri-events.file.jsonl"), Options{})
	if len(rest) != 28 || len(file) != 28 {
		t.Fatalf("%d REST and %d file events, want 28 and 28", len(rest), len(file))
	}
	want := Event{
		Format: FormatConfluenceAuditing, System: baseURL,
		Time:     at(10, 10, 44, 7),
		Category: "Soteri Security for Confluence", CategoryKey: "soteri.security.confluence.audit.category",
		Action:    "User edit introduced potentially sensitive content",
		ActionKey: "soteri.security.confluence.audit.user-edit-introduced-potentially-sensitive-content",
		Summary:   "User edit introduced potentially sensitive content",
		Actor:     user(tnguyenKey, "tnguyen", "Tom Nguyen"),
		IP:        "10.20.30.88", Node: "node-1", Method: "Browser",
		Objects: []Object{
			{Type: "Page", ID: "1015809", Name: "Q2 vendor payments", URI: baseURL + "/pages/viewpage.action?pageId=1015809"},
			{Type: "Space", ID: "98306", Name: "Finance", URI: baseURL + "/display/FIN"},
		},
		Changes: []Change{},
		Attrs:   map[string]string{"Content version": "7", "Findings": "2", "Rules matched": "AWS Secret Access Key, Generic password"},
	}
	checkEvent(t, "REST line 10", rest[9], want)

	// The file copy of the same event: no uris, no login name, area and level.
	want.Actor.Name = ""
	want.Objects = []Object{{Type: "Page", ID: "1015809", Name: "Q2 vendor payments"}, {Type: "Space", ID: "98306", Name: "Finance"}}
	want.Area, want.Level = "ECOSYSTEM", "BASE"
	checkEvent(t, "file line 10", file[9], want)

	for i := range rest {
		r, f := rest[i], file[i]
		if r.ID != f.ID {
			t.Errorf("line %d: REST id %s != file id %s for the same event", i+1, r.ID, f.ID)
		}
		if r.Category != "Soteri Security for Confluence" || f.Area != "ECOSYSTEM" || r.Actor.Name == "" {
			t.Errorf("line %d: category %q area %q name %q", i+1, r.Category, f.Area, r.Actor.Name)
		}
		// The copies agree on everything both have.
		r.Actor.Name, r.Area, r.Level, r.rawJSON = "", f.Area, f.Level, f.rawJSON
		for j := range r.Objects {
			r.Objects[j].URI = ""
		}
		if !reflect.DeepEqual(r, f) {
			t.Errorf("line %d: REST and file copies differ:\n%+v\n%+v", i+1, r, f)
		}
	}
}

// TestRESTAndFileIDsAgree: the auditing page and the audit file hold the same
// ten events (newest first and oldest first), as do the two Soteri files.
func TestRESTAndFileIDsAgree(t *testing.T) {
	page := mustParse(t, readFixture(t, "auditing-events-page.json"), Options{})
	file := mustParse(t, readFixture(t, "audit-file-sample.log"), Options{})
	for i := range page {
		if page[i].ID != file[len(file)-1-i].ID {
			t.Errorf("entity %d (%s) and file line %d (%s) differ in id", i, page[i].Action, len(file)-i, file[len(file)-1-i].Action)
		}
	}
}

func TestWebhooks(t *testing.T) {
	tests := []struct {
		file string
		want Event
	}{
		{"webhook-dc-page_created.json", Event{
			Time:   time.UnixMilli(1715681444007).UTC(),
			Action: "page_created", ActionKey: "page_created", Summary: "page_created",
			Actor:   Actor{ID: tnguyenKey, Type: "user", Groups: []string{}},
			Objects: []Object{{Type: "Page", ID: "1015809"}},
		}},
		{"webhook-dc-page_updated.json", Event{
			Time:   time.UnixMilli(1715681520150).UTC(),
			Action: "page_updated", ActionKey: "page_updated", Summary: "page_updated",
			Actor:   Actor{ID: tnguyenKey, Type: "user", Groups: []string{}},
			Objects: []Object{{Type: "Page", ID: "1015809"}},
			Attrs:   map[string]string{"updateTrigger": "edit_page"},
		}},
		{"webhook-dc-space_permissions_updated.json", Event{
			Time:   at(9, 5, 59, 771),
			Action: "space_permissions_updated", ActionKey: "space_permissions_updated", Summary: "space_permissions_updated",
			Actor:   Actor{ID: bwilsonKey, Type: "user", Groups: []string{}},
			Objects: []Object{{Type: "Space", ID: "FIN"}},
		}},
		// Cloud bodies name no event: the action is the content kind.
		{"webhook-cloud-page_updated.json", Event{
			Time:   time.UnixMilli(1715681520192).UTC(),
			Action: "page", ActionKey: "page", Summary: "page",
			Actor: Actor{ID: "712020:3f1c2b9e-6a0d-4c57-9e7b-1d2a3b4c5d6e", Type: "user", Groups: []string{}},
			Objects: []Object{{Type: "Page", ID: "1015809", Name: "Q2 vendor payments",
				URI: "https://example.atlassian.net/wiki/spaces/FIN/pages/1015809/Q2+vendor+payments"}},
			Attrs: map[string]string{"updateTrigger": "edit_page", "accountType": "customer", "suppressNotifications": "false"},
		}},
		{"webhook-cloud-group_created.json", Event{
			Time:   time.UnixMilli(1715678051000).UTC(),
			Action: "group", ActionKey: "group", Summary: "group",
			Actor:   Actor{ID: "5e28d102cc34b10ca3dbf2b0", Type: "user", Groups: []string{}},
			Objects: []Object{{Type: "Group", ID: "contractors", Name: "contractors"}},
			Attrs:   map[string]string{"accountType": "customer"},
		}},
	}
	for _, tt := range tests {
		want := tt.want
		want.Format, want.Source, want.Changes = FormatConfluenceWebhook, "hook", []Change{}
		for _, format := range []string{FormatAuto, FormatConfluenceWebhook} {
			events := mustParse(t, readFixture(t, tt.file), Options{Format: format, Source: "hook"})
			if len(events) != 1 {
				t.Fatalf("%s: %d events", tt.file, len(events))
			}
			checkEvent(t, tt.file, events[0], want)
		}
	}

	// The route of a Cloud webhook can name its event.
	e := mustParse(t, readFixture(t, "webhook-cloud-page_updated.json"), Options{WebhookEvent: "page_updated"})[0]
	if e.Action != "page_updated" || e.ActionKey != "page_updated" {
		t.Errorf("Cloud body with WebhookEvent: action %q key %q", e.Action, e.ActionKey)
	}
	// A body's own event name wins over the route's.
	e = mustParse(t, readFixture(t, "webhook-dc-page_created.json"), Options{WebhookEvent: "page_updated"})[0]
	if e.Action != "page_created" {
		t.Errorf("DC body with WebhookEvent: action %q", e.Action)
	}
}

func TestTimestamps(t *testing.T) {
	tests := []struct {
		name, payload string
		want          time.Time
	}{
		{"REST Z", `{"timestamp":"2024-05-14T09:12:03.417Z","type":{"action":"a"}}`, at(9, 12, 3, 417)},
		{"REST server offset", `{"timestamp":"2024-05-14T11:12:03.417+02:00","type":{"action":"a"}}`, at(9, 12, 3, 417)},
		{"REST negative offset", `{"timestamp":"2024-05-14T04:12:03.417-05:00","type":{"action":"a"}}`, at(9, 12, 3, 417)},
		{"REST offset without colon", `{"timestamp":"2024-05-14T11:12:03.417+0200","type":{"action":"a"}}`, at(9, 12, 3, 417)},
		{"Java zone name", `{"timestamp":"2024-05-14T11:12:03.417+02:00[Europe/Berlin]","type":{"action":"a"}}`, at(9, 12, 3, 417)},
		{"no offset is UTC", `{"timestamp":"2024-05-14T09:12:03.417","type":{"action":"a"}}`, at(9, 12, 3, 417)},
		{"file epochSecond/nano", `{"timestamp":{"epochSecond":1715677923,"nano":417000000},"auditType":{"action":"a"}}`, at(9, 12, 3, 417)},
		{"file nano order and space", `{"timestamp":{ "nano" : 417000123 , "epochSecond" : 1715677923 },"auditType":{"action":"a"}}`,
			at(9, 12, 3, 417).Add(123)},
		{"file without nano", `{"timestamp":{"epochSecond":1715677923},"auditType":{"action":"a"}}`, at(9, 12, 3, 0)},
		{"epoch ms number", `{"timestamp":1715677923417,"type":{"action":"a"}}`, at(9, 12, 3, 417)},
		{"legacy creationDate ms", `{"creationDate":1715677923417,"summary":"s"}`, at(9, 12, 3, 417)},
		{"webhook ms", `{"timestamp":1715677923417,"event":"page_created","userKey":"k"}`, at(9, 12, 3, 417)},
		{"json RFC 3339", `{"time":"2024-05-14T11:12:03.417+02:00","action":"a"}`, at(9, 12, 3, 417)},
		{"json epoch seconds", `{"time":1715677923,"action":"a"}`, at(9, 12, 3, 0)},
		{"json fractional seconds", `{"time":1715677923.417,"action":"a"}`, at(9, 12, 3, 417)},
		{"json epoch ms", `{"time":1715677923417,"action":"a"}`, at(9, 12, 3, 417)},
		{"json epoch µs", `{"time":1715677923417000,"action":"a"}`, at(9, 12, 3, 417)},
		{"json epoch ns", `{"time":1715677923417000001,"action":"a"}`, at(9, 12, 3, 417).Add(1)},
		{"json epoch ms as string", `{"time":"1715677923417","action":"a"}`, at(9, 12, 3, 417)},
		{"json no time", `{"action":"a"}`, time.Time{}},
		{"json null time", `{"time":null,"action":"a"}`, time.Time{}},
	}
	for _, tt := range tests {
		events, err := Parse([]byte(tt.payload), Options{})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		got := events[0].Time
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("%s: time %s (%s), want %s", tt.name, got.Format(time.RFC3339Nano), got.Location(), tt.want.Format(time.RFC3339Nano))
		}
	}

	bad := []struct{ name, payload, msg string }{
		{"not a time", `{"timestamp":"yesterday","type":{"action":"a"}}`, `timestamp: cannot parse "yesterday" as a time`},
		{"a boolean", `{"timestamp":true,"type":{"action":"a"}}`, "timestamp: expected a time"},
		{"object without epochSecond", `{"timestamp":{"nano":1},"auditType":{"action":"a"}}`, `no "epochSecond"`},
		{"year 10000", `{"time":"10000-01-01T00:00:00Z","action":"a"}`, "time:"},
		{"out of range epoch", `{"creationDate":1e300,"summary":"s"}`, "creationDate: epoch time 1e300 is out of range"},
		{"huge epochSecond", `{"timestamp":{"epochSecond":9223372036854775807},"auditType":{"action":"a"}}`, "out of range"},
	}
	for _, tt := range bad {
		_, err := Parse([]byte(tt.payload), Options{})
		if err == nil || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "object 1 (line 1, column 1)") {
			t.Errorf("%s: error %v, want one mentioning %q and the object", tt.name, err, tt.msg)
		}
	}
}

func TestPayloadShapes(t *testing.T) {
	line1 := fixtureLine(t, "soteri-events.jsonl", 1)
	line2 := fixtureLine(t, "soteri-events.jsonl", 2)
	hook := readFixture(t, "webhook-dc-page_created.json")
	page := readFixture(t, "auditing-events-page.json")
	legacy := readFixture(t, "legacy-audit-page.json")
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		payload []byte
		format  string
		count   int
	}{
		{"one object", line1, "", 1},
		{"one object with surrounding space", join([]byte(" \r\n\t"), line1, []byte("\n\n")), "", 1},
		{"byte order mark", join([]byte("\xef\xbb\xbf"), line1), "", 1},
		{"array", join([]byte("["), line1, []byte(","), line2, []byte("]")), "", 2},
		{"array with space", join([]byte("[\n  "), line1, []byte(" ,\n  "), line2, []byte("\n]\n")), "", 2},
		{"empty array", []byte("[ ]"), "", 0},
		{"JSON lines", join(line1, []byte("\n"), line2, []byte("\n")), "", 2},
		{"JSON lines, CRLF and blank lines", join(line1, []byte("\r\n\r\n"), line2), "", 2},
		{"concatenated pretty objects", join(hook, hook, hook), "", 3},
		{"mixed formats in JSON lines", join(line1, []byte("\n"), bytes.ReplaceAll(hook, []byte("\n"), nil)), "", 2},
		{"array of pages", join([]byte("["), page, []byte(","), legacy, []byte("]")), "", 20},
		{"pages as JSON lines", join(page, []byte("\n"), page), "", 20},
		{"empty page", []byte(`{"entities":[],"pagingInfo":{"lastPage":true}}`), "", 0},
		{"array under explicit format", join([]byte("["), line1, []byte(","), line2, []byte("]")), FormatConfluenceAuditing, 2},
		{"explicit json does not split pages", []byte(`{"results":[{"a":1}],"action":"x"}`), FormatJSON, 1},
		{"an auditing page is not split as a legacy one", []byte(`{"entities":[{"creationDate":1,"summary":"s"}],"summary":"x","creationDate":1715677923417}`), FormatConfluenceAudit, 1},
	}
	for _, tt := range tests {
		events, err := Parse(tt.payload, Options{Format: tt.format})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(events) != tt.count {
			t.Errorf("%s: %d events, want %d", tt.name, len(events), tt.count)
		}
		for i, e := range events {
			if !bytes.Contains(tt.payload, e.RawJSON()) || e.ID == "" {
				t.Errorf("%s: event %d: raw JSON not from the payload or no id", tt.name, i)
			}
		}
	}

	// A page element's raw JSON is the element, and a legacy page's base URL
	// is its events' system.
	events := mustParse(t, legacy, Options{})
	if raw := string(events[0].RawJSON()); !strings.HasPrefix(raw, "{\n      \"author\"") || strings.Contains(raw, `"results"`) {
		t.Errorf("legacy element raw JSON: %.60q", raw)
	}
	if events[0].System != baseURL {
		t.Errorf("legacy system %q", events[0].System)
	}
}

func TestRawJSONAndLoadRaw(t *testing.T) {
	line := fixtureLine(t, "soteri-events.jsonl", 10)
	events := mustParse(t, line, Options{})
	e := &events[0]
	if !bytes.Equal(e.RawJSON(), line) {
		t.Errorf("RawJSON = %.60q, want the payload", e.RawJSON())
	}
	if e.Raw != nil {
		t.Error("Raw is decoded eagerly")
	}
	if err := e.LoadRaw(); err != nil {
		t.Fatal(err)
	}
	if e.Raw["source"] != "10.20.30.88" || e.Raw["type"].(map[string]any)["action"] != "User edit introduced potentially sensitive content" {
		t.Errorf("Raw = %v", e.Raw)
	}
	attrs := e.Raw["extraAttributes"].([]any)
	if len(attrs) != 3 || attrs[0].(map[string]any)["nameI18nKey"] != "soteri.security.confluence.audit.attribute.content.version" {
		t.Errorf("Raw extraAttributes = %v", attrs)
	}
	// Loaded once: a second call keeps the map.
	e.Raw["marker"] = true
	if err := e.LoadRaw(); err != nil || e.Raw["marker"] != true {
		t.Errorf("LoadRaw replaced a loaded Raw: %v", err)
	}
	var empty Event
	if err := empty.LoadRaw(); err != nil || empty.Raw != nil {
		t.Errorf("LoadRaw of an event not from Parse: %v, %v", err, empty.Raw)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		obj  []byte
		want string
	}{
		{"legacy record", []byte(`{"creationDate":1715680805120,"summary":"s","remoteAddress":"1.2.3.4"}`), FormatConfluenceAudit},
		{"legacy page", readFixture(t, "legacy-audit-page.json"), FormatConfluenceAudit},
		{"auditing page", readFixture(t, "auditing-events-page.json"), FormatConfluenceAuditing},
		{"REST entity", fixtureLine(t, "soteri-events.jsonl", 1), FormatConfluenceAuditing},
		{"file entity", fixtureLine(t, "soteri-events.file.jsonl", 1), FormatConfluenceAuditing},
		{"DC webhook", readFixture(t, "webhook-dc-page_created.json"), FormatConfluenceWebhook},
		{"Cloud webhook", readFixture(t, "webhook-cloud-group_created.json"), FormatConfluenceWebhook},
		{"normalized event", []byte(`{"id":"x","time":"2024-05-14T09:12:03Z","action":"a","actor":{"name":"n"}}`), FormatJSON},
		{"anything", []byte(`{"eventName":"repo.delete","user":{"login":"jdoe"}}`), FormatJSON},
		{"type string is no auditing type", []byte(`{"type":"push","ref":"main"}`), FormatJSON},
		{"type object without action", []byte(`{"type":{"name":"x"}}`), FormatJSON},
		{"event without user or time", []byte(`{"event":"x"}`), FormatJSON},
		{"page object alone", []byte(`{"page":{"id":1}}`), FormatJSON},
	}
	for _, tt := range tests {
		got, err := Detect(tt.obj)
		if err != nil || got != tt.want {
			t.Errorf("%s: Detect = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "[]", `"x"`, `{"a":`, `{"a":1} {"b":2}`} {
		if f, err := Detect([]byte(bad)); err == nil {
			t.Errorf("Detect(%q) = %q, want an error", bad, f)
		}
	}
}

func TestExplicitFormatMismatch(t *testing.T) {
	tests := []struct {
		format  string
		payload []byte
		msg     string
	}{
		{FormatConfluenceAuditing, readFixture(t, "webhook-dc-page_created.json"),
			`not a confluence-auditing event: it has no "type" or "auditType" object; it looks like confluence-webhook`},
		{FormatConfluenceAudit, fixtureLine(t, "soteri-events.jsonl", 1),
			`not a confluence-audit event: it has no "creationDate" or "summary"; it looks like confluence-auditing`},
		{FormatConfluenceWebhook, []byte(`{"foo":1}`), `not a confluence-webhook event: it has no "event" name`},
		{FormatConfluenceAudit, readFixture(t, "auditing-events-page.json"), "it looks like confluence-auditing"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.payload, Options{Format: tt.format})
		var oe *ObjectError
		if err == nil || !strings.Contains(err.Error(), tt.msg) || !errors.As(err, &oe) {
			t.Errorf("%s: error %v, want an *ObjectError with %q", tt.format, err, tt.msg)
		}
	}
	// JSON takes anything.
	if _, err := Parse(readFixture(t, "webhook-dc-page_created.json"), Options{Format: FormatJSON}); err != nil {
		t.Errorf("json: %v", err)
	}
}

func TestTolerance(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		check   func(e Event) bool
	}{
		{"numeric ids in an auditing entity",
			`{"timestamp":"2024-05-14T09:12:03.417Z","author":{"id":42,"name":"N"},"type":{"action":"a"},"affectedObjects":[{"type":"Page","id":1015809}],"extraAttributes":[{"name":"n","value":7}],"changedValues":[{"key":"k","from":1,"to":true}]}`,
			func(e Event) bool {
				return e.Actor.ID == "42" && e.Objects[0].ID == "1015809" && e.Attrs["n"] == "7" &&
					e.Changes[0] == (Change{Key: "k", From: "1", To: "true"}) && e.Action == "a"
			}},
		{"string id in a webhook", `{"timestamp":1715677923417,"event":"page_created","userKey":"k","page":{"id":"1015809"}}`,
			func(e Event) bool { return e.Objects[0].ID == "1015809" }},
		{"nulls everywhere",
			`{"timestamp":null,"author":null,"type":{"action":"a","category":null},"affectedObjects":null,"changedValues":[{"key":"k","from":null,"to":null}],"extraAttributes":null,"source":null,"node":null}`,
			func(e Event) bool {
				return e.Time.IsZero() && e.Actor.ID == "" && e.Objects != nil && len(e.Objects) == 0 &&
					e.Changes[0] == (Change{Key: "k"}) && e.Attrs == nil && e.IP == ""
			}},
		{"missing everything but the action", `{"type":{"action":"a"}}`,
			func(e Event) bool { return e.Objects != nil && e.Changes != nil && e.Attrs == nil && e.ID != "" }},
		{"empty arrays", `{"creationDate":1,"summary":"s","changedValues":[],"associatedObjects":[]}`,
			func(e Event) bool { return len(e.Objects) == 0 && len(e.Changes) == 0 }},
		{"a string where an object is expected is left out", `{"timestamp":"2024-05-14T09:12:03.417Z","author":"jdoe","type":{"action":"a"},"source":"1.2.3.4"}`,
			func(e Event) bool { return e.Actor.ID == "" && e.IP == "1.2.3.4" && e.Action == "a" }},
		{"escapes in strings", `{"type":{"action":"caf\u00e9 \"x\""},"author":{"uri":"https://h/viewuser.action?username=j%2Ddoe&x=1"}}`,
			func(e Event) bool { return e.Action == `café "x"` && e.Actor.Name == "j-doe" }},
		{"numeric normalized fields", `{"id":123,"action":"a","actor":{"id":7,"groups":["g",1]},"objects":[{"type":"Page","id":5}],"attrs":{"n":1.5}}`,
			func(e Event) bool {
				return e.ID == "123" && e.Actor.ID == "7" && reflect.DeepEqual(e.Actor.Groups, []string{"g", "1"}) &&
					e.Objects[0].ID == "5" && e.Attrs["n"] == "1.5"
			}},
	}
	for _, tt := range tests {
		events, err := Parse([]byte(tt.payload), Options{})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !tt.check(events[0]) {
			t.Errorf("%s: unexpected event %+v", tt.name, events[0])
		}
	}
}

func TestCheckFormat(t *testing.T) {
	for _, f := range append([]string{""}, Formats...) {
		if err := CheckFormat(f); err != nil {
			t.Errorf("CheckFormat(%q): %v", f, err)
		}
	}
	err := CheckFormat("confluence")
	if err == nil || !strings.Contains(err.Error(), `unknown event format "confluence": valid formats are auto, confluence-audit, confluence-auditing, confluence-webhook, json`) {
		t.Errorf("CheckFormat(confluence) = %v", err)
	}
}
