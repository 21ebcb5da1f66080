// Package webhook is the notifier that POSTs each alert, as the JSON of
// docs/notifications.md, The alert (the shape replay prints and the API serves), to a URL.
//
// # The request
//
//	POST <url>
//	Content-Type: application/json
//	User-Agent: alerter                      (a configured User-Agent header replaces it)
//	X-Alerter-Alert-Id: <alert id>           (the same on every retry: dedupe on it)
//	X-Hub-Signature: sha256=<hex>            (only with a secret)
//	X-Hub-Signature-256: sha256=<hex>        (the same value, under GitHub's newer name)
//	<headers from the config>
//
//	{"id":"01HX…","rule":"…","severity":"high",…,"event":{…},"event_ids":[…]}
//
// The signature is the lowercase hex HMAC-SHA256 of the exact body bytes,
// keyed with the secret: the scheme alerter's own webhook source verifies
// (and GitHub's). A receiver recomputes it over the raw body before parsing
// and compares in constant time:
//
//	mac := hmac.New(sha256.New, secret)
//	mac.Write(body)
//	ok := hmac.Equal([]byte(r.Header.Get("X-Hub-Signature")), []byte("sha256="+hex.EncodeToString(mac.Sum(nil))))
//
// Configured headers are sent as given, except that Content-Type,
// X-Alerter-Alert-Id and the signature headers are always alerter's, and a
// Host header sets the request's host.
//
// # The answer
//
//	2xx                                  → delivered
//	429, 503 with Retry-After            → Retry, after Retry-After (seconds or an HTTP date, capped at 1h)
//	408, 425, 429, 5xx                   → Retry
//	no answer (refused, reset, timeout)  → Retry
//	3xx                                  → Permanent: redirects are not followed (a POST would become a GET,
//	                                       and the headers would go to another host); configure the final URL
//	other 4xx                            → Permanent, with the status and up to 200 bytes of the body
//
// Errors and logs name the target by scheme and host only: the path and
// query, where tokens often are, the header values and the secret never
// appear.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Options are what the notifier needs besides its config entry.
type Options struct {
	// ExternalURL is server.external_url. The body is the alert as it is,
	// so it is not used; it is here for symmetry with the other notifiers.
	ExternalURL string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// HTTPClient defaults to a client with the notifier's timeout. The
	// notifier uses a copy that does not follow redirects, unless the
	// client given sets CheckRedirect.
	HTTPClient *http.Client
}

// Notifier POSTs alerts to one URL. It is safe for concurrent use.
type Notifier struct {
	name    string
	url     string
	where   string // scheme://host, for errors
	host    string // a configured Host header
	headers http.Header
	secret  []byte
	hc      *http.Client
	log     *slog.Logger
	secrets notifiers.Secrets
}

// Headers alerter always sets itself.
const (
	HeaderAlertID      = "X-Alerter-Alert-Id"
	HeaderSignature    = "X-Hub-Signature"
	HeaderSignature256 = "X-Hub-Signature-256"
)

// headerName is RFC 9110's token.
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// New builds the notifier of entry cfg, whose keys config has checked.
func New(cfg config.Notifier, opt Options) (*Notifier, error) {
	name := cfg.Name
	if name == "" {
		name = "webhook"
	}
	sc := settings(cfg)
	u, err := url.Parse(sc.URL)
	if err != nil {
		// The parse error would quote the URL, and with it any token.
		return nil, fmt.Errorf("webhook notifier %s: url does not parse", name)
	}
	n := &Notifier{
		name:    name,
		url:     sc.URL,
		where:   u.Scheme + "://" + u.Host,
		headers: http.Header{},
		secret:  []byte(sc.Secret.Value()),
		log:     opt.Logger,
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	n.secrets = append(n.secrets, sc.URL, u.RawQuery, u.User.String(), sc.Secret.Value())
	if u.Path != "/" {
		n.secrets = append(n.secrets, u.Path)
	}
	for _, k := range slices.Sorted(maps.Keys(sc.Headers)) {
		v := sc.Headers[k].Value()
		n.secrets = append(n.secrets, v)
		switch http.CanonicalHeaderKey(k) {
		case "Host":
			n.host = v
		case "Content-Type", HeaderAlertID, HeaderSignature, HeaderSignature256:
			// alerter's own
		default:
			n.headers.Add(k, v)
		}
	}
	if n.headers.Get("User-Agent") == "" {
		n.headers.Set("User-Agent", "alerter")
	}

	n.hc = notifiers.HTTPClient(opt.HTTPClient, time.Duration(cfg.Timeout))
	return n, nil
}

// Body is the request body for an alert: its JSON (docs/notifications.md, The alert).
func Body(a *alerter.Alert) ([]byte, error) { return json.Marshal(a) }

// Sign is the X-Hub-Signature value of body under secret:
// "sha256=" and the lowercase hex HMAC-SHA256.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Notify POSTs the alert. Its error is classified (notifiers.Retry,
// notifiers.Permanent) by the answer.
func (n *Notifier) Notify(ctx context.Context, a *alerter.Alert) error {
	if err := ctx.Err(); err != nil {
		return notifiers.Retry(n.errorf(err, "%v", err), 0)
	}
	body, err := Body(a)
	if err != nil {
		// The same alert will not encode better next time.
		return notifiers.Permanent(n.errorf(err, "encoding alert %s: %v", a.ID, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return notifiers.Permanent(n.errorf(nil, "building the request to %s", n.where))
	}
	req.Header = n.headers.Clone()
	if n.host != "" {
		req.Host = n.host
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderAlertID, strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, a.ID))
	if len(n.secret) > 0 {
		sig := Sign(n.secret, body)
		req.Header.Set(HeaderSignature, sig)
		req.Header.Set(HeaderSignature256, sig)
	}

	resp, err := n.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL
		}
		return notifiers.Retry(n.errorf(err, "POST %s: %v", n.where, err), 0)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Read a little of the answer, so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		n.log.Debug("webhook notification sent", "notifier", n.name, "alert", a.ID, "rule", a.Rule, "status", resp.StatusCode)
		return nil
	}
	peek, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := fmt.Sprintf("POST %s: HTTP %d", n.where, resp.StatusCode)
	if s := notifiers.Printable(peek, 200); s != "" {
		msg += ": " + s
	}
	code := resp.StatusCode
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return notifiers.Retry(n.errorf(nil, "%s", msg), notifiers.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500:
		return notifiers.Retry(n.errorf(nil, "%s", msg), 0)
	case code >= 300 && code < 400:
		return notifiers.Permanent(n.errorf(nil, "%s (redirects are not followed: configure the final URL)", msg))
	case code >= 400:
		return notifiers.Permanent(n.errorf(nil, "%s", msg))
	default: // 1xx, or beyond 599: not an answer to act on
		return notifiers.Retry(n.errorf(nil, "%s", msg), 0)
	}
}

func (n *Notifier) errorf(cause error, format string, args ...any) error {
	return &notifiers.Redacted{Msg: "webhook " + n.name + ": " + n.secrets.Scrub(fmt.Sprintf(format, args...)), Err: cause}
}
