package main

import (
	"fmt"

	"github.com/alerter/alerter/engine"
	"github.com/alerter/alerter/event"
	"github.com/alerter/alerter/rules"
)

// classified are the templates a mixed stream is made of, checked against
// the rules alerter runs.
type classified struct {
	// matching are the fixture templates whose event matches at least one
	// rule (at the time of the run: a few rules look at the hour).
	matching []*template
	// ordinary are the ordinary entities' templates; none matches a rule.
	ordinary []*template
}

// classify evaluates one generated event of each template with the rules
// of rulesPath, statelessly.
func classify(fixtures []map[string]any, rulesPath string) (*classified, error) {
	set, err := rules.Load([]string{rulesPath}, rules.Options{})
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	eng := engine.New(set, &engine.MemStore{})
	matches := func(t *template) (int, error) {
		body, _ := newGenerator([]*template{t}, 0, 1<<40).next(nil)
		evs, err := event.Parse(body, event.Options{Source: webhookSource})
		if err != nil || len(evs) != 1 {
			return 0, fmt.Errorf("parsing a generated %q event: %v", t.action, err)
		}
		m, _ := eng.Evaluate(&evs[0])
		return len(m), nil
	}
	c := &classified{}
	all, err := templates(fixtures, nil)
	if err != nil {
		return nil, err
	}
	for _, t := range all {
		n, err := matches(t)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			c.matching = append(c.matching, t)
		}
	}
	if len(c.matching) == 0 {
		return nil, fmt.Errorf("no fixture event matches a rule of %s", rulesPath)
	}
	if c.ordinary, err = templates(ordinaryEntities(), nil); err != nil {
		return nil, err
	}
	for _, t := range c.ordinary {
		n, err := matches(t)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, fmt.Errorf("the ordinary %q event matches %d rule(s) of %s: it cannot stand for the events no rule is about", t.action, n, rulesPath)
		}
	}
	return c, nil
}

// classified classifies the templates once per run.
func (r *runner) classified() (*classified, error) {
	if r.classes == nil {
		c, err := classify(r.fixtures, r.s.Rules)
		if err != nil {
			return nil, err
		}
		r.classes = c
	}
	return r.classes, nil
}

// batchGenerator is the stream batch sends for a mix: the fixture stream
// as it is, or a fraction of matching fixture events among ordinary ones;
// actors from the pool either way.
func (r *runner) batchGenerator(m mix) (*generator, error) {
	if m.Frac < 0 {
		ts, err := templates(r.fixtures, nil)
		if err != nil {
			return nil, err
		}
		return newGenerator(ts, uint64(r.s.Actors), 0), nil
	}
	c, err := r.classified()
	if err != nil {
		return nil, err
	}
	return newGenerator(c.matching, uint64(r.s.Actors), 0).mixed(c.ordinary, m.Frac), nil
}
