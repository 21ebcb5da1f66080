package engine

import (
	"fmt"
	"math/bits"
	"reflect"
	"slices"

	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"

	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// expr reads a field such as event.action by walking the environment by
// reflection and boxing the value into a fresh interface, an allocation
// for a string, every time a program reads it; over the candidate rules of
// an event that adds up to most of what the programs cost (conditions the
// engine evaluates itself, see direct.go, do not run in expr at all). So
// the engine runs a copy of each program whose reads of event fields go to
// the slots of an evalEnv instead: each slot holds the value expr would
// have read, boxed once per event when the first program that reads it
// runs. The bytecode is the original; only the field paths of its loads
// differ, so programs behave exactly as compiled.
//
// This depends on how expr's VM reads its environment (the opcodes that
// load from it and the runtime.Field they load), which is expr's internal
// business and may change in any release. TestSlotsPinExprVersion fails
// when go.mod moves to another expr, so that rewrite is re-checked against
// the new opcodes before the upgrade ships, and WithoutSlots turns the
// rewriting off to rule it out when a rule misbehaves.

// WithoutSlots makes the engine run the compiled programs unchanged,
// reading event fields the way expr does. Results are the same (tests
// compare the two); only the cost differs (docs/benchmarks.md).
func WithoutSlots() Option { return func(e *Engine) { e.noSlots = true } }

// slotCount is how many distinct event fields a rule set can have in
// slots; the rest are read the usual way.
const slotCount = 32

// evalEnv is what rewritten programs run against. Reads of anything but
// the slotted event fields go through the embedded rule environment.
type evalEnv struct {
	*rules.Env
	S0, S1, S2, S3, S4, S5, S6, S7, S8, S9, S10, S11, S12, S13, S14, S15           any
	S16, S17, S18, S19, S20, S21, S22, S23, S24, S25, S26, S27, S28, S29, S30, S31 any
}

// program is a compiled expression as the engine runs it.
type program struct {
	prog *vm.Program
	// fast is set when prog reads slots and must run against an evalEnv;
	// need has a bit for each slot it reads.
	fast bool
	need uint32
	// field, if set, reads the program's value directly: the program is a
	// plain string field of the event (snapshot.valuePrograms).
	field func(*event.Event) string
}

// slotPlan assigns event fields to slots for one rule set.
type slotPlan struct {
	// paths are the field index paths, within event.Event, of the fields
	// in each slot.
	paths [][]int
	slot  map[string]int // key(index path within rules.Env) -> slot
	// ok is false when rules.Env has no event field to slot, or no
	// evalEnv slot layout the plan can rely on.
	ok bool
}

// newSlotPlan gives slots to the event fields the programs read most
// often, counting each program once per field.
func newSlotPlan(progs []*vm.Program) slotPlan {
	plan := slotPlan{slot: map[string]int{}}
	evIdx, ok := envEventIndex()
	if !ok || !slotsLaidOut() {
		return plan
	}
	plan.ok = true
	uses := map[string]int{}
	var order []string
	paths := map[string][]int{}
	for _, p := range progs {
		seen := map[string]bool{}
		for _, f := range loadFields(p) {
			k := key(f.Index)
			if seen[k] || !slottable(f.Index, evIdx) {
				continue
			}
			seen[k] = true
			if uses[k] == 0 {
				order = append(order, k)
				paths[k] = f.Index[1:]
			}
			uses[k]++
		}
	}
	// Stable, so equal counts keep the order of first use and the plan
	// does not change from one load of the same rules to the next.
	slices.SortStableFunc(order, func(a, b string) int { return uses[b] - uses[a] })
	for i, k := range order[:min(len(order), slotCount)] {
		plan.slot[k] = i
		plan.paths = append(plan.paths, paths[k])
	}
	return plan
}

// rewrite returns how to run p under the plan: a copy reading slots, or p
// itself when it reads none or reads the environment in a way the copy
// could not redirect.
func (plan *slotPlan) rewrite(p *vm.Program) program {
	if p == nil || !plan.ok {
		return program{prog: p}
	}
	var need uint32
	args := slices.Clone(p.Arguments)
	consts := slices.Clone(p.Constants)
	for ip, op := range p.Bytecode {
		switch op {
		case vm.OpLoadField:
			f, ok := p.Constants[p.Arguments[ip]].(*runtime.Field)
			if !ok {
				return program{prog: p}
			}
			nf := &runtime.Field{Path: f.Path}
			if s, ok := plan.slot[key(f.Index)]; ok {
				nf.Index = []int{1 + s}
				need |= 1 << s
			} else {
				nf.Index = append([]int{0}, f.Index...)
			}
			args[ip] = len(consts)
			consts = append(consts, nf)
		case vm.OpLoadConst, vm.OpLoadFast, vm.OpLoadMethod, vm.OpLoadEnv:
			// These address the environment by name or as a whole, which
			// an evalEnv would answer differently.
			return program{prog: p}
		}
	}
	if need == 0 {
		return program{prog: p}
	}
	cp := *p
	cp.Arguments, cp.Constants = args, consts
	return program{prog: &cp, fast: true, need: need}
}

// loadFields lists the fields p loads from its environment.
func loadFields(p *vm.Program) []*runtime.Field {
	if p == nil {
		return nil
	}
	var out []*runtime.Field
	for ip, op := range p.Bytecode {
		if op != vm.OpLoadField {
			continue
		}
		if f, ok := p.Constants[p.Arguments[ip]].(*runtime.Field); ok {
			out = append(out, f)
		}
	}
	return out
}

func key(index []int) string { return fmt.Sprint(index) }

// envEventIndex is the index of the event in rules.Env.
func envEventIndex() (int, bool) {
	t := reflect.TypeFor[rules.Env]()
	for i := range t.NumField() {
		if t.Field(i).Type == reflect.TypeFor[*event.Event]() {
			return i, true
		}
	}
	return 0, false
}

// slotsLaidOut checks the layout rewrite relies on: the rule environment
// first, then the slots.
func slotsLaidOut() bool {
	t := reflect.TypeFor[evalEnv]()
	if t.NumField() != 1+slotCount || !t.Field(0).Anonymous || t.Field(0).Type != reflect.TypeFor[*rules.Env]() {
		return false
	}
	for i := 1; i <= slotCount; i++ {
		if f := t.Field(i); !f.IsExported() || f.Type != reflect.TypeFor[any]() {
			return false
		}
	}
	return true
}

// slottable reports whether index, a path within rules.Env, names a field
// of the event reached through structs alone, which reading by reflection
// cannot fail on.
func slottable(index []int, evIdx int) bool {
	if len(index) < 2 || index[0] != evIdx {
		return false
	}
	t := reflect.TypeFor[event.Event]()
	for i, x := range index[1:] {
		if t.Kind() != reflect.Struct || x < 0 || x >= t.NumField() {
			return false
		}
		f := t.Field(x)
		if !f.IsExported() {
			return false
		}
		if i < len(index)-2 {
			t = f.Type
		}
	}
	return true
}

// slotPointers returns where each slot of env is.
func slotPointers(env *evalEnv) [slotCount]*any {
	var out [slotCount]*any
	v := reflect.ValueOf(env).Elem()
	for i := range out {
		out[i] = v.Field(1 + i).Addr().Interface().(*any)
	}
	return out
}

// fill boxes into the worker's slots the fields in missing for ev.
func (w *worker) fill(plan *slotPlan, ev *event.Event, missing uint32) {
	v := reflect.ValueOf(ev).Elem()
	w.filled |= missing
	for missing != 0 {
		i := bits.TrailingZeros32(missing)
		missing &^= 1 << i
		*w.slots[i] = v.FieldByIndex(plan.paths[i]).Interface()
	}
}

// clearSlots drops the event's values, which the pooled worker must not
// keep alive.
func (w *worker) clearSlots() {
	for f := w.filled; f != 0; f &= f - 1 {
		*w.slots[bits.TrailingZeros32(f)] = nil
	}
	w.filled = 0
}
