package rules

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
	_ "time/tzdata" // rules name zones (hour(t, "Europe/Berlin")) wherever alerter runs

	"github.com/expr-lang/expr"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/internal/exprlimit"
)

// Env is what an expression sees: the event, the named lists and the helper
// functions that need the event. Helpers are fields rather than methods so
// that rules call them by their lower-case names, and their signatures are
// ones expr calls without reflection.
type Env struct {
	Event   *event.Event                   `expr:"event"`
	Lists   map[string][]string            `expr:"lists"`
	Changed func(key string) bool          `expr:"changed"`
	Old     func(key string) string        `expr:"old"`
	New     func(key string) string        `expr:"new"`
	Object  func(typ string) *event.Object `expr:"object"`
	Attr    func(name string) string       `expr:"attr"`
	// Budget is what the evaluation running may still spend: its user
	// starts each evaluation with exprlimit.Begin (a method here would be
	// a function rules could call). Compiled expressions pass it to the
	// functions that count.
	Budget *exprlimit.Budget `expr:"$budget"`
}

// NewEnv returns an Env whose helpers read whatever event is in Event at
// the time of the call, so one Env serves every evaluation of a worker
// without allocating.
func NewEnv(lists map[string][]string) *Env {
	env := &Env{Lists: lists, Budget: &exprlimit.Budget{}}
	env.Changed = func(key string) bool {
		_, ok := change(env.Event, key)
		return ok
	}
	env.Old = func(key string) string {
		c, _ := change(env.Event, key)
		return c.From
	}
	env.New = func(key string) string {
		c, _ := change(env.Event, key)
		return c.To
	}
	env.Object = func(typ string) *event.Object {
		if env.Event == nil {
			return nil
		}
		for i := range env.Event.Objects {
			if env.Event.Objects[i].Type == typ {
				return &env.Event.Objects[i]
			}
		}
		return nil
	}
	env.Attr = func(name string) string {
		if env.Event == nil {
			return ""
		}
		return env.Event.Attrs[name]
	}
	return env
}

func change(ev *event.Event, key string) (event.Change, bool) {
	if ev == nil {
		return event.Change{}, false
	}
	for _, c := range ev.Changes {
		if c.Key == key {
			return c, true
		}
	}
	return event.Change{}, false
}

// funcs are the pure helper functions. Parsed prefixes and zones are cached
// per rule set: rules pass them as constants, and parsing on every event
// would dominate the cost of a cidr() rule.
type funcs struct {
	prefixes sync.Map // string -> netip.Prefix
	zones    sync.Map // string -> *time.Location
}

func (f *funcs) prefix(s string) (netip.Prefix, error) {
	if p, ok := f.prefixes.Load(s); ok {
		return p.(netip.Prefix), nil
	}
	p, err := parsePrefix(s)
	if err != nil {
		return p, err
	}
	f.prefixes.Store(s, p)
	return p, nil
}

// parsePrefix accepts a CIDR or a single address, which is what people put
// in lists of networks.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a network (CIDR such as 10.0.0.0/8) or an address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (f *funcs) zone(name string) (*time.Location, error) {
	if l, ok := f.zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := loadZone(name)
	if err != nil {
		return nil, err
	}
	f.zones.Store(name, l)
	return l, nil
}

func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (use an IANA name such as Europe/Berlin)", name)
	}
	return l, nil
}

func (f *funcs) cidr(ip, network string) (bool, error) {
	p, err := f.prefix(network)
	if err != nil {
		return false, err
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false, nil // an event without a usable address is in no network
	}
	return p.Contains(a.Unmap()), nil
}

func (f *funcs) options() []expr.Option {
	return []expr.Option{
		// expr's own timezone() reads the zone database on every call;
		// this one reads each zone once.
		expr.DisableBuiltin("timezone"),
		expr.Function("timezone", func(p ...any) (any, error) {
			return f.zone(p[0].(string))
		}, new(func(name string) *time.Location)),
		expr.Function("cidr", func(p ...any) (any, error) {
			return f.cidr(p[0].(string), p[1].(string))
		}, new(func(ip, network string) bool)),
		expr.Function("in_cidrs", func(p ...any) (any, error) {
			ip := p[0].(string)
			var nets []string
			switch l := p[1].(type) {
			case []string:
				nets = l
			case []any:
				for _, v := range l {
					s, ok := v.(string)
					if !ok {
						return false, fmt.Errorf("in_cidrs: list holds %T, want strings", v)
					}
					nets = append(nets, s)
				}
			}
			for _, n := range nets {
				if ok, err := f.cidr(ip, n); err != nil || ok {
					return ok, err
				}
			}
			return false, nil
		}, new(func(ip string, networks []string) bool), new(func(ip string, networks []any) bool)),
		expr.Function("hour", func(p ...any) (any, error) {
			l, err := f.zone(p[1].(string))
			if err != nil {
				return 0, err
			}
			return p[0].(time.Time).In(l).Hour(), nil
		}, new(func(t time.Time, zone string) int)),
		expr.Function("weekday", func(p ...any) (any, error) {
			l, err := f.zone(p[1].(string))
			if err != nil {
				return "", err
			}
			return p[0].(time.Time).In(l).Weekday().String(), nil
		}, new(func(t time.Time, zone string) string)),
	}
}
