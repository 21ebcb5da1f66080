package slack

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/notifiers/notifiertest"
)

// fakeSlack follows Slack's documented contracts for the two ways in:
//
// Incoming webhook (POST /services/T…/B…/<token>, a JSON body): 200 "ok";
// 429 with Retry-After; 400 invalid_payload / invalid_blocks /
// no_text; 403 invalid_token / action_prohibited; 404 no_service (an
// unknown or revoked webhook) / channel_not_found; 410
// channel_is_archived; 500 rollup_error. The error is the whole body, as
// plain text.
//
// Web API chat.postMessage (POST /api/chat.postMessage, form-encoded, the
// token in the form or as a Bearer header): 200 {"ok":true,"channel",
// "ts","message"}, each message a ts of its own, and with thread_ts (the
// ts of a message of the channel, not a reply's) a reply in its thread,
// shown in the channel too with reply_broadcast=true; 200
// {"ok":false,"error":"…"} for invalid_auth, not_authed, token_revoked,
// channel_not_found, not_in_channel, invalid_blocks, no_text,
// msg_too_long …; 429 with Retry-After; 500.
//
// Web API chat.update (POST /api/chat.update, form-encoded: channel, ts,
// text, blocks): 200 {"ok":true,"channel","ts","text"}; 200
// {"ok":false,"error":"message_not_found"} for a ts it did not post in
// that channel, and what failUpdate sets (cant_update_message,
// edit_window_closed …), and the errors of chat.postMessage.
//
// A response_url (POST /actions/T…/…/…, JSON {"text","response_type",
// "replace_original"}): 200 "ok"; 404 no_service for another path.
//
// All check what Slack checks of a Block Kit message, with Slack's
// limits, and refuse it with invalid_blocks.
type fakeSlack struct {
	t     *testing.T
	srv   *httptest.Server
	token string // the webhook path's secret, or the bot token
	// hookPath is the incoming webhook's path.
	hookPath string

	mu       sync.Mutex
	mode     notifiertest.Mode
	status   int    // when set, answer this status…
	answer   string // …with this body (webhook) or error (Web API, with status 200)
	header   http.Header
	bodies   [][]byte     // every request body, in order
	forms    []url.Values // chat.postMessage and chat.update forms
	updates  []url.Values // chat.update forms that were taken
	replies  [][]byte     // response_url bodies
	received int
	release  chan struct{}
	// messages are the messages in the channel by ts: postedTS, as if
	// posted before the test, and each one chat.postMessage took.
	messages map[string]*fakeMessage
	posted   int
	// updateError, if set, is chat.update's error for every message.
	updateError string
}

// fakeMessage is a message of the fake's channel, as it stands.
type fakeMessage struct {
	channel, thread string // thread: the parent's ts, for a reply
	broadcast       bool
	text, blocks    string
	updates         int
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{
		t:        t,
		token:    "xoxb-1111-2222-SeCrEtToKeN",
		hookPath: "/services/T0001/B0002/WhSeCrEt0123456789abcdef",
		release:  make(chan struct{}),
		messages: map[string]*fakeMessage{postedTS: {channel: "C0SECOPS"}},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.release) }) // runs first: frees hung handlers
	return f
}

func (f *fakeSlack) hookURL() string { return f.srv.URL + f.hookPath }
func (f *fakeSlack) apiURL() string  { return f.srv.URL + "/api" }

func (f *fakeSlack) set(m notifiertest.Mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.status, f.answer, f.header = m, 0, "", nil
}

// answerWith makes the fake answer status and body (webhook), or 200 with
// {"ok":false,"error":body} when status is 200 (Web API).
func (f *fakeSlack) answerWith(status int, body string, h http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.status, f.answer, f.header = notifiertest.OK, status, body, h
}

func (f *fakeSlack) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received
}

func (f *fakeSlack) lastBody() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		f.t.Fatal("the fake received nothing")
	}
	return f.bodies[len(f.bodies)-1]
}

func (f *fakeSlack) lastForm() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forms) == 0 {
		f.t.Fatal("the fake received no chat.postMessage")
	}
	return f.forms[len(f.forms)-1]
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	f.mu.Lock()
	mode, status, answer, header := f.mode, f.status, f.answer, f.header
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	for k, v := range header {
		w.Header()[k] = v
	}

	api := strings.HasPrefix(r.URL.Path, "/api/")
	if mode == notifiertest.Hang {
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "invalid_method", http.StatusMethodNotAllowed)
		return
	}
	if api {
		f.serveAPI(w, r, body, mode, status, answer)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/actions/") {
		f.serveResponseURL(w, r, body)
		return
	}
	f.serveHook(w, r, body, mode, status, answer)
}

func (f *fakeSlack) serveHook(w http.ResponseWriter, r *http.Request, body []byte, mode notifiertest.Mode, status int, answer string) {
	plain := func(code int, s string) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, s)
	}
	switch {
	case r.URL.Path != f.hookPath:
		plain(http.StatusNotFound, "no_service")
		return
	case mode == notifiertest.RateLimit:
		w.Header().Set("Retry-After", "7")
		plain(http.StatusTooManyRequests, "rate_limited")
		return
	case mode == notifiertest.Down:
		plain(http.StatusInternalServerError, "rollup_error")
		return
	case mode == notifiertest.Reject:
		plain(http.StatusNotFound, "no_service")
		return
	case status != 0:
		plain(status, answer)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		plain(http.StatusBadRequest, "invalid_payload")
		return
	}
	var msg struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		plain(http.StatusBadRequest, "invalid_payload")
		return
	}
	if msg.Text == "" && len(msg.Blocks) == 0 {
		plain(http.StatusBadRequest, "no_text")
		return
	}
	if length16(msg.Text) > 40000 {
		plain(http.StatusBadRequest, "msg_too_long")
		return
	}
	if why := checkBlocks(msg.Blocks); why != "" {
		f.t.Logf("fake slack: invalid_blocks: %s", why)
		plain(http.StatusBadRequest, "invalid_blocks")
		return
	}
	f.mu.Lock()
	f.received++
	f.mu.Unlock()
	plain(http.StatusOK, "ok")
}

func (f *fakeSlack) serveAPI(w http.ResponseWriter, r *http.Request, body []byte, mode notifiertest.Mode, status int, answer string) {
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(e string) { reply(http.StatusOK, map[string]any{"ok": false, "error": e}) }
	switch {
	case r.URL.Path != "/api/chat.postMessage" && r.URL.Path != "/api/chat.update":
		fail("unknown_method")
		return
	case mode == notifiertest.RateLimit:
		w.Header().Set("Retry-After", "7")
		reply(http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
		return
	case mode == notifiertest.Down:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "<html><body>Internal Server Error</body></html>")
		return
	case mode == notifiertest.Reject:
		fail("token_revoked")
		return
	case status == http.StatusOK && strings.HasPrefix(answer, "{"):
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, answer)
		return
	case status == http.StatusOK:
		fail(answer)
		return
	case status != 0:
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		fail("invalid_form_data")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		fail("invalid_form_data")
		return
	}
	f.mu.Lock()
	f.forms = append(f.forms, form)
	f.mu.Unlock()
	token := form.Get("token")
	if token == "" {
		token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	switch {
	case token == "":
		fail("not_authed")
		return
	case token != f.token:
		fail("invalid_auth")
		return
	case form.Get("channel") != "C0SECOPS" && form.Get("channel") != "#secops":
		fail("channel_not_found")
		return
	case form.Get("text") == "" && form.Get("blocks") == "":
		fail("no_text")
		return
	case length16(form.Get("text")) > 40000:
		fail("msg_too_long")
		return
	}
	var blocks []map[string]any
	if b := form.Get("blocks"); b != "" {
		if err := json.Unmarshal([]byte(b), &blocks); err != nil {
			fail("invalid_blocks_format")
			return
		}
	}
	if why := checkBlocks(blocks); why != "" {
		f.t.Logf("fake slack: invalid_blocks: %s", why)
		reply(http.StatusOK, map[string]any{"ok": false, "error": "invalid_blocks",
			"response_metadata": map[string]any{"messages": []string{"[ERROR] " + why}}})
		return
	}
	if r.URL.Path == "/api/chat.update" {
		f.serveUpdate(form, reply, fail)
		return
	}
	f.servePost(form, reply, fail)
}

// servePost takes a chat.postMessage whose form passed the checks.
func (f *fakeSlack) servePost(form url.Values, reply func(int, any), fail func(string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	thread := form.Get("thread_ts")
	if p := f.messages[thread]; thread != "" && (p == nil || p.thread != "" || p.channel != "C0SECOPS") {
		// Slack's advice: reply to the parent, never to a reply.
		f.t.Errorf("fake slack: thread_ts %q is no message of the channel's", thread)
	}
	f.received++
	f.posted++
	ts := fmt.Sprintf("1715681280.%06d", 100+f.posted)
	f.messages[ts] = &fakeMessage{channel: "C0SECOPS", thread: thread, broadcast: form.Get("reply_broadcast") == "true",
		text: form.Get("text"), blocks: form.Get("blocks")}
	msg := map[string]any{"type": "message", "text": form.Get("text"), "ts": ts}
	if thread != "" {
		msg["thread_ts"] = thread
	}
	reply(http.StatusOK, map[string]any{"ok": true, "channel": "C0SECOPS", "ts": ts, "message": msg})
}

// serveUpdate takes a chat.update whose form passed the checks.
func (f *fakeSlack) serveUpdate(form url.Values, reply func(int, any), fail func(string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.messages[form.Get("ts")]
	switch {
	case f.updateError != "":
		fail(f.updateError)
		return
	case m == nil || m.channel != form.Get("channel"):
		fail("message_not_found")
		return
	}
	m.text, m.blocks = form.Get("text"), form.Get("blocks")
	m.updates++
	f.updates = append(f.updates, form)
	reply(http.StatusOK, map[string]any{"ok": true, "channel": m.channel, "ts": form.Get("ts"), "text": form.Get("text")})
}

// message is the message at ts as it stands now; nil if there is none.
func (f *fakeSlack) message(ts string) *fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.messages[ts]; m != nil {
		c := *m
		return &c
	}
	return nil
}

// failUpdate makes chat.update answer error e ("": take updates again).
func (f *fakeSlack) failUpdate(e string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updateError = e
}

// postedTS is the ts of every message the fake posts.
const postedTS = "1715681280.000100"

// responsePath is the path of the response_url of the interactions the
// tests send.
const responsePath = "/actions/T0001/5555/ReSpOnSeSeCrEt"

func (f *fakeSlack) serveResponseURL(w http.ResponseWriter, r *http.Request, body []byte) {
	var msg struct {
		Text            string `json:"text"`
		ResponseType    string `json:"response_type"`
		ReplaceOriginal bool   `json:"replace_original"`
	}
	switch {
	case r.URL.Path != responsePath:
		http.Error(w, "no_service", http.StatusNotFound)
		return
	case json.Unmarshal(body, &msg) != nil || msg.Text == "":
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.replies = append(f.replies, body)
	f.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (f *fakeSlack) lastUpdate() url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.updates) == 0 {
		f.t.Fatal("the fake received no chat.update")
	}
	return f.updates[len(f.updates)-1]
}

func length16(s string) int {
	n := 0
	for _, r := range s {
		if w := utf16.RuneLen(r); w > 0 {
			n += w
		} else {
			n++
		}
	}
	return n
}

// checkBlocks checks what Slack checks of the blocks this notifier uses
// (docs.slack.dev/reference/block-kit/blocks), with Slack's limits; "" if
// they pass.
func checkBlocks(blocks []map[string]any) string {
	if len(blocks) > 50 {
		return fmt.Sprintf("%d blocks, more than 50", len(blocks))
	}
	ids := map[string]bool{}
	for i, b := range blocks {
		if id, _ := b["block_id"].(string); id != "" {
			if ids[id] || len(id) > 255 {
				return fmt.Sprintf("block %d: block_id %q repeated or too long", i, id)
			}
			ids[id] = true
		}
		switch b["type"] {
		case "header":
			if why := checkText(b["text"], "plain_text", 150); why != "" {
				return fmt.Sprintf("block %d (header): %s", i, why)
			}
		case "section":
			fields, _ := b["fields"].([]any)
			if b["text"] == nil && len(fields) == 0 {
				return fmt.Sprintf("block %d (section): neither text nor fields", i)
			}
			if b["text"] != nil {
				if why := checkText(b["text"], "", 3000); why != "" {
					return fmt.Sprintf("block %d (section text): %s", i, why)
				}
			}
			if len(fields) > 10 {
				return fmt.Sprintf("block %d: %d fields, more than 10", i, len(fields))
			}
			for j, fl := range fields {
				if why := checkText(fl, "", 2000); why != "" {
					return fmt.Sprintf("block %d field %d: %s", i, j, why)
				}
			}
		case "context":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				return fmt.Sprintf("block %d (context): %d elements", i, len(els))
			}
			for j, e := range els {
				if why := checkText(e, "", 3000); why != "" {
					return fmt.Sprintf("block %d element %d: %s", i, j, why)
				}
			}
		case "actions":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 25 {
				return fmt.Sprintf("block %d (actions): %d elements", i, len(els))
			}
			for j, e := range els {
				el, _ := e.(map[string]any)
				if el["type"] != "button" {
					return fmt.Sprintf("block %d element %d: type %v", i, j, el["type"])
				}
				if why := checkText(el["text"], "plain_text", 75); why != "" {
					return fmt.Sprintf("block %d button %d: %s", i, j, why)
				}
				u, _ := el["url"].(string)
				if p, err := url.Parse(u); u != "" && (err != nil || p.Scheme == "" || len(u) > 3000) {
					return fmt.Sprintf("block %d button %d: bad url", i, j)
				}
			}
		default:
			return fmt.Sprintf("block %d: unexpected type %v", i, b["type"])
		}
	}
	return ""
}

func checkText(v any, wantType string, limit int) string {
	o, ok := v.(map[string]any)
	if !ok {
		return "not a text object"
	}
	typ, _ := o["type"].(string)
	if typ != "plain_text" && typ != "mrkdwn" || wantType != "" && typ != wantType {
		return fmt.Sprintf("text type %q", typ)
	}
	if typ == "mrkdwn" && o["emoji"] != nil {
		return "emoji on mrkdwn"
	}
	s, _ := o["text"].(string)
	if s == "" {
		return "must be more than 0 characters"
	}
	if length16(s) > limit {
		return fmt.Sprintf("%d characters, more than %d", length16(s), limit)
	}
	return ""
}
