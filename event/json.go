package event

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	json "github.com/goccy/go-json"

	"github.com/alerter/alerter/internal/exprlimit"
)

// normalized normalizes any JSON object: the members named as the fields of
// the normalized event (docs/rules.md, The event: id, time, action, actor{...}, objects, ...)
// are taken as they are, so that users can write test events in that shape and
// replay our own events and alerts' events; then m, if any, fills the fields it
// maps, overriding those.
func (w *wire[S]) normalized(e *Event, obj []byte, m *Mapping) error {
	t, err := parseTime(w.Time)
	if err != nil {
		return fmt.Errorf("time: %w", err)
	}
	e.ID = string(w.ID)
	e.Time = t
	e.Source = string(w.Source)
	e.System = string(w.System)
	e.Category = string(w.Category)
	e.CategoryKey = string(w.CategoryKey)
	e.Action = string(w.Action)
	e.ActionKey = string(w.ActionKey)
	e.Summary = string(first(w.Summary, w.Action))
	e.Area = string(w.Area)
	e.Level = string(w.Level)
	e.IP = string(w.IP)
	e.Node = string(w.Node)
	e.Method = string(w.Method)
	a := &w.Actor
	e.Actor = Actor{
		ID:          string(a.ID),
		Name:        string(a.Name),
		DisplayName: string(a.DisplayName),
		Type:        string(a.Type),
		Sysadmin:    a.Sysadmin,
		Groups:      make([]string, 0, len(a.Groups)),
	}
	for _, g := range a.Groups {
		e.Actor.Groups = append(e.Actor.Groups, string(g))
	}
	e.Objects = appendObjects(make([]Object, 0, len(w.Objects)), w.Objects)
	e.Changes = changes(w.Changes)
	if len(w.Attrs) > 0 {
		if attrs, ok := any(w.Attrs).(map[string]string); ok {
			e.Attrs = attrs
		} else {
			e.Attrs = make(map[string]string, len(w.Attrs))
			for k, v := range w.Attrs {
				e.Attrs[k] = string(v)
			}
		}
	}
	// One of our own events carries its original payload as raw: that stays
	// its raw, so rules reading event.raw see on replay what they saw live.
	if w.Raw.raw != nil && isFormat(string(w.Format)) {
		e.rawJSON = w.Raw.raw
	}
	if m == nil {
		return nil
	}
	var raw map[string]any
	if err := unmarshal(obj, &raw); err != nil {
		return fmt.Errorf("decoding for the mapping: %w", err)
	}
	if e.rawJSON == nil {
		e.rawJSON = obj
		e.Raw = raw
	}
	return m.apply(e, raw)
}

func isFormat(name string) bool {
	switch name {
	case FormatConfluenceAudit, FormatConfluenceAuditing, FormatConfluenceWebhook, FormatJSON:
		return true
	}
	return false
}

// Mapping fills event fields of json-format events from expr expressions over
// the payload, which they see as the variable raw (a map[string]any):
// {"action": "raw.eventName", "actor.name": `raw.user?.login ?? ""`}. It is
// compiled once and safe for concurrent use.
type Mapping struct {
	fields []mappedField // in the order of their targets, so "attrs" comes before "attrs.x"
}

type mappedField struct {
	target  string
	source  string
	program *vm.Program
	set     setter
}

type setter func(e *Event, v any) error

// mappingEnv is what mapping expressions see.
type mappingEnv struct {
	Raw map[string]any `expr:"raw"`
	// Budget bounds what one mapping builds and how long it loops: it runs
	// on the payload a sender chose (docs/rules.md, Safety limits).
	Budget *exprlimit.Budget `expr:"$budget"`
}

// mappingTargets are the fields a mapping can fill, besides "attrs.NAME" (one
// attribute). source and format are not among them: they say where an event
// came from and how it was read, which a payload must not choose.
var mappingTargets = map[string]setter{
	"id":                 stringSetter(func(e *Event) *string { return &e.ID }),
	"time":               setTime,
	"system":             stringSetter(func(e *Event) *string { return &e.System }),
	"category":           stringSetter(func(e *Event) *string { return &e.Category }),
	"category_key":       stringSetter(func(e *Event) *string { return &e.CategoryKey }),
	"action":             stringSetter(func(e *Event) *string { return &e.Action }),
	"action_key":         stringSetter(func(e *Event) *string { return &e.ActionKey }),
	"summary":            stringSetter(func(e *Event) *string { return &e.Summary }),
	"area":               stringSetter(func(e *Event) *string { return &e.Area }),
	"level":              stringSetter(func(e *Event) *string { return &e.Level }),
	"actor.id":           stringSetter(func(e *Event) *string { return &e.Actor.ID }),
	"actor.name":         stringSetter(func(e *Event) *string { return &e.Actor.Name }),
	"actor.display_name": stringSetter(func(e *Event) *string { return &e.Actor.DisplayName }),
	"actor.type":         stringSetter(func(e *Event) *string { return &e.Actor.Type }),
	"actor.sysadmin":     setSysadmin,
	"actor.groups":       setGroups,
	"ip":                 stringSetter(func(e *Event) *string { return &e.IP }),
	"node":               stringSetter(func(e *Event) *string { return &e.Node }),
	"method":             stringSetter(func(e *Event) *string { return &e.Method }),
	"objects":            setObjects,
	"changes":            setChanges,
	"attrs":              setAttrs,
}

const attrPrefix = "attrs."

// MappingTargets returns the fields a Mapping can fill, sorted; "attrs.NAME"
// fills one attribute.
func MappingTargets() []string {
	targets := slices.Sorted(maps.Keys(mappingTargets))
	return append(targets, attrPrefix+"NAME")
}

// NewMapping compiles a mapping from target field to expression. It rejects
// unknown targets and expressions that do not compile, naming each.
func NewMapping(fields map[string]string) (*Mapping, error) {
	m := &Mapping{}
	var errs []error
	for _, target := range slices.Sorted(maps.Keys(fields)) {
		source := fields[target]
		set, ok := mappingTargets[target]
		if !ok {
			if name, isAttr := strings.CutPrefix(target, attrPrefix); isAttr && name != "" {
				set = attrSetter(name)
			} else {
				errs = append(errs, fmt.Errorf("mapping %q: unknown target; valid targets are %s",
					target, strings.Join(MappingTargets(), ", ")))
				continue
			}
		}
		if strings.TrimSpace(source) == "" {
			errs = append(errs, fmt.Errorf("mapping %q: empty expression", target))
			continue
		}
		if err := exprlimit.CheckSource(source); err != nil {
			errs = append(errs, fmt.Errorf("mapping %q: %w", target, err))
			continue
		}
		program, err := expr.Compile(source, append([]expr.Option{expr.Env(mappingEnv{})}, exprlimit.Options()...)...)
		if err != nil {
			errs = append(errs, fmt.Errorf("mapping %q: %w", target, err))
			continue
		}
		m.fields = append(m.fields, mappedField{target: target, source: source, program: program, set: set})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Mapping) apply(e *Event, raw map[string]any) error {
	env := mappingEnv{Raw: raw, Budget: &exprlimit.Budget{}}
	for _, f := range m.fields {
		exprlimit.Begin(env.Budget, context.Background(), exprlimit.Timeout)
		v, err := run(f.program, env)
		if err != nil {
			return fmt.Errorf("mapping %q (%s): %w", f.target, f.source, err)
		}
		if err := f.set(e, v); err != nil {
			return fmt.Errorf("mapping %q (%s): %w", f.target, f.source, err)
		}
	}
	return nil
}

// run runs a mapping expression; a panic in the interpreter is an error.
func run(program *vm.Program, env mappingEnv) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("expression failed: %v", r)
		}
	}()
	return expr.Run(program, env)
}

func stringSetter(field func(e *Event) *string) setter {
	return func(e *Event, v any) error {
		s, err := toString(v)
		if err != nil {
			return err
		}
		*field(e) = s
		return nil
	}
}

func attrSetter(name string) setter {
	return func(e *Event, v any) error {
		s, err := toString(v)
		if err != nil {
			return err
		}
		if e.Attrs == nil {
			e.Attrs = make(map[string]string)
		}
		e.Attrs[name] = s
		return nil
	}
}

func setTime(e *Event, v any) error {
	var (
		t   time.Time
		err error
	)
	switch v := v.(type) {
	case nil:
	case time.Time:
		t = v
	case string:
		t, err = parseTimeString(v)
	case float64:
		t, err = parseEpoch(strconv.FormatFloat(v, 'f', -1, 64))
	case json.Number:
		t, err = parseEpoch(string(v))
	default:
		if n, ok := toInt64(v); ok {
			t, err = parseEpoch(strconv.FormatInt(n, 10))
		} else {
			err = fmt.Errorf("expected a time, RFC 3339 string or epoch number, got %T", v)
		}
	}
	if err != nil {
		return err
	}
	if !t.IsZero() {
		if t, err = inRange(t); err != nil {
			return err
		}
	}
	e.Time = t
	return nil
}

func setSysadmin(e *Event, v any) error {
	switch v := v.(type) {
	case nil:
		e.Actor.Sysadmin = false
	case bool:
		e.Actor.Sysadmin = v
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("expected a boolean, got %q", v)
		}
		e.Actor.Sysadmin = b
	default:
		return fmt.Errorf("expected a boolean, got %T", v)
	}
	return nil
}

func setGroups(e *Event, v any) error {
	groups := []string{}
	switch v := v.(type) {
	case nil:
	case string:
		if v != "" {
			groups = append(groups, v)
		}
	case []string:
		groups = append(groups, v...)
	case []any:
		for _, g := range v {
			s, err := toString(g)
			if err != nil {
				return err
			}
			groups = append(groups, s)
		}
	default:
		return fmt.Errorf("expected a list of strings, got %T", v)
	}
	e.Actor.Groups = groups
	return nil
}

func setObjects(e *Event, v any) error {
	objects := []Object{}
	err := eachMap(v, func(m map[string]any) error {
		var o Object
		var err error
		for _, f := range [...]struct {
			key string
			dst *string
		}{{"type", &o.Type}, {"id", &o.ID}, {"name", &o.Name}, {"uri", &o.URI}} {
			if *f.dst, err = toString(m[f.key]); err != nil {
				return fmt.Errorf("object %s: %w", f.key, err)
			}
		}
		objects = append(objects, o)
		return nil
	})
	if err != nil {
		return err
	}
	e.Objects = objects
	return nil
}

func setChanges(e *Event, v any) error {
	changes := []Change{}
	err := eachMap(v, func(m map[string]any) error {
		var c Change
		var err error
		for _, f := range [...]struct {
			key string
			dst *string
		}{{"key", &c.Key}, {"from", &c.From}, {"to", &c.To}} {
			if *f.dst, err = toString(m[f.key]); err != nil {
				return fmt.Errorf("change %s: %w", f.key, err)
			}
		}
		changes = append(changes, c)
		return nil
	})
	if err != nil {
		return err
	}
	e.Changes = changes
	return nil
}

// eachMap calls f with v if it is an object, or with each element of v if it
// is a list of objects.
func eachMap(v any, f func(map[string]any) error) error {
	switch v := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return f(v)
	case []any:
		for i, x := range v {
			m, ok := x.(map[string]any)
			if !ok {
				return fmt.Errorf("element %d: expected an object, got %T", i, x)
			}
			if err := f(m); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	}
	return fmt.Errorf("expected an object or a list of objects, got %T", v)
}

func setAttrs(e *Event, v any) error {
	switch v := v.(type) {
	case nil:
		e.Attrs = nil
	case map[string]any:
		attrs := make(map[string]string, len(v))
		for k, x := range v {
			s, err := toString(x)
			if err != nil {
				return fmt.Errorf("attribute %q: %w", k, err)
			}
			attrs[k] = s
		}
		e.Attrs = attrs
	case map[string]string:
		e.Attrs = maps.Clone(v)
	default:
		return fmt.Errorf("expected an object, got %T", v)
	}
	return nil
}

// toString renders a value as event fields hold it: numbers without exponent
// (ids are often numbers), null as "", objects and lists as JSON.
func toString(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), nil
	case json.Number:
		return string(v), nil
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), nil
	case fmt.Stringer:
		return v.String(), nil
	}
	if n, ok := toInt64(v); ok {
		return strconv.FormatInt(n, 10), nil
	}
	if u, ok := v.(uint64); ok {
		return strconv.FormatUint(u, 10), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("cannot render %T as a string: %w", v, err)
	}
	return string(b), nil
}

func toInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint:
		return int64(v), v <= 1<<63-1
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	}
	return 0, false
}
