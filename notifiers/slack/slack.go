// Package slack is the notifier that posts alerts to Slack as Block Kit
// messages, through an incoming webhook (webhook_url) or a bot token and a
// channel (chat.postMessage of api_url). With a bot token, the notifier
// keeps where it posted each alert (NotifyRef's ref): the alert's resolve
// updates that message and says so in its thread, its acknowledgement
// updates that message, its escalations reply in the thread (thread.go).
// Through a webhook, whose answer names no message, a resolve is a
// message of its own ("Resolved: title"), an acknowledgement nothing.
// With a bot token and a signing secret, alert messages carry the buttons
// Acknowledge, Resolve and Silence 1h, and App checks and answers their
// presses (docs/notifications.md, Slack buttons and The alert lifecycle).
//
// What Slack answers, and how each answer is classified:
//
//	                        incoming webhook              chat.postMessage
//	accepted                200 "ok"                      200 {"ok":true,...}      → nil
//	rate limited            429 + Retry-After             429 + Retry-After        → Retry, after Retry-After
//	Slack down              5xx (500 rollup_error), 408   5xx, 408                 → Retry
//	no answer               network error, timeout        network error, timeout   → Retry
//	transient API error     —                             200 {"ok":false} with internal_error, fatal_error,
//	                                                      service_unavailable, request_timeout, ratelimited,
//	                                                      team_added_to_org        → Retry
//	refused                 400 invalid_payload,          200 {"ok":false} with any other error:
//	                        invalid_blocks; 403           invalid_blocks, channel_not_found, not_in_channel,
//	                        action_prohibited,            is_archived, invalid_auth, not_authed,
//	                        invalid_token; 404            token_revoked, account_inactive, missing_scope,
//	                        no_service, channel_not_found; msg_too_long ...  → Permanent
//	                        410 channel_is_archived;
//	                        any other 4xx; 3xx            other non-200 4xx, 3xx   → Permanent
//
// chat.update (a resolve, a press of a button) is answered and classified
// as chat.postMessage is; of its errors, message_not_found,
// cant_update_message and edit_window_closed make a resolve a message of
// its own instead (thread.go).
//
// Incoming webhooks report errors as an HTTP status with a short string in
// the body; the Web API answers 200 with {"ok":false,"error":"..."} for
// nearly everything but rate limits and outages. Redirects are not followed:
// a POST would turn into a GET, and Slack does not redirect.
//
// No secret (the webhook URL, which embeds its token; the bot token) ever
// appears in an error or a log line: the HTTP client's errors, which quote
// the URL, are rewritten to name the host only.
package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Options are what the notifier needs besides its config entry.
type Options struct {
	// ExternalURL is server.external_url: with it, messages link to the
	// alert at <ExternalURL>/alerts/<id>.
	ExternalURL string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// HTTPClient defaults to a client with the notifier's timeout. The
	// notifier uses a copy of it that does not follow redirects (unless it
	// sets CheckRedirect) and that reads the status and start of Slack's
	// error answers.
	HTTPClient *http.Client
}

// Notifier posts alerts to one Slack webhook or channel. It is safe for
// concurrent use.
type Notifier struct {
	name    string
	webhook string        // incoming-webhook URL, or ""
	api     *slack.Client // with a bot token
	channel string
	// buttons: messages carry Acknowledge, Resolve and Silence 1h (with
	// a signing secret).
	buttons bool
	hc      *http.Client
	// where names the endpoint in errors, without its secret; apiHost
	// is the Web API's scheme and host.
	where   string
	apiHost string
	ext     string
	log     *slog.Logger
	secrets notifiers.Secrets
}

// New builds the notifier of entry cfg, whose keys config has checked.
func New(cfg config.Notifier, opt Options) (*Notifier, error) {
	name := cfg.Name
	if name == "" {
		name = "slack"
	}
	n := &Notifier{name: name, ext: opt.ExternalURL, log: opt.Logger}
	if n.log == nil {
		n.log = slog.Default()
	}
	hc := notifiers.HTTPClient(opt.HTTPClient, time.Duration(cfg.Timeout))
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc.Transport = &captureTransport{base: rt}
	n.hc = hc

	sc := settings(cfg)
	hook, token := sc.WebhookURL.Value(), sc.Token.Value()
	if hook != "" {
		u, err := url.Parse(hook)
		if err != nil {
			// The parse error would quote the URL, and with it the token.
			return nil, fmt.Errorf("slack notifier %s: webhook_url does not parse", name)
		}
		n.webhook = hook
		n.where = "incoming webhook " + u.Scheme + "://" + u.Host
		n.secrets = append(n.secrets, hook, u.Path, u.RawQuery, u.User.String())
		if i := strings.LastIndexByte(u.Path, '/'); i >= 0 {
			n.secrets = append(n.secrets, u.Path[i+1:])
		}
		return n, nil
	}
	api := sc.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	u, err := url.Parse(api)
	if err != nil {
		return nil, fmt.Errorf("slack notifier %s: api_url %q does not parse", name, api)
	}
	// slack-go appends method names to the prefix as they are.
	prefix := strings.TrimRight(api, "/") + "/"
	n.api = slack.New(token, slack.OptionAPIURL(prefix), slack.OptionHTTPClient(n.hc))
	n.channel = sc.Channel
	n.buttons = sc.SigningSecret != ""
	n.apiHost = u.Scheme + "://" + u.Host
	n.where = "chat.postMessage (" + n.apiHost + ")"
	n.secrets = append(n.secrets, token)
	return n, nil
}

// Notify posts the alert as a message of its own. Its error is classified
// (notifiers.Retry, notifiers.Permanent) by what Slack answered.
func (n *Notifier) Notify(ctx context.Context, a *alerter.Alert) error {
	_, err := n.NotifyRef(ctx, a, "")
	return err
}

// NotifyRef posts the alert and returns its message's ref (with a bot
// token; "" through a webhook, whose answer names no message). Given prev,
// the ref of the message of the alert a resolves, acknowledges or
// escalates, it updates or answers that message (see thread.go). Its
// error is classified as Notify's.
func (n *Notifier) NotifyRef(ctx context.Context, a *alerter.Alert, prev string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", notifiers.Retry(fmt.Errorf("slack %s: %w", n.name, err), 0)
	}
	if n.webhook != "" {
		if a.Acknowledges != "" {
			// A webhook's message cannot be updated, and a message of its
			// own per acknowledgement would be noise in the channel.
			return "", nil
		}
		return "", n.postWebhook(ctx, a)
	}
	return n.follow(ctx, a, prev)
}

// message is a's message as posted: Render's, and the buttons, with a
// signing secret, on an alert (not on a resolve notification).
func (n *Notifier) message(a *alerter.Alert) Message {
	m := Render(a, n.ext)
	if n.buttons && a.Resolves == "" {
		m = withButtons(m, a)
	}
	return m
}

// acted is the message of alert a once acted on (RenderActed), with
// buttons only if its message had them.
func (n *Notifier) acted(a *alerter.Alert) Message {
	if n.buttons {
		return RenderActed(a, n.ext, "")
	}
	return renderStatus(a, n.ext, "")
}

// postWebhook posts a's message to the incoming webhook.
func (n *Notifier) postWebhook(ctx context.Context, a *alerter.Alert) error {
	m := n.message(a)
	c := &capture{}
	ctx = context.WithValue(ctx, captureKey{}, c)
	no := false
	err := slack.PostWebhookCustomHTTPContext(ctx, n.webhook, n.hc, &slack.WebhookMessage{
		Text:        m.Text,
		Blocks:      &slack.Blocks{BlockSet: m.Blocks},
		UnfurlLinks: &no,
		UnfurlMedia: &no,
	})
	if err != nil {
		return n.classify(err, c, n.where)
	}
	n.log.Debug("slack notification sent", "notifier", n.name, "alert", a.ID, "rule", a.Rule)
	return nil
}

// post posts m for a to the channel (chat.postMessage): a message of its
// own, or with thread a reply in the thread of that ts, shown in the
// channel too if broadcast. It returns where the message is.
func (n *Notifier) post(ctx context.Context, a *alerter.Alert, m Message, thread string, broadcast bool) (ref, error) {
	c := &capture{}
	ctx = context.WithValue(ctx, captureKey{}, c)
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.Text, false), // already escaped
		slack.MsgOptionBlocks(m.Blocks...),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
		if broadcast {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	channel, ts, err := n.api.PostMessageContext(ctx, n.channel, opts...)
	if err != nil {
		return ref{}, n.classify(err, c, n.where)
	}
	if ts == "" {
		// Slack always gives the posted message's timestamp; an answer
		// without one ({}, {"ok":false}) is not Slack's.
		return ref{}, notifiers.Retry(n.errorf(nil, "%s answered 200 without ok and a message timestamp", n.where), 0)
	}
	n.log.Debug("slack notification sent", "notifier", n.name, "alert", a.ID, "rule", a.Rule, "thread", thread)
	return ref{channel: channel, ts: ts, thread: thread}, nil
}

// update replaces the message at r with m (chat.update).
func (n *Notifier) update(ctx context.Context, r ref, m Message) error {
	c := &capture{}
	ctx = context.WithValue(ctx, captureKey{}, c)
	_, _, _, err := n.api.UpdateMessageContext(ctx, r.channel, r.ts,
		slack.MsgOptionText(m.Text, false), // already escaped
		slack.MsgOptionBlocks(m.Blocks...))
	if err != nil {
		return n.classify(err, c, "chat.update ("+n.apiHost+")")
	}
	return nil
}

// retryableAPIErrors are the chat.postMessage errors (answered 200
// {"ok":false}) that Slack documents as transient.
var retryableAPIErrors = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"ratelimited":         true,
	"rate_limited":        true,
	"team_added_to_org":   true,
}

// classify classifies err, an answer of where (the endpoint, as errors
// name it) that c captured.
func (n *Notifier) classify(err error, c *capture, where string) error {
	var (
		ue *url.Error
		se slack.SlackErrorResponse
		rl *slack.RateLimitedError
	)
	switch {
	case errors.As(err, &ue):
		// No answer: refused, reset, timed out, cancelled. url.Error quotes
		// the URL; keep only its cause.
		return notifiers.Retry(n.errorf(ue.Err, "posting to %s: %s", where, n.secrets.Scrub(ue.Err.Error())), 0)
	case c.status == http.StatusTooManyRequests:
		// slack-go reads only delay-seconds; read the header ourselves, so
		// that an HTTP-date works too and an absurd value is capped.
		after := notifiers.ParseRetryAfter(c.retryAfter, time.Now())
		return notifiers.Retry(n.errorf(nil, "%s: rate limited (429)%s", where, n.snippet(c.body)), after)
	case errors.As(err, &rl):
		return notifiers.Retry(n.errorf(nil, "%s: rate limited", where), min(rl.RetryAfter, time.Hour))
	case errors.As(err, &se):
		msg := fmt.Sprintf("%s: %s", where, n.secrets.Scrub(se.Err))
		if details := strings.Join(se.ResponseMetadata.Messages, "; "); details != "" {
			msg += " (" + n.secrets.Scrub(clip(details, 300)) + ")"
		}
		if se.Needed != "" {
			msg += " (needs scope " + n.secrets.Scrub(clip(se.Needed, 100)) + ")"
		}
		if retryableAPIErrors[se.Err] {
			return notifiers.Retry(n.errorf(se, "%s", msg), 0)
		}
		return notifiers.Permanent(n.errorf(se, "%s", msg))
	case c.status != 0 && c.status != http.StatusOK:
		msg := fmt.Sprintf("%s: HTTP %d%s", where, c.status, n.snippet(c.body))
		switch {
		case c.status == http.StatusRequestTimeout, c.status == http.StatusTooEarly, c.status >= 500:
			return notifiers.Retry(n.errorf(err, "%s", msg), 0)
		case c.status >= 300 && c.status < 400:
			return notifiers.Permanent(n.errorf(err, "%s (redirects are not followed: configure the final URL)", msg))
		default:
			return notifiers.Permanent(n.errorf(err, "%s", msg))
		}
	default:
		// A 200 whose body is not Slack's JSON, or the body cut off: the
		// message may not have been posted.
		return notifiers.Retry(n.errorf(err, "%s: %s", where, n.secrets.Scrub(err.Error())), 0)
	}
}

func (n *Notifier) errorf(cause error, format string, args ...any) error {
	return &notifiers.Redacted{Msg: "slack " + n.name + ": " + n.secrets.Scrub(fmt.Sprintf(format, args...)), Err: cause}
}

// snippet is the start of an error answer, for the error message: ": " and
// up to 200 bytes, one line, printable.
func (n *Notifier) snippet(b []byte) string {
	s := notifiers.Printable(b, 200)
	if s == "" {
		return ""
	}
	return ": " + n.secrets.Scrub(s)
}

func clip(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	return notifiers.Printable([]byte(s), limit) + "…"
}

// capture is what the transport saw of Slack's answer: slack-go drops the
// body of a non-200 answer (where webhooks put their error string) and
// reads Retry-After only as seconds.
type capture struct {
	status     int
	retryAfter string
	body       []byte
}

type captureKey struct{}

type captureTransport struct{ base http.RoundTripper }

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	c, _ := req.Context().Value(captureKey{}).(*capture)
	if err != nil || c == nil {
		return resp, err
	}
	c.status = resp.StatusCode
	c.retryAfter = resp.Header.Get("Retry-After")
	if resp.StatusCode != http.StatusOK {
		peek, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		c.body = peek
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(peek), resp.Body), resp.Body}
	}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
