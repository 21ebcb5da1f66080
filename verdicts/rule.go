package verdicts

import (
	"errors"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Extend returns a rule's YAML (one rule, as rules.Rule.Source has it) with
// its when: condition extended by && cond, the rest as it was, comments
// included. A rule without a top-level when: (a sequence, whose steps
// have their own) is not extended.
func Extend(source, cond string) (string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(source), &doc); err != nil {
		return "", err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", errors.New("the rule is not a mapping")
	}
	m := doc.Content[0]
	var when *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "when" {
			when = m.Content[i+1]
		}
	}
	if when == nil || when.Kind != yaml.ScalarNode || strings.TrimSpace(when.Value) == "" {
		return "", errors.New("the rule has no when: condition")
	}
	when.Value = "(" + strings.TrimSpace(when.Value) + ") && " + cond
	if when.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		// The emitter quotes it if plain text cannot hold it.
		when.Style = 0
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}
