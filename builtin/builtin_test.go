package builtin_test

import (
	"testing"

	"github.com/alerter/alerter/builtin"
	"github.com/alerter/alerter/notifiers/notifiertest"
)

// TestNotifiers checks every built-in notifier type as a plug-in: adding a
// type to Notifiers adds it here.
func TestNotifiers(t *testing.T) {
	notifiertest.Plugins(t, builtin.Notifiers())
}
