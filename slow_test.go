package kervi_test

// Slow and hung processes cannot hurt the others (issue 5, section 2): a
// slow subscriber gets coalesced events in bounded memory and still answers
// and stops; a stopped subscriber holds no producer back; a process that no
// longer answers, or whose stream died while it lives, is noticed, stopped
// and restarted; a slow callback or action is not mistaken for a hung
// process.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

func init() {
	// "slow-subscriber": a source of about 20 000 events/s, a subscriber
	// that takes 1.3 ms per event and one that keeps up.
	testApps["slow-subscriber"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{sourceModule("source"), slowModule("slow"), followerModule("fast", "source.n")}, opts...)
	}
	// "stopped-subscriber": a source, a module that follows it and a value
	// of the parent (and gets stopped), and a subscriber that keeps up.
	testApps["stopped-subscriber"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{sourceModule("source"), victimModule("victim"), followerModule("watcher", "source.n")}, opts...)
	}
	// "hang": a module with a slow action and a slow callback.
	testApps["hang"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{sleepyModule("sleepy")}, opts...)
	}
	// "cut": a module that can break its own streams.
	testApps["cut"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{cutterModule("cutter")}, opts...)
	}
}

// note appends a line to the file name in $KERVI_TEST_DIR, for what tests
// check after a process ended.
func note(name, line string) {
	f, err := os.OpenFile(filepath.Join(os.Getenv(envDir), name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "note:", err)
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

// sourceModule owns the string value <name>.n, whose content is a counter
// (initially -1) followed by padding, and publishes its values on demand,
// paced by a ticker.
func sourceModule(name string) kervi.Module {
	return kervi.Module{Name: name, Setup: func(ctx context.Context, b *ipc.Bus) error {
		n := values.NewString(b, name+".n", "Counter", values.Output(), values.Initial("-1"))
		var published atomic.Int64
		var mu sync.Mutex
		done := make(chan struct{})
		close(done)
		reg := register(b)
		// run publishes from, from+1, ... (count events) at rate per
		// second, each with pad bytes of padding: every millisecond, the
		// events that are due (at most 200, after a pause).
		reg(name+".run", func(rate float64, from, count, pad int) {
			mu.Lock()
			defer mu.Unlock()
			<-done // one run at a time
			done = make(chan struct{})
			finished := done
			published.Store(0)
			padding := " " + strings.Repeat("x", pad)
			b.Go(func(ctx context.Context) {
				defer close(finished)
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				start := time.Now()
				for i := 0; i < count; {
					select {
					case <-tick.C:
					case <-ctx.Done():
						return
					}
					due := min(count, int(time.Since(start).Seconds()*rate), i+200)
					for ; i < due; i++ {
						if err := n.Set(strconv.Itoa(from+i) + padding); err != nil {
							b.Logger().Error("publish", "error", err)
							return
						}
						published.Store(int64(i + 1))
					}
				}
			})
		})
		// wait returns how many events the current run published, once it
		// is over.
		reg(name+".wait", func(ctx context.Context) (int64, error) {
			mu.Lock()
			finished := done
			mu.Unlock()
			select {
			case <-finished:
				return published.Load(), nil
			case <-ctx.Done():
				return published.Load(), ctx.Err()
			}
		}, actions.WithMode(actions.Concurrent))
		reg(name+".count", func() int64 { return published.Load() }, actions.WithMode(actions.Concurrent))
		return nil
	}}
}

// counter returns the counter in the content of a source's value.
func counter(ev ipc.Event) float64 {
	s, _, _ := strings.Cut(ev.Value.Text(), " ")
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -100 // counts as a gap
	}
	return v
}

// follower follows an id, checking that it sees -1, 0, 1, 2, ... with
// nothing missing and nothing out of order.
type follower struct {
	mu      sync.Mutex
	count   int64 // events seen
	gaps    int64 // events that did not follow the one before
	last    float64
	changed chan struct{}
}

func newFollower() *follower {
	return &follower{last: -2, changed: make(chan struct{}, 1)}
}

func (f *follower) see(v float64) {
	f.mu.Lock()
	f.count++
	if v != f.last+1 && v != -1 { // a new run starts again at 0 after -1
		if !(v == 0 && f.last >= 0) {
			f.gaps++
		}
	}
	f.last = v
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *follower) stats() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]any{"count": f.count, "gaps": f.gaps, "last": f.last}
}

// until waits until the last value seen is at least v.
func (f *follower) until(ctx context.Context, v float64) (map[string]any, error) {
	for {
		f.mu.Lock()
		last := f.last
		f.mu.Unlock()
		if last >= v {
			return f.stats(), nil
		}
		select {
		case <-f.changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("saw %v: %w", f.stats(), ctx.Err())
		}
	}
}

// followerModule follows source and keeps up: <name>.wait(v) returns what
// it saw once it saw v.
func followerModule(name, source string) kervi.Module {
	return kervi.Module{Name: name, Setup: func(ctx context.Context, b *ipc.Bus) error {
		f := newFollower()
		if _, err := b.Subscribe(source, func(ev ipc.Event) { f.see(counter(ev)) }); err != nil {
			return err
		}
		reg := register(b)
		reg(name+".wait", f.until, actions.WithMode(actions.Concurrent))
		return nil
	}}
}

// slowModule follows source.n through an input whose OnChange takes 1.3 ms
// per change: a subscriber that handles about 750 events/s.
func slowModule(name string) kervi.Module {
	return kervi.Module{Name: name, Setup: func(ctx context.Context, b *ipc.Bus) error {
		in := values.NewString(b, name+".in", "In")
		var handled atomic.Int64
		in.OnChange(func(ctx context.Context, v string) {
			time.Sleep(1300 * time.Microsecond) // the slow callback under test
			handled.Add(1)
		})
		if _, err := in.Link("source.n", nil); err != nil {
			return err
		}
		b.OnStop(func(ctx context.Context) error {
			note(name+"-stop", fmt.Sprintf("stop hook ran in %d", os.Getpid()))
			return nil
		})
		reg := register(b)
		reg(name+".pid", func() int { return os.Getpid() })
		reg(name+".handled", func() int64 { return handled.Load() }, actions.WithMode(actions.Concurrent))
		return nil
	}}
}

// victimModule follows source.n and the parent's value parent.level; the
// test stops its process.
func victimModule(name string) kervi.Module {
	return kervi.Module{Name: name, Setup: func(ctx context.Context, b *ipc.Bus) error {
		source, level := newFollower(), newFollower()
		if _, err := b.Subscribe("source.n", func(ev ipc.Event) { source.see(counter(ev)) }); err != nil {
			return err
		}
		if _, err := b.Subscribe("parent.level", func(ev ipc.Event) { level.see(ev.Value.Number()) }); err != nil {
			return err
		}
		reg := register(b)
		reg(name+".pid", func() int { return os.Getpid() })
		reg(name+".wait_source", source.until, actions.WithMode(actions.Concurrent))
		reg(name+".wait_level", level.until, actions.WithMode(actions.Concurrent))
		reg(name+".stall_timeout", func() string { return b.Limits().StallTimeout.String() })
		return nil
	}}
}

// busyResult keeps the busy work of a callback from being optimised away.
var busyResult atomic.Int64

// sleepyModule has an action that sleeps and a callback that computes for
// as long as they are told.
func sleepyModule(name string) kervi.Module {
	return kervi.Module{Name: name, Setup: func(ctx context.Context, b *ipc.Bus) error {
		load := values.NewNumber(b, name+".load", "Load")
		spun := make(chan struct{}, 10)
		load.OnChange(func(ctx context.Context, ms float64) {
			// A slow callback: it computes, on the dispatcher, for ms.
			end := time.Now().Add(time.Duration(ms) * time.Millisecond)
			x := 1
			for time.Now().Before(end) {
				for i := range 1000 {
					x = x*31 + i
				}
			}
			busyResult.Store(int64(x))
			spun <- struct{}{}
		})
		reg := register(b)
		reg(name+".pid", func() int { return os.Getpid() })
		reg(name+".sleep", func(ms int) {
			time.Sleep(time.Duration(ms) * time.Millisecond) // the slow action under test
		})
		reg(name+".spin", func(ms float64) error { return load.Set(ms) })
		reg(name+".spun", func(ctx context.Context) error {
			select {
			case <-spun:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}, actions.WithMode(actions.Concurrent))
		return nil
	}}
}

// cutterModule can break the connection of its process to the parent
// while the process lives on; its stop hook records that it ran, then
// blocks until the stop deadline, so that the process lives a while.
func cutterModule(name string) kervi.Module {
	return kervi.Module{Name: name, Setup: func(ctx context.Context, b *ipc.Bus) error {
		b.OnStop(func(ctx context.Context) error {
			note(name+"-stop", fmt.Sprintf("stop hook ran in %d", os.Getpid()))
			<-ctx.Done()
			return nil
		})
		reg := register(b)
		reg(name+".pid", func() int { return os.Getpid() })
		reg(name+".cut", func() (int, error) {
			fds, err := connectedUnixSockets()
			if err != nil {
				return 0, err
			}
			if len(fds) == 0 {
				return 0, errors.New("no connected unix socket")
			}
			b.Logger().Info("shutting down the connection's sockets", "fds", fmt.Sprint(fds))
			for _, fd := range fds {
				if err := syscall.Shutdown(fd, syscall.SHUT_RDWR); err != nil {
					return 0, fmt.Errorf("shutdown(%d): %w", fd, err)
				}
			}
			return len(fds), nil
		})
		return nil
	}}
}

// connectedUnixSockets returns the file descriptors of this process's
// connected unix stream sockets, past stdin, stdout and stderr. In a
// module process that is the connection from the parent, which carries
// both streams (and go-plugin's own services): go-plugin's listener is a
// unix socket too, but a listening one (SO_ACCEPTCONN), and is left alone,
// as are the pipes of stdout and stderr, which are not sockets.
func connectedUnixSockets() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || !strings.HasPrefix(target, "socket:") {
			continue
		}
		if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
			continue
		}
		if dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || dom != unix.AF_UNIX {
			continue
		}
		if listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || listening != 0 {
			continue
		}
		if _, err := unix.Getpeername(fd); err != nil {
			continue // not connected
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// procStatus returns a field of /proc/<pid>/status in bytes (VmRSS, VmHWM).
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s of %d: %q", field, pid, rest)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// callWithin calls id with a deadline of d and returns what it returned.
func (r *running) callWithin(d time.Duration, id string, args ...any) (any, error) {
	ctx, cancel := context.WithTimeout(r.ctx, d)
	defer cancel()
	return r.app.Bus().Call(ctx, id, args...)
}

// module returns the status of the named module.
func (r *running) module(t *testing.T, name string) kervi.ModuleStatus {
	t.Helper()
	for _, s := range r.app.Modules() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no module %q", name)
	return kervi.ModuleStatus{}
}

// waitModule waits until the named module's status satisfies cond. The
// status has no event for every change (a process reports what it
// coalesced in its heartbeat answers), so it is read every 20 ms.
func (r *running) waitModule(t *testing.T, name string, within time.Duration, cond func(kervi.ModuleStatus) bool) kervi.ModuleStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s := r.module(t, name); cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("module %q: condition not met within %v; status %+v", name, within, r.module(t, name))
		}
		<-tick.C
	}
}

// countLines counts the log records that contain every one of parts.
func countLines(lines []string, parts ...string) int {
	n := 0
	for _, l := range lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// raceBuild reports whether the test binary runs under the race
// detector, which multiplies the memory a process takes.
func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// A subscriber that handles 750 events/s while 20 000 arrive each second
// gets the latest of its value rather than a backlog: its memory stays
// bounded, it reports what it coalesced once per episode, it answers calls
// and stops when told; a subscriber that keeps up still gets every event,
// in order.
func TestSlowSubscriberStaysBounded(t *testing.T) {
	const (
		rate    = 20000
		seconds = 6
		events  = rate * seconds
		pad     = 300 // bytes of padding in each event
		// With the default limits the slow module's events are coalesced
		// once it fails to keep up for the stall timeout. Before the fix
		// its backlog grew without bound, by about 13 MiB/s under this
		// load (81 MiB in 6 s; 363 MB in 60 s in the issue, with smaller
		// events).
		maxGrowth   = 40 << 20
		stopTimeout = 5 * time.Second
	)
	growth := int64(maxGrowth)
	if raceBuild() {
		growth *= 3
	}
	dir := t.TempDir()
	r := startApp(t, "slow-subscriber", kervi.WithModuleEnv(envDir+"="+dir), kervi.WithStopTimeout(stopTimeout))
	slow := r.module(t, "slow")
	rss0 := procStatus(t, slow.PID, "VmRSS")

	r.call(t, "source.run", rate, 0, events, pad)
	// Halfway through, by the subscriber that keeps up, the slow one is far
	// behind: a call to it is answered at once all the same.
	r.call(t, "fast.wait", events/2)
	handled, err := r.callWithin(2*time.Second, "slow.handled")
	if err != nil {
		t.Errorf("a call to the slow module while it is behind: %v", err)
	} else {
		t.Logf("halfway: the slow module handled %v events", handled)
	}
	if got := r.call(t, "source.wait"); got != int64(events) {
		t.Fatalf("source published %v events, want %d", got, events)
	}
	// The subscriber that keeps up saw every event, in order: the initial
	// -1, then 0 .. events-1.
	stats := r.call(t, "fast.wait", events-1).(map[string]any)
	if stats["count"] != int64(events+1) || stats["gaps"] != int64(0) {
		t.Errorf("the fast subscriber saw %v, want %d events and no gaps", stats, events+1)
	}
	if fast := r.module(t, "fast"); fast.Coalesced != 0 {
		t.Errorf("the fast subscriber's events were coalesced: %+v", fast)
	}

	rss, hwm := procStatus(t, slow.PID, "VmRSS"), procStatus(t, slow.PID, "VmHWM")
	t.Logf("slow module: VmRSS %d MiB before the load, %d MiB after it, peak %d MiB", rss0>>20, rss>>20, hwm>>20)
	if hwm-rss0 > growth {
		t.Errorf("the slow module's memory grew by %d MiB, more than %d MiB", (hwm-rss0)>>20, growth>>20)
	}

	// Each episode of coalescing in the slow module's process is logged
	// once when it starts, once when it ends (the last one may still run),
	// with what it coalesced.
	lines := r.logs.lines()
	starts := countLines(lines, "not keeping up", "module=slow")
	var ends int
	var own uint64 // coalesced in the episodes that ended
	for _, l := range lines {
		if strings.Contains(l, "caught up with value events") && strings.Contains(l, "module=slow") {
			ends++
			_, rest, _ := strings.Cut(l, " coalesced=")
			n, err := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatalf("log record %q", l)
			}
			own += n
		}
	}
	t.Logf("the slow module logged %d episodes of coalescing, %d of them over, coalescing %d events; the hub logged %d",
		starts, ends, own, countLines(lines, "module does not keep up", "module=slow"))
	if starts < 1 || starts > 50 || ends > starts || ends < starts-1 {
		t.Errorf("%d episodes started and %d ended: want one record at each start and end", starts, ends)
	}
	if n := countLines(lines, "keep", "module=fast"); n != 0 {
		t.Errorf("the fast subscriber fell behind %d times", n)
	}
	// The process reports what it coalesced with its heartbeat: the
	// module's status counts it (with what the hub coalesced for it).
	st := r.waitModule(t, "slow", 10*time.Second, func(s kervi.ModuleStatus) bool { return s.Coalesced > 0 && s.Coalesced >= own })
	t.Logf("slow module: %+v", st)
	if st.State != kervi.StateReady || st.PID != slow.PID {
		t.Errorf("slow module %+v, want ready in pid %d", st, slow.PID)
	}

	// The stop is not stuck behind the slow module's backlog: stopped
	// under load, Run returns within the stop timeout, and the module's
	// stop hook ran.
	r.call(t, "source.run", rate, events, 10*rate, pad)
	r.call(t, "fast.wait", events+rate)
	t0 := time.Now()
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(t0); took > stopTimeout {
		t.Errorf("the application took %v to stop, more than the stop timeout %v", took, stopTimeout)
	} else {
		t.Logf("stopped in %v", took)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "slow-stop"))
	if want := fmt.Sprintf("stop hook ran in %d\n", slow.PID); string(b) != want {
		t.Errorf("slow module's stop notes %q, want %q", b, want)
	}
	waitGone(t, slow.PID, 5*time.Second)
}

// A stopped subscriber holds back no producer: while the process that
// follows a module's value and a value of the parent is stopped (SIGSTOP),
// the module keeps publishing at full rate, the parent's own writes of its
// value return, and the parent's calls are answered; once resumed, the
// subscriber gets the latest content of both.
func TestStoppedSubscriberHoldsNoProducerBack(t *testing.T) {
	const (
		rate   = 20000
		events = rate * 4
		// How long a process that reads nothing holds back the publishers
		// of its events, before they are coalesced for it instead: shorter
		// than the default (500 ms), so that the deadlines below are far
		// from it.
		stall = 200 * time.Millisecond
		// Before the fix the producer, the parent's writes and its calls
		// were held for as long as the subscriber was stopped (29 s in the
		// issue), once the queues to it were full.
		within = 5 * time.Second
	)
	// The heartbeat would kill the stopped process after 5 s; the test
	// resumes it instead, and checks that it catches up.
	r := startApp(t, "stopped-subscriber", kervi.WithHeartbeat(time.Second, time.Minute),
		kervi.WithLimits(ipc.Limits{StallTimeout: stall}))
	// Every process applies the application's limits.
	if got := r.call(t, "victim.stall_timeout"); got != stall.String() {
		t.Errorf("the module process's stall timeout is %v, want %v", got, stall)
	}
	level := values.NewNumber(r.app.Bus(), "parent.level", "Level", values.Output(), values.Initial(-1))
	if err := level.Err(); err != nil {
		t.Fatal(err)
	}
	// The victim follows both values.
	r.call(t, "victim.wait_level", -1)
	r.call(t, "victim.wait_source", -1)
	victim := r.module(t, "victim")

	if err := syscall.Kill(victim.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(victim.PID, syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		}
	}
	defer resume()

	// The parent writes its value 50 000 times, as fast as it can.
	const sets = 50000
	setDone := make(chan error, 1)
	go func() {
		t0 := time.Now()
		for i := range sets {
			if err := level.Set(float64(i)); err != nil {
				setDone <- err
				return
			}
		}
		t.Logf("the parent wrote its value %d times in %v", sets, time.Since(t0))
		setDone <- nil
	}()
	// The parent's calls are answered while it writes.
	if _, err := r.callWithin(2*time.Second, "source.run", rate, 0, events, 0); err != nil {
		t.Fatalf("the parent's call to the producer: %v", err)
	}
	// The producer keeps publishing: the watcher, which keeps up, sees all
	// of its events.
	stats, err := r.callWithin(2*within, "watcher.wait", events-1)
	if err != nil {
		n, _ := r.callWithin(2*time.Second, "source.count")
		t.Fatalf("the producer is held back by the stopped subscriber: %v; it published %v events", err, n)
	}
	if s := stats.(map[string]any); s["count"] != int64(events+1) || s["gaps"] != int64(0) {
		t.Errorf("the watcher saw %v, want %d events and no gaps", s, events+1)
	}
	select {
	case err := <-setDone:
		if err != nil {
			t.Fatalf("the parent's Set: %v", err)
		}
	case <-time.After(within):
		t.Fatalf("the parent's %d writes of its value did not return within %v", sets, within)
	}
	// The parent's calls are answered.
	for range 10 {
		if n, err := r.callWithin(2*time.Second, "source.count"); err != nil || n != int64(events) {
			t.Fatalf("the parent's call to the producer: %v, %v", n, err)
		}
	}
	// The stopped process did not see all that happened (or the test did
	// not test anything).
	if st := r.module(t, "victim"); st.State != kervi.StateReady || !st.Behind && st.Coalesced == 0 {
		t.Errorf("the stopped module's status %+v: want ready, behind", st)
	}

	// Resumed, it catches up: it gets the latest content of both values.
	resume()
	if _, err := r.callWithin(within, "victim.wait_source", events-1); err != nil {
		t.Errorf("the resumed module never saw the producer's last event: %v", err)
	}
	if _, err := r.callWithin(within, "victim.wait_level", sets-1); err != nil {
		t.Errorf("the resumed module never saw the parent's last write: %v", err)
	}
	st := r.module(t, "victim")
	t.Logf("victim: %+v", st)
	if st.PID != victim.PID || st.State != kervi.StateReady {
		t.Errorf("the resumed module %+v, want ready in pid %d", st, victim.PID)
	}
}

// A process that no longer answers (SIGSTOP) is noticed by the heartbeat,
// killed and restarted, and calls to it fail rather than hang; a process
// whose action or callback is slow answers its heartbeat all the same.
func TestHungModuleIsRestarted(t *testing.T) {
	const timeout = time.Second
	r := startApp(t, "hang", kervi.WithHeartbeat(200*time.Millisecond, timeout))
	first := r.module(t, "sleepy")
	for len(r.states) > 0 { // the start
		<-r.states
	}

	// A slow action and a slow callback (it computes, on the dispatcher),
	// side by side, each for three heartbeat timeouts.
	slept := make(chan error, 1)
	go func() {
		_, err := r.callWithin(10*timeout, "sleepy.sleep", int(3*timeout/time.Millisecond))
		slept <- err
	}()
	r.call(t, "sleepy.spin", float64(3*timeout/time.Millisecond))
	if _, err := r.callWithin(10*timeout, "sleepy.spun"); err != nil {
		t.Fatalf("slow callback: %v", err)
	}
	if err := <-slept; err != nil {
		t.Fatalf("slow action: %v", err)
	}
	if st := r.module(t, "sleepy"); st.State != kervi.StateReady || st.PID != first.PID || st.Restarts != 0 {
		t.Fatalf("after a slow action and a slow callback: %+v, want ready in pid %d", st, first.PID)
	}
	for len(r.states) > 0 {
		if s := <-r.states; s.Name == "sleepy" && s.State != kervi.StateReady {
			t.Fatalf("a slow module went %v", s.State)
		}
	}

	// A stopped process misses its heartbeats.
	if err := syscall.Kill(first.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(first.PID, syscall.SIGCONT)
	r.waitState(t, "sleepy", kervi.StateUnresponsive)
	// A call fails at once, or reaches the new process.
	t0 := time.Now()
	got, err := r.callWithin(5*time.Second, "sleepy.pid")
	switch {
	case err == nil && got != int64(first.PID):
	case errors.Is(err, ipc.ErrOwnerGone):
	default:
		t.Errorf("a call to the unresponsive module returned %v, %v after %v; want ErrOwnerGone or an answer from a new process",
			got, err, time.Since(t0))
	}
	waitGone(t, first.PID, 5*time.Second)
	st := r.waitState(t, "sleepy", kervi.StateReady)
	if st.PID == first.PID || st.PID == 0 || st.Restarts != 1 {
		t.Fatalf("after the restart: %+v", st)
	}
	if got := r.call(t, "sleepy.pid"); got != int64(st.PID) {
		t.Fatalf("sleepy.pid = %v, want %d", got, st.PID)
	}
	r.logs.waitFor(t, "does not answer its heartbeat", "module=sleepy")
}

// A module whose connection to the parent breaks while its process lives
// shows as disconnected; calls to it fail at once; its process runs its
// stop hooks and exits on its own, and the module is restarted.
func TestDisconnectedModuleStopsAndRestarts(t *testing.T) {
	const stopTimeout = 2 * time.Second
	dir := t.TempDir()
	r := startApp(t, "cut", kervi.WithModuleEnv(envDir+"="+dir), kervi.WithStopTimeout(stopTimeout))
	first := r.module(t, "cutter")

	// The answer to cut cannot come back: its stream is gone.
	cut := make(chan error, 1)
	go func() {
		_, err := r.callWithin(10*time.Second, "cutter.cut")
		cut <- err
	}()
	r.waitState(t, "cutter", kervi.StateDisconnected)
	if _, err := r.callWithin(2*time.Second, "cutter.pid"); !errors.Is(err, ipc.ErrOwnerGone) {
		t.Errorf("a call to the disconnected module: %v, want ErrOwnerGone", err)
	}
	select {
	case err := <-cut:
		if !errors.Is(err, ipc.ErrOwnerGone) {
			t.Errorf("the call that broke the stream returned %v, want ErrOwnerGone", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the call that broke the stream is still waiting")
	}
	// The process stops on its own: its stop hook ran, then it exited
	// (the parent kills it at the stop timeout + 1 s at the latest).
	waitGone(t, first.PID, stopTimeout+3*time.Second)
	b, _ := os.ReadFile(filepath.Join(dir, "cutter-stop"))
	if want := fmt.Sprintf("stop hook ran in %d\n", first.PID); string(b) != want {
		t.Errorf("stop notes %q, want %q", b, want)
	}
	st := r.waitState(t, "cutter", kervi.StateReady)
	if st.PID == first.PID || st.PID == 0 || st.Restarts != 1 {
		t.Fatalf("after the restart: %+v", st)
	}
	if got := r.call(t, "cutter.pid"); got != int64(st.PID) {
		t.Fatalf("cutter.pid = %v, want %d", got, st.PID)
	}
	r.logs.waitFor(t, "stream to the application broke", "module=cutter")
}
