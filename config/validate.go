package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/yamlx"
)

var (
	// nameRE is for source and notifier names, which appear in URLs
	// (/webhooks/<name>), subjects and metrics labels.
	nameRE = regexp.MustCompile(`^[a-z0-9-]+$`)
	// listNameRE keeps list names usable as lists.NAME in expressions.
	listNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

var (
	formats = []string{FormatAuto, FormatConfluenceAudit, FormatConfluenceAuditing, FormatConfluenceWebhook, FormatJSON}
)

// Keys that apply to every source or notifier, and to each type.
var (
	sourceType   = reflect.TypeFor[Source]()
	sourceCommon = yamlx.StructKeys(sourceType)
	// notifierCommon are the keys of Notifier; those of each type are its
	// Plugin's.
	notifierType   = reflect.TypeFor[Notifier]()
	notifierCommon = yamlx.StructKeys(notifierType)
)

// validate applies the defaults and checks what the types cannot say.
func (p *parser) validate(c *Config, root *yaml.Node) {
	_, sn := yamlx.Get(root, "server")
	c.Server.defaults(p.hasIn(sn))
	p.server(&c.Server, sn, root)

	nk, nn := yamlx.Get(root, "nats")
	c.NATS.defaults(p.hasIn(nn))
	p.nats(&c.NATS, nn, first(nk, root))

	_, rn := yamlx.Get(root, "rules")
	c.Rules.defaults(p.hasIn(rn))
	p.rules(&c.Rules, rn, root)

	sk, sln := yamlx.Get(root, "silences")
	c.Silences.defaults(p.hasIn(sln))
	p.positive("max_duration", c.Silences.MaxDuration, sln, first(sk, root))

	ek, en := yamlx.Get(root, "engine")
	c.Engine.defaults(p.hasIn(en))
	if l := time.Duration(c.Engine.Lateness); l < 0 || l > MaxLateness {
		_, v := yamlx.Get(en, "lateness")
		p.errAt(first(v, en, ek, root), "engine.lateness must be between 0s and %s", MaxLateness)
	}

	_, srcs := yamlx.Get(root, "sources")
	p.sources(c, items(srcs), first(srcs, root))
	_, lists := yamlx.Get(root, "lists")
	p.lists(c, first(lists, root))
	_, nots := yamlx.Get(root, "notifiers")
	p.notifiers(c, items(nots), first(nots, root))
	_, routes := yamlx.Get(root, "routes")
	p.routes(c, first(routes, root))
}

func (s *Server) defaults(has func(string) bool) {
	if s.Listen == "" {
		s.Listen = "127.0.0.1:8080"
	}
	if !has("max_body_bytes") {
		s.MaxBodyBytes = 1 << 20
	}
	if !has("max_ingest_bytes") {
		s.MaxIngestBytes = max(DefaultMaxIngestBytes, s.MaxBodyBytes)
	}
}

// DefaultMaxIngestBytes is server.max_ingest_bytes unless set. A webhook
// body costs up to about 30 times its size in memory until its events are
// stored (1 MiB of small JSON lines: 18,000 events), so 8 MiB keeps a burst
// of large bodies within a few hundred MB, while thousands of ordinary
// webhook calls (a few KB each) still fit at once.
const DefaultMaxIngestBytes = 4 << 20

func (p *parser) server(s *Server, n, root *yaml.Node) {
	p.hostPort("listen", s.Listen, n, root)
	if s.MaxBodyBytes <= 0 {
		_, v := yamlx.Get(n, "max_body_bytes")
		p.errAt(first(v, n, root), "max_body_bytes must be greater than 0")
	}
	if s.MaxIngestBytes < s.MaxBodyBytes && s.MaxBodyBytes > 0 {
		_, v := yamlx.Get(n, "max_ingest_bytes")
		p.errAt(first(v, n, root), "max_ingest_bytes must be at least max_body_bytes (%d)", s.MaxBodyBytes)
	}
	if s.ExternalURL != "" {
		_, v := yamlx.Get(n, "external_url")
		p.url("external_url", s.ExternalURL, first(v, n, root), "http", "https")
	}
	p.tokens(s, n, root)
	if s.Exposed() && !s.HasTokens() {
		// Anyone who reaches the port could read every alert, silence them
		// all and reload the rules: see docs/running.md, server.
		_, v := yamlx.Get(n, "listen")
		p.errAt(first(v, n, root), "%s is reachable from other machines, and the API has no token: set api_token (or tokens), or listen on 127.0.0.1", p.subject("listen", v, s.Listen))
	}
}

// tokens checks server.tokens: each named uniquely, with a token of its own
// and a known role.
func (p *parser) tokens(s *Server, n, root *yaml.Node) {
	_, tn := yamlx.Get(n, "tokens")
	nodes := items(tn)
	names := map[string]*yaml.Node{}
	values := map[string]string{}
	if s.APIToken != "" {
		values[s.APIToken.Value()] = "api_token"
	}
	for i, t := range s.Tokens {
		item := first(at(nodes, i), tn, n, root)
		field := func(key string) *yaml.Node {
			_, v := yamlx.Get(item, key)
			return first(v, item)
		}
		switch v := field("name"); {
		case t.Name == "":
			p.missing(item, "name", "tokens: a token needs a name, recorded as who did what with it")
		case !tokenNameRE.MatchString(t.Name):
			p.errAt(v, "%s: use letters, digits, dots, dashes and underscores (at most 64)", p.subject("name", v, t.Name))
		case t.Name == APITokenName:
			p.errAt(v, "tokens: name %q is server.api_token's; choose another", t.Name)
		case names[t.Name] != nil:
			p.errAt(v, "%s: already the name of the token at line %d", p.subject("name", v, t.Name), names[t.Name].Line)
		default:
			names[t.Name] = v
		}
		switch v := field("token"); {
		case t.Token == "":
			p.missing(item, "token", "tokens: token %s has no token (give it from the environment: token: ${VAR})", t.Name)
		case values[t.Token.Value()] != "":
			// The same secret twice could not tell who used it.
			p.errAt(v, "%s: the same as the token of %s; every token must be its own", p.hidden("token", v), values[t.Token.Value()])
		default:
			values[t.Token.Value()] = "token " + t.Name
		}
		if !slices.Contains(Roles, t.Role) {
			v := field("role")
			if t.Role == "" {
				p.missing(item, "role", "tokens: token %s needs a role (one of %s)", t.Name, strings.Join(Roles, ", "))
			} else {
				p.errAt(v, "%s: one of %s", p.subject("role", v, t.Role), strings.Join(Roles, ", "))
			}
		}
	}
}

// tokenNameRE is for token names, which appear in records and events.
var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (s *NATS) defaults(has func(string) bool) {
	if s.Embedded.StoreDir == "" {
		s.Embedded.StoreDir = "./data/nats"
	}
	if !has("retention") {
		s.Retention = yamlx.Duration(168 * time.Hour)
	}
	if !has("ack_wait") {
		s.AckWait = yamlx.Duration(10 * time.Second)
	}
	for _, d := range []struct {
		v   *ByteSize
		def ByteSize
	}{{&s.MaxBytes.Events, DefaultEventsBytes}, {&s.MaxBytes.Alerts, DefaultAlertsBytes},
		{&s.MaxBytes.Rejected, DefaultRejectedBytes}, {&s.MaxBytes.DeadLetters, DefaultDeadLettersBytes}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
}

var natsSchemes = []string{"nats", "tls", "ws", "wss"}

// nats checks the nats: section n; errors about the section as a whole go
// to section, the section's key.
func (p *parser) nats(s *NATS, n, section *yaml.Node) {
	at := func(key string) *yaml.Node {
		_, v := yamlx.Get(n, key)
		return first(v, n, section)
	}
	if s.URL != "" {
		v := at("url")
		for u := range strings.SplitSeq(s.URL, ",") {
			u = strings.TrimSpace(u)
			if !strings.Contains(u, "://") {
				u = "nats://" + u // as the NATS client reads it
			}
			if reason := urlProblem(u, natsSchemes); reason != "" {
				p.errAt(v, "%s: every server must be a URL such as nats://host:4222 (%s)", p.hidden("url", v), reason)
				break
			}
		}
	}
	_, en := yamlx.Get(n, "embedded")
	if s.Embedded.Listen != "" {
		p.hostPort("listen", s.Embedded.Listen, en, first(en, n, section))
	}
	if s.URL != "" && s.Embedded.Token != "" {
		k, _ := yamlx.Get(en, "token")
		p.errAt(first(k, en, section), "embedded.token is for the embedded server; with nats.url, give nats.token (or credentials, or user and password)")
	}
	_, mb := yamlx.Get(n, "max_bytes")
	for key, v := range map[string]ByteSize{"events": s.MaxBytes.Events, "alerts": s.MaxBytes.Alerts, "rejected": s.MaxBytes.Rejected, "deadletters": s.MaxBytes.DeadLetters} {
		// Below a megabyte a stream holds a few events: surely a unit
		// left out.
		if v < 1<<20 {
			_, kv := yamlx.Get(mb, key)
			p.errAt(first(kv, mb, section), "max_bytes.%s %d: at least 1MiB (write a unit: 512MiB, 10GiB)", key, int64(v))
		}
	}
	p.positive("retention", s.Retention, n, section)
	p.positive("ack_wait", s.AckWait, n, section)
	if s.Replicas < 0 || s.Replicas > 5 {
		p.errAt(at("replicas"), "replicas %d: JetStream allows 1 to 5", s.Replicas)
	} else if s.Replicas > 1 && s.URL == "" {
		p.errAt(at("replicas"), "replicas %d: the embedded server is a single node; replicas need a cluster at nats.url", s.Replicas)
	}
	if s.Sync != "" && s.Sync != "always" {
		v := at("sync")
		p.errAt(v, "%s: write always (fsync every write), or leave sync out for JetStream's default (flush on an interval)", p.subject("sync", v, s.Sync))
	}
	methods := 0
	for _, set := range []bool{s.Credentials != "", s.User != "" || s.Password != "", s.Token != ""} {
		if set {
			methods++
		}
	}
	switch {
	case methods > 1:
		p.errAt(section, "nats: give one of credentials, user and password, or token")
	case s.User != "" && s.Password == "":
		p.errAt(at("user"), "nats: user needs a password")
	case s.User == "" && s.Password != "":
		p.errAt(at("password"), "nats: password needs a user")
	}
	if s.URL == "" {
		for _, key := range []string{"credentials", "user", "password", "token", "tls"} {
			if k, _ := yamlx.Get(n, key); k != nil && p.has(n, key) {
				if key == "token" {
					p.errAt(k, "token is for connecting to nats.url; the embedded server's token is nats.embedded.token")
					continue
				}
				p.errAt(k, "%s is for connecting to nats.url; the embedded server takes a token (nats.embedded.token) and no TLS", key)
			}
		}
	}
	if (s.TLS.Cert == "") != (s.TLS.Key == "") {
		_, tn := yamlx.Get(n, "tls")
		p.errAt(first(tn, n, section), "nats.tls: cert and key go together")
	}
}

func (r *RulesConfig) defaults(has func(string) bool) {
	if len(r.Paths) == 0 {
		r.Paths = []string{"examples/rules"}
	}
	if !has("watch") {
		r.Watch = true
	}
}

func (e *Engine) defaults(has func(string) bool) {
	if !has("lateness") {
		e.Lateness = yamlx.Duration(DefaultLateness)
	}
}

func (s *Silences) defaults(has func(string) bool) {
	if !has("max_duration") {
		s.MaxDuration = yamlx.Duration(DefaultSilenceMaxDuration)
	}
}

func (p *parser) rules(r *RulesConfig, n, root *yaml.Node) {
	_, pn := yamlx.Get(n, "paths")
	ps := items(pn)
	for i, path := range r.Paths {
		if strings.TrimSpace(path) == "" {
			p.errAt(first(at(ps, i), pn, n, root), "paths: an empty path")
		}
	}
}

func (p *parser) lists(c *Config, n *yaml.Node) {
	var polls []string
	for _, s := range c.Sources {
		if s.Type == SourceConfluencePoll && s.Name != "" {
			polls = append(polls, s.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Lists)) {
		k, v := yamlx.Get(n, name)
		l := c.Lists[name]
		if !listNameRE.MatchString(name) {
			p.errAt(first(k, n), "list name %q: use lower-case letters, digits and _, so that rules can write lists.%s", name, name)
		}
		if v == nil || v.Kind != yaml.MappingNode {
			continue
		}
		if l.ConfluenceGroup == "" {
			_, gv := yamlx.Get(v, "confluence_group")
			if !p.bad[gv] {
				p.errAt(first(v, k, n), "list %s: confluence_group is required (the Confluence group whose members make the list)", name)
			}
		}
		_, sv := yamlx.Get(v, "source")
		switch {
		case l.Source == "" && len(polls) == 1:
			l.Source = polls[0]
		case l.Source == "" && !p.bad[sv]:
			p.errAt(first(v, k, n), "list %s: source is required: the confluence-poll source whose credentials read the group (%s)", name, configured("confluence-poll sources", polls))
		case l.Source != "" && !slices.Contains(polls, l.Source):
			p.errAt(first(sv, v), "%s: not a confluence-poll source (%s)", p.subject("source", sv, l.Source), configured("confluence-poll sources", polls))
		}
		if !p.has(v, "refresh") {
			l.Refresh = yamlx.Duration(10 * time.Minute)
		}
		p.positive("refresh", l.Refresh, v, n)
		c.Lists[name] = l
	}
}

func (p *parser) sources(c *Config, nodes []*yaml.Node, parent *yaml.Node) {
	names := map[string]*yaml.Node{}
	for i := range c.Sources {
		s := &c.Sources[i]
		n := first(at(nodes, i), parent)
		if s.Format == "" {
			s.Format = FormatAuto
		}
		label := p.label("source", s.Name, n)
		p.name("source", s.Name, n, names)
		if s.Name == OwnSource {
			_, v := yamlx.Get(n, "name")
			p.errAt(first(v, n), "source name %q is alerter's own: its actions (silences, reloads) are events of that source", OwnSource)
		}
		known := p.kind("source", s.Type, typeNames(p.plugins.Sources), n)
		if !slices.Contains(formats, s.Format) {
			_, v := yamlx.Get(n, "format")
			v = first(v, n)
			p.errAt(v, "%s: unknown format (one of %s)", p.subject("format", v, s.Format), strings.Join(formats, ", "))
		}
		pl, _ := Lookup(p.plugins.Sources, s.Type)
		if known {
			p.applies(n, "a "+s.Type+" source", sourceCommon, ownKeys(pl))
		}
		if len(s.Fields) > 0 && slices.Contains(formats, s.Format) {
			p.fields(s, n)
		}
		if known {
			s.Settings = p.settings(pl, n, &Checker{p: p, n: n, label: label, name: s.Name, server: &c.Server})
		}
	}
}

// ownKeys are the keys of a type beyond the common ones.
func ownKeys(pl Plugin) []string {
	if t := configType(pl); t != nil {
		return yamlx.StructKeys(t)
	}
	return nil
}

// fields checks a json mapping by compiling it, so that a wrong target or
// expression fails now rather than on the first event.
func (p *parser) fields(s *Source, n *yaml.Node) {
	fk, fn := yamlx.Get(n, "fields")
	if s.Format != FormatAuto && s.Format != FormatJSON {
		p.errAt(first(fk, n), "fields map json events; this source's format is %s", s.Format)
		return
	}
	for _, target := range slices.Sorted(maps.Keys(s.Fields)) {
		k, v := yamlx.Get(fn, target)
		if _, err := event.NewMapping(map[string]string{target: s.Fields[target]}); err != nil {
			msg, _, _ := strings.Cut(err.Error(), "\n")
			if strings.Contains(msg, "unknown target") {
				p.errAt(first(k, fn, n), "fields: unknown target %q (one of %s)", target, strings.Join(event.MappingTargets(), ", "))
				continue
			}
			if p.env[v] != nil {
				// The message would quote the expression.
				p.errAt(v, "fields: %s: not a valid expression", p.hidden(target, v))
				continue
			}
			msg = strings.TrimPrefix(msg, fmt.Sprintf("mapping %q: ", target))
			p.errAt(first(v, fn, n), "fields: %s: %s", target, msg)
		}
	}
}

func (n *Notifier) defaults(has func(string) bool, pl Plugin) {
	if r, ok := pl.(RateDefaulter); ok && !has("rate_per_second") {
		n.RatePerSecond = r.DefaultRate()
	}
	if !has("max_age") {
		n.MaxAge = yamlx.Duration(DefaultNotifierMaxAge)
	}
	if !has("max_backoff") {
		n.MaxBackoff = yamlx.Duration(DefaultMaxBackoff)
	}
	if !has("timeout") {
		n.Timeout = yamlx.Duration(DefaultNotifierTimeout)
	}
}

func (p *parser) notifiers(c *Config, nodes []*yaml.Node, parent *yaml.Node) {
	names := map[string]*yaml.Node{}
	for i := range c.Notifiers {
		t := &c.Notifiers[i]
		n := first(at(nodes, i), parent)
		pl, _ := Lookup(p.plugins.Notifiers, t.Type)
		t.defaults(p.hasIn(n), pl)
		field := func(key string) *yaml.Node {
			_, v := yamlx.Get(n, key)
			return first(v, n)
		}
		label := p.label("notifier", t.Name, n)
		p.name("notifier", t.Name, n, names)
		if p.kind("notifier", t.Type, typeNames(p.plugins.Notifiers), n) {
			p.applies(n, "a "+t.Type+" notifier", notifierCommon, ownKeys(pl))
			t.Settings = p.settings(pl, n, &Checker{p: p, n: n, label: label, name: t.Name, server: &c.Server})
		}
		if t.MaxAttempts < 0 {
			v := field("max_attempts")
			p.errAt(v, "max_attempts cannot be negative (0 is no limit)")
		}
		if t.RatePerSecond < 0 {
			v := field("rate_per_second")
			p.errAt(v, "rate_per_second cannot be negative (0 is no limit)")
		}
		p.positive("max_age", t.MaxAge, n, n)
		p.positive("max_backoff", t.MaxBackoff, n, n)
		p.positive("timeout", t.Timeout, n, n)
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (p *parser) routes(c *Config, n *yaml.Node) {
	names := c.NotifierNames()
	for _, sev := range slices.Sorted(maps.Keys(c.Routes)) {
		k, v := yamlx.Get(n, sev)
		if sev != "default" && !slices.Contains(severities, sev) {
			p.errAt(first(k, n), "routes: unknown severity %q (one of %s, default)", sev, strings.Join(severities, ", "))
			continue
		}
		if len(c.Routes[sev]) == 0 {
			hint := " (leave it out to use routes.default)"
			if sev == "default" {
				hint = ""
			}
			if !p.bad[v] {
				p.errAt(first(v, k, n), "routes.%s names no notifier%s", sev, hint)
			}
			continue
		}
		vs := items(v)
		for i, name := range c.Routes[sev] {
			if !slices.Contains(names, name) {
				item := first(at(vs, i), v, n)
				p.errAt(item, "routes.%s: unknown notifier %s (%s)", sev, p.quoted(item, name), configured("notifiers", names))
			}
		}
	}
}

// name checks a source's or notifier's name and that it is unique.
func (p *parser) name(what, name string, n *yaml.Node, seen map[string]*yaml.Node) {
	_, v := yamlx.Get(n, "name")
	switch {
	case name == "":
		if !p.bad[v] {
			p.errAt(first(v, n), "%s has no name", what)
		}
	case !nameRE.MatchString(name):
		p.errAt(first(v, n), "%s: use lower-case letters, digits and dashes ([a-z0-9-]+)", p.subject("name", v, name))
	case seen[name] != nil:
		p.errAt(first(v, n), "%s: already the name of the %s at line %d", p.subject("name", v, name), what, seen[name].Line)
	default:
		seen[name] = first(v, n)
	}
}

// label names a source or notifier in messages about it as a whole.
func (p *parser) label(what, name string, n *yaml.Node) string {
	if name == "" {
		return what
	}
	if _, v := yamlx.Get(n, "name"); p.env[v] != nil {
		return p.hidden(what, v)
	}
	return what + " " + name
}

// kind checks a type: and tells whether it is one of valid.
func (p *parser) kind(what, typ string, valid []string, n *yaml.Node) bool {
	_, v := yamlx.Get(n, "type")
	switch {
	case typ == "":
		if !p.bad[v] {
			p.errAt(first(v, n), "%s has no type (one of %s)", what, strings.Join(valid, ", "))
		}
		return false
	case !slices.Contains(valid, typ):
		p.errAt(first(v, n), "%s: unknown %s type (one of %s)", p.subject("type", v, typ), what, strings.Join(valid, ", "))
		return false
	}
	return true
}

// applies reports keys that do not apply to an item's type: a subject on a
// webhook is a mistake that would otherwise go unnoticed.
func (p *parser) applies(n *yaml.Node, what string, common, own []string) {
	for _, k := range keys(n) {
		if slices.Contains(common, k.Value) || slices.Contains(own, k.Value) {
			continue
		}
		takes := "only " + strings.Join(common[2:], ", ")
		if len(own) > 0 {
			takes = strings.Join(own, ", ")
		}
		p.errAt(k, "%s does not apply to %s (it takes %s)", k.Value, what, takes)
	}
}

// missing reports a required value that is absent, unless it was there but
// already reported as wrong.
func (p *parser) missing(n *yaml.Node, key, format string, args ...any) {
	if _, v := yamlx.Get(n, key); v != nil && p.bad[v] {
		return
	}
	p.errAt(n, format, args...)
}

func (p *parser) positive(key string, d yamlx.Duration, n, fallback *yaml.Node) {
	if d > 0 {
		return
	}
	_, v := yamlx.Get(n, key)
	v = first(v, n, fallback)
	p.errAt(v, "%s must be longer than zero", key)
}

func (p *parser) hostPort(key, value string, n, fallback *yaml.Node) {
	_, v := yamlx.Get(n, key)
	v = first(v, n, fallback)
	host, port, err := net.SplitHostPort(value)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil || strings.ContainsAny(host, " /") {
		p.errAt(v, "%s: not host:port (e.g. 127.0.0.1:8080, or :8080 for every interface)", p.subject(key, v, value))
	}
}

// url checks an absolute URL. It never shows the URL: it may carry
// credentials, or be a Secret.
func (p *parser) url(key, value string, v *yaml.Node, schemes ...string) {
	if reason := urlProblem(value, schemes); reason != "" {
		p.errAt(v, "%s: not an absolute %s URL (%s)", p.hidden(key, v), orList(schemes), reason)
	}
}

// urlProblem says what is wrong with a URL, without quoting it.
func urlProblem(value string, schemes []string) string {
	u, err := url.Parse(value)
	switch {
	case err != nil:
		return "it does not parse"
	case u.Scheme == "":
		return "it has no scheme"
	case !slices.Contains(schemes, strings.ToLower(u.Scheme)):
		return "its scheme must be " + orList(schemes)
	case u.Opaque != "" || u.Host == "":
		return "it has no host"
	}
	if port := u.Port(); port != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "its port is not a number from 0 to 65535"
		}
	}
	return ""
}

// quoted shows a value unless it came from the environment.
func (p *parser) quoted(n *yaml.Node, value string) string {
	if vars := p.env[n]; len(vars) > 0 {
		return "(from ${" + strings.Join(vars, "}, ${") + "})"
	}
	return strconv.Quote(value)
}

// orList writes "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func configured(what string, names []string) string {
	if len(names) == 0 {
		return "no " + what + " are configured"
	}
	return what + ": " + strings.Join(names, ", ")
}

// hasIn tells whether mapping n gives key a value, for defaults that differ
// from the zero value when the key is absent.
func (p *parser) hasIn(n *yaml.Node) func(string) bool {
	return func(key string) bool { return p.has(n, key) }
}

func (p *parser) has(n *yaml.Node, key string) bool {
	_, v := yamlx.Get(n, key)
	if v == nil {
		return false
	}
	// A value reset after an error is null too, and takes the default.
	return v.Kind != yaml.ScalarNode || v.ShortTag() != "!!null"
}

// keys lists the keys of mapping m, merged ones included.
func keys(m *yaml.Node) []*yaml.Node {
	m = yamlx.Deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var out []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if !yamlx.IsMerge(k) {
			out = append(out, k)
			continue
		}
		mv := yamlx.Deref(m.Content[i+1])
		if mv != nil && mv.Kind == yaml.SequenceNode {
			for _, s := range mv.Content {
				out = append(out, keys(s)...)
			}
		} else {
			out = append(out, keys(mv)...)
		}
	}
	return out
}

// items are the entries of a list node, aliases followed.
func items(n *yaml.Node) []*yaml.Node {
	n = yamlx.Deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = yamlx.Deref(c)
	}
	return out
}

func at(nodes []*yaml.Node, i int) *yaml.Node {
	if i < len(nodes) {
		return nodes[i]
	}
	return nil
}

// first returns the first node that is there, for positioning an error at
// the most precise place known.
func first(nodes ...*yaml.Node) *yaml.Node {
	for _, n := range nodes {
		if n != nil {
			return n
		}
	}
	return nil
}
