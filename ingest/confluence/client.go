package confluence

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/internal/retry"
)

// Options tune a Poller, a Directory and Lists; the zero value is the
// production setting. Fields that do not apply to a type are ignored by it.
type Options struct {
	// Client makes the HTTP requests; default a client with a 2m timeout.
	Client *http.Client
	// Logger gets what goes wrong and what changes; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now. Tests pin it.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() then; default a
	// timer. Tests record the waits instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
	// PageSize is the limit asked for per request; default 1000 for the audit
	// APIs, 200 for the directory (Cloud's cap). Servers may return fewer.
	PageSize int
	// MaxBackoff caps the wait between retries and between failed polls;
	// default 5m.
	MaxBackoff time.Duration
	// MaxWindow caps the span one poll reads (Poller); default 15m.
	MaxWindow time.Duration
	// CacheTTL is how long a user's groups are kept (Directory); default 10m.
	CacheTTL time.Duration
}

const (
	defaultTimeout    = 2 * time.Minute
	defaultMaxBackoff = 5 * time.Minute
	firstBackoff      = time.Second
	// maxRetryAfter bounds a server's Retry-After (retry.After's bound).
	maxRetryAfter = retry.MaxAfter
	// maxBody bounds a response: a page of 1000 audit events is about 2 MB.
	maxBody = 64 << 20
)

func (o Options) withDefaults() Options {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: defaultTimeout}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = retry.Sleep
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = defaultMaxBackoff
	}
	return o
}

// ErrUnauthorized is wrapped by the error of a request Confluence refused
// with 401 or 403.
var ErrUnauthorized = errors.New("confluence refused the credentials")

// ErrNotFound is wrapped by the error of a 404 (an unknown group or user,
// or a base URL that is not Confluence's).
var ErrNotFound = errors.New("not found")

// StatusError is a response other than 200.
type StatusError struct {
	Source string // the configured source's name
	Method string
	URL    string // without credentials
	Code   int
	// Body is the start of the response body, for the message Confluence
	// gives, with the source's secrets removed.
	Body string
	// RetryAfter is the server's Retry-After, if it gave a valid one.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "source %s: %s %s: HTTP %d %s", e.Source, e.Method, e.URL, e.Code, http.StatusText(e.Code))
	switch e.Code {
	case http.StatusUnauthorized:
		b.WriteString(": the credentials were refused; check the token (or username and password) of the source")
	case http.StatusForbidden:
		b.WriteString(": the account may not read this; check the token (or username and password) of the source: reading the audit log needs a Confluence administrator")
	}
	if e.Body != "" {
		fmt.Fprintf(&b, " (response: %s)", e.Body)
	}
	return b.String()
}

func (e *StatusError) Unwrap() error {
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

// client makes the GET requests of one confluence-poll source.
type client struct {
	source  string
	base    string // without a trailing slash
	auth    func(*http.Request)
	secrets []string
	opt     Options
	stats   *Stats
}

func newClient(src config.Source, opt Options, stats *Stats) (*client, error) {
	cfg := ConfigOf(src)
	base := strings.TrimRight(cfg.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("source %s: base_url %q does not parse", src.Name, cfg.BaseURL)
	}
	c := &client{source: src.Name, base: base, opt: opt, stats: stats}
	if c.stats == nil {
		c.stats = new(Stats)
	}
	token, user, pass := cfg.Token.Value(), cfg.Username, cfg.Password.Value()
	switch {
	case token != "":
		c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
		c.secrets = []string{token}
	case user != "":
		c.auth = func(r *http.Request) { r.SetBasicAuth(user, pass) }
		c.secrets = []string{pass, base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	default:
		return nil, fmt.Errorf("source %s: no credentials: set token, or username and password", src.Name)
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			c.secrets = append(c.secrets, p)
		}
	}
	c.opt.Client = sameOriginClient(c.opt.Client, u)
	return c, nil
}

// errOffOrigin is wrapped by the error of a redirect to another origin.
var errOffOrigin = errors.New("redirect to another origin not followed")

// sameOriginClient returns a copy of hc that follows redirects only within
// the origin (scheme, host and port) of base. Go's client drops the
// Authorization header on a redirect to another host, but keeps it when
// only the port or the scheme differs (a 302 from :443 to :8443, or to
// http:), and the requests carry the source's token or password: a server
// at the base URL, or anyone who can answer for it, must not be able to send
// them elsewhere.
func sameOriginClient(hc *http.Client, base *url.URL) *http.Client {
	c := *hc
	next := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(req.URL, base) {
			return fmt.Errorf("%w: the server at base_url redirected to %s, and the request carries the source's credentials; set base_url to the address Confluence answers at",
				errOffOrigin, origin(req.URL))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// origin is scheme://host[:port] of u, for messages: no user info, path or
// query, which may hold credentials.
func origin(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

// isCloud tells Confluence Cloud, which has other directory endpoints, by
// its host (the rule config uses to pick the legacy API).
func isCloud(base string) bool {
	u, err := url.Parse(base)
	return err == nil && strings.HasSuffix(strings.ToLower(u.Hostname()), ".atlassian.net")
}

// redact removes the source's secrets from s: error bodies and messages are
// the server's text, and a server (or proxy) that echoes a header must not
// put a token in our logs.
func (c *client) redact(s string) string {
	for _, sec := range c.secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "<secret>")
		}
	}
	return s
}

// get fetches base+path?query and returns the body of a 200. It retries 429,
// 5xx and network errors with backoff, up to attempts tries (0: until ctx is
// done); other statuses are returned at once as a *StatusError.
func (c *client) get(ctx context.Context, path string, query url.Values, attempts int) ([]byte, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	for attempt := 1; ; attempt++ {
		body, err := c.try(ctx, u)
		if err == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		wait := c.backoff(attempt)
		var se *StatusError
		switch {
		case errors.As(err, &se) && se.Code == http.StatusTooManyRequests:
			c.stats.RateLimited.Add(1)
			if se.RetryAfter > 0 {
				wait = se.RetryAfter
			}
		case errors.As(err, &se) && se.Code >= 500:
			c.stats.ServerErrors.Add(1)
			if se.RetryAfter > 0 {
				wait = se.RetryAfter
			}
		case errors.As(err, &se):
			if errors.Is(err, ErrUnauthorized) {
				c.stats.AuthErrors.Add(1)
			}
			return nil, err
		case errors.Is(err, errTooLarge), errors.Is(err, errOffOrigin):
			return nil, err
		default:
			c.stats.NetworkErrors.Add(1)
		}
		if attempts > 0 && attempt >= attempts {
			return nil, err
		}
		c.opt.Logger.Warn("confluence request failed; retrying",
			"source", c.source, "error", err, "attempt", attempt, "retry_in", wait)
		if err := c.opt.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

var errTooLarge = fmt.Errorf("response larger than %d MiB", maxBody>>20)

func (c *client) try(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", c.source, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "alerter")
	c.auth(req)
	c.stats.Requests.Add(1)
	resp, err := c.opt.Client.Do(req)
	if errors.Is(err, errOffOrigin) {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("source %s: GET %s: %w", c.source, redactURL(u), err)
	}
	if err != nil {
		// net/http leaves the password out of the URL in its errors; the
		// redaction is for a base URL that carries a token elsewhere.
		if msg := err.Error(); c.redact(msg) != msg {
			return nil, fmt.Errorf("source %s: %s", c.source, c.redact(msg))
		}
		return nil, fmt.Errorf("source %s: %w", c.source, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("source %s: GET %s: reading the response: %w", c.source, redactURL(u), err)
	}
	if resp.StatusCode == http.StatusOK {
		if len(body) > maxBody {
			return nil, fmt.Errorf("source %s: GET %s: %w", c.source, redactURL(u), errTooLarge)
		}
		return body, nil
	}
	se := &StatusError{Source: c.source, Method: http.MethodGet, URL: redactURL(u), Code: resp.StatusCode, Body: c.redact(snippet(body))}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.opt.Now()); ok {
		se.RetryAfter = d
	}
	return nil, se
}

// backoff is the wait before retry number attempt: exponential from 1s,
// capped, with the upper half jittered so that replicas and sources that
// failed together do not retry together.
func (c *client) backoff(attempt int) time.Duration {
	return retry.Backoff(attempt, firstBackoff, c.opt.MaxBackoff)
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// The wait is at least 1s, so that "0" cannot make a busy loop, and at most
// maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	d, ok := retry.After(v, now)
	if !ok {
		return 0, false
	}
	return max(d, time.Second), true
}

// snippet is the start of a response body, on one line, for an error.
func snippet(body []byte) string {
	const n = 200
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// redactURL drops user info from a URL for messages.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid URL)"
	}
	return p.Redacted()
}
