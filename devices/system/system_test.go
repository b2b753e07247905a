package system

import (
	"context"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/kervi/kervi-go/sensors"
)

func readOne(t *testing.T, d sensors.Driver) float64 {
	t.Helper()
	dst := []float64{math.NaN()}
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	if !(dst[0] >= 0 && dst[0] <= 100) {
		t.Fatalf("reading %v outside [0, 100]", dst[0])
	}
	return dst[0]
}

func checkPercent(t *testing.T, d sensors.Driver) {
	t.Helper()
	desc := d.Describe()
	if desc.Unit != "%" || desc.Min == nil || *desc.Min != 0 || desc.Max == nil || *desc.Max != 100 || desc.Len() != 1 {
		t.Fatalf("description %+v", desc)
	}
	if err := d.Read(context.Background(), make([]float64, 2)); err == nil {
		t.Fatal("Read into two numbers succeeded")
	}
}

func TestBusyPercent(t *testing.T) {
	at := func(user, system, idle, iowait, guest float64) cpu.TimesStat {
		return cpu.TimesStat{User: user, System: system, Idle: idle, Iowait: iowait, Guest: guest}
	}
	cases := []struct {
		name      string
		prev, cur cpu.TimesStat
		want      float64
		ok        bool
	}{
		{"since boot", cpu.TimesStat{}, at(30, 10, 50, 10, 0), 40, true},
		{"half busy", at(10, 0, 10, 0, 0), at(15, 0, 15, 0, 0), 50, true},
		{"idle", at(10, 0, 10, 0, 0), at(10, 0, 20, 0, 0), 0, true},
		{"iowait is not busy", at(10, 0, 10, 0, 0), at(10, 0, 10, 10, 0), 0, true},
		{"no time passed", at(10, 0, 10, 0, 0), at(10, 0, 10, 0, 0), 0, false},
		{"counters went back", at(10, 0, 10, 0, 0), at(5, 0, 5, 0, 0), 0, false},
		{"iowait went back", at(10, 0, 10, 10, 0), at(25, 0, 10, 0, 0), 100, true},
	}
	if runtime.GOOS == "linux" {
		// Linux counts guest time in user time: it must not count twice.
		cases = append(cases, struct {
			name      string
			prev, cur cpu.TimesStat
			want      float64
			ok        bool
		}{"guest", at(0, 0, 0, 0, 0), at(10, 0, 10, 0, 10), 50, true})
	}
	for _, c := range cases {
		got, ok := busyPercent(c.prev, c.cur)
		if ok != c.ok || ok && math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: busyPercent = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestCPULoad(t *testing.T) {
	c := NewCPULoad()
	checkPercent(t, c)
	readOne(t, c) // since boot

	// Keep a CPU busy until the kernel has counted 50 ms of busy time
	// more than at the first read.
	busy := func() float64 {
		ts, err := cpu.TimesWithContext(context.Background(), false)
		if err != nil || len(ts) == 0 {
			t.Fatalf("cpu times: %v %v", ts, err)
		}
		_, b := split(ts[0])
		return b
	}
	start := busy()
	deadline := time.Now().Add(5 * time.Second)
	x := 1.0
	for busy() < start+0.05 {
		if time.Now().After(deadline) {
			t.Skip("the CPU times do not advance on this system")
		}
		for i := range 100000 {
			x = math.Sqrt(x + float64(i))
		}
	}
	if x == 0 {
		t.Log(x) // keeps the work from being optimised away
	}
	if p := readOne(t, c); p <= 0 {
		t.Fatalf("CPU load %v after busy work, want > 0", p)
	}
	readOne(t, c)
}

func TestMemoryUse(t *testing.T) {
	m := NewMemoryUse()
	checkPercent(t, m)
	if p := readOne(t, m); p == 0 {
		t.Fatal("no memory in use")
	}
}

func TestDiskUse(t *testing.T) {
	for _, path := range []string{"/", t.TempDir()} {
		d := NewDiskUse(path)
		if d.Path() != path {
			t.Fatalf("Path = %q", d.Path())
		}
		checkPercent(t, d)
		readOne(t, d)
	}
	missing := t.TempDir() + "/missing"
	err := NewDiskUse(missing).Read(context.Background(), make([]float64, 1))
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("disk use of a missing path: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewDiskUse("/").Read(ctx, make([]float64, 1)); err == nil {
		t.Fatal("Read with an ended context succeeded")
	}
}
