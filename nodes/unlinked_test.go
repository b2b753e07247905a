package nodes_test

import (
	"context"
	"strings"
	"testing"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/ipc"
)

// TestNodesNeedNATSLinked: this test binary does not import
// github.com/kervi/kervi-go/nodes/nats, as a program on one machine would
// not: an application on several nodes is refused with an error that says
// what to import, and one without nodes runs.
func TestNodesNeedNATSLinked(t *testing.T) {
	mods := []kervi.Module{{Name: "m", Setup: func(context.Context, *ipc.Bus) error { return nil }}}
	_, err := kervi.NewApplication(mods, kervi.WithName("greenhouse"), kervi.WithNodes(map[string][]string{"pi1": {"m"}}))
	if err == nil || !strings.Contains(err.Error(), `import _ "github.com/kervi/kervi-go/nodes/nats"`) {
		t.Fatalf("WithNodes without NATS linked: %v", err)
	}
	if _, err := kervi.NewApplication(mods, kervi.WithName("greenhouse"), kervi.InProcess()); err != nil {
		t.Fatalf("one machine without NATS linked: %v", err)
	}
}
