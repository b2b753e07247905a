package ipc_test

import (
	"strings"
	"testing"

	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
)

func TestValidateMeta(t *testing.T) {
	for _, k := range []string{"dashboard", "ui.hint", "a", "A_b-c.9", strings.Repeat("k", ipc.MaxMetaKeyLength)} {
		if err := ipc.ValidateMeta(k, "é"); err != nil {
			t.Errorf("key %q: %v", k, err)
		}
	}
	for _, k := range []string{"", "1a", "_a", ".a", "a b", "a/b", "é", "a\x00", strings.Repeat("k", ipc.MaxMetaKeyLength+1)} {
		if err := ipc.ValidateMeta(k, "v"); err == nil || !strings.Contains(err.Error(), "metadata key") {
			t.Errorf("key %q: error %v", k, err)
		}
	}
	if err := ipc.ValidateMeta("k", "\xff"); err == nil || !strings.Contains(err.Error(), `metadata "k"`) {
		t.Errorf("invalid UTF-8 value: error %v", err)
	}
}

// Announce refuses a description whose metadata has an invalid key.
func TestAnnounceMetaKey(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	bus, err := h.Connect("m")
	if err != nil {
		t.Fatal(err)
	}
	err = bus.Announce(ipc.Description{ID: "s", Kind: ipc.KindSensor, Meta: map[string]string{"bad key": "v"}})
	if err == nil || !strings.Contains(err.Error(), `"s"`) || !strings.Contains(err.Error(), `"bad key"`) {
		t.Fatalf("error %v; want one naming the sensor and the key", err)
	}
}
