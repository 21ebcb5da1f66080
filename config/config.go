// Package config reads alerter.yaml (docs/running.md, examples/alerter.yaml): where events come from, where
// alerts go, and how the service runs. Load checks the whole file before
// anything starts — unknown keys, types, required fields, URLs, names and
// references between sections — and reports every problem at once as
// yamlx.Errors positioned file:line:col.
//
// In any value (never in a key), ${VAR} is replaced by the environment
// variable VAR, which must be set; ${VAR:-text} gives text when VAR is unset
// or empty; $${ is a literal ${. A value that came from the environment is
// named by its variables in error messages, never shown. Credentials are of
// type Secret, which never prints.
//
// Top-level keys starting with x- are ignored, so that they can hold YAML
// anchors for the rest of the file (x-retry: &retry {max_attempts: 5}).
//
// config knows the keys every source and every notifier has; the others
// belong to its type, a Plugin that declares them with their defaults and
// validation. The caller hands the types in (Plugins; package builtin
// lists alerter's), so that config imports no source or notifier.
package config

import (
	"maps"
	"net"
	"slices"
	"time"

	json "github.com/goccy/go-json"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/rules"
)

// Config is a loaded, defaulted and validated alerter.yaml.
type Config struct {
	Server    Server              `yaml:"server" json:"server"`
	NATS      NATS                `yaml:"nats" json:"nats"`
	Rules     RulesConfig         `yaml:"rules" json:"rules"`
	Lists     map[string]ListSpec `yaml:"lists,omitempty" json:"lists,omitempty"`
	Sources   []Source            `yaml:"sources,omitempty" json:"sources,omitempty"`
	Notifiers []Notifier          `yaml:"notifiers,omitempty" json:"notifiers,omitempty"`
	// Routes are the targets of alerts whose rule has no notify:, by
	// severity (info, low, medium, high, critical) or "default".
	Routes alerter.Routes `yaml:"routes,omitempty" json:"routes,omitempty"`
	// Silences bounds the silences people create.
	Silences Silences `yaml:"silences" json:"silences"`
	// Engine tunes how rules are evaluated over time.
	Engine Engine `yaml:"engine" json:"engine"`
}

// DefaultLateness is engine.lateness unless the config says otherwise.
const DefaultLateness = 2 * time.Minute

// MaxLateness bounds engine.lateness: deadlines wait that long past their
// time, and a group's state is kept a day past its span for them.
const MaxLateness = time.Hour

// Engine tunes how rules are evaluated over time (docs/rules.md,
// Absences).
type Engine struct {
	// Lateness is how long after its time a deadline (an absence's, a
	// quiet source's) waits before it fires live, for events that arrive
	// late: an event of an absent step stored within it still cancels.
	// Default 2m; 0 to 1h.
	Lateness yamlx.Duration `yaml:"lateness" json:"lateness"`
}

// DefaultSilenceMaxDuration is how long a silence may last unless
// silences.max_duration says otherwise: 30 days.
const DefaultSilenceMaxDuration = 30 * 24 * time.Hour

// Silences bounds the silences people create (docs/notifications.md).
type Silences struct {
	// MaxDuration is the longest a silence may last, from its start to its
	// end; default 720h (30 days). A longer one is refused: a forgotten
	// silence hides alerts for as long as it lasts.
	MaxDuration yamlx.Duration `yaml:"max_duration" json:"max_duration"`
}

// Server is the HTTP server: webhooks, API, metrics and web page.
type Server struct {
	// Listen is host:port; default 127.0.0.1:8080, so that a first run is
	// not reachable from the network until asked.
	Listen string `yaml:"listen" json:"listen"`
	// MaxBodyBytes caps a request body (413 beyond); default 1048576 (1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// MaxIngestBytes caps the bytes of webhook bodies being taken in at
	// once, over all webhook sources (503 with Retry-After beyond); default
	// 8 MiB, and at least MaxBodyBytes.
	MaxIngestBytes int64 `yaml:"max_ingest_bytes" json:"max_ingest_bytes"`
	// ExternalURL is how users reach this server, for links in
	// notifications; optional, absolute http(s).
	ExternalURL string `yaml:"external_url,omitempty" json:"external_url,omitempty"`
	// APIToken, when set, is required as "Authorization: Bearer" on /api/;
	// it is one admin token, named APITokenName in who-did-what records.
	APIToken Secret `yaml:"api_token,omitempty" json:"api_token,omitempty"`
	// Tokens are API tokens with a name (recorded on what they change) and
	// a role (what they may do), beside or instead of APIToken.
	Tokens []Token `yaml:"tokens,omitempty" json:"tokens,omitempty"`
}

// APITokenName names server.api_token where a token's name is recorded.
const APITokenName = "api_token"

// Roles of API tokens, each allowed what the ones before it are.
const (
	RoleViewer = "viewer" // reads
	RoleWriter = "writer" // also silences, expires, redelivers
	RoleAdmin  = "admin"  // also reloads rules and tests notifiers
)

// Roles are the roles a token can have, least allowed first.
var Roles = []string{RoleViewer, RoleWriter, RoleAdmin}

// Token is one named API token of server.tokens.
type Token struct {
	// Name is unique among tokens ([a-z0-9-]+ and the like); it is recorded
	// as who created a silence, handed back an alert, reloaded the rules.
	Name string `yaml:"name" json:"name"`
	// Token is the bearer token itself.
	Token Secret `yaml:"token" json:"token"`
	// Role is viewer, writer or admin.
	Role string `yaml:"role" json:"role"`
}

// HasTokens tells whether the API needs a token: api_token or tokens set.
func (s *Server) HasTokens() bool { return s.APIToken != "" || len(s.Tokens) > 0 }

// Exposed tells whether Listen takes connections from other machines:
// ":8080", 0.0.0.0, an address of an interface or a host name other than
// localhost; not 127.0.0.1, [::1] or localhost.
func (s *Server) Exposed() bool {
	host, _, err := net.SplitHostPort(s.Listen)
	return err == nil && !loopback(host)
}

// OwnSource is the source of the events alerter publishes about its own
// actions (a silence created, the rules reloaded); no configured source
// may take the name.
const OwnSource = "alerter"

// NATS is the JetStream backbone.
type NATS struct {
	// URL joins an existing cluster (several servers comma-separated,
	// nats://, tls://, ws:// or wss://). Empty: an embedded server.
	URL      string   `yaml:"url,omitempty" json:"url,omitempty"`
	Embedded Embedded `yaml:"embedded" json:"embedded"`
	// Retention is how long the EVENTS stream keeps history for replay;
	// default 168h (7 days).
	Retention yamlx.Duration `yaml:"retention" json:"retention"`
	// MaxBytes caps each stream's size on disk as Retention caps its age:
	// past it, JetStream drops the oldest messages. alerter warns (log and
	// alerter_stream_fill_ratio) when a stream passes 80% of its cap.
	MaxBytes StreamBytes `yaml:"max_bytes" json:"max_bytes"`
	// Sync is "" (JetStream's default: flush to disk on an interval, which
	// survives a crash of the process) or "always" (fsync every write, which
	// also survives a crash of the machine, at several times the cost).
	Sync string `yaml:"sync,omitempty" json:"sync,omitempty"`
	// Replicas of alerter's streams and buckets, for a cluster at nats.url:
	// 3 on a 3-node cluster survives the loss of a node. Default 1; the
	// embedded server has one node.
	Replicas int `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	// FailOpen decides what happens when the dedup and threshold state
	// cannot be read or written (the KV bucket unreachable): false (the
	// default) holds the event and retries it until the state is back, so
	// nothing is paged twice; true evaluates it on empty state, so an alert
	// goes out at once but may be a duplicate.
	FailOpen bool `yaml:"fail_open,omitempty" json:"fail_open,omitempty"`
	// AckWait is how long an event or alert that a replica took and did
	// not finish (it crashed) waits before it is handed out again; default
	// 10s. Work that takes longer is kept alive, so this only bounds how
	// late alerts are after a crash.
	AckWait yamlx.Duration `yaml:"ack_wait,omitempty" json:"ack_wait,omitempty"`
	// Credentials is a .creds file (JWT and NKey). At most one of
	// credentials, user+password and token is given; all of them, and TLS,
	// are for nats.url (the embedded server's token is embedded.token).
	Credentials string `yaml:"credentials,omitempty" json:"credentials,omitempty"`
	User        string `yaml:"user,omitempty" json:"user,omitempty"`
	Password    Secret `yaml:"password,omitempty" json:"password,omitempty"`
	Token       Secret `yaml:"token,omitempty" json:"token,omitempty"`
	TLS         TLS    `yaml:"tls,omitempty" json:"tls,omitzero"`
}

// StreamBytes are the byte caps of alerter's streams. The defaults fit a
// small disk (12.5 GiB in all); a cluster reserves them on every node that
// holds a replica.
type StreamBytes struct {
	// Events: EVENTS, the history replay and backtests read; default 10GiB.
	Events ByteSize `yaml:"events" json:"events"`
	// Alerts: ALERTS; default 1GiB.
	Alerts ByteSize `yaml:"alerts" json:"alerts"`
	// Rejected: REJECTED, messages of NATS sources that were no events;
	// default 1GiB.
	Rejected ByteSize `yaml:"rejected" json:"rejected"`
	// DeadLetters: DEADLETTERS; default 512MiB.
	DeadLetters ByteSize `yaml:"deadletters" json:"deadletters"`
}

// Default stream caps.
const (
	DefaultEventsBytes      ByteSize = 10 << 30
	DefaultAlertsBytes      ByteSize = 1 << 30
	DefaultRejectedBytes    ByteSize = 1 << 30
	DefaultDeadLettersBytes ByteSize = 512 << 20
)

// Embedded configures the embedded nats-server used when NATS.URL is empty.
type Embedded struct {
	// StoreDir holds JetStream's files; default ./data/nats.
	StoreDir string `yaml:"store_dir" json:"store_dir"`
	// Listen is a client address (e.g. 127.0.0.1:4222) to let other
	// processes in; default "": in-process connections only.
	Listen string `yaml:"listen,omitempty" json:"listen,omitempty"`
	// Token is what every client must give (nats://TOKEN@host:port, or
	// the nats CLI's --user TOKEN). Default, when the server listens: a
	// random token kept in store_dir/alerter-nats.token (mode 0600), made
	// on the first start.
	Token Secret `yaml:"token,omitempty" json:"token,omitempty"`
}

// TLS are PEM files for the connection to nats.url. CA alone verifies the
// server; Cert and Key together add a client certificate.
type TLS struct {
	CA   string `yaml:"ca,omitempty" json:"ca,omitempty"`
	Cert string `yaml:"cert,omitempty" json:"cert,omitempty"`
	Key  string `yaml:"key,omitempty" json:"key,omitempty"`
}

// RulesConfig says where the rule files are.
type RulesConfig struct {
	// Paths are files, or folders searched for *.yaml and *.yml; default
	// [examples/rules].
	Paths []string `yaml:"paths" json:"paths"`
	// Watch reloads the rules when a file changes (an invalid set is
	// rejected and the old one kept); default true.
	Watch bool `yaml:"watch" json:"watch"`
}

// ListSpec is a named list for rules (lists.NAME). In YAML it is either a
// plain list of values (static) or a mapping that loads the members of a
// Confluence group through a confluence-poll source (dynamic).
type ListSpec struct {
	// Values are a static list's values.
	Values []string `json:"values,omitempty"`
	// ConfluenceGroup is the group whose members make a dynamic list; set
	// exactly for dynamic lists.
	ConfluenceGroup string `json:"confluence_group,omitempty"`
	// Source names the confluence-poll source whose base URL and
	// credentials read the group; default: the only confluence-poll
	// source, when there is exactly one.
	Source string `json:"source,omitempty"`
	// Refresh is how often the group is read again; default 10m.
	Refresh yamlx.Duration `json:"refresh,omitempty"`
}

// Dynamic tells a list loaded from a Confluence group from a static one.
func (l ListSpec) Dynamic() bool { return l.ConfluenceGroup != "" }

// listGroup is the mapping form of a ListSpec.
type listGroup struct {
	ConfluenceGroup string         `yaml:"confluence_group"`
	Source          string         `yaml:"source,omitempty"`
	Refresh         yamlx.Duration `yaml:"refresh,omitempty"`
}

// UnmarshalYAML implements yaml.Unmarshaler. Parse checks the node strictly
// before this runs; this only takes the two shapes apart.
func (l *ListSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var g listGroup
		if err := n.Decode(&g); err != nil {
			return err
		}
		*l = ListSpec{ConfluenceGroup: g.ConfluenceGroup, Source: g.Source, Refresh: g.Refresh}
		return nil
	}
	*l = ListSpec{}
	return n.Decode(&l.Values)
}

// MarshalYAML implements yaml.Marshaler, writing the shape it was read from.
func (l ListSpec) MarshalYAML() (any, error) {
	if l.Dynamic() {
		return listGroup{ConfluenceGroup: l.ConfluenceGroup, Source: l.Source, Refresh: l.Refresh}, nil
	}
	if l.Values == nil {
		return []string{}, nil
	}
	return l.Values, nil
}

// SourceConfluencePoll is the type of the sources that lists of Confluence
// groups are read through (ListSpec.Source).
const SourceConfluencePoll = "confluence-poll"

// Event formats a source can be read as (event/README.md).
const (
	FormatAuto               = "auto"
	FormatConfluenceAudit    = "confluence-audit"
	FormatConfluenceAuditing = "confluence-auditing"
	FormatConfluenceWebhook  = "confluence-webhook"
	FormatJSON               = "json"
)

// Source is where events come from (docs/running.md, Sources): the keys
// every type has, and in Settings those of its type. A key that does not
// apply to the source's type is an error.
type Source struct {
	// Name is unique among sources, [a-z0-9-]+; it is event.source.
	Name string `yaml:"name" json:"name"`
	// Type names the plug-in: webhook, nats, confluence-poll, file...
	Type string `yaml:"type" json:"type"`
	// Format is the normalizer: auto (default, detects it per payload),
	// confluence-audit, confluence-auditing, confluence-webhook or json.
	Format string `yaml:"format" json:"format"`
	// Fields maps event fields (action, actor.name, attrs.NAME, ...) to expr
	// expressions over the payload (raw), for json-format events.
	Fields map[string]string `yaml:"fields,omitempty" json:"fields,omitempty"`

	// Settings are the keys of the type, the value its Plugin's Config
	// points to (webhook.Config, ...); nil for a type without keys of its
	// own.
	Settings any `yaml:"-" json:"-"`
}

// sourceKeys are the keys of Source without its Settings.
type sourceKeys Source

// UnmarshalYAML implements yaml.Unmarshaler. It decodes the common keys
// only: Parse checks the entry against its type and decodes Settings.
func (s *Source) UnmarshalYAML(node *yaml.Node) error {
	return node.Decode((*sourceKeys)(s))
}

// MarshalYAML implements yaml.Marshaler: one mapping, the common keys and
// then the type's, as it is written.
func (s Source) MarshalYAML() (any, error) { return marshalYAML(sourceKeys(s), s.Settings) }

// MarshalJSON implements json.Marshaler: one object, as MarshalYAML.
func (s Source) MarshalJSON() ([]byte, error) { return marshalJSON(sourceKeys(s), s.Settings) }

// Defaults of the keys every notifier has.
const (
	DefaultNotifierMaxAge  = 24 * time.Hour
	DefaultNotifierTimeout = 10 * time.Second
	DefaultMaxBackoff      = 5 * time.Minute
)

// Notifier is an alert target: the keys every type has, and in Settings
// those of its type (docs/notifications.md). A key that does not apply to
// the notifier's type is an error.
type Notifier struct {
	// Name is unique among notifiers, [a-z0-9-]+; rules' notify: and
	// routes name it.
	Name string `yaml:"name" json:"name"`
	// Type names the plug-in: slack, email, pagerduty, webhook, console...
	Type string `yaml:"type" json:"type"`

	// MaxAttempts ends retrying after this many attempts; default 0: no
	// limit on attempts, MaxAge ends it. A notification that is not
	// delivered by then becomes a dead letter.
	MaxAttempts int `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	// MaxAge ends retrying this long after the alert fired; default 24h, so
	// that a target down for hours still gets every alert.
	MaxAge yamlx.Duration `yaml:"max_age" json:"max_age"`
	// MaxBackoff caps the exponential backoff between attempts; default 5m.
	MaxBackoff yamlx.Duration `yaml:"max_backoff" json:"max_backoff"`
	// Timeout bounds one attempt; default 10s.
	Timeout yamlx.Duration `yaml:"timeout" json:"timeout"`
	// RatePerSecond caps sends to this target; 0 is no limit. The default
	// is the type's (RateDefaulter): 1 for slack (Slack's limit per webhook
	// and channel), 2 for pagerduty (about its 120 events a minute per
	// key), 0 for the others.
	RatePerSecond float64 `yaml:"rate_per_second" json:"rate_per_second"`

	// Settings are the keys of the type, the value its Plugin's Config
	// points to (slack.Config, ...); nil for a type without keys of its own.
	Settings any `yaml:"-" json:"-"`
}

// notifierKeys are the keys of Notifier without its Settings.
type notifierKeys Notifier

// UnmarshalYAML implements yaml.Unmarshaler. It decodes the common keys
// only: Parse checks the entry against its type and decodes Settings.
func (n *Notifier) UnmarshalYAML(node *yaml.Node) error {
	return node.Decode((*notifierKeys)(n))
}

// MarshalYAML implements yaml.Marshaler: one mapping, the common keys and
// then the type's, as it is written.
func (n Notifier) MarshalYAML() (any, error) { return marshalYAML(notifierKeys(n), n.Settings) }

// MarshalJSON implements json.Marshaler: one object, as MarshalYAML.
func (n Notifier) MarshalJSON() ([]byte, error) { return marshalJSON(notifierKeys(n), n.Settings) }

// marshalYAML writes an entry's common keys and its type's settings as one
// mapping.
func marshalYAML(common, settings any) (any, error) {
	var out yaml.Node
	if err := out.Encode(common); err != nil {
		return nil, err
	}
	if settings != nil {
		var s yaml.Node
		if err := s.Encode(settings); err != nil {
			return nil, err
		}
		out.Content = append(out.Content, s.Content...)
	}
	return &out, nil
}

// marshalJSON writes an entry's common keys and its type's settings as one
// object.
func marshalJSON(common, settings any) ([]byte, error) {
	c, err := json.Marshal(common)
	if err != nil || settings == nil {
		return c, err
	}
	own, err := json.Marshal(settings)
	if err != nil {
		return nil, err
	}
	if len(own) <= 2 { // {}
		return c, nil
	}
	return append(append(c[:len(c)-1], ','), own[1:]...), nil
}

// Severities a route can name besides "default".
var severities = []string{"info", "low", "medium", "high", "critical"}

// Default is the configuration of `alerter run` without a config file: an
// embedded NATS under ./data/nats, the example rules, one webhook source
// "default" at /webhooks/default and alerts printed on the console. It
// panics if plugins lack the webhook source or the console notifier: a
// program without them has no default.
func Default(plugins Plugins) *Config {
	c, err := Parse("default config", []byte(defaultConfig), func(string) (string, bool) { return "", false }, plugins)
	if err != nil {
		panic(err)
	}
	return c
}

const defaultConfig = `
sources: [{name: default, type: webhook}]
notifiers: [{name: console, type: console}]
routes: {default: [console]}
`

// NotifierNames returns the names of the configured notifiers, in order.
func (c *Config) NotifierNames() []string {
	names := make([]string, len(c.Notifiers))
	for i, n := range c.Notifiers {
		names[i] = n.Name
	}
	return names
}

// Notifier returns the notifier named name, or nil.
func (c *Config) Notifier(name string) *Notifier {
	for i := range c.Notifiers {
		if c.Notifiers[i].Name == name {
			return &c.Notifiers[i]
		}
	}
	return nil
}

// Source returns the source named name, or nil.
func (c *Config) Source(name string) *Source {
	for i := range c.Sources {
		if c.Sources[i].Name == name {
			return &c.Sources[i]
		}
	}
	return nil
}

// StaticLists returns the lists given as values, for rules.Options.Lists.
func (c *Config) StaticLists() map[string][]string {
	out := map[string][]string{}
	for name, l := range c.Lists {
		if !l.Dynamic() {
			out[name] = slices.Clone(l.Values)
		}
	}
	return out
}

// DynamicLists returns the names of the lists loaded from Confluence
// groups, sorted, for rules.Options.DynamicLists.
func (c *Config) DynamicLists() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(c.Lists)) {
		if c.Lists[name].Dynamic() {
			out = append(out, name)
		}
	}
	return out
}

// RuleOptions are what rule files are checked against with this config:
// its lists (static, and the names of those loaded from Confluence
// groups) and its notifiers.
func (c *Config) RuleOptions() rules.Options {
	return rules.Options{Lists: c.StaticLists(), DynamicLists: c.DynamicLists(), Notifiers: c.NotifierNames()}
}
