package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter"
	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/config"
	"github.com/alerter/alerter/ingest/confluence"
	"github.com/alerter/alerter/ingest/filetail"
	"github.com/alerter/alerter/ingest/natsource"
	"github.com/alerter/alerter/ingest/webhook"
	"github.com/alerter/alerter/internal/yamlx"
	"github.com/alerter/alerter/notifiers/email"
	"github.com/alerter/alerter/notifiers/pagerduty"
	"github.com/alerter/alerter/notifiers/slack"
	webhooknotifier "github.com/alerter/alerter/notifiers/webhook"
)

// The values of the fake environment all contain "SECRET-", so that a leak
// anywhere is one strings.Contains away.
var exampleEnv = map[string]string{
	"CONFLUENCE_WEBHOOK_SECRET": "SECRET-webhook-7f3a",
	"CONFLUENCE_TOKEN":          "SECRET-pat-19be",
	"SLACK_WEBHOOK_URL":         "https://hooks.slack.com/services/T0/B0/SECRET-slack-44c1",
	"SMTP_USER":                 "alerter-smtp",
	"SMTP_PASSWORD":             "SECRET-smtp-0d2e",
	"PAGERDUTY_ROUTING_KEY":     "SECRET-pd-8a61",
	"HOOK_SECRET":               "SECRET-hook-5b90",
	"API_TOKEN":                 "SECRET-api-3c3c",
	"NATS_PASSWORD":             "SECRET-nats-1e1e",
	"CLOUD_API_TOKEN":           "SECRET-cloud-aa00",
	"SLACK_BOT_TOKEN":           "SECRET-xoxb-7777",
	"SIEM_TOKEN":                "SECRET-siem-9d9d",
	"ALICE_TOKEN":               "SECRET-alice-4d4d",
	"DASHBOARD_TOKEN":           "SECRET-dash-6e6e",
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func dur(d time.Duration) yamlx.Duration { return yamlx.Duration(d) }

// notifierTypes are the built-in types as messages list them: slack,
// email, pagerduty, webhook, console, then those added since.
func notifierTypes() string {
	var types []string
	for _, p := range builtin.Notifiers() {
		types = append(types, p.Type())
	}
	return strings.Join(types, ", ")
}

func TestLoadSpecExample(t *testing.T) {
	c, err := config.Load("testdata/alerter.yaml", envOf(exampleEnv), builtin.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	want := &config.Config{
		Server: config.Server{Listen: "127.0.0.1:8080", MaxBodyBytes: 1048576, MaxIngestBytes: 4 << 20},
		NATS: config.NATS{
			Embedded:  config.Embedded{StoreDir: "./data/nats"},
			Retention: dur(168 * time.Hour), AckWait: dur(10 * time.Second),
			MaxBytes: config.StreamBytes{Events: 10 << 30, Alerts: 1 << 30, Rejected: 1 << 30, DeadLetters: 512 << 20},
		},
		Rules:    config.RulesConfig{Paths: []string{"examples/rules"}, Watch: true},
		Silences: config.Silences{MaxDuration: dur(720 * time.Hour)},
		Engine:   config.Engine{Lateness: dur(2 * time.Minute)},
		Lists:    map[string]config.ListSpec{"admins": {Values: []string{"alice"}}},
		Sources: []config.Source{
			{Name: "confluence", Type: "webhook", Format: "auto", Settings: webhook.Config{Path: "/webhooks/confluence", Secret: "SECRET-webhook-7f3a"}},
			{Name: "bus", Type: "nats", Format: "auto", Settings: natsource.Config{Subject: "audit.>"}},
			{Name: "confluence-dc", Type: "confluence-poll", Format: "auto", Settings: confluence.Config{BaseURL: "https://confluence.example.com",
				Token: "SECRET-pat-19be", Interval: dur(30 * time.Second), Overlap: dur(time.Minute), API: "auditing"}},
			{Name: "audit-file", Type: "file", Format: "confluence-auditing", Settings: filetail.Config{Path: "/var/atlassian/confluence/log/audit/current.audit.log"}},
		},
		Notifiers: []config.Notifier{
			{Name: "slack-secops", Type: "slack", Settings: slack.Config{WebhookURL: "https://hooks.slack.com/services/T0/B0/SECRET-slack-44c1",
				APIURL: "https://slack.com/api"}, RatePerSecond: 1},
			{Name: "email-secops", Type: "email", Settings: email.Config{Host: "smtp.example.com", Port: 587, Username: "alerter-smtp",
				Password: "SECRET-smtp-0d2e", TLS: "starttls", From: "alerter@example.com", To: []string{"secops@example.com"}}},
			{Name: "pagerduty-oncall", Type: "pagerduty", Settings: pagerduty.Config{RoutingKey: "SECRET-pd-8a61",
				URL: "https://events.pagerduty.com/v2/enqueue"}, RatePerSecond: 2},
			{Name: "hook", Type: "webhook", Settings: webhooknotifier.Config{URL: "https://siem.example.com/in", Secret: "SECRET-hook-5b90"}},
			{Name: "console", Type: "console"},
		},
		Routes: map[string][]string{
			"critical": {"pagerduty-oncall", "slack-secops"},
			"high":     {"slack-secops", "email-secops"},
			"default":  {"console"},
		},
	}
	for i := range want.Notifiers {
		n := &want.Notifiers[i]
		n.MaxAge, n.MaxBackoff, n.Timeout = dur(24*time.Hour), dur(5*time.Minute), dur(10*time.Second)
	}
	if !reflect.DeepEqual(c, want) {
		gotJ, _ := yaml.Marshal(c)
		wantJ, _ := yaml.Marshal(want)
		t.Fatalf("got\n%s\nwant\n%s\n(%#v)", gotJ, wantJ, c)
	}
	if got := c.Sources[0].Settings.(webhook.Config).Secret.Value(); got != "SECRET-webhook-7f3a" {
		t.Errorf("Secret.Value() = %q", got)
	}

	if got := c.NotifierNames(); !slices.Equal(got, []string{"slack-secops", "email-secops", "pagerduty-oncall", "hook", "console"}) {
		t.Errorf("NotifierNames() = %v", got)
	}
	if got := c.StaticLists(); !reflect.DeepEqual(got, map[string][]string{"admins": {"alice"}}) {
		t.Errorf("StaticLists() = %v", got)
	}
	if got := c.DynamicLists(); got != nil {
		t.Errorf("DynamicLists() = %v", got)
	}
	for sev, want := range map[string][]string{
		"critical": {"pagerduty-oncall", "slack-secops"},
		"high":     {"slack-secops", "email-secops"},
		"medium":   {"console"},
		"info":     {"console"},
	} {
		if got := c.Routes.Targets(nil, alerter.Severity(sev)); !slices.Equal(got, want) {
			t.Errorf("Route(%s) = %v, want %v", sev, got, want)
		}
	}
}

func TestLoadExtended(t *testing.T) {
	c, err := config.Load("testdata/extended.yaml", envOf(exampleEnv), builtin.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != ":9090" || c.Server.MaxBodyBytes != 65536 || c.Server.APIToken.Value() != "SECRET-api-3c3c" {
		t.Errorf("server: %+v", c.Server)
	}
	wantTokens := []config.Token{{Name: "alice", Token: "SECRET-alice-4d4d", Role: config.RoleWriter}, {Name: "dashboard", Token: "SECRET-dash-6e6e", Role: config.RoleViewer}}
	if !slices.Equal(c.Server.Tokens, wantTokens) || !c.Server.HasTokens() || !c.Server.Exposed() {
		t.Errorf("server tokens: %+v", c.Server.Tokens)
	}
	n := c.NATS
	if n.URL != "nats://a.example.com:4222, tls://b.example.com:4222" || n.Retention != dur(30*24*time.Hour) ||
		n.Sync != "always" || n.User != "alerter" || n.Password.Value() != "SECRET-nats-1e1e" || n.TLS.Key != "/etc/alerter/key.pem" {
		t.Errorf("nats: %+v", n)
	}
	if c.Rules.Watch || !slices.Equal(c.Rules.Paths, []string{"rules", "more-rules/extra.yaml"}) {
		t.Errorf("an explicit watch: false or paths were lost: %+v", c.Rules)
	}
	wantLists := map[string]config.ListSpec{
		"admins":          {ConfluenceGroup: "confluence-administrators", Source: "cloud", Refresh: dur(10 * time.Minute)},
		"office_networks": {Values: []string{"10.0.0.0/8", "192.168.0.0/16"}},
		"empty":           {Values: []string{}},
	}
	if !reflect.DeepEqual(c.Lists, wantLists) {
		t.Errorf("lists: %+v", c.Lists)
	}
	if got := c.DynamicLists(); !slices.Equal(got, []string{"admins"}) {
		t.Errorf("DynamicLists() = %v", got)
	}
	if got := c.StaticLists(); len(got) != 2 || len(got["office_networks"]) != 2 {
		t.Errorf("StaticLists() = %v", got)
	}
	cloud := c.Source("cloud").Settings.(confluence.Config)
	if cloud.BaseURL != "https://example.atlassian.net/wiki" || cloud.API != confluence.APILegacy || cloud.Overlap != 0 ||
		cloud.Lag != dur(5*time.Second) || cloud.Interval != dur(30*time.Second) || cloud.Password.Value() != "SECRET-cloud-aa00" {
		t.Errorf("cloud source: %+v", cloud)
	}
	if g := c.Source("generic"); g.Settings.(webhook.Config).Path != "/webhooks/generic" || g.Format != "json" || g.Fields["attrs.tenant"] != "raw.tenant" {
		t.Errorf("generic source: %+v", g)
	} else if !g.Settings.(webhook.Config).Insecure {
		t.Error("generic source: insecure: true lost")
	}
	bot := c.Notifier("slack-bot")
	botc := bot.Settings.(slack.Config)
	if botc.Token.Value() != "SECRET-xoxb-7777" || botc.Channel != "#secops" || botc.APIURL != "http://127.0.0.1:9999/api" ||
		bot.MaxAttempts != 5 || bot.MaxAge != dur(time.Hour) || bot.MaxBackoff != dur(30*time.Second) ||
		bot.Timeout != dur(5*time.Second) || bot.RatePerSecond != 1 {
		t.Errorf("slack-bot (with merged retry settings): %+v", bot)
	}
	if m := c.Notifier("mail").Settings.(email.Config); m.Port != 25 || m.TLS != "none" || m.From != "Alerter <alerter@example.com>" || len(m.To) != 2 {
		t.Errorf("mail: %+v", m)
	}
	siem := c.Notifier("siem")
	siemc := siem.Settings.(webhooknotifier.Config)
	if siemc.URL != "https://siem.example.com/in" || siemc.Headers["Authorization"].Value() != "Bearer SECRET-siem-9d9d" ||
		siemc.Headers["X-Tenant"].Value() != "security" || siem.RatePerSecond != 50 {
		t.Errorf("siem: %+v", siem)
	}
	if got := c.Routes.Targets(nil, alerter.Severity("low")); got != nil {
		t.Errorf("Route(low) without a default route = %v, want none", got)
	}
	if got := c.Routes.Targets(nil, alerter.Severity("info")); !slices.Equal(got, []string{"mail"}) {
		t.Errorf("Route(info) = %v", got)
	}
}

func TestDefault(t *testing.T) {
	d := config.Default(builtin.Plugins())
	if d.Server.Listen != "127.0.0.1:8080" || d.Server.MaxBodyBytes != 1<<20 || d.NATS.URL != "" ||
		d.NATS.Embedded.StoreDir != "./data/nats" || d.NATS.Retention != dur(168*time.Hour) ||
		!slices.Equal(d.Rules.Paths, []string{"examples/rules"}) || !d.Rules.Watch {
		t.Errorf("Default(): %+v", d)
	}
	if !reflect.DeepEqual(d.Sources, []config.Source{{Name: "default", Type: "webhook", Format: "auto", Settings: webhook.Config{Path: "/webhooks/default"}}}) {
		t.Errorf("Default() sources: %+v", d.Sources)
	}
	if !slices.Equal(d.NotifierNames(), []string{"console"}) || !slices.Equal(d.Routes.Targets(nil, alerter.Critical), []string{"console"}) {
		t.Errorf("Default() notifiers %v, routes %v", d.NotifierNames(), d.Routes)
	}
	// Written out and read back, it is valid and unchanged.
	data, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("default.yaml", data, envOf(nil), builtin.Plugins())
	if err != nil {
		t.Fatalf("Default() does not validate: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", c, d)
	}
}

func TestEmptyConfigTakesDefaults(t *testing.T) {
	for _, src := range []string{"", "# nothing\n", "~\n", "server:\nnats:\nrules:\n"} {
		c, err := config.Parse("empty.yaml", []byte(src), envOf(nil), builtin.Plugins())
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if c.Server.Listen != "127.0.0.1:8080" || !c.Rules.Watch || c.NATS.Retention != dur(168*time.Hour) || len(c.Sources) != 0 {
			t.Errorf("%q: %+v", src, c)
		}
	}
}

func TestBadConfigs(t *testing.T) {
	env := envOf(map[string]string{"PORT": "SECRET-port", "EMPTY": ""})
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown keys with suggestions, everywhere", `
serverr: {}
nats: {retension: 7d, embedded: {store: x}}
lists: {admins: {confluence_group: g, refersh: 1m}}
`, []string{
			`c.yaml:2:1: unknown key "serverr" (did you mean "server"?)`,
			`c.yaml:3:8: unknown key "retension" (did you mean "retention"?)`,
			`c.yaml:3:34: unknown key "store" (allowed: listen, store_dir, token)`,
			`c.yaml:4:17: list admins: source is required: the confluence-poll source whose credentials read the group (no confluence-poll sources are configured)`,
			`c.yaml:4:39: unknown key "refersh" (did you mean "refresh"?)`,
		}},
		{"wrong kinds, each at its value", `
server: {listen: [a], max_body_bytes: lots}
rules: {watch: maybe, paths: x}
nats: {retention: soon}
sources: {name: x}
`, []string{
			`c.yaml:2:18: listen: expected a string, not a list`,
			`c.yaml:2:39: max_body_bytes "lots": expected a whole number`,
			`c.yaml:3:16: watch "maybe": expected true or false`,
			`c.yaml:3:30: paths: expected a list, not a single value`,
			`c.yaml:4:19: retention "soon": expected a duration such as 30s, 10m, 24h or 7d`,
			`c.yaml:5:10: sources: expected a list, not a mapping`,
		}},
		{"a key given twice", `
server:
  listen: 127.0.0.1:1
  listen: 127.0.0.1:2
`, []string{`c.yaml:4:3: "listen" is already set at line 3`}},
		{"an alias inside its own anchor", `
server: &s {<<: *s}
`, []string{`c.yaml:2:17: *s is inside the value it refers to`}},
		{"not a mapping", `[a]`, []string{`c.yaml:1:1: the config is a mapping of server:, nats:, rules:, lists:, sources:, notifiers: and routes:`}},
		{"invalid YAML", "server: {listen: \"x}\n", []string{`c.yaml:2: invalid YAML: found unexpected end of stream`}},
		{"server", `
server: {listen: localhost, max_body_bytes: 0, external_url: /alerts}
`, []string{
			`c.yaml:2:18: listen "localhost": not host:port (e.g. 127.0.0.1:8080, or :8080 for every interface)`,
			`c.yaml:2:45: max_body_bytes must be greater than 0`,
			`c.yaml:2:62: external_url: not an absolute http or https URL (it has no scheme)`,
		}},
		{"an open door: beyond loopback without a token, or a webhook without secret", `
server: {listen: "0.0.0.0:8080"}
sources:
  - {name: hook, type: webhook}
  - {name: meant, type: webhook, insecure: true}
  - {name: signed, type: webhook, secret: s}
`, []string{
			`c.yaml:2:18: listen "0.0.0.0:8080" is reachable from other machines, and the API has no token: set api_token (or tokens), or listen on 127.0.0.1`,
			`c.yaml:4:5: source hook: a webhook without secret on server.listen 0.0.0.0:8080 takes events from anyone who reaches it: set secret, or insecure: true to say that is meant`,
		}},
		{"every interface, a token, and a webhook without secret", `
server: {listen: ":8080", api_token: t}
sources: [{name: hook, type: webhook}, {name: both, type: webhook, secret: s, insecure: true}, {name: alerter, type: nats, subject: x}]
`, []string{
			`c.yaml:3:11: source hook: a webhook without secret on server.listen :8080 takes events from anyone who reaches it: set secret, or insecure: true to say that is meant`,
			`c.yaml:3:89: source both: insecure: true with a secret; the secret is checked, leave insecure out`,
			`c.yaml:3:103: source name "alerter" is alerter's own: its actions (silences, reloads) are events of that source`,
		}},
		{"tokens", `
server:
  api_token: same
  tokens:
    - {name: alice, token: a, role: writer}
    - {name: alice, token: b, role: boss}
    - {name: api_token, token: same}
    - {token: c, role: viewer}
    - {name: "bad name", role: admin}
`, []string{
			`c.yaml:6:14: name "alice": already the name of the token at line 5`,
			`c.yaml:6:37: role "boss": one of viewer, writer, admin`,
			`c.yaml:7:7: tokens: token api_token needs a role (one of viewer, writer, admin)`,
			`c.yaml:7:14: tokens: name "api_token" is server.api_token's; choose another`,
			`c.yaml:7:32: token: the same as the token of api_token; every token must be its own`,
			`c.yaml:8:7: tokens: a token needs a name, recorded as who did what with it`,
			`c.yaml:9:7: tokens: token bad name has no token (give it from the environment: token: ${VAR})`,
			`c.yaml:9:14: name "bad name": use letters, digits, dots, dashes and underscores (at most 64)`,
		}},
		{"ingest cap below the body cap", `
server: {max_body_bytes: 2000000, max_ingest_bytes: 1000000}
`, []string{`c.yaml:2:53: max_ingest_bytes must be at least max_body_bytes (2000000)`}},
		{"nats", `
nats:
  url: http://nats.example.com
  user: u
  token: t
  sync: sometimes
  retention: 0s
  tls: {cert: c.pem}
`, []string{
			`c.yaml:2:1: nats: give one of credentials, user and password, or token`,
			`c.yaml:3:8: url: every server must be a URL such as nats://host:4222 (its scheme must be nats, tls, ws or wss)`,
			`c.yaml:6:9: sync "sometimes": write always (fsync every write), or leave sync out for JetStream's default (flush on an interval)`,
			`c.yaml:7:14: retention must be longer than zero`,
			`c.yaml:8:8: nats.tls: cert and key go together`,
		}},
		{"nats max_bytes", `
nats: {max_bytes: {events: 10, alerts: lots, rejected: -1GiB, evnts: 1GiB}}
`, []string{
			`c.yaml:2:28: max_bytes.events 10: at least 1MiB (write a unit: 512MiB, 10GiB)`,
			`c.yaml:2:40: alerts "lots": expected a size such as 1048576, 512MiB or 10GiB`,
			`c.yaml:2:56: rejected "-1GiB": expected a size such as 1048576, 512MiB or 10GiB`,
			`c.yaml:2:63: unknown key "evnts" (did you mean "events"?)`,
		}},
		{"nats credentials without a url", `
nats: {user: u, tls: {ca: ca.pem}, embedded: {listen: "4222"}}
`, []string{
			`c.yaml:2:8: user is for connecting to nats.url; the embedded server takes a token (nats.embedded.token) and no TLS`,
			`c.yaml:2:14: nats: user needs a password`,
			`c.yaml:2:17: tls is for connecting to nats.url; the embedded server takes a token (nats.embedded.token) and no TLS`,
			`c.yaml:2:55: listen "4222": not host:port (e.g. 127.0.0.1:8080, or :8080 for every interface)`,
		}},
		{"nats tokens in the wrong place", `
nats: {token: t, embedded: {listen: "127.0.0.1:4222"}}
`, []string{
			`c.yaml:2:8: token is for connecting to nats.url; the embedded server's token is nats.embedded.token`,
		}},
		{"an embedded token with a cluster", `
nats: {url: "nats://n1:4222", embedded: {token: t}}
`, []string{
			`c.yaml:2:42: embedded.token is for the embedded server; with nats.url, give nats.token (or credentials, or user and password)`,
		}},
		{"rules", `
rules: {paths: [rules, ""]}
`, []string{`c.yaml:2:24: paths: an empty path`}},
		{"sources: names, types, formats", `
sources:
  - {name: a, type: natz}
  - {name: a, type: webhook, subject: x}
  - {name: Bad_Name, type: nats, subject: audit}
  - {type: file, format: jsn}
`, []string{
			`c.yaml:3:21: type "natz": unknown source type (one of webhook, nats, confluence-poll, file)`,
			`c.yaml:4:12: name "a": already the name of the source at line 3`,
			`c.yaml:4:30: subject does not apply to a webhook source (it takes path, secret, insecure)`,
			`c.yaml:5:12: name "Bad_Name": use lower-case letters, digits and dashes ([a-z0-9-]+)`,
			`c.yaml:6:5: source has no name`,
			`c.yaml:6:5: source: a file source needs path`,
			`c.yaml:6:26: format "jsn": unknown format (one of auto, confluence-audit, confluence-auditing, confluence-webhook, json)`,
		}},
		{"sources: per type", `
sources:
  - {name: w1, type: webhook}
  - {name: w2, type: webhook, path: /webhooks/w1}
  - {name: w3, type: webhook, path: /metrics}
  - {name: w4, type: webhook, path: webhooks/w4}
  - {name: n1, type: nats}
  - {name: n2, type: nats, subject: "events.>"}
  - {name: n3, type: nats, subject: "a.>.b"}
  - {name: p1, type: confluence-poll}
  - {name: p2, type: confluence-poll, base_url: "ftp://x", token: t, username: u, interval: 0s, api: rest}
  - {name: p3, type: confluence-poll, base_url: "https://x", username: u}
  - {name: f, type: file}
`, []string{
			`c.yaml:4:37: path "/webhooks/w1": already the path of source w1`,
			`c.yaml:5:37: path "/metrics": taken by alerter's own routes (/, /api/, /healthz, /readyz, /metrics)`,
			`c.yaml:6:37: path "webhooks/w4": a URL path such as /webhooks/w4`,
			`c.yaml:7:5: source n1: a nats source needs subject`,
			`c.yaml:8:37: subject "events.>": overlaps alerter's own subjects (events.>, alerts.>, rejected.>, deadletters.>); publish audit events under another prefix`,
			`c.yaml:9:37: subject "a.>.b": not a NATS subject (dot-separated tokens; * stands for one token, a final > for the rest)`,
			`c.yaml:10:5: source p1: a confluence-poll source needs base_url`,
			`c.yaml:10:5: source p1: a confluence-poll source needs token, or username and password`,
			`c.yaml:11:5: source p2: give token, or username and password, not both`,
			`c.yaml:11:49: base_url: not an absolute http or https URL (its scheme must be http or https)`,
			`c.yaml:11:93: interval must be longer than zero`,
			`c.yaml:11:102: api "rest": one of auditing (/rest/auditing/1.0/events, Data Center 7.x+) or legacy (/rest/api/audit, also Cloud)`,
			`c.yaml:12:5: source p3: username needs password`,
			`c.yaml:13:5: source f: a file source needs path`,
		}},
		{"sources: json fields", `
sources:
  - {name: a, type: webhook, format: confluence-webhook, fields: {action: raw.x}}
  - name: b
    type: webhook
    fields: {actor.nme: raw.x, action: "raw.x +"}
`, []string{
			`c.yaml:3:58: fields map json events; this source's format is confluence-webhook`,
			`c.yaml:6:14: fields: unknown target "actor.nme" (one of action, action_key, actor.display_name, actor.groups, actor.id, actor.name, actor.sysadmin, actor.type, area, attrs, category, category_key, changes, id, ip, level, method, node, objects, summary, system, time, attrs.NAME)`,
			`c.yaml:6:40: fields: action: unexpected token EOF (1:7)`,
		}},
		{"lists", `
sources: [{name: poll-a, type: confluence-poll, base_url: "https://a", token: t}, {name: poll-b, type: confluence-poll, base_url: "https://b", token: t}]
lists:
  admins: {confluence_group: g, source: nope, refresh: 0s}
  Bad-Name: [a]
  no_group: {source: poll-a}
  no_source: {confluence_group: g}
  scalar: x
`, []string{
			`c.yaml:4:41: source "nope": not a confluence-poll source (confluence-poll sources: poll-a, poll-b)`,
			`c.yaml:4:56: refresh must be longer than zero`,
			`c.yaml:5:3: list name "Bad-Name": use lower-case letters, digits and _, so that rules can write lists.Bad-Name`,
			`c.yaml:6:13: list no_group: confluence_group is required (the Confluence group whose members make the list)`,
			`c.yaml:7:14: list no_source: source is required: the confluence-poll source whose credentials read the group (confluence-poll sources: poll-a, poll-b)`,
			`c.yaml:8:11: list scalar: give a list of values, or a mapping with confluence_group (and source, refresh)`,
		}},
		{"notifiers: names, types, keys", `
notifiers:
  - {name: c, type: console, url: x}
  - {name: c, type: telegram}
  - {type: console}
`, []string{
			`c.yaml:3:30: url does not apply to a console notifier (it takes only max_attempts, max_age, max_backoff, timeout, rate_per_second)`,
			`c.yaml:4:12: name "c": already the name of the notifier at line 3`,
			`c.yaml:4:21: type "telegram": unknown notifier type (one of ` + notifierTypes() + `)`,
			`c.yaml:5:5: notifier has no name`,
		}},
		{"notifiers: per type", `
notifiers:
  - {name: s1, type: slack}
  - {name: s2, type: slack, webhook_url: "https://hooks.example.com/x", channel: "#a"}
  - {name: s3, type: slack, token: x}
  - {name: s4, type: slack, webhook_url: "hooks.slack.com/services/x", api_url: "ftp://x"}
  - {name: e1, type: email, port: 70000, tls: ssl, from: "not an address", to: [a@b.c, x], password: p}
  - {name: e2, type: email, host: "smtp.x:25", tls: none, username: u, password: p, from: a@b.c, to: [a@b.c]}
  - {name: e3, type: email, host: h, from: a@b.c}
  - {name: p1, type: pagerduty, url: "https://"}
  - {name: w1, type: webhook, headers: {"Bad Header": x}, max_attempts: -1, rate_per_second: -2, timeout: 0s, max_age: 0s}
`, []string{
			`c.yaml:3:5: notifier s1: a slack notifier needs webhook_url, or token and channel`,
			`c.yaml:4:5: notifier s2: give webhook_url, or token and channel, not both`,
			`c.yaml:5:5: notifier s3: token needs channel`,
			`c.yaml:6:42: webhook_url: not an absolute http or https URL (it has no scheme)`,
			`c.yaml:6:81: api_url: not an absolute http or https URL (its scheme must be http or https)`,
			`c.yaml:7:5: notifier e1: an email notifier needs host`,
			`c.yaml:7:5: notifier e1: password needs username`,
			`c.yaml:7:35: port "70000": a port is 1 to 65535`,
			`c.yaml:7:47: tls "ssl": one of starttls, tls or none`,
			`c.yaml:7:58: from "not an address": not an e-mail address`,
			`c.yaml:7:88: to "x": not an e-mail address`,
			`c.yaml:8:35: host "smtp.x:25": a host name or address; the port goes in port`,
			`c.yaml:8:53: notifier e2: tls none would send the SMTP password in clear text; use starttls or tls`,
			`c.yaml:9:5: notifier e3: an email notifier needs to (a list of addresses)`,
			`c.yaml:10:5: notifier p1: a pagerduty notifier needs routing_key`,
			`c.yaml:10:38: url: not an absolute http or https URL (it has no host)`,
			`c.yaml:11:5: notifier w1: a webhook notifier needs url`,
			`c.yaml:11:41: headers: "Bad Header" is not a header name`,
			`c.yaml:11:73: max_attempts cannot be negative (0 is no limit)`,
			`c.yaml:11:94: rate_per_second cannot be negative (0 is no limit)`,
			`c.yaml:11:107: timeout must be longer than zero`,
			`c.yaml:11:120: max_age must be longer than zero`,
		}},
		{"routes", `
notifiers: [{name: console, type: console}]
routes:
  urgent: [console]
  critical: [console, pagerduty]
  high: []
`, []string{
			`c.yaml:4:3: routes: unknown severity "urgent" (one of info, low, medium, high, critical, default)`,
			`c.yaml:5:23: routes.critical: unknown notifier "pagerduty" (notifiers: console)`,
			`c.yaml:6:9: routes.high names no notifier (leave it out to use routes.default)`,
		}},
		{"silences", `
silences: {max_duration: 0s}
`, []string{`c.yaml:2:26: max_duration must be longer than zero`}},
		{"engine.lateness", `
engine: {lateness: 2h}
`, []string{`c.yaml:2:20: engine.lateness must be between 0s and 1h0m0s`}},
		{"routes without notifiers", `
routes: {default: [console]}
`, []string{`c.yaml:2:20: routes.default: unknown notifier "console" (no notifiers are configured)`}},
		{"values from the environment are named, never shown", `
notifiers:
  - {name: e, type: email, host: h, port: "${PORT}", from: "${EMPTY}", to: [a@b.c]}
server: {max_body_bytes: "${PORT}"}
`, []string{
			`c.yaml:3:5: notifier e: an email notifier needs from`,
			`c.yaml:3:43: port (from ${PORT}): expected a whole number`,
			`c.yaml:4:26: max_body_bytes (from ${PORT}): expected a whole number`,
		}},
		{"a missing variable is reported once, not again as a bad value", `
notifiers:
  - {name: s, type: slack, webhook_url: "${NOPE}"}
  - {name: e, type: email, host: h, port: "${NOPE2}", from: a@b.c, to: [a@b.c]}
`, []string{
			`c.yaml:3:41: environment variable NOPE is not set`,
			`c.yaml:4:43: environment variable NOPE2 is not set`,
		}},
		{"malformed references", `
server: {external_url: "${1X}", listen: "${A:-${B}}"}
nats: {url: "${UNCLOSED"}
`, []string{
			`c.yaml:2:24: ${1X} is not a variable reference: write ${NAME} or ${NAME:-default} (or $${ for a literal ${)`,
			`c.yaml:2:41: ${A:-...}: a default cannot hold another ${...}`,
			`c.yaml:3:13: unterminated ${ (write $${ for a literal ${)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse("c.yaml", []byte(tt.src), env, builtin.Plugins())
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			var es yamlx.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T, want yamlx.Errors: %v", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("an environment value leaked: %v", err)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	env := envOf(map[string]string{
		"HOST": "smtp.example.com", "PORT": "2525", "EMPTY": "", "PASS": "null", "WATCH": "false", "EVERY": "2m",
	})
	src := `
rules: {watch: "${WATCH}"}
sources:
  - {name: p, type: confluence-poll, base_url: "https://${UNSET:-confluence.example.com}/", token: "$${NOT_A_VAR}", interval: "${EVERY}"}
notifiers:
  - name: e
    type: email
    host: ${HOST}
    port: ${PORT}
    username: ${EMPTY:-alerter}
    password: "${PASS}"
    from: "alerter+$$@example.com"
    to: ["${UNSET:-}secops@example.com"]
`
	c, err := config.Parse("env.yaml", []byte(src), env, builtin.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	p, e := c.Sources[0].Settings.(confluence.Config), c.Notifiers[0].Settings.(email.Config)
	checks := []struct {
		what      string
		got, want any
	}{
		{"a boolean from the environment", c.Rules.Watch, false},
		{"a default for an unset variable", p.BaseURL, "https://confluence.example.com"},
		{"$${ escapes", p.Token.Value(), "${NOT_A_VAR}"},
		{"a duration from the environment", p.Interval, dur(2 * time.Minute)},
		{"a plain string", e.Host, "smtp.example.com"},
		{"a number from the environment", e.Port, 2525},
		{"a default for an empty variable", e.Username, "alerter"},
		{"a value from the environment is text, even null", e.Password.Value(), "null"},
		{"a $ without { is itself", e.From, "alerter+$$@example.com"},
		{"an empty default", e.To[0], "secops@example.com"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.what, c.got, c.want)
		}
	}

	// Keys are never expanded.
	_, err = config.Parse("env.yaml", []byte("lists:\n  ${HOST}: [a]\n"), env, builtin.Plugins())
	if err == nil || !strings.Contains(err.Error(), `list name "${HOST}"`) {
		t.Errorf("a key was expanded: %v", err)
	}
}

func TestMissingVariable(t *testing.T) {
	c, err := config.Load("testdata/alerter.yaml", envOf(map[string]string{}), builtin.Plugins())
	if err == nil {
		t.Fatalf("no error; config %+v", c)
	}
	want := []string{
		"testdata/alerter.yaml:13:89: environment variable CONFLUENCE_WEBHOOK_SECRET is not set",
		"testdata/alerter.yaml:15:101: environment variable CONFLUENCE_TOKEN is not set",
		"testdata/alerter.yaml:18:52: environment variable SLACK_WEBHOOK_URL is not set",
		"testdata/alerter.yaml:19:84: environment variable SMTP_USER is not set",
		"testdata/alerter.yaml:19:110: environment variable SMTP_PASSWORD is not set",
		"testdata/alerter.yaml:20:60: environment variable PAGERDUTY_ROUTING_KEY is not set",
		"testdata/alerter.yaml:21:77: environment variable HOOK_SECRET is not set",
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load("testdata/nope.yaml", nil, builtin.Plugins())
	var es yamlx.Errors
	if !errors.As(err, &es) || err.Error() != "testdata/nope.yaml: cannot read the config: no such file or directory" {
		t.Errorf("got %v", err)
	}
}

// secretValues are every value of exampleEnv that is a secret.
func secretValues() []string {
	var out []string
	for _, v := range exampleEnv {
		if strings.Contains(v, "SECRET-") {
			out = append(out, v, "SECRET-")
		}
	}
	return out
}

func TestSecretsNeverLeak(t *testing.T) {
	var configs []*config.Config
	for _, f := range []string{"testdata/alerter.yaml", "testdata/extended.yaml"} {
		c, err := config.Load(f, envOf(exampleEnv), builtin.Plugins())
		if err != nil {
			t.Fatal(err)
		}
		// A secret written in the file itself is no less secret.
		c.Server.APIToken = "SECRET-literal"
		configs = append(configs, c)
	}
	for _, c := range configs {
		outputs := map[string]string{}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			outputs[verb] = fmt.Sprintf(verb, c)
			outputs[verb+" of the value"] = fmt.Sprintf(verb, *c)
		}
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		outputs["json"] = string(j)
		y, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		outputs["yaml"] = string(y)
		var jb, tb bytes.Buffer
		slog.New(slog.NewJSONHandler(&jb, nil)).Info("loaded", "config", c, "token", c.Server.APIToken)
		slog.New(slog.NewTextHandler(&tb, nil)).Info("loaded", "config", c, "token", c.Server.APIToken)
		outputs["slog json"], outputs["slog text"] = jb.String(), tb.String()

		for how, out := range outputs {
			for _, s := range append(secretValues(), "SECRET-literal") {
				if strings.Contains(out, s) {
					t.Errorf("%s shows a secret: %s", how, out)
					break
				}
			}
			if !strings.Contains(out, "<secret>") && !strings.Contains(out, `\u003csecret\u003e`) && !strings.Contains(out, "3c7365637265743e") {
				t.Errorf("%s shows no <secret> placeholder: %s", how, out)
			}
		}
	}

	if got := fmt.Sprintf("%v|%v", config.Secret("SECRET-x"), config.Secret("")); got != "<secret>|" {
		t.Errorf("got %q: an empty Secret prints empty, others <secret>", got)
	}
}

func TestErrorsNeverShowEnvironmentValues(t *testing.T) {
	env := envOf(map[string]string{
		"URL":   "hxxps://admin:SECRET-pw@confluence.example.com",
		"PORT":  "SECRET-port",
		"DUR":   "SECRET-dur",
		"BOOL":  "SECRET-bool",
		"TYPE":  "SECRET-type",
		"NAME":  "SECRET-name",
		"TO":    "SECRET-to",
		"LIST":  "SECRET-list",
		"RATE":  "SECRET-rate",
		"SEV":   "SECRET-sev",
		"HOOK":  "https://hooks.example.com/\nSECRET-crlf",
		"NURL":  "SECRET-nats://x",
		"LSTN":  "SECRET-listen",
		"SUBJ":  "SECRET.>.x",
		"PATH":  "SECRET-path",
		"FMT":   "SECRET-format",
		"EMAIL": "SECRET-email",
		"SNAME": "secret-but-valid-name",
	})
	src := `
server: {listen: "${LSTN}", external_url: "${URL}"}
nats: {url: "${NURL}", retention: "${DUR}", sync: "${URL}"}
rules: {watch: "${BOOL}", paths: "${LIST}"}
sources:
  - {name: "${NAME}", type: "${TYPE}"}
  - {name: a, type: confluence-poll, base_url: "${URL}", token: t, api: "${TYPE}", format: "${FMT}"}
  - {name: b, type: nats, subject: "${SUBJ}"}
  - {name: c, type: webhook, path: "${PATH}"}
  - {name: "${SNAME}", type: nats}
notifiers:
  - {name: e, type: email, host: "${URL}", port: "${PORT}", tls: "${TYPE}", from: "${EMAIL}", to: ["${TO}"], rate_per_second: "${RATE}"}
  - {name: w, type: webhook, url: "${HOOK}", headers: {X-Token: "${HOOK}"}}
routes: {default: ["${SEV}"]}
lists: {admins: {confluence_group: g, source: "${NAME}"}}
`
	_, err := config.Parse("c.yaml", []byte(src), env, builtin.Plugins())
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, "SECRET") || strings.Contains(msg, "secret-but") || strings.Contains(msg, "admin:") || strings.Contains(msg, "hxxps") {
		t.Errorf("an environment value leaked:\n%s", msg)
	}
	if n := strings.Count(msg, "\n") + 1; n < 15 {
		t.Errorf("only %d errors:\n%s", n, msg)
	}
	for _, v := range []string{"${URL}", "${PORT}", "${DUR}", "${BOOL}", "${TYPE}", "${HOOK}", "${SEV}", "${SUBJ}", "${PATH}", "${FMT}", "${EMAIL}", "${TO}", "${RATE}", "${NURL}", "${LSTN}", "${LIST}", "${SNAME}"} {
		if !strings.Contains(msg, v) {
			t.Errorf("no error names %s:\n%s", v, msg)
		}
	}
}

// FuzzParse feeds Parse arbitrary files. A config is outside input: a typo
// or a hostile file must give errors, never a panic or an empty message.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/alerter.yaml", "testdata/extended.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("x-a: &a {max_age: 1h}\nnotifiers: [{name: c, type: console, <<: *a}]\n"))
	f.Add([]byte("lists: {a: &l [x], b: *l, c: {confluence_group: g, source: ${X:-p}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		getenv := func(k string) (string, bool) {
			// Some variables are set, some are not; values look like YAML.
			if len(k)%2 == 0 {
				return "", false
			}
			return []string{"1", "null", "[a]", "https://x", "30s", "true"}[len(k)%6], true
		}
		c, err := config.Parse("f.yaml", data, getenv, builtin.Plugins())
		if err == nil {
			if c == nil {
				t.Fatal("nil config without an error")
			}
			for _, sev := range append(alerter.Severities(), "default") {
				for _, n := range c.Routes.Targets(nil, sev) {
					if c.Notifier(n) == nil {
						t.Fatalf("route %s names unknown notifier %q", sev, n)
					}
				}
			}
			return
		}
		var es yamlx.Errors
		if !errors.As(err, &es) {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if len(es) == 0 {
			t.Fatal("empty yamlx.Errors")
		}
		for _, e := range es {
			if e.Msg == "" || e.File != "f.yaml" {
				t.Fatalf("error without a message or file: %#v", e)
			}
		}
	})
}

func TestReplicasAndFailOpen(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"nats: {url: nats://a:4222, replicas: 3, fail_open: true}\n", ""},
		{"nats: {replicas: 3}\n", "c.yaml:1:18: replicas 3: the embedded server is a single node"},
		{"nats: {url: nats://a:4222, replicas: 7}\n", "c.yaml:1:38: replicas 7: JetStream allows 1 to 5"},
	} {
		c, err := config.Parse("c.yaml", []byte(tc.in), func(string) (string, bool) { return "", false }, builtin.Plugins())
		if tc.err == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.in, err)
			} else if c.NATS.Replicas != 3 || !c.NATS.FailOpen {
				t.Errorf("%q: got %+v", tc.in, c.NATS)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		}
	}
}
