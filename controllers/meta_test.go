package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
)

func TestMeta(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	if _, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
		controllers.New(bus, "fan", "Fan", nil, controllers.Meta("dashboard", `[{"panel":"p"}]`))
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
	d, err := obs.Describe(ctx, "fan")
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != ipc.KindController || d.Meta["dashboard"] != `[{"panel":"p"}]` || len(d.Meta) != 1 {
		t.Errorf("entry %+v", d)
	}
}

func TestMetaInvalid(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	var c *controllers.Controller
	_, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
		c = controllers.New(bus, "fan", "Fan", nil, controllers.Meta("dashboard", "\xff"))
		c.Inputs().Number("temp", "Temperature") // does nothing, and hides no error
		return nil
	})
	if err == nil {
		t.Fatal("the setup succeeded")
	}
	for _, s := range []string{`"fan"`, `"dashboard"`, "UTF-8"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	if c.Err() == nil {
		t.Error("the controller has no error")
	}
}
