package kervi_test

// Benchmarks of an observer that follows every id, latest only, as a
// dashboard does (issue 6): how fresh what it sees is, and what it costs
// the application's throughput. Run them with
//
//	go test -run '^$' -bench 'Observer|Observed' -benchtime 1x .

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

func init() {
	// "fleet": 1000 values updated at 10 Hz each, and an observer.
	testApps["fleet"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{fleetModule(1000), observerModule()}, opts...)
	}
	// "bench-observed": the benchmark application with an observer.
	testApps["bench-observed"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication(append(benchModules(), observerModule()), opts...)
	}
}

// fleetModule owns the number values fleet.0 .. fleet.<n-1>.
func fleetModule(n int) kervi.Module {
	return kervi.Module{Name: "fleet", Setup: func(ctx context.Context, b *ipc.Bus) error {
		var vals []*values.Number
		for i := range n {
			vals = append(vals, values.NewNumber(b, fmt.Sprintf("fleet.%d", i), "Fleet", values.Output()))
		}
		// run updates every value at hz, rounds times: value r in round r.
		// The updates are spread evenly: every millisecond, those due.
		actions.Register(b, "fleet.run", func(ctx context.Context, rounds int, hz float64) error {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			total := rounds * len(vals)
			rate := hz * float64(len(vals))
			start := time.Now()
			for i := 0; i < total; {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return ctx.Err()
				}
				due := min(total, int(time.Since(start).Seconds()*rate))
				for ; i < due; i++ {
					if err := vals[i%len(vals)].Set(float64(i / len(vals))); err != nil {
						return err
					}
				}
			}
			return nil
		})
		return nil
	}}
}

// observerModule follows every id, latest only, and records how long each
// event it sees took from its publisher to it.
func observerModule() kervi.Module {
	return kervi.Module{Name: "observer", Setup: func(ctx context.Context, b *ipc.Bus) error {
		var mu sync.Mutex
		var delays []int64
		last := map[string]float64{}
		changed := make(chan struct{})
		if _, err := b.SubscribePattern(">", func(ev ipc.Event) {
			d := time.Since(ev.Time).Nanoseconds()
			mu.Lock()
			if len(delays) < 10_000_000 {
				delays = append(delays, d)
			}
			if ev.Value.Type() == ipc.TypeNumber {
				last[ev.ID] = ev.Value.Number()
			}
			close(changed)
			changed = make(chan struct{})
			mu.Unlock()
		}, ipc.LatestOnly()); err != nil {
			return err
		}
		reg := func(id string, fn any) {
			actions.Register(b, id, fn, actions.WithMode(actions.Concurrent))
		}
		reg("observer.reset", func() {
			mu.Lock()
			delays = delays[:0]
			mu.Unlock()
		})
		// wait waits until the value of every id with prefix is v, then
		// returns the delays seen since the reset, and their count.
		reg("observer.wait", func(ctx context.Context, prefix string, ids int, v float64) (map[string]any, error) {
			for {
				mu.Lock()
				n := 0
				for id, x := range last {
					if strings.HasPrefix(id, prefix) && x == v {
						n++
					}
				}
				ch := changed
				if n == ids {
					r := percentiles(slices.Clone(delays))
					r["count"] = len(delays)
					mu.Unlock()
					return r, nil
				}
				mu.Unlock()
				select {
				case <-ch:
				case <-ctx.Done():
					return nil, fmt.Errorf("%d of %d ids at %v: %w", n, ids, v, ctx.Err())
				}
			}
		})
		return nil
	}}
}

// BenchmarkObserverLatest1000Ids: an observer that follows every id, latest
// only, in a module process of its own, while 1000 values in another are
// updated at 10 Hz each (10 000 events/s): how long each update took to
// reach it (p50, p99, max), and the share of the updates it saw (the rest
// were coalesced: it saw a later one instead).
func BenchmarkObserverLatest1000Ids(b *testing.B) {
	_, ctx, stop := startBenchApp(b, "fleet")
	defer stop()
	const ids, hz, rounds = 1000, 10, 50 // 5 s
	for b.Loop() {
		benchCall(b, ctx, "observer.reset")
		benchCall(b, ctx, "fleet.run", rounds, hz)
		r := benchCall(b, ctx, "observer.wait", "fleet.", ids, rounds-1).(map[string]any)
		b.ReportMetric(float64(r["p50"].(int64))/1e6, "p50-ms")
		b.ReportMetric(float64(r["p99"].(int64))/1e6, "p99-ms")
		b.ReportMetric(float64(r["max"].(int64))/1e6, "max-ms")
		b.ReportMetric(100*float64(r["count"].(int64))/(ids*rounds), "seen-%")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEventThroughputObserved is BenchmarkEventThroughput with an
// observer that follows every id, latest only, in a module process of its
// own.
func BenchmarkEventThroughputObserved(b *testing.B) { eventThroughput(b, "bench-observed") }
