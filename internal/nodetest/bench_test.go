package nodetest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/exampletest"
	"github.com/kervi/kervi-go/internal/faultproxy"
	"github.com/kervi/kervi-go/internal/natsnode"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/nodes"
	"github.com/kervi/kervi-go/values"
	"github.com/nats-io/nats.go"
)

// The benchmarks' additions to module "bench" on pi1.
const (
	manyIDs   = 1000            // values bench.many.0 … bench.many.999
	benchSeq  = "bench.seq"     // the value the event benchmarks publish
	benchDone = "bench.many_at" // when bench.set_many_later last set the many values (ns)
)

func init() {
	benchHooks = append(benchHooks, func(ctx context.Context, b *ipc.Bus) error {
		seq := values.NewNumber(b, benchSeq, "Sequence", values.Output())
		var seqs []*values.Number
		for i := range 4 {
			seqs = append(seqs, values.NewNumber(b, fmt.Sprintf("%s%d", benchSeq, i), "Sequence", values.Output()))
		}
		many := make([]*values.Number, manyIDs)
		for i := range many {
			many[i] = values.NewNumber(b, "bench.many."+strconv.Itoa(i), "Many", values.Output())
		}
		doneAt := values.NewNumber(b, benchDone, "Many values set at", values.Output())
		actions.Register(b, "bench.noop", func() {})
		// bench.coalesced: the events the module's bus coalesced.
		actions.Register(b, "bench.coalesced", func() int64 { return int64(b.Coalesced()) })
		// bench.flood sets bench.seq (ids 1), or in turn bench.seq0…3
		// (ids 4) or bench.many.0…999 (ids 1000), to from, from+1, …
		// from+n-1 as fast as it can; it returns when it started (Unix ns).
		actions.Register(b, "bench.flood", func(ctx context.Context, from, n, ids int) (int64, error) {
			t0 := time.Now().UnixNano()
			for i := from; i < from+n; i++ {
				v := seq
				switch {
				case ids == manyIDs:
					v = many[i%ids]
				case ids > 1:
					v = seqs[i%ids]
				}
				if err := v.Set(float64(i)); err != nil {
					return 0, err
				}
			}
			return t0, nil
		})
		// bench.paced is bench.flood at rate events a second: every
		// millisecond, the events due by then.
		actions.Register(b, "bench.paced", func(ctx context.Context, from, n, ids, rate int) (int64, error) {
			start := time.Now()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := from; i < from+n; {
				due := from + int(time.Since(start).Seconds()*float64(rate))
				for ; i < from+n && i <= due; i++ {
					v := seq
					switch {
					case ids == manyIDs:
						v = many[i%ids]
					case ids > 1:
						v = seqs[i%ids]
					}
					if err := v.Set(float64(i)); err != nil {
						return 0, err
					}
				}
				<-tick.C
			}
			return start.UnixNano(), nil
		})
		// bench.call_main calls house.ping on main n times, one at a time,
		// and returns the p50 and p99 of the round trips, in ns.
		actions.Register(b, "bench.call_main", func(ctx context.Context, n int) (string, error) {
			lat := make([]int64, 0, n)
			for range n {
				t0 := time.Now()
				if _, err := b.Call(ctx, "house.ping"); err != nil {
					return "", err
				}
				lat = append(lat, int64(time.Since(t0)))
			}
			slices.Sort(lat)
			return fmt.Sprintf("%d %d", lat[len(lat)/2], lat[len(lat)*99/100]), nil
		})
		// bench.set_many_later sets every bench.many.* to v after delay ms,
		// in the background, then bench.many_at to when it was done: the
		// caller cuts the link meanwhile.
		actions.Register(b, "bench.set_many_later", func(v float64, delayMS int) {
			go func() {
				time.Sleep(time.Duration(delayMS) * time.Millisecond)
				for _, m := range many {
					_ = m.Set(v)
				}
				_ = doneAt.Set(float64(time.Now().UnixNano()))
			}()
		})
		actions.Register(b, "bench.set_many", func(v float64) error {
			for _, m := range many {
				if err := m.Set(v); err != nil {
					return err
				}
			}
			return nil
		})
		return nil
	})
}

// benchCluster is a cluster (newCluster) for a benchmark, with pi1
// started.
type benchCluster struct {
	*cluster
	b    *testing.B
	node *exampletest.Program
}

// tap counts the messages on NATS subject subj (a wildcard allowed), as
// a second connection of the main node sees them: what crossed NATS.
func (c *benchCluster) tap(subj string) *atomic.Int64 {
	c.b.Helper()
	d, err := nodes.OpenDir(c.dir, appName)
	if err != nil {
		c.b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := natsnode.Dial(ctx, natsnode.DialConfig{App: appName, Node: kervi.MainNode,
		URLs: []string{"nats://127.0.0.1:" + strconv.Itoa(c.port)}, Seed: []byte(d.MainJoin().Seed), RootCAs: d.CAPool()})
	if err != nil {
		c.b.Fatal(err)
	}
	c.b.Cleanup(nc.Close)
	var n atomic.Int64
	sub, err := nc.Subscribe(subj, func(*nats.Msg) { n.Add(1) })
	if err != nil {
		c.b.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		c.b.Fatal(err)
	}
	return &n
}

// settle waits until the tap has counted n messages, or counted none more
// for 300 ms: the tap is a connection of its own, and lags main's
// follower; read at once, it misses the last ones (or, reset at once,
// counts them in the next run).
func settle(cnt *atomic.Int64, n int64) int64 {
	last, since := cnt.Load(), time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		v := cnt.Load()
		if v >= n {
			return v
		}
		if v != last {
			last, since = v, time.Now()
		} else if time.Since(since) > 300*time.Millisecond {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cnt.Load()
}

// newBenchCluster starts the main node in this process and pi1 as a
// process of the test binary, joined through a fault proxy over TLS, and
// waits until main knows pi1's values.
func newBenchCluster(b *testing.B, env ...string) *benchCluster {
	b.Helper()
	c := &benchCluster{cluster: newCluster(b, env...), b: b}
	c.node = c.startNode()
	c.wait(kervi.NodeValueID("pi1", kervi.NodeOnline), func(e ipc.Event) bool { return e.Value.Bool() }, 20*time.Second)
	c.waitID("bench.set_many")
	return c
}

// wait waits until an event of id satisfies ok, and returns how long it took.
func (c *benchCluster) wait(id string, ok func(ipc.Event) bool, within time.Duration) time.Duration {
	c.b.Helper()
	t0 := time.Now()
	ch := make(chan struct{})
	var once sync.Once
	sub, err := c.app.Bus().Subscribe(id, func(e ipc.Event) {
		if ok(e) {
			once.Do(func() { close(ch) })
		}
	})
	if err != nil {
		c.b.Fatal(err)
	}
	defer sub.Close()
	select {
	case <-ch:
		return time.Since(t0)
	case <-time.After(within):
		c.b.Fatalf("%s: not there within %v\nmain's log:\n%s", id, within, c.log)
	}
	return 0
}

func (c *benchCluster) call(id string, args ...any) any {
	c.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.app.Bus().Call(ctx, id, args...)
	if err != nil {
		c.b.Fatalf("%s: %v\nmain's log:\n%s", id, err, c.log)
	}
	return res
}

// reportLoad reports the 1-minute load average.
func reportLoad(b *testing.B) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	f := strings.Fields(string(data))
	if l, err := strconv.ParseFloat(f[0], 64); err == nil {
		b.ReportMetric(l, "load")
	}
}

// warnings counts the lines of main's log at level WARN that contain s.
func (c *benchCluster) warnings(s string) int {
	n := 0
	for l := range strings.Lines(c.log.String()) {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// BenchmarkCrossNodeCall: calls of an action on pi1 from main's bus, one
// at a time (p50, p99, calls/s), and of an action on main from pi1's
// module (rev-p50, rev-p99).
func BenchmarkCrossNodeCall(b *testing.B) {
	c := newBenchCluster(b)
	const n = 5000
	for range 200 { // warm up
		c.call("bench.noop")
	}
	for b.Loop() {
		lat := make([]int64, 0, n)
		t := time.Now()
		for range n {
			t0 := time.Now()
			c.call("bench.noop")
			lat = append(lat, int64(time.Since(t0)))
		}
		el := time.Since(t)
		slices.Sort(lat)
		b.ReportMetric(float64(lat[n/2])/1e3, "p50-µs")
		b.ReportMetric(float64(lat[n*99/100])/1e3, "p99-µs")
		b.ReportMetric(float64(n)/el.Seconds(), "calls/s")
		var p50, p99 int64
		if _, err := fmt.Sscan(c.call("bench.call_main", n).(string), &p50, &p99); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(p50)/1e3, "rev-p50-µs")
		b.ReportMetric(float64(p99)/1e3, "rev-p99-µs")
	}
	reportLoad(b)
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCrossNodeEvents: pi1's module publishes events flat out, on one
// id or four; main's full subscriber counts what it receives and checks
// the order. events/s: received over the time from the first publish to
// the last value's arrival.
func BenchmarkCrossNodeEvents(b *testing.B) {
	for _, ids := range []int{1, 4, manyIDs} {
		b.Run("ids="+strconv.Itoa(ids), func(b *testing.B) { crossNodeEvents(b, ids, 0) })
	}
}

// BenchmarkCrossNodeEventsPaced: BenchmarkCrossNodeEvents with pi1's
// module publishing at a set rate, for 2 s: the rates at which nothing
// is lost.
func BenchmarkCrossNodeEventsPaced(b *testing.B) {
	for _, ids := range []int{1, manyIDs} {
		for _, rate := range []int{1000, 10_000, 50_000, 100_000} {
			b.Run(fmt.Sprintf("ids=%d/rate=%d", ids, rate), func(b *testing.B) { crossNodeEvents(b, ids, rate) })
		}
	}
}

// crossNodeEvents publishes on pi1, flat out (rate 0) or at rate events
// a second, and counts on main.
func crossNodeEvents(b *testing.B, ids, rate int) {
	c := newBenchCluster(b)
	n := 200_000
	if s := os.Getenv("NODETEST_BENCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	if rate > 0 {
		n = 2 * rate
	}
	var (
		got, disorder atomic.Int64
		lastSeen      atomic.Int64 // Unix ns of the last value's arrival
		mu            sync.Mutex
		prev          = map[string]float64{}
		want          atomic.Int64 // the last value; -1 while warming up
		done          = make(chan struct{}, 1)
		base          int    // the first value of the run
		seen          []bool // seen[i]: value base+i received
	)
	pattern, prefix := benchSeq, benchSeq
	switch {
	case ids == manyIDs:
		pattern, prefix = "bench.many.*", "bench.many."
	case ids > 1:
		pattern = "bench.*"
	}
	fn := func(e ipc.Event) {
		if ids > 1 && !strings.HasPrefix(e.ID, prefix) {
			return
		}
		v := e.Value.Number()
		mu.Lock()
		if p, ok := prev[e.ID]; ok && v <= p {
			disorder.Add(1)
		}
		prev[e.ID] = v
		if i := int(v) - base; i >= 0 && i < len(seen) {
			seen[i] = true
		}
		mu.Unlock()
		got.Add(1)
		if int64(v) == want.Load() {
			lastSeen.Store(time.Now().UnixNano())
			select {
			case done <- struct{}{}:
			default:
			}
		}
	}
	var sub *ipc.Subscription
	var err error
	if ids > 1 {
		sub, err = c.app.Bus().SubscribePattern(pattern, fn)
	} else {
		sub, err = c.app.Bus().Subscribe(pattern, fn)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	from := 1
	// Warm up: the follow reaches pi1, and every id has a value.
	warm := max(100, ids)
	want.Store(int64(from + warm - 1))
	c.call("bench.flood", from, warm, ids)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		b.Fatalf("the warm-up events never arrived\n%s", c.log)
	}
	from += warm
	coal0 := c.app.Bus().Coalesced()
	slow0 := c.warnings("slow consumer")
	behind0 := c.warnings("does not keep up")
	modCoal0 := c.call("bench.coalesced").(int64)
	onNATS := c.tap("kervi." + appName + ".ev.pi1.>")
	var rates, recv, lost, dis, nats []float64
	for b.Loop() {
		onNATS.Store(0)
		mu.Lock()
		base, seen = from, make([]bool, n)
		mu.Unlock()
		got.Store(0)
		disorder.Store(0)
		want.Store(int64(from + n - 1))
		var t0 int64
		if rate > 0 {
			t0 = c.call("bench.paced", from, n, ids, rate).(int64)
		} else {
			t0 = c.call("bench.flood", from, n, ids).(int64)
		}
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			b.Fatalf("the last event (%d) never arrived; %d received\n%s", from+n-1, got.Load(), c.log)
		}
		from += n
		el := float64(lastSeen.Load()-t0) / 1e9
		g := got.Load()
		recv = append(recv, float64(g)/el)
		rates = append(rates, float64(n)/el)
		lost = append(lost, float64(int64(n)-g))
		dis = append(dis, float64(disorder.Load()))
		nats = append(nats, float64(settle(onNATS, int64(n))))
		mu.Lock()
		var missing []int
		for i, ok := range seen {
			if !ok && len(missing) < 10 {
				missing = append(missing, i)
			}
		}
		mu.Unlock()
		if len(missing) > 0 {
			b.Logf("%d of %d events not received, %d crossed NATS; the first missing: #%v", int64(n)-g, n, onNATS.Load(), missing)
		}
	}
	med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	b.ReportMetric(med(recv), "recv-events/s")
	b.ReportMetric(med(rates), "published/s")
	b.ReportMetric(med(lost), "lost")
	b.ReportMetric(med(dis), "disorder")
	b.ReportMetric(med(nats), "on-nats")
	b.ReportMetric(float64(c.call("bench.coalesced").(int64)-modCoal0), "pi1-module-coalesced")
	b.ReportMetric(float64(c.app.Bus().Coalesced()-coal0), "main-bus-coalesced")
	b.ReportMetric(float64(c.warnings("slow consumer")-slow0), "slow-consumer-warnings")
	b.ReportMetric(float64(c.warnings("does not keep up")-behind0), "main-hub-behind-warnings")
	for l := range strings.Lines(c.log.String()) {
		if strings.Contains(l, "keep up") || strings.Contains(l, "caught up") {
			b.Log("main: ", strings.TrimSpace(l))
		}
	}
	reportLoad(b)
	b.ReportMetric(0, "ns/op")
}

// BenchmarkBurstLatest: a burst of 1 M events of one id on pi1; the time
// from the end of the burst (the action's return at main) to main seeing
// the last value.
func BenchmarkBurstLatest(b *testing.B) {
	c := newBenchCluster(b)
	const n = 1_000_000
	var want, seen atomic.Int64
	want.Store(-1)
	arrived := make(chan struct{}, 1)
	sub, err := c.app.Bus().Subscribe(benchSeq, func(e ipc.Event) {
		if int64(e.Value.Number()) == want.Load() {
			seen.Store(time.Now().UnixNano())
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
	}, ipc.LatestOnly())
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	from := 1
	want.Store(int64(from))
	c.call("bench.flood", from, 1, 1)
	<-arrived
	from++
	onNATS := c.tap("kervi." + appName + ".ev.pi1.>")
	var after, total, nats []float64
	for b.Loop() {
		onNATS.Store(0)
		want.Store(int64(from + n - 1))
		t0 := time.Now()
		c.call("bench.flood", from, n, 1)
		end := time.Now()
		select {
		case <-arrived:
		case <-time.After(60 * time.Second):
			b.Fatalf("the last value of the burst never arrived\n%s", c.log)
		}
		from += n
		after = append(after, float64(seen.Load()-end.UnixNano())/1e6)
		total = append(total, float64(seen.Load()-t0.UnixNano())/1e6)
		nats = append(nats, float64(settle(onNATS, n)))
	}
	slices.Sort(nats)
	b.ReportMetric(nats[len(nats)/2], "on-nats")
	slices.Sort(after)
	slices.Sort(total)
	b.ReportMetric(after[len(after)/2], "after-end-ms")
	b.ReportMetric(total[len(total)/2], "burst+after-ms")
	reportLoad(b)
	b.ReportMetric(0, "ns/op")
}

// BenchmarkResync: main follows 1,000 ids of pi1; the link through the
// proxy fails (blackhole or reset) until main marks pi1 offline, pi1
// changes every value meanwhile, and the link returns: the time until
// main holds the latest of all 1,000, from Pass and from pi1 online
// again on main.
func BenchmarkResync(b *testing.B) {
	for _, m := range []faultproxy.Mode{faultproxy.Blackhole, faultproxy.Reset} {
		b.Run(m.String(), func(b *testing.B) { resync(b, m) })
	}
}

func resync(b *testing.B, mode faultproxy.Mode) {
	c := newBenchCluster(b, envFast+"=1")
	bus := c.app.Bus()
	var mu sync.Mutex
	cur := map[string]float64{}
	var want float64
	var missing int
	all := make(chan time.Time, 1)
	sub, err := bus.SubscribePattern("bench.many.*", func(e ipc.Event) {
		mu.Lock()
		defer mu.Unlock()
		v := e.Value.Number()
		if cur[e.ID] != want && v == want {
			missing--
			if missing == 0 {
				all <- time.Now()
			}
		}
		cur[e.ID] = v
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	arm := func(v float64) {
		mu.Lock()
		want, missing = v, 0
		for i := range manyIDs {
			if cur["bench.many."+strconv.Itoa(i)] != v {
				missing++
			}
		}
		mu.Unlock()
	}
	online := kervi.NodeValueID("pi1", kervi.NodeOnline)
	v := 1.0
	arm(v)
	c.call("bench.set_many", v)
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		b.Fatalf("main never held all %d values (%d missing)\n%s", manyIDs, missing, c.log)
	}
	var fromPass, fromOnline, offline []float64
	for b.Loop() {
		v++
		arm(v)
		const delay = 1500 // ms: main notices pi1 offline within about 0.6–0.8 s
		armed := time.Now()
		c.call("bench.set_many_later", v, delay)
		c.proxy.SetMode(mode)
		offline = append(offline, float64(c.wait(online, func(e ipc.Event) bool { return !e.Value.Bool() }, 10*time.Second))/1e6)
		// pi1 sets the values at armed+delay; give it 300 ms to finish.
		time.Sleep(time.Until(armed.Add(delay*time.Millisecond + 300*time.Millisecond)))
		onl := make(chan time.Time, 1)
		osub, err := bus.Subscribe(online, func(e ipc.Event) {
			if e.Value.Bool() {
				select {
				case onl <- time.Now():
				default:
				}
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		pass := time.Now()
		c.proxy.SetMode(faultproxy.Pass)
		var tAll, tOnline time.Time
		select {
		case tAll = <-all:
		case <-time.After(20 * time.Second):
			mu.Lock()
			b.Fatalf("main never held all %d new values (%d missing)\n%s", manyIDs, missing, c.log)
		}
		select {
		case tOnline = <-onl:
		case <-time.After(10 * time.Second):
			b.Fatalf("pi1 never came back online\n%s", c.log)
		}
		osub.Close()
		// The values were set while the link was down.
		at, err := ipc.Get[float64](ipc.NewContext(context.Background(), bus), benchDone)
		if err != nil {
			b.Fatal(err)
		}
		if int64(at) > pass.UnixNano() {
			b.Fatalf("pi1 set the values %v after Pass: the test's timing is wrong", time.Duration(int64(at)-pass.UnixNano()))
		}
		fromPass = append(fromPass, float64(tAll.Sub(pass))/1e6)
		fromOnline = append(fromOnline, float64(tAll.Sub(tOnline))/1e6)
		// Wait until pi1 is online for good before the next round.
		c.wait(online, func(e ipc.Event) bool { return e.Value.Bool() }, 10*time.Second)
	}
	med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	b.ReportMetric(med(fromPass), "from-pass-ms")
	b.ReportMetric(med(fromOnline), "from-online-ms")
	b.ReportMetric(med(offline), "to-offline-ms")
	reportLoad(b)
	b.ReportMetric(0, "ns/op")
}
