// Package system provides sensor drivers for the machine the module runs
// on, read with gopsutil and the kernel's files: CPU load in total
// (CPULoad) and per core (CPUCores), CPU temperature (CPUTemperature, where
// the board has a thermal zone), memory use (MemoryUse) and disk use of a
// path (DiskUse) in percent, network throughput of an interface
// (NetThroughput), load averages (LoadAverage) and uptime (Uptime). Each
// describes its unit and range.
//
// Importing this package imports gopsutil's cpu package, whose init reads
// /proc/stat twice (on Linux) to prime gopsutil's own CPU percent state;
// the drivers here do not use that state.
package system

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/kervi/kervi-go/sensors"
)

// percent describes a reading in percent.
func percent() sensors.Description {
	return sensors.Description{Unit: "%", Min: new(0.0), Max: new(100.0)}
}

func clamp(p float64) float64 { return min(max(p, 0), 100) }

// fill checks that dst has room for one number and stores p in it.
func fill(dst []float64, p float64) error {
	if len(dst) != 1 {
		return fmt.Errorf("system: %d numbers asked of a one-dimension driver", len(dst))
	}
	dst[0] = clamp(p)
	return nil
}

// CPULoad is a driver reading the share of time all CPUs together were
// busy (neither idle nor waiting for I/O) since its previous read, in
// percent. Its first read gives the share since boot. It is safe for
// concurrent use.
type CPULoad struct {
	mu   sync.Mutex
	prev cpu.TimesStat // times at the previous read; zero before the first
	load float64       // the previous result
}

// NewCPULoad returns a CPU load driver.
func NewCPULoad() *CPULoad { return &CPULoad{} }

// Describe describes a reading in percent, from 0 to 100.
func (c *CPULoad) Describe() sensors.Description { return percent() }

// Read measures the CPU load since the previous Read. If no CPU time has
// passed since then, it repeats the previous result.
func (c *CPULoad) Read(ctx context.Context, dst []float64) error {
	times, err := cpu.TimesWithContext(ctx, false)
	if err != nil {
		return fmt.Errorf("system: cpu times: %w", err)
	}
	if len(times) == 0 { // gopsutil reports an unreadable /proc/stat so
		return errors.New("system: cpu times: none reported")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := busyPercent(c.prev, times[0]); ok {
		c.load = p
	}
	c.prev = times[0] // if the counters went back, measure from here
	return fill(dst, c.load)
}

// split returns the total and the busy CPU time of t.
func split(t cpu.TimesStat) (total, busy float64) {
	total = t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	if runtime.GOOS != "linux" {
		// Linux counts guest time in user and nice time already.
		total += t.Guest + t.GuestNice
	}
	return total, total - t.Idle - t.Iowait
}

// busyPercent returns the share of busy time between prev and cur, in
// percent clamped to [0, 100]; ok is false if no time passed between them
// (or the counters went back).
func busyPercent(prev, cur cpu.TimesStat) (p float64, ok bool) {
	pt, pb := split(prev)
	ct, cb := split(cur)
	dt := ct - pt
	if !(dt > 0) {
		return 0, false
	}
	return clamp((cb - pb) / dt * 100), true
}

// MemoryUse is a driver reading the share of the machine's memory in use,
// in percent.
type MemoryUse struct{}

// NewMemoryUse returns a memory use driver.
func NewMemoryUse() *MemoryUse { return &MemoryUse{} }

// Describe describes a reading in percent, from 0 to 100.
func (m *MemoryUse) Describe() sensors.Description { return percent() }

// Read measures the memory in use.
func (m *MemoryUse) Read(ctx context.Context, dst []float64) error {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return fmt.Errorf("system: memory use: %w", err)
	}
	return fill(dst, vm.UsedPercent)
}

// DiskUse is a driver reading the share of a file system's space in use,
// in percent.
type DiskUse struct{ path string }

// NewDiskUse returns a driver for the file system holding path.
func NewDiskUse(path string) *DiskUse { return &DiskUse{path: path} }

// Path returns the path the driver measures the file system of.
func (d *DiskUse) Path() string { return d.path }

// Describe describes a reading in percent, from 0 to 100.
func (d *DiskUse) Describe() sensors.Description { return percent() }

// Read measures the space in use. On Unix systems it cannot be cancelled
// once started (statfs ignores ctx), so a hung network file system can
// block it.
func (d *DiskUse) Read(ctx context.Context, dst []float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	u, err := disk.UsageWithContext(ctx, d.path)
	if err != nil {
		return fmt.Errorf("system: disk use of %q: %w", d.path, err)
	}
	return fill(dst, u.UsedPercent)
}
