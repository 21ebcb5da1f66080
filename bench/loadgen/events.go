package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
)

// Markers put into a template's fields; generation replaces them. They are
// plain text so that the JSON encoder leaves them as they are.
const (
	mTime     = "@@TS@@"
	mActorID  = "@@AID@@"
	mActor    = "@@ANAME@@"
	mUsername = "@@AUSER@@"
)

// template is a Confluence auditing entity (the REST AuditEntity shape, as
// the poller and webhook senders post it) cut at the fields that vary.
type template struct {
	action string
	parts  [][]byte // literal text; between parts[i] and parts[i+1] goes fields[i]
	fields []string // marker names
}

// loadFixtures reads the Soteri fixture events (JSON lines) and the
// entities of an auditing page from dir (examples/events).
func loadFixtures(dir string) ([]map[string]any, error) {
	var objs []map[string]any
	f, err := os.Open(filepath.Join(dir, "soteri-events.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("soteri-events.jsonl: %w", err)
		}
		objs = append(objs, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "confluence-auditing-page.json"))
	if err != nil {
		return nil, err
	}
	var page struct {
		Entities []map[string]any `json:"entities"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, fmt.Errorf("confluence-auditing-page.json: %w", err)
	}
	objs = append(objs, page.Entities...)
	if len(objs) == 0 {
		return nil, fmt.Errorf("no events in %s", dir)
	}
	return objs, nil
}

// templates makes a template of each fixture whose action is one of
// actions (all when none), changed by edit unless it is nil.
func templates(fixtures []map[string]any, edit func(map[string]any), actions ...string) ([]*template, error) {
	var ts []*template
	for _, m := range fixtures {
		t, err := newTemplate(m, edit)
		if err != nil {
			return nil, err
		}
		if len(actions) > 0 && !slices.Contains(actions, t.action) {
			continue
		}
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("no fixture event with action %q", actions)
	}
	return ts, nil
}

// newTemplate marks the varying fields of a copy of an entity: its time and
// its author (id, display name, login name in the profile uri).
func newTemplate(orig map[string]any, edit func(map[string]any)) (*template, error) {
	m := maps.Clone(orig)
	if edit != nil {
		edit(m)
	}
	m["timestamp"] = mTime
	author, _ := m["author"].(map[string]any)
	author = maps.Clone(author)
	if author == nil {
		author = map[string]any{}
	}
	m["author"] = author
	author["id"] = mActorID
	author["name"] = mActor
	author["type"] = "user"
	author["uri"] = "https://confluence.example.com/admin/users/viewuser.action?username=" + mUsername
	action := ""
	if ty, ok := m["type"].(map[string]any); ok {
		action, _ = ty["action"].(string)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	t := &template{action: action}
	for {
		i, name := nextMarker(b)
		if i < 0 {
			t.parts = append(t.parts, b)
			break
		}
		t.parts = append(t.parts, b[:i])
		t.fields = append(t.fields, name)
		b = b[i+len(name):]
	}
	return t, nil
}

func nextMarker(b []byte) (int, string) {
	at, name := -1, ""
	for _, m := range []string{mTime, mActorID, mActor, mUsername} {
		if i := bytes.Index(b, []byte(m)); i >= 0 && (at < 0 || i < at) {
			at, name = i, m
		}
	}
	return at, name
}

// appendEvent writes the template with the time and actor filled in.
func (t *template) appendEvent(dst []byte, at time.Time, actor uint64) []byte {
	for i, p := range t.parts {
		dst = append(dst, p...)
		if i == len(t.fields) {
			break
		}
		switch t.fields[i] {
		case mTime:
			dst = at.AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
		case mActorID:
			dst = append(dst, "8a7f808a9c0d1e2f"...)
			dst = appendHex16(dst, actor)
		case mActor:
			dst = append(dst, "Load User "...)
			dst = strconv.AppendUint(dst, actor, 10)
		case mUsername:
			dst = append(dst, "luser"...)
			dst = strconv.AppendUint(dst, actor, 10)
		}
	}
	return dst
}

func appendHex16(dst []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, digits[(v>>uint(i))&0xf])
	}
	return dst
}

// generator makes unique events: every event gets the next microsecond of
// event time from a common base (now), so no two share a content id and
// none is deduplicated away.
type generator struct {
	templates []*template
	base      time.Time
	seq       atomic.Uint64
	// actors is the size of the pool actors are drawn from; 0 gives every
	// event an actor of its own (from actorBase on).
	actors    uint64
	actorBase uint64
	// other and frac make a mixed stream (see mixed).
	other []*template
	frac  float64
}

func newGenerator(ts []*template, actors, actorBase uint64) *generator {
	return &generator{templates: ts, base: time.Now().UTC().Truncate(time.Second), actors: actors, actorBase: actorBase}
}

// next appends one event and returns the sequence number it used.
func (g *generator) next(dst []byte) ([]byte, uint64) {
	n := g.seq.Add(1)
	t := g.pick(n)
	actor := g.actorBase + n
	if g.actors > 0 {
		// A fixed scramble of n spreads a template's events over the pool.
		actor = g.actorBase + (n*0x9E3779B97F4A7C15>>17)%g.actors
	}
	return t.appendEvent(dst, g.base.Add(time.Duration(n)*time.Microsecond), actor), n
}

// batch appends n events as JSON lines.
func (g *generator) batch(dst []byte, n int) []byte {
	for range n {
		dst, _ = g.next(dst)
		dst = append(dst, '\n')
	}
	return dst
}

// quietSetting makes an entity one that exactly one example rule alerts on
// per new actor: from an office network (so that
// soteri-config-change-outside-office does not match), changing a setting
// in a way that does not weaken protection (so that
// soteri-protection-weakened does not either). On a "Global setting
// changed" event, soteri-global-setting-changed-by-non-admin (dedup by
// actor) fires; on "Custom scanning rule created",
// soteri-custom-rule-created-by-non-admin (no state) does.
func quietSetting(m map[string]any) {
	m["source"] = "10.20.30.99"
	if ty, _ := m["type"].(map[string]any); ty != nil && ty["action"] == "Global setting changed" {
		m["changedValues"] = []any{map[string]any{
			"key": "Notify authors by email", "i18nKey": "Notify authors by email", "from": "No", "to": "Yes",
		}}
	}
}

// ordinaryEntities are Confluence auditing entities of the everyday kind
// that make up most of a real audit log — pages, blog posts, comments and
// attachments created or changed, a space renamed — from an office
// address. None of the example rules is about these categories or actions
// (TestOrdinaryEventsMatchNothing checks it with the engine, at office
// hours and off hours); the generator gives each its own time and an
// actor like the fixtures'.
func ordinaryEntities() []map[string]any {
	space := map[string]any{"name": "Engineering", "type": "Space", "uri": "https://confluence.example.com/display/ENG", "id": "98305"}
	page := func(title, id string) map[string]any {
		return map[string]any{"name": title, "type": "Page", "uri": "https://confluence.example.com/pages/viewpage.action?pageId=" + id, "id": id}
	}
	entity := func(categoryKey, category, actionKey, action string, objects []any, changes []any) map[string]any {
		if changes == nil {
			changes = []any{}
		}
		return map[string]any{
			"timestamp": "2024-05-14T09:00:00.000Z",
			"author":    map[string]any{"name": "Sam Example", "type": "user", "id": "8a7f808a8b1c2d3e018b1c2e77770007", "uri": "", "avatarUri": ""},
			"type": map[string]any{
				"categoryI18nKey": categoryKey, "category": category,
				"actionI18nKey": actionKey, "action": action,
			},
			"affectedObjects": objects,
			"changedValues":   changes,
			"source":          "10.20.30.57",
			"system":          "https://confluence.example.com",
			"node":            "node-1",
			"method":          "Browser",
			"extraAttributes": []any{},
		}
	}
	change := func(key, from, to string) map[string]any {
		return map[string]any{"key": key, "i18nKey": key, "from": from, "to": to}
	}
	const pages, catPages = "audit.logging.category.pages", "Pages"
	return []map[string]any{
		entity(pages, catPages, "audit.logging.summary.page.created", "Page created",
			[]any{page("Q3 planning", "1638401"), space}, nil),
		entity(pages, catPages, "audit.logging.summary.page.updated", "Page updated",
			[]any{page("Release checklist", "1638417"), space}, []any{change("Version", "7", "8")}),
		entity(pages, catPages, "audit.logging.summary.page.moved", "Page moved",
			[]any{page("Meeting notes 2024-05-13", "1638433"), space}, []any{change("Parent page", "Meeting notes", "Archive")}),
		entity(pages, catPages, "audit.logging.summary.blogpost.created", "Blog post created",
			[]any{page("Sprint 42 review", "1638449"), space}, nil),
		entity("audit.logging.category.comments", "Comments", "audit.logging.summary.comment.created", "Comment added",
			[]any{page("Q3 planning", "1638401"), space}, nil),
		entity("audit.logging.category.attachments", "Attachments", "audit.logging.summary.attachment.created", "Attachment created",
			[]any{map[string]any{"name": "architecture.png", "type": "Attachment", "id": "1638465"}, page("Q3 planning", "1638401"), space}, nil),
		entity("audit.logging.category.spaces", "Spaces", "audit.logging.summary.space.config.updated", "Space configuration updated",
			[]any{space}, []any{change("Name", "Engineering", "Engineering (all teams)")}),
	}
}

// A mix is the make-up of the stream a scenario sends: the security-heavy
// fixture stream as it is (Frac < 0), or a fraction Frac of events that
// match a rule among ordinary events that match none.
type mix struct {
	Name string  `json:"name"`
	Frac float64 `json:"frac"`
}

var securityMix = mix{Name: "security", Frac: -1}

func (m mix) String() string { return m.Name }

// label is what a row's metric says of the mix: nothing for the security
// stream, as the rows read before mixes existed.
func (m mix) label() string {
	if m.Frac < 0 {
		return ""
	}
	return " (" + m.Name + ")"
}

// parseMixes reads -match: "security" and fractions in (0, 1], comma-separated.
func parseMixes(s string) ([]mix, error) {
	var out []mix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			continue
		case f == "security":
			out = append(out, securityMix)
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(f, "%"), 64)
		if strings.HasSuffix(f, "%") {
			v /= 100
		}
		if err != nil || v <= 0 || v > 1 {
			return nil, fmt.Errorf("-match: %q is neither \"security\" nor a fraction in (0, 1]", f)
		}
		name := strconv.FormatFloat(100*v, 'f', -1, 64) + "% match"
		if !slices.ContainsFunc(out, func(m mix) bool { return m.Frac == v }) {
			out = append(out, mix{Name: name, Frac: v})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-match: no mix")
	}
	return out, nil
}

// mixed returns a generator of templates, or, with other set, of events of
// which a fraction frac comes from templates (cycling) and the rest from
// other, spread evenly.
func (g *generator) mixed(other []*template, frac float64) *generator {
	g.other, g.frac = other, frac
	return g
}

// matching reports whether event n of a mixed generator comes from its
// templates rather than from other.
func (g *generator) matching(n uint64) bool {
	if g.other == nil {
		return true
	}
	return uint64(float64(n)*g.frac) != uint64(float64(n-1)*g.frac)
}

func (g *generator) pick(n uint64) *template {
	if g.other == nil {
		return g.templates[n%uint64(len(g.templates))]
	}
	k := uint64(float64(n) * g.frac)
	if g.matching(n) {
		return g.templates[k%uint64(len(g.templates))]
	}
	return g.other[(n-k)%uint64(len(g.other))]
}
