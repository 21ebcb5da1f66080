package console

import (
	"strings"
	"testing"
	"time"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/notifiers"
)

// Event data reaches the console line escaped: one line, no control
// character a terminal would act on.
func TestLineEscapesEventData(t *testing.T) {
	evil := "Esc \x1b[2J\x1b]0;pwned\x07\nFORGED"
	a := &alerter.Alert{ID: "01J", Rule: "r\x1b[31m", Severity: "high", Title: evil, Time: time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC),
		Group: map[string]string{"event.actor.name": evil, "event.ip": "10.0.0.1"}, Count: 1,
		Event: &event.Event{Actor: event.Actor{Name: evil}, IP: "10.0.0.1\t"}}
	got := Line(a)
	want := `2024-05-14T10:00:00Z HIGH "r\x1b[31m" "Esc \x1b[2J\x1b]0;pwned\a\nFORGED" actor="Esc \x1b[2J\x1b]0;pwned\a\nFORGED" ip="10.0.0.1\t" actor.name="Esc \x1b[2J\x1b]0;pwned\a\nFORGED" ip=10.0.0.1 count=1 suppressed=0 id=01J`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if strings.ContainsFunc(got, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		t.Errorf("a control character in %q", got)
	}
}

// A resolve or an acknowledgement notification is a line of its own,
// marked RESOLVED or ACKNOWLEDGED, at the time of the act, with who acted,
// the verdict of a resolve and the alert.
func TestNoticeLine(t *testing.T) {
	fired, acted := time.Date(2024, 5, 14, 10, 8, 0, 0, time.UTC), time.Date(2024, 5, 14, 10, 30, 0, 0, time.UTC)
	for _, tt := range []struct {
		a    *alerter.Alert
		want string
	}{
		{notifiers.SampleResolve(alerter.High, fired, acted),
			`2024-05-14T10:30:00Z RESOLVED soteri-protection-weakened "Ming <Chen> & Co (mchen) weakened Soteri protection" by="Ann <Lee> & Co" verdict=false_positive alert=01HXV8VQSYBTC29ZQ6YHKQYR13 id=01HXV8VQSYBTC29ZQ6YHKQYR13-resolved`},
		{notifiers.SampleAck(alerter.High, fired, acted),
			`2024-05-14T10:30:00Z ACKNOWLEDGED soteri-protection-weakened "Ming <Chen> & Co (mchen) weakened Soteri protection" by="Ann <Lee> & Co" alert=01HXV8VQSYBTC29ZQ6YHKQYR13 id=01HXV8VQSYBTC29ZQ6YHKQYR13-acked`},
	} {
		if got := Line(tt.a); got != tt.want {
			t.Errorf("got\n%s\nwant\n%s", got, tt.want)
		}
	}
}

// A huge event field or title is cut short on the line, which stays one
// line of bounded length.
func TestLineBounded(t *testing.T) {
	huge := strings.Repeat("é", 300_000)
	a := &alerter.Alert{ID: "01J", Rule: "r", Severity: "high", Title: huge, Time: time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC),
		Group: map[string]string{"event.actor.name": huge}, Count: 1, Event: &event.Event{Actor: event.Actor{Name: huge}, IP: huge}}
	got := Line(a)
	if n := len(got); n > 4000 {
		t.Errorf("the line is %d bytes", n)
	}
	if !strings.Contains(got, "…") || !strings.HasSuffix(got, " id=01J") {
		t.Errorf("got %.200q...", got)
	}
}

// An escalation's line says so in its title, as every target does.
func TestEscalationLine(t *testing.T) {
	a := &alerter.Alert{ID: "01J-e1", Rule: "r", Severity: "critical", Title: "Burst", Escalation: 1, Escalates: "01J",
		Time: time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC), Count: 1}
	if got := Line(a); !strings.Contains(got, `"Escalated: Burst"`) {
		t.Errorf("got %s", got)
	}
}
