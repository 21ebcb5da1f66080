package event

import "fmt"

// RawJSON returns the original JSON object of the event: a part of the payload
// given to Parse, which must not be modified. For an event in the normalized
// shape that carries the raw payload of one of our own events (a replay), it is
// that payload. It is nil for an event that did not come from Parse.
func (e *Event) RawJSON() []byte {
	return e.rawJSON
}

// LoadRaw fills e.Raw from the raw JSON if e.Raw is nil. Parse leaves Raw nil
// because most events are never asked for it; call LoadRaw before anything
// reads event.raw or encodes the event where raw is wanted (an alert). It is
// not safe to call concurrently on one event.
func (e *Event) LoadRaw() error {
	if e.Raw != nil || len(e.rawJSON) == 0 {
		return nil
	}
	var raw map[string]any
	if err := unmarshal(e.rawJSON, &raw); err != nil {
		return fmt.Errorf("event %s: decoding its raw JSON: %w", e.ID, err)
	}
	e.Raw = raw
	return nil
}
