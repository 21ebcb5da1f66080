package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	json "github.com/goccy/go-json"
	"github.com/slack-go/slack"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
)

// Bounds of an interaction request (docs/notifications.md, Slack buttons).
const (
	// MaxInteractionBody is the most of a request's body read: a
	// block_actions payload of one of alerter's messages is a few KiB.
	MaxInteractionBody = 64 << 10
	// SignatureWindow is how far a request's timestamp may be from now,
	// as Slack advises, so that a request captured once cannot be sent
	// again later.
	SignatureWindow = 5 * time.Minute
)

// The ways a request is not the app's.
var (
	ErrStale     = errors.New("X-Slack-Request-Timestamp missing or more than 5 minutes from now")
	ErrSignature = errors.New("X-Slack-Signature is not the signing secret's v0 signature of the request")
)

// Verify checks that body came from the Slack app whose signing secret is
// secret, as Slack documents ("Verifying requests from Slack"): the
// timestamp header is within SignatureWindow of now, and the signature
// header is "v0=" and the hex HMAC-SHA256, keyed with the secret, of
// "v0:" + timestamp + ":" + body, compared in constant time.
func Verify(secret []byte, h http.Header, body []byte, now time.Time) error {
	ts := h.Get("X-Slack-Request-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) > 20 {
		return ErrStale
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureWindow || d < -SignatureWindow {
		return ErrStale
	}
	got, err := hex.DecodeString(strings.TrimPrefix(h.Get("X-Slack-Signature"), "v0="))
	if err != nil || !strings.HasPrefix(h.Get("X-Slack-Signature"), "v0=") {
		return ErrSignature
	}
	if !hmac.Equal(got, Sign(secret, ts, body)) {
		return ErrSignature
	}
	return nil
}

// Sign is the v0 signature of body sent at timestamp ts (Unix seconds, as
// sent), without its "v0=" and in bytes.
func Sign(secret []byte, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return mac.Sum(nil)
}

// Interaction is what alerter uses of a block_actions payload, which Slack
// posts when someone presses a button of a message: who pressed which
// button of which message.
type Interaction struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	} `json:"user"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Message struct {
		TS string `json:"ts"`
	} `json:"message"`
	ResponseURL string `json:"response_url"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

// Who is the person who pressed the button, as alerter records it:
// slack:<username>, or slack:<user id> without a username.
func (in *Interaction) Who() string {
	if in.User.Username != "" {
		return "slack:" + in.User.Username
	}
	return "slack:" + in.User.ID
}

// Action is the pressed button's action_id and value ("" without one;
// ParseInteraction takes none without).
func (in *Interaction) Action() (id, value string) {
	if len(in.Actions) == 0 {
		return "", ""
	}
	return in.Actions[0].ActionID, in.Actions[0].Value
}

// ParseInteraction reads the body of an interaction request, a form whose
// field payload holds the JSON. It takes only a block_actions payload of
// one action (a button press), from a user, on a message whose channel
// and ts it names, and refuses names and values that no Slack payload
// holds: control characters, over-long strings, a response_url that is
// not https (or http, for tests).
func ParseInteraction(body []byte) (*Interaction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("the body is not a form: %w", err)
	}
	payload := form["payload"]
	if len(payload) != 1 {
		return nil, errors.New("the form needs one payload field")
	}
	var in Interaction
	if err := json.Unmarshal([]byte(payload[0]), &in); err != nil {
		return nil, fmt.Errorf("payload is not JSON: %w", err)
	}
	switch {
	case in.Type != "block_actions":
		return nil, fmt.Errorf("payload type %q: only block_actions is taken", clip(in.Type, 40))
	case len(in.Actions) != 1:
		return nil, fmt.Errorf("payload has %d actions, want one", len(in.Actions))
	case in.User.ID == "":
		return nil, errors.New("payload has no user id")
	}
	for _, f := range []struct {
		name, value string
		limit       int
	}{
		{"user.id", in.User.ID, 64},
		{"user.username", in.User.Username, 128},
		{"user.name", in.User.Name, 128},
		{"channel.id", in.Channel.ID, 64},
		{"message.ts", in.Message.TS, 64},
		{"action_id", in.Actions[0].ActionID, 255},
		{"value", in.Actions[0].Value, 2000},
		{"response_url", in.ResponseURL, 2000},
	} {
		if len(f.value) > f.limit || !utf8.ValidString(f.value) || strings.ContainsFunc(f.value, unicode.IsControl) {
			return nil, fmt.Errorf("payload %s: not a value Slack sends", f.name)
		}
	}
	if in.ResponseURL != "" {
		u, err := url.Parse(in.ResponseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errors.New("payload response_url is not an http(s) URL")
		}
	}
	return &in, nil
}

// App is a Slack app whose messages carry buttons: a slack notifier with a
// bot token and a signing secret. It checks that a request is the app's
// and answers the person who pressed a button, with the app's token.
type App struct {
	secret []byte
	n      *Notifier
}

// NewApp is the app of notifier entry cfg, which config has checked; an
// error if it has no signing secret.
func NewApp(cfg config.Notifier, opt Options) (*App, error) {
	sc := settings(cfg)
	if sc.SigningSecret == "" || sc.Token == "" {
		return nil, fmt.Errorf("slack notifier %s: buttons need token and signing_secret", cfg.Name)
	}
	n, err := New(cfg, opt)
	if err != nil {
		return nil, err
	}
	n.secrets = append(n.secrets, sc.SigningSecret.Value())
	return &App{secret: []byte(sc.SigningSecret.Value()), n: n}, nil
}

// Name is the notifier's name.
func (app *App) Name() string { return app.n.name }

// Verify checks that a request of body with headers h is the app's (see
// Verify).
func (app *App) Verify(h http.Header, body []byte, now time.Time) error {
	return Verify(app.secret, h, body, now)
}

// Update replaces the message at channel and ts (chat.update) with a's
// message as it stands now, and note (RenderActed).
func (app *App) Update(ctx context.Context, channel, ts string, a *alerter.Alert, note string) error {
	return app.n.update(ctx, ref{channel: channel, ts: ts}, RenderActed(a, app.n.ext, note))
}

// Tell answers the person who pressed a button with text, which only they
// see (an ephemeral message to the interaction's response_url), leaving
// the message as it is.
func (app *App) Tell(ctx context.Context, responseURL, text string) error {
	if responseURL == "" {
		return errors.New("the interaction has no response_url")
	}
	c := &capture{}
	ctx = context.WithValue(ctx, captureKey{}, c)
	err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, app.n.hc, &slack.WebhookMessage{
		Text: Escape(text), ResponseType: "ephemeral", ReplaceOriginal: false,
	})
	if err != nil {
		return app.n.classify(err, c, "response_url")
	}
	return nil
}
