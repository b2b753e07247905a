package kervi_test

// Benchmarks of the multi-process application. They start real module
// processes (this test binary again) and report custom metrics; the method
// and figures are in docs/benchmarks.md. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x .

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// benchModules returns the modules of the benchmark application: "source"
// publishes the value bench.value; "sink" is a controller whose input
// follows it, recording order and one-way latency of every event.
func benchModules() []kervi.Module {
	source := kervi.Module{Name: "source", Setup: func(ctx context.Context, b *ipc.Bus) error {
		profile(b)
		v := values.NewNumber(b, "bench.value", "Value", values.Output())
		// burst publishes 0..n-1 as fast as the application takes them
		// and returns when it started (unix nanoseconds).
		actions.Register(b, "source.burst", func(n int) int64 {
			start := time.Now().UnixNano()
			for i := range n {
				v.Set(float64(i))
			}
			return start
		})
		// paced publishes 0..n-1 at hz events per second.
		actions.Register(b, "source.paced", func(ctx context.Context, n, hz int) error {
			tick := time.NewTicker(time.Second / time.Duration(hz))
			defer tick.Stop()
			for i := range n {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return ctx.Err()
				}
				v.Set(float64(i))
			}
			return nil
		})
		actions.Register(b, "source.noop", func() {}, actions.WithMode(actions.Concurrent))
		return nil
	}}
	sink := kervi.Module{Name: "sink", Setup: func(ctx context.Context, b *ipc.Bus) error {
		profile(b)
		s := &benchSink{}
		c := controllers.New(b, "sink", "Sink", nil)
		in := c.Inputs().Number("in", "In")
		if _, err := in.Link("bench.value", nil); err != nil {
			return err
		}
		// Every change of the input, in order. A linked input keeps its
		// source's timestamp: the time the source module published.
		if _, err := b.Subscribe(in.ID(), func(ev ipc.Event) { s.record(ev.Value.Number(), ev.Time) }); err != nil {
			return err
		}
		for id, fn := range map[string]any{
			"sink.expect": s.expect,
			"sink.wait":   s.wait,
			// calls "source.noop" n times from this process: module to module
			"sink.calls": func(ctx context.Context, n int) (map[string]any, error) {
				lat := make([]int64, 0, n)
				for range n {
					t0 := time.Now()
					if _, err := actions.Call(ctx, "source.noop"); err != nil {
						return nil, err
					}
					lat = append(lat, int64(time.Since(t0)))
				}
				return percentiles(lat), nil
			},
			"sink.noop": func() {},
			// follow links the input to another value instead.
			"sink.follow": func(id string) error {
				_, err := b.Subscribe(id, func(ev ipc.Event) { s.record(ev.Value.Number(), ev.Time) })
				return err
			},
		} {
			actions.Register(b, id, fn, actions.WithMode(actions.Concurrent))
		}
		return nil
	}}
	return []kervi.Module{source, sink}
}

// profile writes a CPU profile of the module process to
// $KERVI_BENCH_PROFILE/<module>.prof, if that is set.
func profile(b *ipc.Bus) {
	dir := os.Getenv("KERVI_BENCH_PROFILE")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, b.Module()+".prof"))
	if err != nil {
		return
	}
	pprof.StartCPUProfile(f)
	b.OnStop(func(context.Context) error {
		pprof.StopCPUProfile()
		return f.Close()
	})
}

// benchSink records the events of a run.
type benchSink struct {
	mu       sync.Mutex
	want     int
	got      int
	next     float64 // the value expected next
	disorder int     // events that were not the one expected
	lat      []int64 // one-way latencies, ns
	last     time.Time
	done     chan struct{}
}

// expect starts a run of n events, 0..n-1.
func (s *benchSink) expect(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want, s.got, s.next, s.disorder = n, 0, 0, 0
	s.lat = make([]int64, 0, n)
	s.done = make(chan struct{})
}

func (s *benchSink) record(v float64, sent time.Time) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil || s.got >= s.want || (s.got == 0 && v != 0) {
		return // not part of the run (the value as it was before it)
	}
	if v != s.next {
		s.disorder++
	}
	s.next = v + 1
	s.got++
	s.lat = append(s.lat, now.Sub(sent).Nanoseconds())
	s.last = now
	if s.got == s.want {
		close(s.done)
	}
}

// wait returns the run's results once every event arrived.
func (s *benchSink) wait(ctx context.Context) (map[string]any, error) {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		return nil, fmt.Errorf("%d of %d events arrived: %w", s.got, s.want, ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := percentiles(s.lat)
	r["count"], r["disorder"], r["last"] = s.got, s.disorder, s.last.UnixNano()
	return r, nil
}

func percentiles(ns []int64) map[string]any {
	slices.Sort(ns)
	at := func(q float64) int64 { return ns[min(len(ns)-1, int(q*float64(len(ns))))] }
	return map[string]any{"p50": at(0.50), "p99": at(0.99), "max": ns[len(ns)-1]}
}

// startBench starts the benchmark application.
func startBench(b *testing.B, opts ...kervi.Option) (*kervi.Application, context.Context, func()) {
	b.Helper()
	return startBenchApp(b, "bench", opts...)
}

// startBenchApp starts the named benchmark application.
func startBenchApp(b *testing.B, name string, opts ...kervi.Option) (*kervi.Application, context.Context, func()) {
	b.Helper()
	opts = append(opts, kervi.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if n := os.Getenv("KERVI_BENCH_GOMAXPROCS"); n != "" {
		g, _ := strconv.Atoi(n)
		opts = append(opts, kervi.WithModuleGOMAXPROCS(g))
	}
	app, err := buildApp(name, opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	select {
	case <-app.Ready():
	case err := <-errc:
		b.Fatal(err)
	}
	return app, ipc.NewContext(ctx, app.Bus()), func() {
		cancel()
		if err := <-errc; err != nil {
			b.Error(err)
		}
	}
}

func benchCall(b *testing.B, ctx context.Context, id string, args ...any) any {
	b.Helper()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := actions.Call(cctx, id, args...)
	if err != nil {
		b.Fatalf("%s: %v", id, err)
	}
	return res
}

func us(ns any) float64 { return float64(ns.(int64)) / 1e3 }

// BenchmarkEventThroughput: value events from the source module to the
// sink module's controller input, through the hub, flat out. Reports
// events/s over the whole run and the one-way latency under that load.
func BenchmarkEventThroughput(b *testing.B) { eventThroughput(b, "bench") }

// eventThroughput is BenchmarkEventThroughput in the named application.
func eventThroughput(b *testing.B, app string) {
	_, ctx, stop := startBenchApp(b, app)
	defer stop()
	const n = 1_000_000
	var rates []float64
	for b.Loop() {
		benchCall(b, ctx, "sink.expect", n)
		start := benchCall(b, ctx, "source.burst", n).(int64)
		r := benchCall(b, ctx, "sink.wait").(map[string]any)
		if r["count"] != int64(n) || r["disorder"] != int64(0) {
			b.Fatalf("lost or reordered events: %v", r)
		}
		rates = append(rates, float64(n)/(float64(r["last"].(int64)-start)/1e9))
		b.ReportMetric(us(r["p50"]), "p50-µs")
		b.ReportMetric(us(r["p99"]), "p99-µs")
	}
	slices.Sort(rates)
	b.ReportMetric(rates[len(rates)/2], "events/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLatency100Hz: one-way latency of value events at 100 events/s,
// source module to sink module through the hub.
func BenchmarkLatency100Hz(b *testing.B) {
	_, ctx, stop := startBench(b)
	defer stop()
	const n = 1000 // 10 s
	for b.Loop() {
		benchCall(b, ctx, "sink.expect", n)
		benchCall(b, ctx, "source.paced", n, 100)
		r := benchCall(b, ctx, "sink.wait").(map[string]any)
		if r["count"] != int64(n) || r["disorder"] != int64(0) {
			b.Fatalf("lost or reordered events: %v", r)
		}
		b.ReportMetric(us(r["p50"]), "p50-µs")
		b.ReportMetric(us(r["p99"]), "p99-µs")
		b.ReportMetric(us(r["max"]), "max-µs")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLatency100HzOneHop: as BenchmarkLatency100Hz, but the value
// is published by the parent process, where the hub is: one hop instead of
// two.
func BenchmarkLatency100HzOneHop(b *testing.B) {
	app, ctx, stop := startBench(b)
	defer stop()
	v := values.NewNumber(app.Bus(), "bench.parent", "Parent value", values.Output())
	if err := v.Err(); err != nil {
		b.Fatal(err)
	}
	benchCall(b, ctx, "sink.follow", "bench.parent")
	const n = 1000
	for b.Loop() {
		benchCall(b, ctx, "sink.expect", n)
		tick := time.NewTicker(10 * time.Millisecond)
		for i := range n {
			<-tick.C
			v.Set(float64(i))
		}
		tick.Stop()
		r := benchCall(b, ctx, "sink.wait").(map[string]any)
		if r["count"] != int64(n) || r["disorder"] != int64(0) {
			b.Fatalf("lost or reordered events: %v", r)
		}
		b.ReportMetric(us(r["p50"]), "p50-µs")
		b.ReportMetric(us(r["p99"]), "p99-µs")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkBaselineUDS100Hz is the floor under the latency figures: 8-byte
// timestamps written every 10 ms by one process to another over a unix
// socket pair, with nothing else in the way.
func BenchmarkBaselineUDS100Hz(b *testing.B) { udsFloor(b, 1) }

// BenchmarkBaselineUDS100HzTwoHops is the floor under the module-to-module
// latency: as BenchmarkBaselineUDS100Hz, but through a relay process that
// copies each timestamp from one unix socket to another, as the hub sits
// between two modules: two hops, three processes.
func BenchmarkBaselineUDS100HzTwoHops(b *testing.B) { udsFloor(b, 2) }

// udsFloor measures timestamps sent at 100 Hz through hops unix socket
// pairs: from this process, through hops-1 relay processes (udsRelay), to a
// sink process (udsSink) that reports the one-way latency.
func udsFloor(b *testing.B, hops int) {
	pair := func() (*os.File, *os.File) {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		return os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	}
	start := func(role string, files ...*os.File) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envRole+"="+role)
		cmd.ExtraFiles = files
		return cmd
	}
	for b.Loop() {
		mine, in := pair()
		var procs []*exec.Cmd
		for range hops - 1 {
			out, next := pair()
			procs = append(procs, start("uds-relay", in, out))
			in = next
		}
		sink := start("uds-sink", in)
		out, _ := sink.StdoutPipe()
		procs = append(procs, sink)
		for _, cmd := range procs {
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			for _, f := range cmd.ExtraFiles {
				f.Close()
			}
		}
		tick := time.NewTicker(10 * time.Millisecond)
		buf := make([]byte, 8)
		for range 500 {
			<-tick.C
			binary.LittleEndian.PutUint64(buf, uint64(time.Now().UnixNano()))
			if _, err := mine.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
		mine.Close()
		var p50, p99 float64
		if _, err := fmt.Fscan(out, &p50, &p99); err != nil {
			b.Fatal(err)
		}
		for _, cmd := range procs {
			cmd.Wait()
		}
		b.ReportMetric(p50, "p50-µs")
		b.ReportMetric(p99, "p99-µs")
	}
	b.ReportMetric(0, "ns/op")
}

// udsRelay is the middle of BenchmarkBaselineUDS100HzTwoHops: it copies
// 8-byte timestamps from fd 3 to fd 4, one write per timestamp.
func udsRelay() {
	in, out := os.NewFile(3, "in"), os.NewFile(4, "out")
	buf := make([]byte, 8)
	for {
		if _, err := io.ReadFull(in, buf); err != nil {
			break
		}
		if _, err := out.Write(buf); err != nil {
			break
		}
	}
	out.Close()
	os.Exit(0)
}

// udsSink is the other end of BenchmarkBaselineUDS100Hz: it prints the
// p50 and p99 one-way latency, in µs, of the timestamps it reads on fd 3.
func udsSink() {
	f := os.NewFile(3, "uds")
	buf := make([]byte, 8)
	var lat []int64
	for {
		if _, err := io.ReadFull(f, buf); err != nil {
			break
		}
		lat = append(lat, time.Now().UnixNano()-int64(binary.LittleEndian.Uint64(buf)))
	}
	p := percentiles(lat)
	fmt.Println(us(p["p50"]), us(p["p99"]))
	os.Exit(0)
}

// BenchmarkActionRoundTrip: calls of an action with no arguments, from the
// parent to a module and from one module to another, one at a time.
func BenchmarkActionRoundTrip(b *testing.B) {
	_, ctx, stop := startBench(b)
	defer stop()
	const n = 20000
	for b.Loop() {
		lat := make([]int64, 0, n)
		for range n {
			t0 := time.Now()
			benchCall(b, ctx, "sink.noop")
			lat = append(lat, int64(time.Since(t0)))
		}
		p := percentiles(lat)
		b.ReportMetric(us(p["p50"]), "parent-p50-µs")
		b.ReportMetric(us(p["p99"]), "parent-p99-µs")
		m := benchCall(b, ctx, "sink.calls", n).(map[string]any)
		b.ReportMetric(us(m["p50"]), "module-p50-µs")
		b.ReportMetric(us(m["p99"]), "module-p99-µs")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRunToReady: from Run to every module ready (two module
// processes) and app_main started, then a full stop.
func BenchmarkRunToReady(b *testing.B) {
	var ready []time.Duration
	for b.Loop() {
		app, err := buildApp("bench", kervi.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		t0 := time.Now()
		go func() { errc <- app.Run(ctx) }()
		select {
		case <-app.Ready():
			ready = append(ready, time.Since(t0))
		case err := <-errc:
			b.Fatal(err)
		}
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(ready)
	b.ReportMetric(float64(ready[len(ready)/2].Microseconds())/1e3, "ready-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIdleChildRSS: resident memory of idle module processes: those
// of the benchmark application (this test binary), and those of the fan
// example, built as a user would build it.
func BenchmarkIdleChildRSS(b *testing.B) {
	for b.Loop() {
		app, _, stop := startBench(b)
		var max float64
		for _, m := range app.Modules() {
			max = maxf(max, rssMiB(b, m.PID))
		}
		stop()
		b.ReportMetric(max, "testbin-MiB")

		b.ReportMetric(fanChildRSS(b), "fan-MiB")
	}
	b.ReportMetric(0, "ns/op")
}

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

// fanChildRSS runs the fan example and returns the largest RSS of its
// module processes once they have been running for a few seconds.
func fanChildRSS(b *testing.B) float64 {
	bin := filepath.Join(b.TempDir(), "fan")
	if out, err := exec.Command("go", "build", "-o", bin, "./examples/fan").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-load=false")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	started := regexp.MustCompile(`module process started pid=(\d+)`)
	var pids []int
	readings := 0
	sc := bufio.NewScanner(stderr)
	for readings < 5 && sc.Scan() { // five sensor readings: five seconds of running
		if m := started.FindStringSubmatch(sc.Text()); m != nil {
			pid, _ := strconv.Atoi(m[1])
			pids = append(pids, pid)
		}
		if strings.Contains(sc.Text(), "fan temp=") {
			readings++
		}
	}
	go io.Copy(io.Discard, stderr)
	var max float64
	for _, pid := range pids {
		max = maxf(max, rssMiB(b, pid))
	}
	return max
}

func rssMiB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	b.Fatalf("no VmRSS for %d", pid)
	return 0
}
