package dashboard_test

// A benchmark of the dashboard under load, with real processes: a
// publisher module, the dashboard module in its own process, and WebSocket
// clients in the test process. The method and figures are in
// docs/benchmarks.md. Run it with
//
//	go test -run '^$' -bench Live -benchtime 1x -count 3 ./dashboard
//
// The module processes of the benchmark's application are this test binary
// again: TestMain builds benchApp when $KERVI_DASH_BENCH_BASE is set.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// envBenchBase is the base time of the benchmark's clock, unix
// nanoseconds, that the parent gives its module processes. The publisher
// publishes the microseconds since it as its values, so that a client can
// tell each value's publish time to the microsecond (the events' "time"
// field is in milliseconds). Microseconds stay exact in a float64 for
// 285 years.
const envBenchBase = "KERVI_DASH_BENCH_BASE"

// envBenchProfile, if set, is a directory where the dashboard process
// writes a CPU profile of its life, dashboard.prof.
const envBenchProfile = "KERVI_DASH_BENCH_PROFILE"

// envBenchFlush, if set, is the dashboard's FlushInterval, such as "0s".
const envBenchFlush = "KERVI_DASH_BENCH_FLUSH"

// benchIDs is the most values the publisher owns: pub.v0 .. pub.v99.
const benchIDs = 100

// benchApp is the benchmark's application: the module "pub", which owns
// benchIDs number values, and the dashboard listening on addr; base is the
// base time of the values, unix nanoseconds.
func benchApp(addr string, base int64, opts ...kervi.Option) (*kervi.Application, error) {
	dopts := []dashboard.Option{dashboard.Addr(addr)}
	if v := os.Getenv(envBenchFlush); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envBenchFlush, err)
		}
		dopts = append(dopts, dashboard.FlushInterval(d))
	}
	dash := dashboard.Module(dopts...)
	if dir := os.Getenv(envBenchProfile); dir != "" {
		setup := dash.Setup
		dash.Setup = func(ctx context.Context, bus *ipc.Bus) error {
			f, err := os.Create(filepath.Join(dir, "dashboard.prof"))
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			bus.OnStop(func(context.Context) error {
				pprof.StopCPUProfile()
				return f.Close()
			})
			return setup(ctx, bus)
		}
	}
	mods := []kervi.Module{
		{Name: "pub", Setup: func(ctx context.Context, bus *ipc.Bus) error { return pubSetup(bus, base) }},
		dash,
	}
	opts = append(opts, kervi.WithModuleEnv(envAddr+"="+addr, fmt.Sprintf("%s=%d", envBenchBase, base),
		envBenchProfile+"="+os.Getenv(envBenchProfile), envBenchFlush+"="+os.Getenv(envBenchFlush)))
	return kervi.NewApplication(mods, opts...)
}

// pubSetup makes the publisher's values and its action pub.run(ids, hz,
// ms): for ms milliseconds, publish the values pub.v0 .. pub.v<ids-1> at hz
// each, spread evenly (every millisecond, the updates due), each update's
// value being the microseconds from base to its publication. It returns
// the last value published of each id.
func pubSetup(bus *ipc.Bus, base int64) error {
	vs := make([]*values.Number, benchIDs)
	for i := range vs {
		vs[i] = values.NewNumber(bus, fmt.Sprintf("pub.v%d", i), fmt.Sprintf("Value %d", i), values.Output(), values.Initial(0.0))
	}
	actions.Register(bus, "pub.run", func(ctx context.Context, ids int, hz float64, ms int) ([]float64, error) {
		if ids < 1 || ids > len(vs) {
			return nil, fmt.Errorf("pub.run: ids=%d: want 1 to %d", ids, len(vs))
		}
		last := make([]float64, ids)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		rate := hz * float64(ids)
		start := time.Now()
		end := start.Add(time.Duration(ms) * time.Millisecond)
		for i := 0; ; {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			now := time.Now()
			if now.After(end) {
				return last, nil
			}
			due := int(now.Sub(start).Seconds() * rate)
			for ; i < due; i++ {
				v := float64((time.Now().UnixNano() - base) / 1e3)
				if err := vs[i%ids].Set(v); err != nil {
					return nil, err
				}
				last[i%ids] = v
			}
		}
	}, actions.WithMode(actions.Concurrent))
	return nil
}

// benchClient is one WebSocket client of the benchmark: it reads every
// message, and records the latency of each value of pub.* published in
// the measured window, and the latest value of each id.
type benchClient struct {
	conn  *websocket.Conn
	slow  time.Duration // a pause after each message read: a slow browser
	first chan struct{} // closed at the first value of pub.*
	ttfv  time.Duration // from the dial to the first value

	mu     sync.Mutex
	lat    []int64 // µs
	latest map[string]float64
	msgs   int           // "values" messages
	vals   int           // values in them
	got    chan struct{} // closed and replaced at each message
	err    error
}

// benchWindow is the measured window, in µs since the base: values
// published in it count.
type benchWindow struct{ from, to atomic.Int64 }

func (w *benchWindow) in(v int64) bool {
	from, to := w.from.Load(), w.to.Load()
	return from > 0 && v >= from && (to == 0 || v <= to)
}

// dialBench opens a client and starts reading.
func dialBench(ctx context.Context, url string, base time.Time, w *benchWindow, slow time.Duration) (*benchClient, error) {
	t0 := time.Now()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/live", nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(16 << 20)
	c := &benchClient{conn: conn, slow: slow, first: make(chan struct{}), latest: map[string]float64{}, got: make(chan struct{})}
	go c.read(ctx, t0, base, w)
	return c, nil
}

// benchMsg is what a client decodes of a message.
type benchMsg struct {
	T      string `json:"t"`
	Values []struct {
		ID    string          `json:"id"`
		Value json.RawMessage `json:"value"`
	} `json:"values"`
}

var valuesTag = []byte(`"t":"values"`)

func (c *benchClient) read(ctx context.Context, t0, base time.Time, w *benchWindow) {
	var m benchMsg
	for {
		_, b, err := c.conn.Read(ctx)
		now := time.Since(base).Microseconds()
		if err != nil {
			c.mu.Lock()
			c.err = err
			close(c.got)
			c.mu.Unlock()
			return
		}
		if !bytes.Contains(b, valuesTag) {
			continue
		}
		m.Values = m.Values[:0]
		if err := json.Unmarshal(b, &m); err != nil {
			c.mu.Lock()
			c.err = err
			close(c.got)
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.msgs++
		for _, v := range m.Values {
			if !strings.HasPrefix(v.ID, "pub.") {
				continue
			}
			x, err := strconv.ParseFloat(string(v.Value), 64)
			if err != nil {
				continue
			}
			if c.ttfv == 0 {
				c.ttfv = time.Since(t0)
				close(c.first)
			}
			c.latest[v.ID] = x
			c.vals++
			if w.in(int64(x)) {
				c.lat = append(c.lat, now-int64(x))
			}
		}
		close(c.got)
		c.got = make(chan struct{})
		c.mu.Unlock()
		if c.slow > 0 {
			time.Sleep(c.slow) // the slow browser's work, not synchronisation
		}
	}
}

// waitFor waits until the client holds want (id → value), or ctx ends.
func (c *benchClient) waitFor(ctx context.Context, want map[string]float64) error {
	for {
		c.mu.Lock()
		missing := ""
		for id, v := range want {
			if c.latest[id] != v {
				missing = fmt.Sprintf("%s: has %v, want %v", id, c.latest[id], v)
				break
			}
		}
		got, err := c.got, c.err
		c.mu.Unlock()
		if missing == "" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s (%v)", missing, err)
		}
		select {
		case <-got:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", missing, ctx.Err())
		}
	}
}

// procCPU returns the CPU time (user and system) of process pid so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command (in parentheses, which may hold spaces):
	// state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	const hz = 100 // USER_HZ: clock ticks a second, 100 on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// procMem returns VmRSS and VmHWM of process pid, in MiB.
func procMem(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %v", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}

// quantile returns the q quantile of sorted xs.
func quantile[T any](xs []T, q float64) T {
	return xs[min(len(xs)-1, int(q*float64(len(xs))))]
}

// liveRun is one configuration of the benchmark.
type liveRun struct {
	ids     int     // values published
	hz      float64 // updates a second of each
	clients int     // clients that read as fast as they can
	slow    int     // slow clients besides
}

// BenchmarkLive100Clients: 100 WebSocket clients of the dashboard while
// the application publishes 1,000 updates a second: 100 values at 10 Hz
// each, or one value at 1 kHz; with 10 slow clients besides (each pauses
// 20 ms after each message it reads). Reports the push latency of the
// values the fast clients received (from the publisher's Set to the
// client's read, p50, p99, max), the share of the updates they received
// (seen-%; the rest were coalesced), the slow clients' p50, how long after
// the publisher's end every client held the latest value of every id
// (catchup-s), the dashboard process's CPU (% of one CPU, and per value a
// fast client received) and memory, the
// test process's CPU (the clients, clients-cpu-%), the time from dialing
// the WebSocket to the first value, for a client that connects during the
// load (ttfv) and for the 100 that connect at once (ttfv100, the median),
// the events the dashboard process's bus coalesced, and the machine's load
// average (1 minute) at the end.
func BenchmarkLive100Clients(b *testing.B) {
	// The wall clock only (no monotonic reading), as the publisher reads it.
	base := time.Now().Round(0)
	addr := freeAddr(b)
	app, err := benchApp(addr, base.UnixNano(), kervi.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				b.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			b.Error("Run did not return")
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := app.WaitReady(wctx); err != nil {
		b.Fatal(err)
	}
	bctx := ipc.NewContext(ctx, app.Bus())
	for _, r := range []liveRun{
		{ids: 100, hz: 10, clients: 100},
		{ids: 1, hz: 1000, clients: 100},
		{ids: 100, hz: 10, clients: 100, slow: 10},
	} {
		name := fmt.Sprintf("ids=%d/hz=%g/slow=%d", r.ids, r.hz, r.slow)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				liveRound(b, bctx, app, "http://"+addr, base, r)
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// liveRound measures one round of r: clients connect, the publisher runs
// for a second of warm-up and 10 s measured, and every client is waited
// for until it holds the last value of every id.
func liveRound(b *testing.B, ctx context.Context, app *kervi.Application, url string, base time.Time, r liveRun) {
	const warm, measured = time.Second, 10 * time.Second
	var pid int
	var coalesced0 uint64
	for _, m := range app.Modules() {
		if m.Name == dashboard.ModuleName {
			pid, coalesced0 = m.PID, m.Coalesced
		}
	}
	if pid <= 0 {
		b.Fatal("the dashboard module has no process")
	}
	w := &benchWindow{}
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()

	// The clients connect at once, and each waits for its first value.
	clients := make([]*benchClient, r.clients+r.slow)
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slow := time.Duration(0)
			if i >= r.clients {
				slow = 20 * time.Millisecond
			}
			dctx, cancel := context.WithTimeout(cctx, 30*time.Second)
			defer cancel()
			c, err := dialBench(cctx, url, base, w, slow)
			if err != nil {
				errs <- err
				return
			}
			clients[i] = c
			select {
			case <-c.first:
			case <-dctx.Done():
				errs <- fmt.Errorf("client %d: no value: %w", i, dctx.Err())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	defer func() {
		for _, c := range clients {
			c.conn.CloseNow()
		}
	}()
	ttfv100 := make([]time.Duration, 0, len(clients))
	for _, c := range clients {
		ttfv100 = append(ttfv100, c.ttfv)
	}
	slices.Sort(ttfv100)

	// The publisher runs; after the warm-up, the measured window opens.
	type result struct {
		last []float64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		res, err := actions.CallAs[[]float64](ctx, "pub.run", r.ids, r.hz, int((warm + measured).Milliseconds()))
		done <- result{res, err}
	}()
	select {
	case <-time.After(warm): // the warm-up's length, not synchronisation
	case res := <-done:
		b.Fatalf("pub.run ended early: %v", res.err)
	}
	cpu0, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	self0, err := procCPU(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	w.from.Store(t0.Sub(base).Microseconds())

	// A client that opens during the load, one after another: the time to
	// its first value.
	var ttfv []time.Duration
	for range 10 {
		c, err := dialBench(cctx, url, base, &benchWindow{}, 0)
		if err != nil {
			b.Fatal(err)
		}
		select {
		case <-c.first:
		case <-time.After(10 * time.Second):
			b.Fatal("a client opened during the load got no value in 10 s")
		}
		ttfv = append(ttfv, c.ttfv)
		c.conn.Close(websocket.StatusNormalClosure, "")
	}
	slices.Sort(ttfv)

	var res result
	select {
	case res = <-done:
	case <-time.After(warm + measured + time.Minute):
		b.Fatal("pub.run did not return")
	}
	if res.err != nil {
		b.Fatal(res.err)
	}
	t1 := time.Now()
	w.to.Store(t1.Sub(base).Microseconds())
	cpu1, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	self1, err := procCPU(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	rss, hwm, err := procMem(pid)
	if err != nil {
		b.Fatal(err)
	}
	want := map[string]float64{}
	for i, v := range res.last {
		want[fmt.Sprintf("pub.v%d", i)] = v
	}

	// Every client ends on the latest value of every id.
	for i, c := range clients {
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err := c.waitFor(wctx, want)
		cancel()
		if err != nil {
			b.Fatalf("client %d (slow: %v): %v", i, c.slow > 0, err)
		}
	}
	catchUp := time.Since(t1)
	var coalesced uint64
	for _, m := range app.Modules() {
		if m.Name == dashboard.ModuleName {
			if m.PID != pid {
				b.Fatalf("the dashboard process restarted: pid %d, was %d", m.PID, pid)
			}
			coalesced = m.Coalesced - coalesced0
		}
	}

	var lat, slowLat []int64
	published := float64(r.ids) * r.hz * t1.Sub(t0).Seconds()
	seen, msgs, vals := 0, 0, 0
	for i, c := range clients {
		c.mu.Lock()
		if i < r.clients {
			lat = append(lat, c.lat...)
			seen += len(c.lat)
			msgs += c.msgs
			vals += c.vals
		} else {
			slowLat = append(slowLat, c.lat...)
		}
		c.mu.Unlock()
	}
	if len(lat) == 0 {
		b.Fatal("no value measured")
	}
	slices.Sort(lat)
	ms := func(us int64) float64 { return float64(us) / 1e3 }
	b.ReportMetric(ms(quantile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(100*float64(seen)/(published*float64(r.clients)), "seen-%")
	b.ReportMetric(float64(vals)/float64(msgs), "values/msg")
	if len(slowLat) > 0 {
		slices.Sort(slowLat)
		b.ReportMetric(ms(quantile(slowLat, 0.5)), "slow-p50-ms")
	}
	b.ReportMetric(catchUp.Seconds(), "catchup-s")
	b.ReportMetric(100*(cpu1-cpu0).Seconds()/t1.Sub(t0).Seconds(), "cpu-%")
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(seen), "cpu-µs/value")
	b.ReportMetric(100*(self1-self0).Seconds()/t1.Sub(t0).Seconds(), "clients-cpu-%")
	b.ReportMetric(rss, "rss-MiB")
	b.ReportMetric(hwm, "hwm-MiB")
	b.ReportMetric(float64(quantile(ttfv, 0.5).Microseconds())/1e3, "ttfv-ms")
	b.ReportMetric(float64(quantile(ttfv100, 0.5).Microseconds())/1e3, "ttfv100-ms")
	b.ReportMetric(float64(coalesced), "bus-coalesced")
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		// The machine's load, for the figures' context: on a machine with
		// fewer CPUs than runnable threads, the latency is the wait for a CPU.
		if f := strings.Fields(string(la)); len(f) > 0 {
			if x, err := strconv.ParseFloat(f[0], 64); err == nil {
				b.ReportMetric(x, "loadavg")
			}
		}
	}
}
