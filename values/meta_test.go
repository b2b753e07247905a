package values_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

// entry returns the catalogue's entry id, as bus sees it.
func entry(t *testing.T, bus *ipc.Bus, id string) ipc.Description {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cat, err := bus.Catalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cat {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("no entry %q in the catalogue", id)
	return ipc.Description{}
}

func TestMeta(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	_, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
		values.NewNumber(bus, "n", "N", values.Meta("dashboard", `[{"panel":"p"}]`), values.Meta("ui.hint", "a"),
			values.Meta("ui.hint", "b"))
		values.NewBool(bus, "b", "B", values.Meta("dashboard", "x"))
		values.NewString(bus, "s", "S", values.Meta("note", "é"))
		values.NewEnum(bus, "e", "E", values.Choices("a"), values.Meta("note", "e"))
		values.NewDateTime(bus, "d", "D", values.Meta("note", "d"))
		values.NewColor(bus, "c", "C", values.Meta("note", "c"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := h.Module("obs", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"n": {"dashboard": `[{"panel":"p"}]`, "ui.hint": "b"},
		"b": {"dashboard": "x"},
		"s": {"note": "é"}, "e": {"note": "e"}, "d": {"note": "d"}, "c": {"note": "c"},
	}
	for id, w := range want {
		got := entry(t, obs, id).Meta
		if len(got) != len(w) {
			t.Errorf("%s: meta %v; want %v", id, got, w)
		}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("%s: meta %v; want %v", id, got, w)
			}
		}
	}
}

func TestMetaInvalid(t *testing.T) {
	for _, tc := range []struct{ name, key, value, want string }{
		{"empty key", "", "v", `metadata key ""`},
		{"digit first", "1dash", "v", `metadata key "1dash"`},
		{"space", "dash board", "v", `metadata key "dash board"`},
		{"non-ASCII", "tableau_é", "v", `metadata key "tableau_é"`},
		{"long key", strings.Repeat("k", ipc.MaxMetaKeyLength+1), "v", `metadata key "kkk`},
		{"bad UTF-8", "dashboard", "\xfe", `metadata "dashboard"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := ipctest.New()
			defer h.Close()
			var v *values.Number
			_, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
				v = values.NewNumber(bus, "fan.speed", "Speed", values.Meta(tc.key, tc.value))
				values.NewNumber(bus, "other", "Other") // a later value does not hide the error
				return nil
			})
			if err == nil {
				t.Fatal("the setup succeeded")
			}
			for _, s := range []string{`"fan.speed"`, tc.want} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			if v.Err() == nil {
				t.Error("the value has no error")
			}
			if err := v.Set(1); err == nil {
				t.Error("a value whose creation failed was set")
			}
		})
	}
}

// A value too large with its metadata fails its creation with ErrTooLarge.
func TestMetaTooLarge(t *testing.T) {
	h := ipctest.New(ipctest.WithLimits(ipc.Limits{MaxMessageSize: 1024}))
	defer h.Close()
	_, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
		values.NewNumber(bus, "big", "Big", values.Meta("dashboard", strings.Repeat("x", 2048)))
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), `"big"`) {
		t.Fatalf("setup error %v; want one naming \"big\"", err)
	}
	if !errors.Is(err, ipc.ErrTooLarge) {
		t.Errorf("error %v does not match ipc.ErrTooLarge", err)
	}
}
