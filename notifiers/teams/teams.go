// Package teams is the notifier that posts alerts to a Microsoft Teams
// channel as Adaptive Cards, through an incoming webhook or a Workflows
// ("When a Teams webhook request is received") URL: one POST of JSON per
// alert (docs/notifications.md, Microsoft Teams).
//
// What Teams answers, and how each answer is classified:
//
//	2xx ("1" from an incoming webhook, 202 from Workflows)  → delivered
//	2xx whose body says "HTTP error 429"                    → Retry: incoming webhooks report their
//	                                                          rate limit in the body of a 200
//	429, 503 with Retry-After                               → Retry, after Retry-After
//	408, 425, 429, 5xx; no answer                           → Retry
//	3xx                                                     → Permanent: redirects are not followed
//	other 4xx (400 bad card, 401/403, 404 webhook removed)  → Permanent
//
// The webhook URL carries the signature that lets anyone post to the
// channel: errors and logs name its host only.
package teams

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

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Options are what the notifier needs besides its config entry.
type Options struct {
	// ExternalURL is server.external_url: with it, cards link to the
	// alert at <ExternalURL>/alerts/<id>.
	ExternalURL string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// HTTPClient defaults to a client with the notifier's timeout; the
	// notifier uses a copy that does not follow redirects.
	HTTPClient *http.Client
}

// Notifier posts alerts to one Teams webhook. It is safe for concurrent
// use.
type Notifier struct {
	name    string
	url     string
	where   string // scheme://host, for errors
	ext     string
	hc      *http.Client
	log     *slog.Logger
	secrets notifiers.Secrets
}

// New builds the notifier of entry cfg, whose webhook_url config has
// checked.
func New(cfg config.Notifier, opt Options) (*Notifier, error) {
	c, _ := cfg.Settings.(Config)
	hook := c.WebhookURL.Value()
	u, err := url.Parse(hook)
	if err != nil {
		// The parse error would quote the URL, and with it the signature.
		return nil, fmt.Errorf("teams notifier %s: webhook_url does not parse", cfg.Name)
	}
	n := &Notifier{
		name:    cfg.Name,
		url:     hook,
		where:   u.Scheme + "://" + u.Host,
		ext:     opt.ExternalURL,
		hc:      notifiers.HTTPClient(opt.HTTPClient, time.Duration(cfg.Timeout)),
		log:     opt.Logger,
		secrets: notifiers.Secrets{hook, u.Path, u.RawQuery, u.Query().Get("sig")},
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	return n, nil
}

// Notify posts the alert's card. Its error is classified
// (notifiers.Retry, notifiers.Permanent) by Teams' answer. An
// acknowledgement notification posts nothing: a card per acknowledgement
// would be noise in the channel, and a posted card cannot be updated
// through a webhook (docs/notifications.md, The alert lifecycle).
func (n *Notifier) Notify(ctx context.Context, a *alerter.Alert) error {
	if a.Acknowledges != "" {
		return nil
	}
	body, err := json.Marshal(Render(a, n.ext))
	if err != nil {
		return notifiers.Permanent(n.errorf(err, "encoding alert %s: %v", a.ID, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return notifiers.Permanent(n.errorf(nil, "building the request to %s", n.where))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL
		}
		return notifiers.Retry(n.errorf(err, "POST %s: %v", n.where, err), 0)
	}
	defer resp.Body.Close()
	peek, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err := n.classify(resp, peek); err != nil {
		return err
	}
	n.log.Debug("teams notification sent", "notifier", n.name, "alert", a.ID, "rule", a.Rule, "status", resp.StatusCode)
	return nil
}

// classify turns Teams' answer into nil or a classified error.
func (n *Notifier) classify(resp *http.Response, body []byte) error {
	code := resp.StatusCode
	msg := fmt.Sprintf("POST %s: HTTP %d", n.where, code)
	if s := notifiers.Printable(body, 200); s != "" {
		msg += ": " + s
	}
	after := notifiers.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case code >= 200 && code < 300 && strings.Contains(string(body), "HTTP error 429"):
		return notifiers.Retry(n.errorf(nil, "%s", msg), after)
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return notifiers.Retry(n.errorf(nil, "%s", msg), after)
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500:
		return notifiers.Retry(n.errorf(nil, "%s", msg), 0)
	case code >= 300 && code < 400:
		return notifiers.Permanent(n.errorf(nil, "%s (redirects are not followed: configure the final URL)", msg))
	case code >= 400:
		return notifiers.Permanent(n.errorf(nil, "%s", msg))
	}
	return notifiers.Retry(n.errorf(nil, "%s", msg), 0) // 1xx: not an answer to act on
}

func (n *Notifier) errorf(cause error, format string, args ...any) error {
	return &notifiers.Redacted{Msg: "teams " + n.name + ": " + n.secrets.Scrub(fmt.Sprintf(format, args...)), Err: cause}
}
