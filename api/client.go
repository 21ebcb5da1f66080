package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/silences"
)

// maxAnswer bounds the answer read from the server.
const maxAnswer = 16 << 20

// Client talks to a running alerter's API.
type Client struct {
	// BaseURL is where alerter serves, such as http://127.0.0.1:8080.
	BaseURL string
	// Token, if not empty, is sent as the bearer token (server.api_token
	// or one of server.tokens).
	Token string
	// HTTP sends the requests; nil is http.DefaultClient.
	HTTP *http.Client
}

// StatusError is an answer other than 2xx.
type StatusError struct {
	Code int // the HTTP status
	// Message is the server's {"error": ...}, which may quote what was
	// sent or stored and hold several problems, a line each; empty when
	// the answer had none.
	Message string
	// Method, Path and Status name the request and its status line, for
	// an answer without a message.
	Method, Path, Status string
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s (%d)", e.Message, e.Code)
	}
	return fmt.Sprintf("%s %s: %s", e.Method, e.Path, e.Status)
}

// Do sends a request to path (with its query) with body, if not nil, as
// JSON, and decodes a 2xx answer into out, if not nil; any other answer is
// a *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("is alerter running at %s? %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Code: resp.StatusCode, Method: method, Path: path, Status: resp.Status}
		var e ErrorBody
		if json.Unmarshal(b, &e) == nil {
			se.Message = e.Error
		}
		return se
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Get is Do for a GET.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// Alerts calls fn with the alerts of the history that q selects (the
// query of GET /api/v1/alerts), page after page, until fn returns false,
// there are no more, or maxPages pages were read (0: no bound). A page may
// come back short, or empty, when the server stopped at its bound on
// alerts read. older tells that the history goes on.
func (c *Client) Alerts(ctx context.Context, q url.Values, maxPages int, fn func(Alert) bool) (older bool, err error) {
	return eachPage(ctx, c, "/api/v1/alerts", q, maxPages, func(p *Alerts) ([]Alert, string) { return p.Alerts, p.Next }, fn)
}

// DeadLetters is Alerts for GET /api/v1/deadletters.
func (c *Client) DeadLetters(ctx context.Context, q url.Values, maxPages int, fn func(DeadLetter) bool) (older bool, err error) {
	return eachPage(ctx, c, "/api/v1/deadletters", q, maxPages, func(p *DeadLetters) ([]DeadLetter, string) { return p.DeadLetters, p.Next }, fn)
}

// Events is Alerts for GET /api/v1/events, the stored events.
func (c *Client) Events(ctx context.Context, q url.Values, maxPages int, fn func(StoredEvent) bool) (older bool, err error) {
	return eachPage(ctx, c, "/api/v1/events", q, maxPages, func(p *Events) ([]StoredEvent, string) { return p.Events, p.Next }, fn)
}

// eachPage reads the history at path page after page, as Alerts tells;
// items takes a page's items and next cursor.
func eachPage[P, T any](ctx context.Context, c *Client, path string, q url.Values, maxPages int, items func(*P) ([]T, string), fn func(T) bool) (older bool, err error) {
	q = maps.Clone(q)
	if q == nil {
		q = url.Values{}
	}
	for pages := 1; ; pages++ {
		var p P
		if err := c.Get(ctx, path+"?"+q.Encode(), &p); err != nil {
			return false, err
		}
		list, next := items(&p)
		for _, it := range list {
			if !fn(it) {
				return next != "", nil
			}
		}
		if next == "" || pages == maxPages {
			return next != "", nil
		}
		q.Set("before", next)
	}
}

// Redeliver hands the dead letter of alert id at target back to target's
// queue (POST /api/v1/alerts/{id}/redeliver).
func (c *Client) Redeliver(ctx context.Context, id, target string) (Redelivery, error) {
	var out Redelivery
	err := c.Do(ctx, http.MethodPost, "/api/v1/alerts/"+url.PathEscape(id)+"/redeliver", RedeliverRequest{Target: target}, &out)
	return out, err
}

// Ack acknowledges alert id, and with it its group (POST
// /api/v1/alerts/{id}/ack).
func (c *Client) Ack(ctx context.Context, id, comment string) (AlertActed, error) {
	var out AlertActed
	err := c.Do(ctx, http.MethodPost, "/api/v1/alerts/"+url.PathEscape(id)+"/ack", AlertAction{Comment: comment}, &out)
	return out, err
}

// Resolve resolves alert id and its group's alerts up to now (POST
// /api/v1/alerts/{id}/resolve), with a verdict ("" for none).
func (c *Client) Resolve(ctx context.Context, id, comment, verdict string) (AlertActed, error) {
	var out AlertActed
	err := c.Do(ctx, http.MethodPost, "/api/v1/alerts/"+url.PathEscape(id)+"/resolve", AlertAction{Comment: comment, Verdict: verdict}, &out)
	return out, err
}

// Silences lists the silences, expired ones included.
func (c *Client) Silences(ctx context.Context) ([]Silence, error) {
	var out Silences
	err := c.Get(ctx, "/api/v1/silences", &out)
	return out.Silences, err
}

// AddSilence creates sl and returns it as the server recorded it.
func (c *Client) AddSilence(ctx context.Context, sl silences.Silence) (Silence, error) {
	var out Silence
	err := c.Do(ctx, http.MethodPost, "/api/v1/silences", sl, &out)
	return out, err
}

// PreviewSilence tells which of the newest alerts matchers would have
// muted; it creates nothing.
func (c *Client) PreviewSilence(ctx context.Context, matchers []silences.Matcher) (SilencePreview, error) {
	var out SilencePreview
	err := c.Do(ctx, http.MethodPost, "/api/v1/silences/preview", map[string]any{"matchers": matchers}, &out)
	return out, err
}

// ExpireSilence ends the silence id now.
func (c *Client) ExpireSilence(ctx context.Context, id string) (Silence, error) {
	var out Silence
	err := c.Do(ctx, http.MethodDelete, "/api/v1/silences/"+id, nil, &out)
	return out, err
}
