// Command soak runs a kervi application under faults for a while and checks
// that it neither leaks nor loses: a source module publishes a counter at a
// steady rate, a sink module follows it and checks that it sees every
// value in order, a slow module follows it with a slow callback (its events
// are coalesced), and meanwhile the source is killed with SIGKILL every
// -kill-every and a "sleeper" module is stopped with SIGSTOP for -stop-for
// every -stop-every (its heartbeat detects it; it is killed and restarted).
//
// At the end the parent's resident memory must be within 10 % of what it
// was after the first minute (or the first third of a shorter run), its
// goroutines and open files back where they were once the application was
// ready, and the sink must have seen no gap and no reordering. It prints
// the figures and exits with status 1 if a check failed.
//
//	go run ./internal/soak                 # 10 minutes, as in docs/benchmarks.md
//	go run ./internal/soak -duration 30s -kill-every 5s -stop-every 15s -stop-for 7s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/logx"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

var (
	duration  = flag.Duration("duration", 10*time.Minute, "how long to run")
	rate      = flag.Int("rate", 10000, "events per second the source publishes")
	killEvery = flag.Duration("kill-every", 20*time.Second, "kill the source with SIGKILL this often")
	stopEvery = flag.Duration("stop-every", time.Minute, "stop the sleeper with SIGSTOP this often")
	stopFor   = flag.Duration("stop-for", 10*time.Second, "for this long (it is killed by the heartbeat before)")
	verbose   = flag.Bool("v", false, "log the application at info level (default: warnings)")
)

const counterID = "soak.counter"

// source publishes the counter at -rate events per second, continuing from
// the value it had before it was killed.
var source = kervi.Module{Name: "source", Setup: func(ctx context.Context, b *ipc.Bus) error {
	next := 0.0
	if ev, ok := b.Restored(counterID); ok {
		next = ev.Value.Number() + 1
	}
	counter := values.NewNumber(b, counterID, "Counter", values.Output())
	b.OnAppReady(func(ctx context.Context) {
		const tick = time.Millisecond
		per := max(1, *rate/int(time.Second/tick))
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for range per {
				if err := counter.Set(next); err != nil {
					b.ReportError(err)
				}
				next++
			}
		}
	})
	return nil
}}

// follower checks that it sees the counter complete and in order: each
// value is the last one plus one, or the last one again (a restarted
// source publishes its last value again). slow makes its callback slow.
type follower struct {
	mu                   sync.Mutex
	last                 float64
	count, gaps, reorder int
}

func (f *follower) see(v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.count == 0 || v == f.last+1 || v == f.last:
	case v < f.last:
		f.reorder++
	default:
		f.gaps++
	}
	f.count++
	f.last = v
}

func (f *follower) stats() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]int64{"count": int64(f.count), "gaps": int64(f.gaps), "reorder": int64(f.reorder), "last": int64(f.last)}
}

func followerModule(name string, slow time.Duration) kervi.Module {
	return kervi.Module{Name: name, Setup: func(ctx context.Context, b *ipc.Bus) error {
		f := &follower{}
		if _, err := b.Subscribe(counterID, func(ev ipc.Event) {
			if slow > 0 {
				time.Sleep(slow) // the slow subscriber under test
			}
			f.see(ev.Value.Number())
		}); err != nil {
			return err
		}
		actions.Register(b, name+".stats", f.stats, actions.WithMode(actions.Concurrent))
		return nil
	}}
}

func newApp(log *slog.Logger) (*kervi.Application, error) {
	return kervi.NewApplication([]kervi.Module{
		source,
		followerModule("sink", 0),
		followerModule("slow", time.Millisecond),
		followerModule("sleeper", 0),
	},
		kervi.WithName("soak"),
		kervi.WithLogger(log),
		// The source is killed every few seconds on purpose: do not give up
		// on it, and count it as stable soon.
		kervi.WithRestartPolicy(kervi.RestartPolicy{Initial: 50 * time.Millisecond, Max: time.Second,
			MaxRestarts: 1 << 20, StableAfter: 5 * time.Second}))
}

func main() {
	flag.Parse()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(logx.NewConsole(os.Stderr, level))
	app, err := newApp(log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if kervi.IsModuleProcess() {
		_ = app.Run(context.Background()) // never returns in a module process
	}
	if err := soak(app); err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("soak: ok")
}

func soak(app *kervi.Application) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	select {
	case <-app.Ready():
	case err := <-errc:
		return fmt.Errorf("start: %w", err)
	case <-time.After(time.Minute):
		return errors.New("not ready after a minute")
	}
	bctx := ipc.NewContext(ctx, app.Bus())
	start := time.Now()
	base := sample()
	fmt.Printf("soak: %v at %d events/s; source killed every %v; sleeper stopped for %v every %v\n",
		*duration, *rate, *killEvery, *stopFor, *stopEvery)
	fmt.Printf("soak: at start: %s\n", base)

	refAt := min(time.Minute, *duration/3)
	var ref snapshot
	kills, stops := 0, 0
	var stopped []int // pids of the sleepers stopped
	killT := time.NewTicker(*killEvery)
	stopT := time.NewTicker(*stopEvery)
	refT := time.NewTimer(refAt)
	end := time.NewTimer(*duration)
	defer killT.Stop()
	defer stopT.Stop()
loop:
	for {
		select {
		case <-killT.C:
			if pid := pidOf(app, "source"); pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				kills++
			}
		case <-stopT.C:
			if pid := pidOf(app, "sleeper"); pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGSTOP)
				stops++
				stopped = append(stopped, pid)
				time.AfterFunc(*stopFor, func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) // if it still exists
			}
		case <-refT.C:
			ref = settled(app, stopped)
			fmt.Printf("soak: after %v: %s\n", refAt, ref)
		case <-end.C:
			break loop
		case err := <-errc:
			return fmt.Errorf("the application ended early: %v", err)
		}
	}
	killT.Stop()
	stopT.Stop()
	final := settled(app, stopped)
	fmt.Printf("soak: after %v: %s\n", time.Since(start).Round(time.Second), final)

	var failures []string
	sink, err := actions.CallAs[map[string]int64](bctx, "sink.stats")
	if err != nil {
		return fmt.Errorf("sink.stats: %w", err)
	}
	slow, _ := actions.CallAs[map[string]int64](bctx, "slow.stats")
	fmt.Printf("soak: sink saw %d events (last %d), %d gaps, %d reordered; slow subscriber saw %d (last %d)\n",
		sink["count"], sink["last"], sink["gaps"], sink["reorder"], slow["count"], slow["last"])
	for _, m := range app.Modules() {
		fmt.Printf("soak: module %-8s %-10s restarts %-3d coalesced %d\n", m.Name, m.State, m.Restarts, m.Coalesced)
	}
	fmt.Printf("soak: %d kills, %d stops\n", kills, stops)
	if sink["gaps"] != 0 || sink["reorder"] != 0 {
		failures = append(failures, fmt.Sprintf("the sink, which keeps up, saw %d gaps and %d reordered events", sink["gaps"], sink["reorder"]))
	}
	if sink["count"] < int64(float64(*rate)*duration.Seconds()/2) {
		failures = append(failures, fmt.Sprintf("the sink saw only %d events", sink["count"]))
	}
	if ref.rss > 0 && (final.rss > ref.rss*1.10) {
		failures = append(failures, fmt.Sprintf("RSS grew from %.1f MiB to %.1f MiB (more than 10 %%)", ref.rss, final.rss))
	}
	if final.goroutines > base.goroutines {
		failures = append(failures, fmt.Sprintf("goroutines: %d at start, %d at the end", base.goroutines, final.goroutines))
	}
	if final.fds > base.fds {
		failures = append(failures, fmt.Sprintf("open files: %d at start, %d at the end", base.fds, final.fds))
	}
	if stops > 0 && !restartedSleeper(app) {
		failures = append(failures, "the stopped sleeper was never restarted")
	}

	cancel()
	if err := <-errc; err != nil {
		failures = append(failures, "stop: "+err.Error())
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

// snapshot is what the parent holds.
type snapshot struct {
	rss        float64 // MiB
	goroutines int
	fds        int
}

func (s snapshot) String() string {
	return fmt.Sprintf("parent RSS %.1f MiB, %d goroutines, %d open files", s.rss, s.goroutines, s.fds)
}

func sample() snapshot {
	return snapshot{rss: rssMiB(), goroutines: runtime.NumGoroutine(), fds: openFiles()}
}

// settled waits until every module is ready again (none is between a
// fault and its restart, and every stopped process was replaced) and takes
// a snapshot then, the lowest of a few.
func settled(app *kervi.Application, stopped []int) snapshot {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ready := true
		for _, m := range app.Modules() {
			ready = ready && m.State == kervi.StateReady
		}
		for _, pid := range stopped {
			ready = ready && pidOf(app, "sleeper") != pid
		}
		if ready {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling states that announce themselves elsewhere
	}
	debug.FreeOSMemory() // a collection, and memory returned: RSS is what is held
	s := sample()
	for range 20 { // goroutines of a restart may still be winding down
		time.Sleep(50 * time.Millisecond)
		n := sample()
		s.goroutines, s.fds = min(s.goroutines, n.goroutines), min(s.fds, n.fds)
	}
	return s
}

func pidOf(app *kervi.Application, module string) int {
	for _, m := range app.Modules() {
		if m.Name == module && m.State == kervi.StateReady {
			return m.PID
		}
	}
	return 0
}

func restartedSleeper(app *kervi.Application) bool {
	for _, m := range app.Modules() {
		if m.Name == "sleeper" {
			return m.Restarts > 0
		}
	}
	return false
}

func rssMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

func openFiles() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}
