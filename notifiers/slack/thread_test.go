package slack

import (
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/delivery"
	"github.com/alerter/alerter/notifiers"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

// Delivery hands the notifier the refs it keeps.
var _ delivery.RefNotifier = (*Notifier)(nil)

// resolvedAt is when the resolve notifications of these tests were made.
var resolvedAt = time.Date(2024, 5, 14, 10, 30, 0, 0, time.UTC)

// noticeOf is the resolve notification of a, resolved by ann at
// resolvedAt as a false positive, as the lifecycle makes it: a copy of a
// with its status.
func noticeOf(a *alerter.Alert) *alerter.Alert {
	n := *a
	n.ID, n.Resolves = a.ID+"-resolved", a.ID
	n.Status, n.ResolvedBy, n.ResolvedAt, n.Verdict = "resolved", "slack:ann", &resolvedAt, "false_positive"
	return &n
}

// unescape undoes the JSON escapes slack-go's encoder writes (& < >).
var unescape = strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">")

// A resolve of an alert posted with a bot token updates the alert's
// message, exactly as a press of Resolve would (its blocks, no buttons,
// who resolved it, when and the verdict), and tells the channel in the
// message's thread.
func TestResolveUpdatesTheAlertsMessage(t *testing.T) {
	f := newFakeSlack(t)
	n, app := botApp(t, f)
	a, ref := postSample(t, n)
	notice := noticeOf(a)
	replyRef, err := n.NotifyRef(t.Context(), notice, ref)
	if err != nil {
		t.Fatal(err)
	}
	msg := f.message("1715681280.000101")
	blocks := unescape.Replace(msg.blocks)
	if msg.updates != 1 || !strings.Contains(blocks, "HIGH: Ming &lt;Chen&gt;") ||
		!strings.Contains(blocks, ":white_check_mark: *Resolved* by @ann at 10:30 UTC, verdict: false positive") ||
		strings.Contains(blocks, `"lifecycle"`) || msg.text != "[HIGH] Ming &lt;Chen&gt; &amp; Co (mchen) weakened Soteri protection" {
		t.Errorf("the alert's message after %d updates: %q %s", msg.updates, msg.text, blocks)
	}
	if replyRef != "C0SECOPS/1715681280.000102/1715681280.000101" {
		t.Errorf("reply ref %q", replyRef)
	}
	reply := f.message("1715681280.000102")
	if reply == nil || reply.thread != "1715681280.000101" || reply.broadcast ||
		reply.text != "Resolved: Ming &lt;Chen&gt; &amp; Co (mchen) weakened Soteri protection" ||
		!strings.Contains(unescape.Replace(reply.blocks), `"*Resolved* by @ann at 10:30 UTC, verdict: false positive"`[1:]) {
		t.Errorf("the reply in the thread: %+v", reply)
	}
	if f.count() != 2 {
		t.Errorf("%d messages posted, want the alert and the reply", f.count())
	}

	samePress(t, f, app, a, notice)
}

// postSample posts Sample with n, a bot, and returns it and its ref.
func postSample(t *testing.T, n *Notifier) (*alerter.Alert, string) {
	t.Helper()
	a := notifiers.Sample("high", fixedTime)
	ref, err := n.NotifyRef(t.Context(), a, "")
	if err != nil {
		t.Fatal(err)
	}
	if ref != "C0SECOPS/1715681280.000101" {
		t.Fatalf("ref %q, want the channel and ts Slack answered", ref)
	}
	return a, ref
}

// samePress checks that a press of the button that makes notice (of alert
// a, posted first) makes the message that the notice's update made.
func samePress(t *testing.T, f *fakeSlack, app *App, a, notice *alerter.Alert) {
	t.Helper()
	const ts = "1715681280.000101"
	want := f.message(ts)
	pressed := *a
	pressed.Status, pressed.AcknowledgedBy, pressed.AcknowledgedAt = notice.Status, notice.AcknowledgedBy, notice.AcknowledgedAt
	pressed.ResolvedBy, pressed.ResolvedAt, pressed.Verdict = notice.ResolvedBy, notice.ResolvedAt, notice.Verdict
	if err := app.Update(t.Context(), "C0SECOPS", ts, &pressed, ""); err != nil {
		t.Fatal(err)
	}
	if after := f.message(ts); after.blocks != want.blocks || after.text != want.text {
		t.Errorf("a press shows\n%s\nthe %s notice\n%s", after.blocks, notice.Status, want.blocks)
	}
}

// A resolve whose message cannot be found again (no ref, a ref that does
// not parse, a message deleted, not the app's or past the edit window) is
// a message of its own, as through a webhook, rather than lost.
func TestResolveWithoutTheMessage(t *testing.T) {
	for _, tc := range []struct {
		name, ref, updateError string
	}{
		{name: "no ref"},
		{name: "garbage", ref: "not a ref"},
		{name: "no ts", ref: "C0SECOPS"},
		{name: "a ts that is not Slack's", ref: "C0SECOPS/1715681280"},
		{name: "a channel that is not an id", ref: "#secops/1715681280.000100"},
		{name: "a thread that is not a ts", ref: "C0SECOPS/1715681280.000100/x"},
		{name: "a part too many", ref: "C0SECOPS/1715681280.000100/1715681280.000100/1715681280.000100"},
		{name: "a hostile channel", ref: "C0SECOPS&as_user=true/1715681280.000100"},
		{name: "message_not_found", ref: "C0SECOPS/1715681299.000001"},
		{name: "cant_update_message", ref: "C0SECOPS/" + postedTS, updateError: "cant_update_message"},
		{name: "edit_window_closed", ref: "C0SECOPS/" + postedTS, updateError: "edit_window_closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSlack(t)
			f.failUpdate(tc.updateError)
			n, _ := botApp(t, f)
			got, err := n.NotifyRef(t.Context(), notifiers.SampleResolve("high", fixedTime, resolvedAt), tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			form := f.lastForm()
			if got != "C0SECOPS/1715681280.000101" || form.Get("thread_ts") != "" || f.count() != 1 ||
				!strings.HasPrefix(form.Get("text"), "Resolved: ") || !strings.Contains(form.Get("blocks"), ":white_check_mark: Resolved: ") {
				t.Errorf("ref %q, %d posted, last %v", got, f.count(), form)
			}
			if m := f.message(postedTS); m.updates != 0 {
				t.Errorf("a message updated")
			}
		})
	}
}

// chat.update's other errors are classified as chat.postMessage's: a rate
// limit is retried after Retry-After, a refusal is final; either way no
// reply is posted, and the next attempt updates again.
func TestResolveUpdateErrors(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := botApp(t, f)
	notice := notifiers.SampleResolve("high", fixedTime, resolvedAt)
	ref := "C0SECOPS/" + postedTS

	f.set(notifiertest.RateLimit)
	_, err := n.NotifyRef(t.Context(), notice, ref)
	if retry, after := notifiers.Classify(err); err == nil || !retry || after != 7*time.Second || !strings.Contains(err.Error(), "chat.update") {
		t.Errorf("rate limited: %v (retry %v after %s)", err, retry, after)
	}
	f.set(notifiertest.OK)
	f.failUpdate("is_archived")
	_, err = n.NotifyRef(t.Context(), notice, ref)
	if retry, _ := notifiers.Classify(err); err == nil || retry || !strings.Contains(err.Error(), "is_archived") {
		t.Errorf("archived: %v (retry %v)", err, retry)
	}
	if f.count() != 0 {
		t.Errorf("%d posted after failed updates", f.count())
	}
	f.failUpdate("")
	if _, err := n.NotifyRef(t.Context(), notice, ref); err != nil {
		t.Fatal(err)
	}
	if f.message(postedTS).updates != 1 || f.count() != 1 || f.lastForm().Get("thread_ts") != postedTS {
		t.Errorf("after the failures: %d updates, %d posted", f.message(postedTS).updates, f.count())
	}
}

// An escalation replies in the thread of its alert's message, shown in the
// channel too; its resolve updates that reply and tells the thread.
func TestEscalationRepliesInTheThread(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := botApp(t, f)
	a := notifiers.Sample("high", fixedTime)
	ref, err := n.NotifyRef(t.Context(), a, "")
	if err != nil {
		t.Fatal(err)
	}
	esc := *a
	esc.ID, esc.Escalation, esc.Escalates, esc.Severity = a.ID+"-e1", 1, a.ID, "critical"
	escRef, err := n.NotifyRef(t.Context(), &esc, ref)
	if err != nil {
		t.Fatal(err)
	}
	reply := f.message("1715681280.000102")
	if escRef != "C0SECOPS/1715681280.000102/1715681280.000101" || reply.thread != "1715681280.000101" || !reply.broadcast ||
		!strings.Contains(reply.blocks, "CRITICAL: Escalated: ") || buttons(t, reply.blocks)[ActionAck] != esc.ID {
		t.Errorf("escalation %q: %+v", escRef, reply)
	}
	// Its resolve: the reply updated, the news in the thread of the alert
	// (the fake fails the test on a reply to a reply).
	if _, err := n.NotifyRef(t.Context(), noticeOf(&esc), escRef); err != nil {
		t.Fatal(err)
	}
	if m := f.message("1715681280.000102"); m.updates != 1 || !strings.Contains(unescape.Replace(m.blocks), "*Resolved* by @ann") {
		t.Errorf("the escalation after its resolve: %+v", m)
	}
	if m := f.message("1715681280.000103"); m == nil || m.thread != "1715681280.000101" {
		t.Errorf("the resolve's reply: %+v", m)
	}
	// Without a ref, an escalation is a message of its own.
	if _, err := n.NotifyRef(t.Context(), &esc, ""); err != nil {
		t.Fatal(err)
	}
	if m := f.message("1715681280.000104"); m == nil || m.thread != "" {
		t.Errorf("an escalation without a ref: %+v", m)
	}
}

// ackOf is the acknowledgement notification of a, acknowledged by ann at
// resolvedAt, as the lifecycle makes it.
func ackOf(a *alerter.Alert) *alerter.Alert {
	n := *a
	n.ID, n.Acknowledges = a.ID+alerter.AckedSuffix, a.ID
	n.Status, n.AcknowledgedBy, n.AcknowledgedAt = "acknowledged", "slack:ann", &resolvedAt
	return &n
}

// An acknowledgement of an alert posted with a bot token updates the
// alert's message, exactly as a press of Acknowledge would (its blocks,
// who acknowledged it and when, Resolve and Silence 1h but no Acknowledge
// button), and posts nothing: no reply in the thread.
func TestAckUpdatesTheAlertsMessage(t *testing.T) {
	f := newFakeSlack(t)
	n, app := botApp(t, f)
	a, ref := postSample(t, n)
	got, err := n.NotifyRef(t.Context(), ackOf(a), ref)
	if err != nil || got != ref {
		t.Fatalf("the acknowledgement: ref %q, %v; want the alert's %q", got, err, ref)
	}
	msg := f.message("1715681280.000101")
	if blocks := unescape.Replace(msg.blocks); msg.updates != 1 || !strings.Contains(blocks, "HIGH: Ming &lt;Chen&gt;") ||
		!strings.Contains(blocks, ":eyes: *Acknowledged* by @ann at 10:30 UTC") {
		t.Errorf("the alert's message after %d updates: %s", msg.updates, msg.blocks)
	}
	if b := buttons(t, msg.blocks); len(b) != 2 || b[ActionResolve] != a.ID || b[ActionSilence] != a.ID {
		t.Errorf("buttons %v, want Resolve and Silence 1h of %s", b, a.ID)
	}
	if u := f.lastUpdate(); u.Get("channel") != "C0SECOPS" || u.Get("ts") != "1715681280.000101" {
		t.Errorf("chat.update of %s/%s, want the alert's message", u.Get("channel"), u.Get("ts"))
	}
	if f.count() != 1 {
		t.Errorf("%d messages posted, want only the alert", f.count())
	}

	samePress(t, f, app, a, ackOf(a))
}

// An acknowledgement shows no buttons on a message posted without them
// (no signing secret), and without the message (a webhook, no ref, a
// message that cannot be updated) it is nothing: no message of its own.
func TestAckWithoutButtonsOrMessage(t *testing.T) {
	f := newFakeSlack(t)
	n := botNotifier(t, f, nil)
	a := notifiers.Sample("high", fixedTime)
	ref, err := n.NotifyRef(t.Context(), a, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.NotifyRef(t.Context(), ackOf(a), ref); err != nil {
		t.Fatal(err)
	}
	if m := f.message("1715681280.000101"); m.updates != 1 || !strings.Contains(m.blocks, "*Acknowledged* by @ann") || len(buttons(t, m.blocks)) != 0 {
		t.Errorf("the message without buttons after an acknowledgement: %+v", m)
	}
	for _, tc := range []struct {
		name, ref, updateError string
		n                      *Notifier
	}{
		{name: "a webhook", ref: ref, n: hookNotifier(t, f, nil)},
		{name: "no ref", n: n},
		{name: "a ref that does not parse", ref: "not a ref", n: n},
		{name: "message_not_found", ref: "C0SECOPS/1715681299.000001", n: n},
		{name: "edit_window_closed", ref: ref, updateError: "edit_window_closed", n: n},
	} {
		f.failUpdate(tc.updateError)
		if _, err := tc.n.NotifyRef(t.Context(), ackOf(a), tc.ref); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if f.count() != 1 || f.message("1715681280.000101").updates != 1 {
			t.Errorf("%s: %d posted, %d updates, want nothing more", tc.name, f.count(), f.message("1715681280.000101").updates)
		}
	}
}

// Through an incoming webhook there is no ref: Slack answers "ok", naming
// no message.
func TestWebhookHasNoRef(t *testing.T) {
	f := newFakeSlack(t)
	n := hookNotifier(t, f, nil)
	for _, a := range []*alerter.Alert{notifiers.Sample("high", fixedTime), notifiers.SampleResolve("high", fixedTime, resolvedAt)} {
		ref, err := n.NotifyRef(t.Context(), a, "C0SECOPS/"+postedTS)
		if err != nil || ref != "" {
			t.Errorf("%s: ref %q, %v", a.ID, ref, err)
		}
	}
	if f.count() != 2 || len(f.updates) != 0 {
		t.Errorf("%d posted, %d updates", f.count(), len(f.updates))
	}
}

// Whoever resolved it and the verdict are escaped in the update and the
// reply, as everything else of the message.
func TestHostileResolve(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := botApp(t, f)
	a := hostileAlert()
	ref, err := n.NotifyRef(t.Context(), a, "")
	if err != nil {
		t.Fatal(err)
	}
	notice := noticeOf(a)
	notice.ResolvedBy, notice.Verdict = "slack:<!channel>\n& <https://evil|x>", "<@U1>"
	if _, err := n.NotifyRef(t.Context(), notice, ref); err != nil {
		t.Fatal(err)
	}
	for ts, m := range map[string]*fakeMessage{"update": f.message("1715681280.000101"), "reply": f.message("1715681280.000102")} {
		body, _ := json.Marshal(map[string]any{"text": m.text, "blocks": json.RawMessage(m.blocks)})
		for path, s := range allTexts(t, body) {
			if strings.ContainsAny(s, "<>") {
				t.Errorf("%s %s keeps a raw < or >: %.200q", ts, path, s)
			}
		}
		if !strings.Contains(unescape.Replace(m.blocks), "by @&lt;!channel&gt; &amp; &lt;https://evil|x&gt; at 10:30 UTC, verdict: &lt;@U1&gt;") {
			t.Errorf("%s: %s", ts, m.blocks)
		}
	}
}

func TestRef(t *testing.T) {
	for _, r := range []ref{{"C0SECOPS", "1715681280.000100", ""}, {"G0X", "1.2", "1.1"}} {
		got, ok := parseRef(r.String())
		if !ok || got != r {
			t.Errorf("%q read as %+v %v", r.String(), got, ok)
		}
	}
	if s := (ref{ts: "1.2"}).String(); s != "" {
		t.Errorf("a ref without a channel: %q", s)
	}
}
