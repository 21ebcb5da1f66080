package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// evil is event data as an attacker writes it: an ESC sequence that clears
// the screen, one that sets the window title (ended by BEL), a newline and
// a tab that would forge a row and a column.
const evil = `Esc \u001b[2J\u001b[31mRED\u001b]0;pwned\u0007\nFORGED ROW\tcol`

// evilShown is evil as every command prints it.
const evilShown = `"Esc \x1b[2J\x1b[31mRED\x1b]0;pwned\a\nFORGED ROW\tcol"`

// hostileAPI answers every API read of the CLI with evil in each string.
func hostileAPI(t *testing.T) string {
	t.Helper()
	alert := `{"id":"A1","rule":"r1` + evil + `","severity":"high` + evil + `","title":"` + evil + `","time":"2024-05-14T10:00:00Z",
		"fired_at":"2024-05-14T10:00:01Z","group":{"event.actor.name":"` + evil + `"},"deliveries":{"slack` + evil + `":{"status":"sent` + evil + `"}}}`
	ev := `{"id":"E1` + evil + `","time":"2024-05-14T10:00:00Z","action":"` + evil + `","category":"` + evil + `","actor":{"name":"` + evil + `"},"ip":"` + evil + `"}`
	answers := map[string]string{
		"GET /api/v1/alerts":      `{"alerts":[` + alert + `]}`,
		"GET /api/v1/deadletters": `{"deadletters":[{"notifier":"n` + evil + `","alert":{"id":"A1` + evil + `","rule":"r1","title":"` + evil + `","severity":"high"},"attempts":2,"reason":"` + evil + `","error":"` + evil + `","at":"2024-05-14T10:00:00Z"}]}`,
		"GET /api/v1/silences": `{"silences":[{"id":"S1` + evil + `","matchers":[{"name":"group.event.actor.name","value":"` + evil + `"}],"starts_at":"2024-05-14T10:00:00Z",
			"ends_at":"2024-05-14T11:00:00Z","created_by":"` + evil + `","comment":"` + evil + `","state":"active"}]}`,
		"POST /api/v1/silences/preview": `{"matched":1,"scanned":1,"alerts":[` + alert + `]}`,
		"POST /api/v1/silences":         `{"error":"first problem\nsecond: ` + evil + `"}`,
		"GET /api/v1/events":            `{"events":[{"event":` + ev + `}]}`,
		"GET /api/v1/events/E1/explain": `{"event":` + ev + `,"stored":"2024-05-14T10:00:00Z","rules":[{"rule":"r1` + evil + `","matched":true,"error":"` + evil + `",
			"clauses":[{"source":"` + evil + `","value":true}],"group":{"event.actor.name":"` + evil + `"},"decision":"` + evil + `",
			"alert":{"id":"A1","deliveries":{"slack":{"status":"sent","error":"` + evil + `","silences":["S1` + evil + `"]}}},
			"state_change":{"rebuilt":true,"before":{"partial_chain":[{"step":"s` + evil + `","event_id":"` + evil + `","time":"2024-05-14T10:00:00Z"}],
				"deadline":"2024-05-14T10:30:00Z","pending":[{"step":"p` + evil + `","event_id":"` + evil + `","time":"2024-05-14T10:00:00Z"}]},"note":"` + evil + `"}}]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(body, `{"error"`) {
			w.WriteHeader(http.StatusBadRequest)
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Every command that prints what a running alerter answers escapes it: no
// control character reaches the terminal, and a row stays one line.
func TestCLIEscapesEventData(t *testing.T) {
	url := hostileAPI(t)
	for _, tc := range []struct {
		cmd, args []string
		lines     int    // of stdout and stderr together
		shown     string // evil as shown; default evilShown
	}{
		{[]string{"alerts"}, nil, 2, ""},
		{[]string{"deadletters", "list"}, nil, 2, ""},
		{[]string{"silence", "list"}, nil, 2, ""},
		{[]string{"silence", "add"}, []string{"--dry-run", "rule=r1"}, 2, ""},
		// An error of several lines (errors.Join) keeps them; each is escaped.
		{[]string{"silence", "add"}, []string{"--for", "1h", "--comment", "c", "--author", "a", "rule=r1"}, 3,
			"first problem\n\"second: Esc \\x1b[2J\\x1b[31mRED\\x1b]0;pwned\\a\"\n\"FORGED ROW\\tcol\" (400)"},
		{[]string{"explain"}, []string{"--find", "Esc"}, 2, ""},
		{[]string{"explain"}, []string{"E1"}, 14, ""},
	} {
		args := append(append(append([]string{}, tc.cmd...), "--url", url), tc.args...)
		_, out, errs := runCLI(t, "", args...)
		all := out + errs
		if i := strings.IndexFunc(all, func(r rune) bool { return r != '\n' && (r < ' ' || r == 0x7f) }); i >= 0 {
			t.Errorf("%v printed a control character at %d:\n%q", args, i, all)
		}
		if n := strings.Count(all, "\n"); n != tc.lines {
			t.Errorf("%v printed %d lines, want %d:\n%s", args, n, tc.lines, all)
		}
		if tc.shown == "" {
			tc.shown = evilShown
		}
		if !strings.Contains(all, tc.shown) {
			t.Errorf("%v does not show the data escaped:\n%s", args, all)
		}
	}
}
