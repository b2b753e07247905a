package system

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/net"

	"github.com/kervi/kervi-go/sensors"
)

// read reads d and checks the reading against d's description.
func read(t *testing.T, d sensors.Driver) []float64 {
	t.Helper()
	desc := d.Describe()
	dst := make([]float64, desc.Len())
	for i := range dst {
		dst[i] = math.NaN()
	}
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	for i, x := range dst {
		dim := desc.Dimension(i)
		if math.IsNaN(x) || dim.Min != nil && x < *dim.Min || dim.Max != nil && x > *dim.Max {
			t.Fatalf("%T: reading %d (%s) = %v outside its range %v..%v", d, i, dim.Label, x, dim.Min, dim.Max)
		}
	}
	return dst
}

func TestCPUCores(t *testing.T) {
	c, err := NewCPUCores(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	desc := c.Describe()
	if desc.Len() != c.n+1 || desc.Dimensions[0].Label != "total" || desc.Dimensions[1].Label != "core0" || desc.Unit != "%" {
		t.Fatalf("description %+v", desc)
	}
	if c.n < 1 || c.n > 4*runtime.NumCPU()+64 {
		t.Fatalf("%d cores, runtime says %d", c.n, runtime.NumCPU())
	}
	for range 2 {
		// The total is a mean of the cores: within their range.
		r := read(t, c)
		lo, hi := slices.Min(r[1:]), slices.Max(r[1:])
		if r[0] < lo-1e-9 || r[0] > hi+1e-9 {
			t.Fatalf("total %v outside the cores' range %v..%v (%v)", r[0], lo, hi, r[1:])
		}
	}
	if err := c.Read(context.Background(), make([]float64, 1)); err == nil {
		t.Fatal("a reading of the wrong length")
	}
}

func TestCPUTemperatureOnThisMachine(t *testing.T) {
	c, err := NewCPUTemperature()
	if errors.Is(err, ErrNotAvailable) {
		t.Logf("no CPU temperature here: %v", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Describe(); d.Unit != "°C" {
		t.Fatalf("unit %q", d.Unit)
	}
	read(t, c)
}

func TestCPUTemperatureZones(t *testing.T) {
	root := t.TempDir()
	zone := func(n, kind, temp string) {
		dir := filepath.Join(root, "thermal_zone"+n)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "type"), []byte(kind+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "temp"), []byte(temp+"\n"), 0o644)
	}
	_, err := newCPUTemperature(root)
	if !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("no zones: %v", err)
	}
	zone("0", "acpitz", "27800")
	zone("1", "cpu-thermal", "48312") // as on a Raspberry Pi
	c, err := newCPUTemperature(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, kind := c.Zone(); kind != "cpu-thermal" {
		t.Fatalf("zone %q, want the CPU's", kind)
	}
	if got := read(t, c); got[0] != 48.312 {
		t.Fatalf("read %v °C, want 48.312", got[0])
	}
	zone("1", "cpu-thermal", "warm")
	if err := c.Read(context.Background(), make([]float64, 1)); err == nil {
		t.Fatal("a bad temperature file was read")
	}
}

func TestNetThroughput(t *testing.T) {
	// This machine's loopback (every Linux box has one).
	lo := NewNetThroughput("lo")
	if d := lo.Describe(); d.Unit != "B/s" || d.Len() != 2 || d.Dimensions[0].Label != "in" || *d.Min != 0 {
		t.Fatalf("description %+v", d)
	}
	read(t, lo)
	read(t, lo)
	err := NewNetThroughput("nosuch0").Read(context.Background(), make([]float64, 2))
	if !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("unknown interface: %v", err)
	}

	// Scripted counters and clock: 1000 B in and 500 B out in 2 s.
	n := NewNetThroughput("eth9")
	n.max = new(125e6) // 1 Gb/s
	now := time.Unix(1000, 0)
	rx, tx := uint64(10000), uint64(20000)
	n.now = func() time.Time { return now }
	n.counters = func(context.Context) ([]net.IOCountersStat, error) {
		return []net.IOCountersStat{{Name: "lo"}, {Name: "eth9", BytesRecv: rx, BytesSent: tx}}, nil
	}
	if got := read(t, n); got[0] != 0 || got[1] != 0 {
		t.Fatalf("first read %v, want 0", got)
	}
	now, rx, tx = now.Add(2*time.Second), rx+1000, tx+500
	if got := read(t, n); got[0] != 500 || got[1] != 250 {
		t.Fatalf("read %v B/s, want [500 250]", got)
	}
	now, rx = now.Add(time.Second), rx+1e9 // more than the link can carry
	if got := read(t, n); got[0] != 125e6 {
		t.Fatalf("read %v, want it capped at the link's speed", got)
	}
	rx = 0 // counters reset
	now = now.Add(time.Second)
	if got := read(t, n); got[0] != 0 {
		t.Fatalf("read %v after a reset", got)
	}
}

func TestLoadAverageAndUptime(t *testing.T) {
	l := NewLoadAverage()
	if d := l.Describe(); d.Len() != 3 || d.Dimensions[2].Label != "15m" {
		t.Fatalf("description %+v", d)
	}
	read(t, l)
	u := NewUptime()
	if d := u.Describe(); d.Unit != "s" {
		t.Fatalf("unit %q", d.Unit)
	}
	if got := read(t, u); got[0] <= 0 || got[0] > 100*365*24*3600 {
		t.Fatalf("uptime %v s", got[0])
	}
}
