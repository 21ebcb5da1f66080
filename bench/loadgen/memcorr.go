package main

import (
	"context"
	"os"
	"path/filepath"
)

// Memory per correlation key (docs/rules.md, Distinct counts, First-seen
// values, Sequences): the memory scenario's rounds on an alerter of its
// own, whose rules keep for each new actor's "Global setting changed" a
// partial chain of a sequence, a remembered value and a distinct
// threshold's window entry, three keys, none of which alerts yet. A
// stateless rule alerts once on each event of both rounds, so that the
// events and alerts cancel out as in the memory scenario, and what is
// left is the keys.

// corrMemRules are the rules of the memory-correlation scenario.
const corrMemRules = `lists:
  admins: [jdoe, mchen]
macros:
  setting: >-
    event.category == "Soteri Security for Confluence" && event.action == "Global setting changed"
    && !(event.actor.name in lists.admins)
rules:
  - id: custom-rule-created
    severity: low
    when: >-
      event.category == "Soteri Security for Confluence" && event.action == "Custom scanning rule created"
      && !(event.actor.name in lists.admins)
  - id: setting-changed
    severity: low
    when: setting
  - id: setting-then-export
    severity: high
    sequence:
      by: [event.actor.id]
      within: 30m
      steps:
        - {name: setting, when: setting}
        - {name: export, when: 'event.action == "Findings exported"'}
  - id: setting-from-new-address
    severity: medium
    when: setting
    new_value: {of: [event.ip], by: [event.actor.id], history: 30d, learning: 7d}
  - id: settings-from-many-addresses
    severity: medium
    when: setting
    threshold: {count: 5, within: 1h, by: [event.actor.id], distinct: [event.ip]}
`

var correlationKeys = memoryKind{scenario: "memory-correlation", key: "correlation (partial chain, remembered value, distinct entry)",
	what: "each a new partial chain, remembered value and distinct entry", perEvent: 3}

func (r *runner) memoryCorrelation(ctx context.Context) error {
	return r.memoryOf(ctx, correlationKeys)
}

// writeRules writes src as the one rule file of a new directory under the
// system's temporary one, for a harness of its own, and returns its path.
func writeRules(src string) (string, error) {
	dir, err := os.MkdirTemp("", "loadgen-rules-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(src), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}
