// Package pagerduty is the notifier that triggers PagerDuty incidents
// through the Events API v2, and acknowledges and resolves them when their
// alert is acknowledged or resolved.
//
// It posts the event itself rather than through github.com/PagerDuty/go-pagerduty:
// that library's configurable client turns the Events API's answers into a
// REST-style APIError, which loses the body of a 400 ("invalid event" and
// its list of errors, what the dead-letter record must show) and does not
// expose Retry-After; its package-level function keeps the errors but posts
// to a hard-coded URL, so the url: setting could not be honoured. The
// request is one JSON POST, and its contract is small and stable.
package pagerduty

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/notifiers"
)

// Limits of the Events API v2.
const (
	MaxSummary  = 1024       // characters of payload.summary
	MaxDedupKey = 255        // characters of dedup_key
	MaxBody     = 512 * 1000 // bytes of the request; PagerDuty documents "512 KB"
)

// Bounds of the event's other fields: a value past them is not worth a
// refused event.
const (
	maxField = 1024 // characters of source, component, group and class
	maxURL   = 4096 // bytes of a link; a longer one is left out
)

// Options are what the notifier takes from outside its config entry.
type Options struct {
	// ExternalURL is server.external_url; when set, the event links to
	// <ExternalURL>/alerts/<id> (links and client_url).
	ExternalURL string
	// Logger receives debug lines about deliveries; nil: discard. It never
	// receives the routing key.
	Logger *slog.Logger
	// HTTPClient sends the requests, through a copy that does not follow
	// redirects unless it sets CheckRedirect (notifiers.HTTPClient); nil:
	// a client with Go's default transport. Its own Timeout may be zero:
	// each attempt is bounded by the config's timeout through its context.
	HTTPClient *http.Client
}

// Notifier triggers PagerDuty alerts. It is safe for concurrent use.
type Notifier struct {
	url     string
	key     config.Secret
	timeout time.Duration
	extURL  string
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time
}

// New returns a PagerDuty notifier for the config entry cfg (of type
// pagerduty), whose keys config has checked.
func New(cfg config.Notifier, opt Options) (*Notifier, error) {
	sc := settings(cfg)
	n := &Notifier{
		url:     sc.URL,
		key:     sc.RoutingKey,
		timeout: time.Duration(cfg.Timeout),
		extURL:  strings.TrimRight(opt.ExternalURL, "/"),
		client:  opt.HTTPClient,
		log:     opt.Logger,
		now:     time.Now,
	}
	if n.url == "" {
		n.url = DefaultURL
	}
	if n.timeout <= 0 {
		n.timeout = config.DefaultNotifierTimeout
	}
	n.client = notifiers.HTTPClient(n.client, n.timeout)
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	return n, nil
}

// Event is an Events API v2 trigger.
type Event struct {
	RoutingKey  string  `json:"routing_key"`
	EventAction string  `json:"event_action"`
	DedupKey    string  `json:"dedup_key,omitempty"`
	Payload     Payload `json:"payload"`
	Links       []Link  `json:"links,omitempty"`
	Client      string  `json:"client,omitempty"`
	ClientURL   string  `json:"client_url,omitempty"`
}

// Resolve is an Events API v2 resolve or acknowledge: it resolves or
// acknowledges the incident that the trigger with the same dedup_key
// opened. PagerDuty documents no payload for either; the routing key must
// be the trigger's.
type Resolve struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"` // "resolve" or "acknowledge"
	DedupKey    string `json:"dedup_key"`
}

// Payload is the event's payload.
type Payload struct {
	Summary       string   `json:"summary"`
	Source        string   `json:"source"`
	Severity      string   `json:"severity"`
	Timestamp     string   `json:"timestamp,omitempty"`
	Component     string   `json:"component,omitempty"`
	Group         string   `json:"group,omitempty"`
	Class         string   `json:"class,omitempty"`
	CustomDetails *Details `json:"custom_details,omitempty"`
}

// Link is a link shown on the alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Details are the payload's custom_details: the alert and the fields of
// the event that fired it.
type Details struct {
	AlertID    string            `json:"alert_id"`
	Rule       string            `json:"rule"`
	RuleName   string            `json:"rule_name,omitempty"`
	Severity   string            `json:"severity"`
	Title      string            `json:"title,omitempty"`
	Text       string            `json:"text,omitempty"`
	Time       string            `json:"time,omitempty"`
	Actor      *Actor            `json:"actor,omitempty"`
	IP         string            `json:"ip,omitempty"`
	Category   string            `json:"category,omitempty"`
	Action     string            `json:"action,omitempty"`
	Summary    string            `json:"summary,omitempty"`
	Method     string            `json:"method,omitempty"`
	Node       string            `json:"node,omitempty"`
	Objects    []Object          `json:"objects,omitempty"`
	Changes    []Change          `json:"changes,omitempty"`
	Attrs      map[string]string `json:"attrs,omitempty"`
	Count      int               `json:"count"`
	Suppressed int64             `json:"suppressed"`
	Group      map[string]string `json:"group,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Tags       []string          `json:"tags,omitempty"`
	EventIDs   []string          `json:"event_ids,omitempty"`
	Runbook    string            `json:"runbook,omitempty"`
	URL        string            `json:"url,omitempty"`
	// Truncated says that fields were cut or left out to keep the event
	// under PagerDuty's size limit.
	Truncated bool `json:"truncated,omitempty"`
}

// Actor is who did it.
type Actor struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
	Type        string   `json:"type,omitempty"`
	Groups      []string `json:"groups,omitempty"`
}

// Object is an affected object.
type Object struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	URI  string `json:"uri,omitempty"`
}

// Change is a changed value.
type Change struct {
	Key  string `json:"key"`
	From string `json:"from"`
	To   string `json:"to"`
}

// response is the Events API's answer, success or not.
type response struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

// Severity maps an alert severity to PagerDuty's: critical→critical,
// high→error, medium→warning, low and info→info.
func Severity(s alerter.Severity) string {
	switch s {
	case alerter.Critical:
		return "critical"
	case alerter.High:
		return "error"
	case alerter.Medium:
		return "warning"
	}
	return "info"
}

// Notify triggers the alert. 202 is success; 400 (an invalid event) and
// other 4xx are permanent; 408, 429, 5xx and network errors are
// retryable, after Retry-After when the answer has one.
func (n *Notifier) Notify(ctx context.Context, a *alerter.Alert) error {
	if a == nil {
		return notifiers.Permanent(errors.New("pagerduty: no alert"))
	}
	if err := ctx.Err(); err != nil {
		return notifiers.Retry(fmt.Errorf("pagerduty: %w", err), 0)
	}
	body, err := n.body(a)
	if err != nil {
		return notifiers.Permanent(fmt.Errorf("pagerduty: alert %s: %w", a.ID, err))
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return notifiers.Permanent(fmt.Errorf("pagerduty: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "alerter")
	resp, err := n.client.Do(req)
	if err != nil {
		cerr := ctx.Err()
		if cerr == nil {
			return notifiers.Retry(fmt.Errorf("pagerduty: %w", err), 0)
		}
		return notifiers.Retry(fmt.Errorf("pagerduty: %w: %w", cerr, err), 0)
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var r response
	_ = json.Unmarshal(raw, &r)

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Any 2xx is taken: the event is enqueued (PagerDuty answers 202).
		n.log.LogAttrs(ctx, slog.LevelDebug, "pagerduty event sent",
			slog.String("alert", a.ID), slog.String("rule", a.Rule), slog.Int("status", resp.StatusCode),
			slog.String("dedup_key", r.DedupKey))
		return nil
	}
	// The answer may quote the event, routing key included.
	se := &StatusError{Code: resp.StatusCode, Status: n.scrub(r.Status), Message: n.scrub(r.Message)}
	for _, e := range r.Errors {
		se.Errors = append(se.Errors, n.scrub(e))
	}
	if r.Status == "" && r.Message == "" && len(r.Errors) == 0 {
		se.Body = n.scrub(notifiers.OneLine(notifiers.Truncate(string(raw), 300)))
	}
	err = fmt.Errorf("pagerduty: %w", se)
	if rerr != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	after := notifiers.ParseRetryAfter(resp.Header.Get("Retry-After"), n.now())
	var out error
	switch c := resp.StatusCode; {
	case c == http.StatusTooManyRequests, c == http.StatusRequestTimeout, c >= 500:
		out = notifiers.Retry(err, after)
	default:
		out = notifiers.Permanent(err)
	}
	n.log.LogAttrs(ctx, slog.LevelDebug, "pagerduty event not sent",
		slog.String("alert", a.ID), slog.Int("status", resp.StatusCode), slog.String("error", out.Error()))
	return out
}

// StatusError is a refusal by the Events API.
type StatusError struct {
	Code    int      // HTTP status
	Status  string   // "invalid event", ...
	Message string   // "Event object is invalid"
	Errors  []string // what is invalid
	Body    string   // the start of a body that was not the API's JSON
}

func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Code))
	if t := http.StatusText(e.Code); t != "" {
		b.WriteString(" " + t)
	}
	if e.Status != "" {
		b.WriteString(": " + e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.Errors) > 0 {
		b.WriteString(" (" + strings.Join(e.Errors, "; ") + ")")
	}
	if e.Body != "" {
		b.WriteString(": " + strconv.Quote(e.Body))
	}
	return b.String()
}

// body is the request body for a: the event as JSON, at most MaxBody
// bytes.
//
// A resolve or an acknowledgement notification (docs/notifications.md,
// The alert lifecycle) is a Resolve, of action resolve or acknowledge,
// with the alert's dedup_key.
func (n *Notifier) body(a *alerter.Alert) ([]byte, error) {
	if action := noticeAction(a); action != "" {
		if a.DedupKey == "" {
			return nil, fmt.Errorf("to %s an incident needs the alert's dedup_key, and it has none", action)
		}
		return marshal(Resolve{RoutingKey: n.key.Value(), EventAction: action, DedupKey: dedupKey(a.DedupKey)})
	}
	ev := n.event(a)
	b, err := marshal(ev)
	if err != nil || len(b) <= MaxBody {
		return b, err
	}
	// Too big: cut the long values and lists of the details first, then
	// keep only the details that identify the alert.
	for _, limit := range []int{4096, 512} {
		ev.Payload.CustomDetails = trimDetails(n.details(a), limit, 20)
		if b, err = marshal(ev); err != nil || len(b) <= MaxBody {
			return b, err
		}
	}
	d := n.details(a)
	ev.Payload.CustomDetails = &Details{
		AlertID: notifiers.Truncate(d.AlertID, 128), Rule: notifiers.Truncate(d.Rule, 256), Severity: d.Severity, Time: d.Time,
		Actor: trimActor(d.Actor, 256), IP: notifiers.Truncate(d.IP, 128), Count: d.Count, Suppressed: d.Suppressed,
		Group: trimMap(d.Group, 256, 20), URL: d.URL, Truncated: true,
	}
	if b, err = marshal(ev); err != nil || len(b) <= MaxBody {
		return b, err
	}
	// Only the top-level fields are left, each at most maxField.
	ev.Payload.CustomDetails = &Details{AlertID: notifiers.Truncate(d.AlertID, 128), Rule: notifiers.Truncate(d.Rule, 256), Severity: notifiers.Truncate(d.Severity, 20), Truncated: true}
	return marshal(ev)
}

// noticeAction is the event_action of a notice: resolve or acknowledge;
// "" for an alert.
func noticeAction(a *alerter.Alert) string {
	switch {
	case a.Resolves != "":
		return "resolve"
	case a.Acknowledges != "":
		return "acknowledge"
	}
	return ""
}

// marshal is v as compact JSON, without escaping <, > and & (PagerDuty
// shows the text as it is).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// event is the trigger for a, before any trimming.
func (n *Notifier) event(a *alerter.Alert) *Event {
	ev := &Event{
		RoutingKey:  n.key.Value(),
		EventAction: "trigger",
		DedupKey:    dedupKey(a.DedupKey),
		Client:      "alerter",
	}
	p := &ev.Payload
	title := notifiers.OneLine(a.Title)
	if title == "" {
		title = notifiers.OneLine(notifiers.Or(a.Name, a.Rule))
	}
	p.Summary = notifiers.Truncate(title, MaxSummary)
	p.Severity = Severity(a.Severity)
	p.Source = "alerter"
	if !a.Time.IsZero() {
		p.Timestamp = a.Time.UTC().Format(time.RFC3339Nano)
	}
	p.Group = notifiers.Truncate(notifiers.OneLine(a.Rule), maxField)
	if e := a.Event; e != nil {
		if s := notifiers.OneLine(e.System); s != "" {
			p.Source = notifiers.Truncate(s, maxField)
		}
		p.Component = notifiers.Truncate(notifiers.OneLine(notifiers.Or(e.Category, e.Source)), maxField)
		p.Class = notifiers.Truncate(notifiers.OneLine(e.Action), maxField)
	}
	p.CustomDetails = n.details(a)
	if u := notifiers.HTTPURL(a.Runbook); u != "" && len(u) <= maxURL {
		ev.Links = append(ev.Links, Link{Href: u, Text: "Runbook"})
	}
	if u := notifiers.AlertURL(n.extURL, a.ID); u != "" && len(u) <= maxURL {
		ev.Links = append(ev.Links, Link{Href: u, Text: "Alert in alerter"})
		ev.ClientURL = u
	}
	if u := notifiers.SilenceURL(n.extURL, a.ID); u != "" && len(u) <= maxURL {
		ev.Links = append(ev.Links, Link{Href: u, Text: "Silence similar in alerter"})
	}
	return ev
}

// details are the custom_details of a.
func (n *Notifier) details(a *alerter.Alert) *Details {
	d := &Details{
		AlertID:    a.ID,
		Rule:       a.Rule,
		RuleName:   a.Name,
		Severity:   string(a.Severity),
		Title:      a.Title,
		Text:       a.Text,
		Count:      a.Count,
		Suppressed: a.Suppressed,
		Group:      a.Group,
		Labels:     a.Labels,
		Tags:       a.Tags,
		EventIDs:   a.EventIDs,
		Runbook:    a.Runbook,
		URL:        notifiers.AlertURL(n.extURL, a.ID),
	}
	if !a.Time.IsZero() {
		d.Time = a.Time.UTC().Format(time.RFC3339Nano)
	}
	e := a.Event
	if e == nil {
		return d
	}
	act := e.Actor
	if act.ID != "" || act.Name != "" || act.DisplayName != "" || act.Type != "" || len(act.Groups) > 0 {
		d.Actor = &Actor{ID: act.ID, Name: act.Name, DisplayName: act.DisplayName, Type: act.Type, Groups: act.Groups}
	}
	d.IP = e.IP
	d.Category = e.Category
	d.Action = e.Action
	d.Summary = e.Summary
	d.Method = e.Method
	d.Node = e.Node
	for _, o := range e.Objects {
		d.Objects = append(d.Objects, Object(o))
	}
	for _, c := range e.Changes {
		d.Changes = append(d.Changes, Change(c))
	}
	d.Attrs = e.Attrs
	return d
}

// trimDetails cuts every string of d to limit characters and every list
// and map to items entries.
func trimDetails(d *Details, limit, items int) *Details {
	t := *d
	t.Truncated = true
	for _, s := range []*string{&t.AlertID, &t.Rule, &t.RuleName, &t.Title, &t.IP, &t.Category, &t.Action,
		&t.Summary, &t.Method, &t.Node, &t.Runbook} {
		*s = notifiers.Truncate(*s, limit)
	}
	t.Text = notifiers.Truncate(t.Text, 4*limit)
	t.Actor = trimActor(d.Actor, limit)
	t.Objects = nil
	for _, o := range d.Objects[:min(len(d.Objects), items)] {
		t.Objects = append(t.Objects, Object{notifiers.Truncate(o.Type, limit), notifiers.Truncate(o.ID, limit), notifiers.Truncate(o.Name, limit), notifiers.Truncate(o.URI, limit)})
	}
	t.Changes = nil
	for _, c := range d.Changes[:min(len(d.Changes), items)] {
		t.Changes = append(t.Changes, Change{notifiers.Truncate(c.Key, limit), notifiers.Truncate(c.From, limit), notifiers.Truncate(c.To, limit)})
	}
	t.Attrs = trimMap(d.Attrs, limit, items)
	t.Group = trimMap(d.Group, limit, items)
	t.Labels = trimMap(d.Labels, limit, items)
	t.Tags = trimList(d.Tags, limit, items)
	t.EventIDs = trimList(d.EventIDs, limit, items)
	return &t
}

func trimActor(a *Actor, limit int) *Actor {
	if a == nil {
		return nil
	}
	return &Actor{ID: notifiers.Truncate(a.ID, limit), Name: notifiers.Truncate(a.Name, limit), DisplayName: notifiers.Truncate(a.DisplayName, limit),
		Type: notifiers.Truncate(a.Type, limit), Groups: trimList(a.Groups, limit, 20)}
}

func trimList(l []string, limit, items int) []string {
	var out []string
	for _, s := range l[:min(len(l), items)] {
		out = append(out, notifiers.Truncate(s, limit))
	}
	return out
}

// trimMap keeps the items first keys in sorted order, each value cut.
func trimMap(m map[string]string, limit, items int) map[string]string {
	if m == nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]string, min(len(keys), items))
	for _, k := range keys[:min(len(keys), items)] {
		out[notifiers.Truncate(k, limit)] = notifiers.Truncate(m[k], limit)
	}
	return out
}

// dedupKey is k within PagerDuty's 255 characters: a longer key keeps its
// start and ends in a hash of the whole, so that it stays stable and
// distinct.
func dedupKey(k string) string {
	if len(k) <= MaxDedupKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	h := hex.EncodeToString(sum[:8])
	i := MaxDedupKey - len(h) - 1
	for i > 0 && !utf8.RuneStart(k[i]) {
		i--
	}
	return k[:i] + "~" + h
}

// scrub replaces the routing key in s, also in the encodings
// notifiers.Secrets knows.
func (n *Notifier) scrub(s string) string {
	if k := n.key.Value(); k != "" {
		s = notifiers.Secrets{k}.Scrub(strings.ReplaceAll(s, k, "<routing key>"))
	}
	return s
}

// Preview is the event that would be sent for a, without the routing key:
// what the playground shows for a PagerDuty target.
func Preview(a *alerter.Alert, externalURL string) *Event {
	ev := (&Notifier{extURL: strings.TrimRight(externalURL, "/")}).event(a)
	ev.RoutingKey = ""
	return ev
}
