package actions_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
)

func TestMeta(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	if _, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
		actions.Register(bus, "fan.boost", func() error { return nil },
			actions.Meta("dashboard", `[{"panel":"p"}]`), actions.Meta("note", "n"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	obs, err := h.Module("obs", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := obs.Describe(ctx, "fan.boost")
	if err != nil {
		t.Fatal(err)
	}
	if d.Meta["dashboard"] != `[{"panel":"p"}]` || d.Meta["note"] != "n" || len(d.Meta) != 2 {
		t.Errorf("meta %v", d.Meta)
	}
}

func TestMetaInvalid(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	var a *actions.Action
	_, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
		a = actions.Register(bus, "fan.boost", func() error { return nil }, actions.Meta("bad key", "v"))
		return nil
	})
	if err == nil {
		t.Fatal("the setup succeeded")
	}
	for _, s := range []string{`"fan.boost"`, `"bad key"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	if a.Err() == nil {
		t.Error("the action has no error")
	}
}
