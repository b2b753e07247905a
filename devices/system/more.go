package system

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/net"

	"github.com/kervi/kervi-go/sensors"
)

// ErrNotAvailable matches the error of a measurement this machine does not
// offer, such as a CPU temperature on a virtual machine.
var ErrNotAvailable = errors.New("not available on this machine")

// CPUCores is a driver reading the load of each CPU core since its
// previous read, in percent: one dimension per core, labelled "core0",
// "core1", ..., and a first dimension "total" for all cores together. Its
// first read gives the load since boot. It is safe for concurrent use.
type CPUCores struct {
	n    int
	mu   sync.Mutex
	prev []cpu.TimesStat // total first, then the cores
	load []float64
}

// NewCPUCores returns a per-core CPU load driver for the cores of this
// machine.
func NewCPUCores(ctx context.Context) (*CPUCores, error) {
	per, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("system: cpu times per core: %w", err)
	}
	if len(per) == 0 {
		return nil, fmt.Errorf("system: cpu times per core: %w", ErrNotAvailable)
	}
	n := len(per)
	return &CPUCores{n: n, prev: make([]cpu.TimesStat, n+1), load: make([]float64, n+1)}, nil
}

// Describe describes "total", then one dimension per core, in percent
// from 0 to 100.
func (c *CPUCores) Describe() sensors.Description {
	labels := []string{"total"}
	for i := range c.n {
		labels = append(labels, "core"+strconv.Itoa(i))
	}
	d := percent()
	d.Dimensions = sensors.Labels(labels...)
	return d
}

// Read measures the load of every core since the previous Read.
func (c *CPUCores) Read(ctx context.Context, dst []float64) error {
	if len(dst) != c.n+1 {
		return fmt.Errorf("system: %d numbers asked of a driver of %d cores and their total", len(dst), c.n)
	}
	per, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		return fmt.Errorf("system: cpu times per core: %w", err)
	}
	if len(per) != c.n {
		return fmt.Errorf("system: %d cores now, %d when the driver was made (a core went offline?)", len(per), c.n)
	}
	// The total is the sum of the cores, from the same read: one read of
	// the kernel's counters, and a total consistent with its cores.
	cur := append([]cpu.TimesStat{sum(per)}, per...)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range cur {
		if p, ok := busyPercent(c.prev[i], cur[i]); ok {
			c.load[i] = p
		}
		c.prev[i] = cur[i]
	}
	copy(dst, c.load)
	return nil
}

// sum returns the times of all of ts together.
func sum(ts []cpu.TimesStat) cpu.TimesStat {
	s := cpu.TimesStat{CPU: "cpu-total"}
	for _, t := range ts {
		s.User += t.User
		s.System += t.System
		s.Idle += t.Idle
		s.Nice += t.Nice
		s.Iowait += t.Iowait
		s.Irq += t.Irq
		s.Softirq += t.Softirq
		s.Steal += t.Steal
		s.Guest += t.Guest
		s.GuestNice += t.GuestNice
	}
	return s
}

// CPUTemperature is a driver reading the CPU's temperature in °C from the
// kernel's thermal zones (/sys/class/thermal), as on a Raspberry Pi.
type CPUTemperature struct {
	zone string // the thermal zone's directory
	kind string // its type, such as "cpu-thermal"
}

// thermalRoot is where the kernel lists its thermal zones.
const thermalRoot = "/sys/class/thermal"

// NewCPUTemperature returns a driver for the CPU's thermal zone, or an
// error matching ErrNotAvailable when the machine exposes none (most
// virtual machines and containers).
func NewCPUTemperature() (*CPUTemperature, error) { return newCPUTemperature(thermalRoot) }

func newCPUTemperature(root string) (*CPUTemperature, error) {
	zones, _ := filepath.Glob(filepath.Join(root, "thermal_zone*"))
	sort.Strings(zones)
	var best *CPUTemperature
	for _, z := range zones {
		b, err := os.ReadFile(filepath.Join(z, "type"))
		if err != nil {
			continue
		}
		if _, err := os.ReadFile(filepath.Join(z, "temp")); err != nil {
			continue
		}
		kind := strings.TrimSpace(string(b))
		t := &CPUTemperature{zone: z, kind: kind}
		k := strings.ToLower(kind)
		if strings.Contains(k, "cpu") || strings.Contains(k, "x86_pkg") || strings.Contains(k, "soc") {
			return t, nil
		}
		if best == nil {
			best = t
		}
	}
	if best == nil {
		return nil, fmt.Errorf("system: cpu temperature: %w (no readable thermal zone in %s)", ErrNotAvailable, root)
	}
	return best, nil
}

// Zone returns the thermal zone read and its type, such as
// "/sys/class/thermal/thermal_zone0", "cpu-thermal".
func (c *CPUTemperature) Zone() (dir, kind string) { return c.zone, c.kind }

// Describe describes a temperature in °C, from -40 to 125 (the range of
// the SoCs' sensors).
func (c *CPUTemperature) Describe() sensors.Description {
	return sensors.Description{Unit: "°C", Min: new(-40.0), Max: new(125.0)}
}

// Read reads the temperature.
func (c *CPUTemperature) Read(ctx context.Context, dst []float64) error {
	if len(dst) != 1 {
		return fmt.Errorf("system: %d numbers asked of a one-dimension driver", len(dst))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(c.zone, "temp"))
	if err != nil {
		return fmt.Errorf("system: cpu temperature (%s): %w", c.kind, err)
	}
	milli, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return fmt.Errorf("system: cpu temperature (%s): %q: %w", c.kind, b, err)
	}
	dst[0] = milli / 1000
	return nil
}

// NetThroughput is a driver reading the throughput of a network interface
// since its previous read, in bytes per second: dimensions "in" (received)
// and "out" (sent). Its first read gives 0. It is safe for concurrent use.
type NetThroughput struct {
	iface string
	max   *float64

	mu       sync.Mutex
	at       time.Time
	rx, tx   uint64
	now      func() time.Time
	counters func(ctx context.Context) ([]net.IOCountersStat, error)
}

// NewNetThroughput returns a throughput driver for the interface iface,
// such as "eth0" or "wlan0". Its readings are bounded by the interface's
// speed when the kernel knows it (/sys/class/net/<iface>/speed), and
// unbounded otherwise (loopback, Wi-Fi).
func NewNetThroughput(iface string) *NetThroughput {
	n := &NetThroughput{iface: iface, now: time.Now, counters: func(ctx context.Context) ([]net.IOCountersStat, error) {
		return net.IOCountersWithContext(ctx, true)
	}}
	if b, err := os.ReadFile(filepath.Join("/sys/class/net", iface, "speed")); err == nil {
		if mbps, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil && mbps > 0 {
			n.max = new(mbps * 1e6 / 8)
		}
	}
	return n
}

// Interface returns the interface the driver measures.
func (n *NetThroughput) Interface() string { return n.iface }

// Describe describes "in" and "out", in B/s, from 0 to the interface's
// speed (unbounded if unknown).
func (n *NetThroughput) Describe() sensors.Description {
	d := sensors.Description{Unit: "B/s", Min: new(0.0), Dimensions: sensors.Labels("in", "out")}
	if n.max != nil {
		d.Max = new(*n.max)
	}
	return d
}

// Read measures the bytes received and sent per second since the previous
// Read.
func (n *NetThroughput) Read(ctx context.Context, dst []float64) error {
	if len(dst) != 2 {
		return fmt.Errorf("system: %d numbers asked of a driver of 2 (in, out)", len(dst))
	}
	all, err := n.counters(ctx)
	if err != nil {
		return fmt.Errorf("system: network counters of %q: %w", n.iface, err)
	}
	i := -1
	for k := range all {
		if all[k].Name == n.iface {
			i = k
		}
	}
	if i < 0 {
		var names []string
		for _, s := range all {
			names = append(names, s.Name)
		}
		return fmt.Errorf("system: network interface %q: %w (interfaces: %s)", n.iface, ErrNotAvailable, strings.Join(names, ", "))
	}
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	rx, tx := all[i].BytesRecv, all[i].BytesSent
	dst[0], dst[1] = 0, 0
	if !n.at.IsZero() {
		if dt := now.Sub(n.at).Seconds(); dt > 0 && rx >= n.rx && tx >= n.tx {
			dst[0], dst[1] = float64(rx-n.rx)/dt, float64(tx-n.tx)/dt
			if n.max != nil { // counters read a little apart can overshoot
				dst[0], dst[1] = math.Min(dst[0], *n.max), math.Min(dst[1], *n.max)
			}
		}
	}
	n.at, n.rx, n.tx = now, rx, tx
	return nil
}

// LoadAverage is a driver reading the system's load averages over 1, 5 and
// 15 minutes: dimensions "1m", "5m" and "15m", in runnable processes (the
// number of cores is a full machine), from 0, unbounded.
type LoadAverage struct{}

// NewLoadAverage returns a load average driver.
func NewLoadAverage() *LoadAverage { return &LoadAverage{} }

// Describe describes the three averages.
func (l *LoadAverage) Describe() sensors.Description {
	return sensors.Description{Unit: "processes", Min: new(0.0), Dimensions: sensors.Labels("1m", "5m", "15m")}
}

// Read reads the load averages.
func (l *LoadAverage) Read(ctx context.Context, dst []float64) error {
	if len(dst) != 3 {
		return fmt.Errorf("system: %d numbers asked of a driver of 3 (1m, 5m, 15m)", len(dst))
	}
	a, err := load.AvgWithContext(ctx)
	if err != nil {
		return fmt.Errorf("system: load average: %w", err)
	}
	dst[0], dst[1], dst[2] = a.Load1, a.Load5, a.Load15
	return nil
}

// Uptime is a driver reading the time since the machine booted, in
// seconds, from 0, unbounded.
type Uptime struct{}

// NewUptime returns an uptime driver.
func NewUptime() *Uptime { return &Uptime{} }

// Describe describes a duration in seconds.
func (u *Uptime) Describe() sensors.Description {
	return sensors.Description{Unit: "s", Min: new(0.0)}
}

// Read reads the uptime.
func (u *Uptime) Read(ctx context.Context, dst []float64) error {
	if len(dst) != 1 {
		return fmt.Errorf("system: %d numbers asked of a one-dimension driver", len(dst))
	}
	s, err := host.UptimeWithContext(ctx)
	if err != nil {
		return fmt.Errorf("system: uptime: %w", err)
	}
	dst[0] = float64(s)
	return nil
}
