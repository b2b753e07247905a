//go:build kervi_nonodes

package kervi_test

import (
	"context"
	"strings"
	"testing"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/ipc"
)

// TestBuiltWithoutNodes: a program built with the tag kervi_nonodes runs on
// one machine, and says why it cannot run on several.
func TestBuiltWithoutNodes(t *testing.T) {
	mods := []kervi.Module{{Name: "m", Setup: func(context.Context, *ipc.Bus) error { return nil }}}
	app, err := kervi.NewApplication(mods, kervi.WithName("nonodes"), kervi.WithNodes(map[string][]string{"pi1": {"m"}}),
		kervi.WithNodeDir(t.TempDir()), kervi.InProcess())
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "kervi_nonodes") {
		t.Fatalf("Run: %v", err)
	}
}
