package kervi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
)

// logSink is a slog handler that keeps records for assertions.
type logSink struct {
	mu    sync.Mutex
	recs  []string // "LEVEL msg k=v ..." with every attribute
	added chan struct{}
	attrs []slog.Attr
	root  *logSink
}

func newLogSink() *logSink {
	s := &logSink{added: make(chan struct{}, 1)}
	s.root = s
	return s
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }

func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	for _, a := range s.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	root := s.root
	root.mu.Lock()
	root.recs = append(root.recs, b.String())
	root.mu.Unlock()
	select {
	case root.added <- struct{}{}:
	default:
	}
	return nil
}

func (s *logSink) WithAttrs(as []slog.Attr) slog.Handler {
	return &logSink{root: s.root, attrs: append(append([]slog.Attr(nil), s.attrs...), as...)}
}

func (s *logSink) WithGroup(string) slog.Handler { return s }

func (s *logSink) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.recs...)
}

// waitFor waits until a record contains every one of parts.
func (s *logSink) waitFor(t *testing.T, parts ...string) string {
	t.Helper()
	l, ok := s.wait(10*time.Second, parts...)
	if !ok {
		t.Fatalf("no log record with %q", parts)
	}
	return l
}

// wait waits up to d until a record contains every one of parts, and
// returns it.
func (s *logSink) wait(d time.Duration, parts ...string) (string, bool) {
	deadline := time.After(d)
	for {
		for _, l := range s.lines() {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				return l, true
			}
		}
		select {
		case <-s.added:
		case <-deadline:
			return "", false
		}
	}
}

// running is an application started by a test.
type running struct {
	app    *kervi.Application
	logs   *logSink
	ctx    context.Context // carries the parent's bus
	stop   func() error    // ends Run and returns its result
	states chan kervi.ModuleStatus
}

func startApp(t *testing.T, name string, opts ...kervi.Option) *running {
	t.Helper()
	return startAppStates(t, name, nil, opts...)
}

// startAppStates is startApp with a function that sees each status as
// OnModuleState reports it, in the callback (onState may be nil).
func startAppStates(t *testing.T, name string, onState func(app *kervi.Application, s kervi.ModuleStatus), opts ...kervi.Option) *running {
	t.Helper()
	r := &running{logs: newLogSink(), states: make(chan kervi.ModuleStatus, 1000)}
	var current atomic.Pointer[kervi.Application]
	opts = append(opts, kervi.WithLogger(slog.New(r.logs)), kervi.OnModuleState(func(s kervi.ModuleStatus) {
		if onState != nil {
			onState(current.Load(), s)
		}
		select {
		case r.states <- s:
		default:
		}
	}))
	app, err := buildApp(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	current.Store(app)
	r.app = app
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	var once sync.Once
	var runErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(30 * time.Second):
				runErr = errors.New("Run did not return")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Log("application log:\n" + strings.Join(r.logs.lines(), "\n"))
		}
	})
	select {
	case <-app.Ready():
	case err := <-errc:
		errc <- nil // for the cleanup's stop
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("application not ready")
	}
	r.ctx = ipc.NewContext(context.Background(), app.Bus())
	return r
}

func (r *running) call(t *testing.T, id string, args ...any) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	res, err := r.app.Bus().Call(ctx, id, args...)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return res
}

// waitState waits until module reaches state.
func (r *running) waitState(t *testing.T, module string, state kervi.ModuleState) kervi.ModuleStatus {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-r.states:
			if s.Name == module && s.State == state {
				return s
			}
		case <-deadline:
			t.Fatalf("module %q did not reach state %v; modules: %+v", module, state, r.app.Modules())
		}
	}
}

func TestValuesCrossProcessesInOrder(t *testing.T) {
	for _, name := range []string{"pair", "pair-inproc"} {
		t.Run(name, func(t *testing.T) {
			r := startApp(t, name)
			const n = 200000
			if got := r.call(t, "producer.burst", n); got != int64(n) {
				t.Fatalf("burst = %v", got)
			}
			stats := r.call(t, "consumer.wait", n-1).(map[string]any)
			// The consumer sees the counter's initial -1, then 0..n-1, in
			// order, ending on n-1 (consumer.wait waited for it).
			if stats["back"] != int64(0) {
				t.Fatalf("consumer saw %v: events out of order", stats)
			}
			if stats["count"] == int64(n+1) && stats["gaps"] == int64(0) {
				return
			}
			// Missing events are allowed only where the consumer fell
			// behind (a machine too busy for it to keep up) and they were
			// coalesced to the latest, which the application counts: never
			// silently.
			deadline := time.Now().Add(10 * time.Second)
			for {
				var coalesced uint64
				for _, m := range r.app.Modules() {
					if m.Name == "consumer" {
						coalesced = m.Coalesced
					}
				}
				if coalesced > 0 {
					t.Logf("consumer saw %v; %d events coalesced as it fell behind", stats, coalesced)
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("consumer saw %v, want count %d and no gaps: events lost without being coalesced", stats, n+1)
				}
				time.Sleep(20 * time.Millisecond) // poll the status until the deadline
			}
		})
	}
}

func TestActionsAcrossProcesses(t *testing.T) {
	r := startApp(t, "pair")
	bus := r.app.Bus()
	ctx := r.ctx
	if got := r.call(t, "producer.add", 2, 3.5); got != 5.5 {
		t.Fatalf("add = %v", got)
	}
	if got := r.call(t, "producer.echo", map[string]any{"a": []any{int64(1), "x"}}); fmt.Sprint(got) != "map[a:[1 x]]" {
		t.Fatalf("echo = %v", got)
	}
	_, err := bus.Call(ctx, "producer.fail")
	if !errors.Is(err, ipc.ErrActionFailed) || !strings.Contains(err.Error(), "valve stuck") || !strings.Contains(err.Error(), `"producer"`) {
		t.Fatalf("fail: %v", err)
	}
	if _, err = bus.Call(ctx, "producer.panic"); !errors.Is(err, ipc.ErrPanic) || !strings.Contains(err.Error(), "gear slipped") {
		t.Fatalf("panic: %v", err)
	}
	if _, err = bus.Call(ctx, "producer.nope"); !errors.Is(err, ipc.ErrUnknownID) || !strings.Contains(err.Error(), `"producer.nope"`) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err = bus.Call(ctx, "producer.add", "two", 3); !errors.Is(err, ipc.ErrBadArgs) || !strings.Contains(err.Error(), "argument 1") {
		t.Fatalf("bad args: %v", err)
	}
	// From one module process to another, through the hub.
	if got := r.call(t, "consumer.relay", "producer.add", []any{1, 2}); got != 3.0 {
		t.Fatalf("relay = %v", got)
	}
	if _, err = bus.Call(ctx, "consumer.relay", "producer.fail", []any{}); !errors.Is(err, ipc.ErrActionFailed) || !strings.Contains(err.Error(), "valve stuck") {
		t.Fatalf("relayed failure: %v", err)
	}

	// Cancellation reaches the running action's context in its process.
	started := make(chan string, 10)
	cancelled := make(chan string, 10)
	bus.Subscribe("producer.blocking", func(ev ipc.Event) { started <- ev.Value.Text() })
	bus.Subscribe("producer.cancelled", func(ev ipc.Event) { cancelled <- ev.Value.Text() })
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := bus.Call(cctx, "producer.block", "c1"); errc <- err }()
	for v := testbus.Wait(t, started, "action start"); v != "c1"; v = testbus.Wait(t, started, "action start") {
	}
	cancel()
	if err := testbus.Wait(t, errc, "cancelled call"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call returned %v", err)
	}
	for v := testbus.Wait(t, cancelled, "action cancelled"); v != "c1: context canceled"; v = testbus.Wait(t, cancelled, "action cancelled") {
	}
	// So does a deadline.
	dctx, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	if _, err := bus.Call(dctx, "producer.block", "d1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline returned %v", err)
	}
	for v := testbus.Wait(t, cancelled, "action deadline"); v != "d1: context deadline exceeded"; v = testbus.Wait(t, cancelled, "action deadline") {
	}
}

func TestStartupOrderDoesNotMatter(t *testing.T) {
	for _, name := range []string{"late-producer", "late-consumer"} {
		t.Run(name, func(t *testing.T) {
			r := startApp(t, name)
			r.call(t, "producer.burst", 1000)
			stats := r.call(t, "consumer.wait", 999).(map[string]any)
			if stats["count"] != int64(1001) || stats["gaps"] != int64(0) {
				t.Fatalf("consumer saw %v", stats)
			}
		})
	}
}

// runToEnd runs the named application, expected not to start, and returns
// what Run returned (within 30 s).
func runToEnd(t *testing.T, name string, opts ...kervi.Option) error {
	t.Helper()
	app, err := buildApp(name, append([]kervi.Option{kervi.WithLogger(slog.New(newLogSink()))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return app.Run(ctx)
}

func TestDuplicateIDFailsStart(t *testing.T) {
	err := runToEnd(t, "duplicate")
	if !errors.Is(err, ipc.ErrDuplicateID) {
		t.Fatalf("Run = %v, want a duplicate id error", err)
	}
	for _, want := range []string{`"shared.temp"`, `"first"`, `"second"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestModuleDyingBeforeReadyFailsRun(t *testing.T) {
	err := runToEnd(t, "exits-in-setup")
	var me *kervi.ModuleError
	if !errors.As(err, &me) {
		t.Fatalf("Run = %v, want a *ModuleError", err)
	}
	if me.Module != "broken" || me.ExitCode != 7 || !errors.Is(err, kervi.ErrExitedBeforeReady) {
		t.Fatalf("got module %q, exit code %d, error %v", me.Module, me.ExitCode, err)
	}
	if !strings.Contains(err.Error(), "cannot open /dev/i2c-1") || !strings.Contains(err.Error(), "exit status 7") {
		t.Fatalf("error lacks the stderr tail or exit status: %v", err)
	}

	err = runToEnd(t, "setup-error")
	if !errors.As(err, &me) || me.Module != "broken" || !strings.Contains(err.Error(), "sensor bme280 not found") {
		t.Fatalf("setup error: %v", err)
	}
}

func TestChildOutputReachesParentLog(t *testing.T) {
	r := startApp(t, "pair")
	r.logs.waitFor(t, "module process output before the handshake", "module=producer", "stream=stdout")
	r.logs.waitFor(t, "producer setup says hello on stdout", "module=producer")
	r.call(t, "producer.print", "ping")
	r.logs.waitFor(t, "INFO ping", "module=producer", "stream=stdout")
	r.logs.waitFor(t, "fd1: ping", "module=producer", "stream=stdout")
	r.logs.waitFor(t, "stderr: ping", "module=producer", "stream=stderr")
}

func TestModuleStatesObservable(t *testing.T) {
	r := startApp(t, "pair")
	mods := r.app.Modules()
	if len(mods) != 2 {
		t.Fatalf("modules %+v", mods)
	}
	pids := map[int]bool{os.Getpid(): true}
	for _, m := range mods {
		if m.State != kervi.StateReady || m.PID <= 0 || pids[m.PID] {
			t.Fatalf("module %+v: want ready with a process of its own", m)
		}
		pids[m.PID] = true
	}
	if got := r.call(t, "producer.pid"); got != int64(mods[0].PID) {
		t.Fatalf("producer runs in pid %v, Modules says %d", got, mods[0].PID)
	}
	if ev, ok := r.app.Bus().Last(kervi.ModuleStateID("consumer")); !ok || ev.Value.Text() != "ready" {
		t.Fatalf("state value %v %v", ev, ok)
	}
}

func TestKillModuleUnderLoad(t *testing.T) {
	r := startApp(t, "pair")
	bus := r.app.Bus()
	if err := bus.Set(r.ctx, "producer.setting", 42); err != nil {
		t.Fatal(err)
	}
	settings := make(chan float64, 100)
	bus.Subscribe("producer.setting", func(ev ipc.Event) { settings <- ev.Value.Number() })
	if v := testbus.Wait(t, settings, "setting"); v != 42 {
		t.Fatalf("setting %v", v)
	}
	stats := func(n int64) map[string]any { // once the consumer has seen n events
		return r.call(t, "consumer.wait_count", n).(map[string]any)
	}
	for _, victim := range []string{"producer", "consumer"} {
		r.call(t, "producer.stream", true)
		before := stats(0)["count"].(int64)
		stats(before + 1000)
		pid := r.call(t, victim+".pid").(int64)
		if err := syscall.Kill(int(pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		r.waitState(t, victim, kervi.StateRestarting)
		st := r.waitState(t, victim, kervi.StateReady)
		if st.PID == int(pid) || st.Restarts < 1 {
			t.Fatalf("after the kill: %+v", st)
		}
		if victim == "producer" {
			// The restarted producer got its setting back, and published it
			// again.
			if v := testbus.Wait(t, settings, "restored setting"); v != 42 {
				t.Fatalf("restored setting %v", v)
			}
			if got := r.call(t, "producer.get_setting"); got != 42.0 {
				t.Fatalf("setting after restart %v", got)
			}
			r.call(t, "producer.stream", true) // the new process starts idle
		}
		// Events flow again: the link was restored.
		now := stats(0)["count"].(int64)
		s := stats(now + 1000)
		if victim == "producer" && s["gaps"] != int64(0) {
			t.Fatalf("events lost or reordered across the producer's restart: %v", s)
		}
		r.call(t, "producer.stream", false)
	}
}

func TestCrashingModuleIsMarkedFailed(t *testing.T) {
	r := startApp(t, "crashloop")
	// The first process and two restarts die; then the module is failed.
	for range 2 {
		r.waitState(t, "flaky", kervi.StateRestarting)
		r.waitState(t, "flaky", kervi.StateReady)
	}
	st := r.waitState(t, "flaky", kervi.StateFailed)
	if st.LastExit != "exit status 9" || st.Restarts != 2 || st.PID != 0 {
		t.Fatalf("failed module's status %+v", st)
	}
	r.logs.waitFor(t, "flaky: giving up", "module=flaky")
	// The application stays up.
	if got := r.call(t, "producer.add", 1, 2); got != 3.0 {
		t.Fatalf("producer.add = %v", got)
	}
	if ev, ok := r.app.Bus().Last(kervi.ModuleStateID("flaky")); !ok || ev.Value.Text() != "failed" {
		t.Fatalf("state value %v", ev)
	}
}
