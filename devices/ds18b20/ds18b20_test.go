package ds18b20_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/onewire/onewiretest"

	"github.com/kervi/kervi-go/devices/ds18b20"
)

const addr onewire.Address = 0x740000070e41ac28 // family 0x28

// matchROM returns the "match ROM" prefix periph writes before a command
// to the chip at a.
func matchROM(a onewire.Address, cmd ...byte) []byte {
	w := []byte{0x55}
	for i := range 8 {
		w = append(w, byte(a>>(8*i)))
	}
	return append(w, cmd...)
}

// scratchpad returns the chip's 9-byte scratchpad holding the raw
// temperature t, at 9 bits of resolution, with its CRC.
func scratchpad(t uint16) []byte {
	s := []byte{byte(t), byte(t >> 8), 0x4b, 0x46, 0x1f, 0xff, 0x0c, 0x10}
	return append(s, onewire.CalcCRC(s))
}

func openOps(t uint16) []onewiretest.IO {
	return []onewiretest.IO{{W: matchROM(addr, 0xbe), R: scratchpad(t), Pull: onewire.WeakPullup}}
}

func readOps(t uint16) []onewiretest.IO {
	return []onewiretest.IO{
		{W: matchROM(addr, 0x44), Pull: onewire.StrongPullup},
		{W: matchROM(addr, 0xbe), R: scratchpad(t), Pull: onewire.WeakPullup},
	}
}

// TestDatasheetTable reads the rows of the datasheet's "Temperature/Data
// Relationship" table (Table 1) through a scripted bus.
func TestDatasheetTable(t *testing.T) {
	table := []struct {
		raw uint16
		c   float64
	}{
		{0x07D0, 125}, {0x0191, 25.0625}, {0x00A2, 10.125}, {0x0008, 0.5}, {0x0000, 0},
		{0xFFF8, -0.5}, {0xFF5E, -10.125}, {0xFE6F, -25.0625}, {0xFC90, -55},
	}
	ops := openOps(0)
	for _, r := range table {
		ops = append(ops, readOps(r.raw)...)
	}
	bus := &onewiretest.Playback{Ops: ops}
	d, err := ds18b20.Open(bus, addr, ds18b20.Resolution(9))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float64, 1)
	for _, r := range table {
		if err := d.Read(context.Background(), dst); err != nil {
			t.Fatal(err)
		}
		if dst[0] != r.c {
			t.Errorf("raw %#04x read as %v °C, want %v", r.raw, dst[0], r.c)
		}
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

func TestNoDevice(t *testing.T) {
	ff := make([]byte, 9)
	for i := range ff {
		ff[i] = 0xff
	}
	bus := &onewiretest.Playback{Ops: []onewiretest.IO{{W: matchROM(addr, 0xbe), R: ff, Pull: onewire.WeakPullup}}}
	_, err := ds18b20.Open(bus, addr, ds18b20.Resolution(9))
	if err == nil || !strings.Contains(err.Error(), "did not respond") || !strings.Contains(err.Error(), `ds18b20 on 1-wire bus "playback" at address 0x740000070e41ac28`) {
		t.Errorf("Open of a missing chip: %v, want an error naming bus and address", err)
	}
}

func TestWrongFamily(t *testing.T) {
	bus := &onewiretest.Playback{}
	_, err := ds18b20.Open(bus, 0x740000070e41ac3b, ds18b20.Resolution(9))
	if err == nil || !strings.Contains(err.Error(), "family code 0x3b") {
		t.Errorf("Open of a chip of family 0x3b: %v", err)
	}
}

func TestBusErrorMidRead(t *testing.T) {
	ops := append(openOps(0), readOps(0x0191)[0]) // the scratchpad read is missing
	bus := &onewiretest.Playback{Ops: ops, DontPanic: true}
	d, err := ds18b20.Open(bus, addr, ds18b20.Resolution(9))
	if err != nil {
		t.Fatal(err)
	}
	err = d.Read(context.Background(), make([]float64, 1))
	if err == nil || !strings.Contains(err.Error(), "read: ") || !strings.Contains(err.Error(), "0x740000070e41ac28") {
		t.Errorf("Read with a bus failing mid-read: %v", err)
	}
}

func TestPowerOnValue(t *testing.T) {
	bus := &onewiretest.Playback{Ops: append(openOps(0), readOps(0x0550)...)}
	d, err := ds18b20.Open(bus, addr, ds18b20.Resolution(9))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Read(context.Background(), make([]float64, 1)); err == nil || !strings.Contains(err.Error(), "pull-up") {
		t.Errorf("Read of the power-on value 85 °C: %v, want an error", err)
	}
}

func writeSlave(t *testing.T, root, id, content string) {
	t.Helper()
	dir := filepath.Join(root, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "w1_slave"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSysfs(t *testing.T) {
	root := t.TempDir()
	const id = "28-0316a2793fff"
	writeSlave(t, root, id, "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n")
	d, err := ds18b20.OpenSysfs(id, ds18b20.SysfsRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float64, 1)
	if err := d.Read(context.Background(), dst); err != nil || dst[0] != 23.125 {
		t.Errorf("Read = %v, %v; want 23.125 °C", dst[0], err)
	}
	for _, c := range []struct{ content, want string }{
		{"72 01 4b 46 7f ff 0e 10 57 : crc=00 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n", "CRC check failed"},
		{"50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n", "power-on value"},
		{"", "1 lines"},
	} {
		writeSlave(t, root, id, c.content)
		err := d.Read(context.Background(), dst)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Join(root, id, "w1_slave")) {
			t.Errorf("Read of %q: %v, want an error with %q naming the file", c.content, err, c.want)
		}
	}
	if err := os.RemoveAll(filepath.Join(root, id)); err != nil {
		t.Fatal(err)
	}
	if err := d.Read(context.Background(), dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read of an unplugged chip: %v, want ErrNotExist", err)
	}
}

func TestSysfsOpenErrors(t *testing.T) {
	root := t.TempDir()
	for _, c := range []struct{ id, want string }{
		{"28-0316a2793fff", "no such 1-wire device"},
		{"3b-0316a2793fff", "family code 0x3b"},
		{"w1_bus_master1", "not a 1-wire id"},
		{"28-../../etc", "not a 1-wire id"},
	} {
		_, err := ds18b20.OpenSysfs(c.id, ds18b20.SysfsRoot(root))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OpenSysfs(%q): %v, want %q", c.id, err, c.want)
		}
	}
	if _, err := ds18b20.OpenSysfs("28-0316a2793fff", ds18b20.Resolution(10)); err == nil {
		t.Error("OpenSysfs with Resolution: no error")
	}
}

func TestFake(t *testing.T) {
	f := ds18b20.Fake()
	d := f.Describe()
	if d.Unit != "°C" || *d.Min != -55 || *d.Max != 125 || d.Len() != 1 {
		t.Errorf("fake description = %+v", d)
	}
	dst := make([]float64, 1)
	if err := f.Read(context.Background(), dst); err != nil || dst[0] < 18 || dst[0] > 24 {
		t.Errorf("fake reading = %v, %v", dst[0], err)
	}
}

func TestSysfsIDs(t *testing.T) {
	root := t.TempDir()
	for _, id := range []string{"28-0316a2793fff", "w1_bus_master1", "10-000802b4d1ee", "3b-000000000001"} {
		if err := os.Mkdir(filepath.Join(root, id), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := ds18b20.SysfsIDs(ds18b20.SysfsRoot(root))
	if err != nil || strings.Join(ids, " ") != "10-000802b4d1ee 28-0316a2793fff" {
		t.Errorf("SysfsIDs = %v, %v", ids, err)
	}
	if ids, err := ds18b20.SysfsIDs(ds18b20.SysfsRoot(filepath.Join(root, "none"))); err != nil || len(ids) != 0 {
		t.Errorf("SysfsIDs without a 1-wire bus = %v, %v; want none", ids, err)
	}
}
