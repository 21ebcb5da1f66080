package engine

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// The engine's shortcuts (direct conditions, slots) must give what expr
// gives for the same compiled rule. These tests run both on the same rules
// and events.

// genCond writes a random condition from the constructs direct takes.
func genCond(rng *rand.Rand, depth int) string {
	fields := []string{"event.action", "event.action_key", "event.actor.name", "event.category", "event.ip"}
	vals := []string{`""`, `"a"`, `"b"`}
	f := func() string { return fields[rng.IntN(len(fields))] }
	v := func() string { return vals[rng.IntN(len(vals))] }
	if depth > 0 && rng.IntN(3) > 0 {
		l, r := genCond(rng, depth-1), genCond(rng, depth-1)
		switch rng.IntN(5) {
		case 0:
			return "(" + l + " && " + r + ")"
		case 1:
			return "(" + l + " || " + r + ")"
		case 2:
			return "(" + l + " and " + r + ")"
		case 3:
			return "(" + l + " or " + r + ")"
		default:
			return "!(" + l + ")"
		}
	}
	switch rng.IntN(10) {
	case 0:
		return f() + " == " + v()
	case 1:
		return v() + " == " + f()
	case 2:
		return f() + " != " + v()
	case 3:
		return f() + " == " + f()
	case 4:
		return f() + " in [" + v() + ", " + v() + "]"
	case 5:
		// More than direct keeps in a slice.
		return f() + ` in ["c", "d", "e", "f", "g", "h", "i", "j", "k", ` + v() + "]"
	case 6:
		return f() + " in lists.l" + fmt.Sprint(rng.IntN(2))
	case 7:
		return "not (" + f() + " in lists.l1)"
	case 8:
		return []string{"true", "false"}[rng.IntN(2)]
	}
	return f() + ` not in ["a"]`
}

func randomEvent(rng *rand.Rand, i int) *event.Event {
	vals := []string{"", "a", "b", "c"}
	v := func() string { return vals[rng.IntN(len(vals))] }
	x := &event.Event{ID: fmt.Sprint(i), Action: v(), ActionKey: v(), Category: v(), IP: v()}
	x.Actor.Name = v()
	return x
}

func TestDirectAgreesWithExpr(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var src strings.Builder
	src.WriteString("lists: {l0: [a, c], l1: [\"\", b]}\nrules:\n")
	for i := range 300 {
		fmt.Fprintf(&src, "  - {id: r%d, severity: low, when: '%s'}\n", i, genCond(rng, 3))
	}
	set := compile(t, src.String())
	listSets := []map[string][]string{set.Lists, {"l0": {"b"}}, nil}
	for _, r := range set.Rules {
		d, ok := compileDirect(r.When.Program.Node())
		if !ok {
			t.Fatalf("%s: not evaluated directly: %s", r.ID, r.When.Source)
		}
		for i := range 50 {
			x := randomEvent(rng, i)
			lists := listSets[i%len(listSets)]
			env := rules.NewEnv(lists)
			env.Event = x
			want, err := vm.Run(r.When.Program, env)
			if err != nil {
				t.Fatalf("%s: expr: %v", r.When.Source, err)
			}
			if got := d(x, lists); got != want {
				t.Fatalf("%s on %+v with lists %v: direct %v, expr %v", r.When.Source, x, lists, got, want)
			}
		}
	}
}

func TestDirectLeavesTheRestToExpr(t *testing.T) {
	for _, c := range []string{
		`event.action startsWith "a"`, `event.action == "a" && event.actor.sysadmin`,
		`event.actor?.name == "a"`, `len(event.action) > 0`, `event.action in event.actor.groups`,
		`any(event.objects, .name == "a")`, `changed("x")`, `event.action + "x" == "ax"`,
		`event.action == "a" && cidr(event.ip, "10.0.0.0/8")`, `event.time.Year() == 2024`,
	} {
		set := compile(t, fmt.Sprintf("rules: [{id: r, severity: low, when: '%s'}]\n", c))
		if _, ok := compileDirect(set.Rules[0].When.Program.Node()); ok {
			t.Errorf("%s: evaluated directly", c)
		}
	}
}

// Each entry of stringFields must read the field expr reads by that name.
func TestStringFieldsReadWhatExprReads(t *testing.T) {
	var x event.Event
	fillStrings(reflect.ValueOf(&x).Elem(), "")
	for name, get := range stringFields {
		set := compile(t, fmt.Sprintf("rules: [{id: r, severity: low, when: 'true', dedup: {by: [event.%s], window: 1m}}]\n", name))
		env := rules.NewEnv(nil)
		env.Event = &x
		want, err := vm.Run(set.Rules[0].GroupBy[0].Program, env)
		if err != nil {
			t.Fatal(err)
		}
		if got := get(&x); got != want {
			t.Errorf("stringFields[%q] reads %q, expr reads %q", name, got, want)
		}
	}
}

// fillStrings gives every string field a value of its own.
func fillStrings(v reflect.Value, prefix string) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(prefix + v.Type().Field(i).Name)
		case reflect.Struct:
			if v.Type().Field(i).IsExported() {
				fillStrings(f, prefix+v.Type().Field(i).Name+".")
			}
		}
	}
}

// The programs evaluate runs, with their event reads redirected to slots,
// must give what the compiled programs give, values and errors alike, on
// the example rules and their own test events.
func TestSlotProgramsAgreeWithExpr(t *testing.T) {
	set, err := rules.Load([]string{"../examples/rules"}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	for _, r := range set.Rules {
		for _, tc := range r.Tests {
			for _, data := range tc.Events {
				parsed, err := event.Parse(data, event.Options{})
				if err != nil {
					t.Fatalf("%s: %s: %v", r.ID, tc.Name, err)
				}
				for i := range parsed {
					evs = append(evs, &parsed[i])
				}
			}
		}
	}
	e := New(set, &MemStore{})
	s := e.snap.Load()
	rewritten := 0
	for i, r := range s.rules {
		progs := []program{s.when[i]}
		orig := []*vm.Program{r.When.Program}
		for j, g := range r.GroupBy {
			progs = append(progs, s.groupBy[i][j])
			orig = append(orig, g.Program)
		}
		for k, p := range progs {
			if p.fast {
				rewritten++
			}
			for _, x := range evs {
				if err := x.LoadRaw(); err != nil {
					t.Fatal(err)
				}
				env := rules.NewEnv(set.Lists)
				env.Event = x
				want, werr := vm.Run(orig[k], env)
				w := e.getWorker(s, nil)
				w.env.Event = x
				got, gerr := w.runFor(s, x, p)
				e.putWorker(w)
				if !reflect.DeepEqual(got, want) || (gerr == nil) != (werr == nil) {
					t.Fatalf("%s program %d on %s: slots give %v, %v; expr gives %v, %v", r.ID, k, x.ID, got, gerr, want, werr)
				}
			}
		}
	}
	if rewritten == 0 {
		t.Fatal("no program reads slots")
	}
}

// A rule filed under two fields is a candidate once, in rule-set order.
func TestCandidatesAreUniqueAndOrdered(t *testing.T) {
	set := compile(t, `
rules:
  - {id: both, severity: low, when: 'event.action_key == "k" || event.action == "a"'}
  - {id: always, severity: low, when: 'event.ip != ""'}
  - {id: key, severity: low, when: 'event.action_key in ["k", "j"]'}
  - {id: fallback, severity: low, when: 'event.action_key == "k" || (event.action_key == "" && event.action == "a")'}
`)
	s := newSnapshot(set, map[string]*RuleStats{}, true, true)
	if len(s.always) != 1 || s.rules[s.always[0]].ID != "always" {
		t.Fatalf("always: %v", s.always)
	}
	if !s.multi {
		t.Fatal("a rule filed under two fields, not marked")
	}
	// fallback is filed under action = a, not under action_key = "".
	if slices.Contains(s.byField[0].rules[""], 3) {
		t.Fatal("fallback filed under the empty action key")
	}
	x := &event.Event{ActionKey: "k", Action: "a"}
	var got []string
	for _, i := range s.candidates(x, nil) {
		got = append(got, s.rules[i].ID)
	}
	if want := []string{"both", "always", "key", "fallback"}; !slices.Equal(got, want) {
		t.Fatalf("candidates %v, want %v", got, want)
	}
}

// The example rules fall back from i18n keys to English actions with ||;
// every one of them should still reach the index rather than run on every
// event.
func TestExampleRulesAreIndexed(t *testing.T) {
	set, err := rules.Load([]string{"../examples/rules"}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := newSnapshot(set, map[string]*RuleStats{}, true, true)
	for _, i := range s.always {
		t.Errorf("%s runs on every event: %s", s.rules[i].ID, s.rules[i].When.Source)
	}
}
