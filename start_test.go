package kervi_test

// The start of an application and its errors say what happened.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
)

// starter is a controller whose Start takes a moment, as one that opens a
// device does, and whose action tells whether Start has run.
type starter struct {
	*controllers.Controller
	started atomic.Bool
}

func (s *starter) Start(ctx context.Context) error {
	// Busy for a while: the race under test is a call reaching the
	// controller before this returns.
	for deadline := time.Now().Add(5 * time.Millisecond); time.Now().Before(deadline); {
	}
	s.started.Store(true)
	return nil
}

func startOrderModules() []kervi.Module {
	ctl := kervi.Module{Name: "ctl", Setup: func(ctx context.Context, b *ipc.Bus) error {
		s := &starter{}
		s.Controller = controllers.New(b, "device", "Device", s)
		s.Action("started", func() bool { return s.started.Load() })
		return nil
	}}
	// "watcher" asks from its OnAppReady callback, in another process.
	watcher := kervi.Module{Name: "watcher", Setup: func(ctx context.Context, b *ipc.Bus) error {
		var seen atomic.Value
		b.OnAppReady(func(ctx context.Context) {
			ok, err := actions.CallAs[bool](ctx, "device.started")
			seen.Store(fmt.Sprint(ok, err))
		})
		actions.Register(b, "watcher.seen", func() string {
			s, _ := seen.Load().(string)
			return s
		}, actions.WithMode(actions.Concurrent))
		return nil
	}}
	return []kervi.Module{ctl, watcher}
}

func init() {
	for _, name := range []string{"startorder", "startorder-inproc"} {
		testApps[name] = func(opts []kervi.Option) (*kervi.Application, error) {
			if name == "startorder-inproc" {
				opts = append(opts, kervi.InProcess())
			}
			return kervi.NewApplication(startOrderModules(), opts...)
		}
	}
	// "setupcall": a module's setup calls an action of another module.
	testApps["setupcall"] = func(opts []kervi.Option) (*kervi.Application, error) {
		caller := kervi.Module{Name: "caller", Setup: func(ctx context.Context, b *ipc.Bus) error {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			t0 := time.Now()
			_, err := actions.Call(cctx, "callee.ping")
			result := fmt.Sprintf("notready=%v deadline=%v took<1s=%v err=%v",
				errors.Is(err, ipc.ErrNotReady), errors.Is(err, context.DeadlineExceeded), time.Since(t0) < time.Second, err)
			actions.Register(b, "caller.result", func() string { return result })
			return nil
		}}
		callee := kervi.Module{Name: "callee", Setup: func(ctx context.Context, b *ipc.Bus) error {
			actions.Register(b, "callee.ping", func() string { return "pong" })
			return nil
		}}
		return kervi.NewApplication([]kervi.Module{caller, callee}, opts...)
	}
	// "hangs-in-setup": a module whose setup never returns.
	testApps["hangs-in-setup"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{{Name: "stuck", Setup: func(ctx context.Context, b *ipc.Bus) error {
			<-ctx.Done() // the module's context ends when its process is stopped
			return ctx.Err()
		}}}, opts...)
	}
	// "panics-in-setup": a module whose setup panics.
	testApps["panics-in-setup"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{{Name: "broken", Setup: func(ctx context.Context, b *ipc.Bus) error {
			panic("i2c bus 1 is gone")
		}}}, opts...)
	}
	// "relay": an action that returns the errors of calls it makes.
	testApps["relay"] = func(opts []kervi.Option) (*kervi.Application, error) {
		relay := kervi.Module{Name: "relay", Setup: func(ctx context.Context, b *ipc.Bus) error {
			actions.Register(b, "relay.call", func(ctx context.Context, id string, timeout time.Duration) error {
				if timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, timeout)
					defer cancel()
				}
				_, err := actions.Call(ctx, id)
				return err
			}, actions.WithMode(actions.Concurrent))
			actions.Register(b, "relay.busy", func() error {
				return ipc.Errorf(ipc.CodeBusy, "the pump is priming")
			})
			return nil
		}}
		other := kervi.Module{Name: "other", Setup: func(ctx context.Context, b *ipc.Bus) error {
			actions.Register(b, "other.slow", func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}, actions.WithMode(actions.Concurrent))
			actions.Register(b, "other.fail", func() error { return errors.New("valve stuck") })
			return nil
		}}
		return kervi.NewApplication([]kervi.Module{relay, other}, opts...)
	}
}

// app_main, OnAppReady callbacks and calls made once the application is
// ready run after every controller's Start, every time.
func TestAppMainRunsAfterEveryStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		runs int
	}{{"startorder", 10}, {"startorder-inproc", 50}} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.runs {
				seen := make(chan string, 1)
				r := startApp(t, tc.name, kervi.WithAppMain(func(ctx context.Context) error {
					ok, err := actions.CallAs[bool](ctx, "device.started")
					seen <- fmt.Sprint(ok, err)
					return err
				}))
				if got := waitFor(t, seen, "app_main's call"); got != "true <nil>" {
					t.Fatalf("run %d: app_main's call reached the controller before its Start: %s", i, got)
				}
				if ok, err := actions.CallAs[bool](r.ctx, "device.started"); !ok || err != nil {
					t.Fatalf("run %d: a call after ready: %v, %v", i, ok, err)
				}
				for {
					got, err := actions.CallAs[string](r.ctx, "watcher.seen")
					if err != nil {
						t.Fatal(err)
					}
					if got == "true <nil>" {
						break
					}
					if got != "" {
						t.Fatalf("run %d: an OnAppReady callback reached the controller before its Start: %s", i, got)
					}
					// The callback runs on its own goroutine; ask again.
				}
				if err := r.stop(); err != nil {
					t.Fatalf("run %d: %v", i, err)
				}
			}
		})
	}
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// A call from one module's setup to another module fails at once with
// ipc.ErrNotReady: it cannot wait for the application to be ready, which waits
// for the setup.
func TestCallFromSetupFailsAtOnce(t *testing.T) {
	for _, inproc := range []bool{false, true} {
		var opts []kervi.Option
		if inproc {
			opts = append(opts, kervi.InProcess())
		}
		r := startApp(t, "setupcall", opts...)
		got := r.call(t, "caller.result").(string)
		if !strings.HasPrefix(got, "notready=true deadline=false took<1s=true") || !strings.Contains(got, `"callee.ping"`) {
			t.Fatalf("in-process %v: the setup's call gave %s", inproc, got)
		}
		// Once the application runs, the same call works.
		if got := r.call(t, "callee.ping"); got != "pong" {
			t.Fatalf("ping = %v", got)
		}
	}
}

// WithStartTimeout(d) fails the start after d, and says d.
func TestStartTimeoutIsOneDeadline(t *testing.T) {
	const d = time.Second
	t0 := time.Now()
	err := runToEnd(t, "hangs-in-setup", kervi.WithStartTimeout(d))
	took := time.Since(t0)
	if !errors.Is(err, kervi.ErrStartTimeout) || !strings.Contains(err.Error(), "(1s)") {
		t.Fatalf("Run = %v, want ErrStartTimeout saying 1s", err)
	}
	// Not a speed check: the old code waited d + 2 s before it failed.
	if took > d+1500*time.Millisecond {
		t.Fatalf("Run failed %v after it started, for a start timeout of %v", took, d)
	}
}

// A failed setup gives ErrSetupFailed with the setup's own text, every
// time; a process that dies before it is ready without a setup error
// does not.
func TestSetupFailedIsNamedEveryTime(t *testing.T) {
	for i := range 15 {
		err := runToEnd(t, "setup-error")
		var me *kervi.ModuleError
		if !errors.Is(err, kervi.ErrSetupFailed) || !errors.As(err, &me) || me.Module != "broken" ||
			!strings.Contains(err.Error(), "setup failed: sensor bme280 not found on i2c bus 1") {
			t.Fatalf("run %d: %v", i, err)
		}
		if strings.Count(err.Error(), "kervi:") != 1 {
			t.Fatalf("run %d: %q repeats kervi:", i, err)
		}
	}
	if err := runToEnd(t, "panics-in-setup"); !errors.Is(err, kervi.ErrSetupFailed) || !strings.Contains(err.Error(), "setup panicked: i2c bus 1 is gone") {
		t.Fatalf("panicking setup: %v", err)
	}
	if err := runToEnd(t, "exits-in-setup"); errors.Is(err, kervi.ErrSetupFailed) || !errors.Is(err, kervi.ErrExitedBeforeReady) {
		t.Fatalf("exit in setup: %v", err)
	}
}

// An action that returns the error of a call it made fails with
// ErrActionFailed, keeping the inner error's text; context errors keep
// their meaning, and an error made with ipc.Errorf keeps its code.
func TestActionErrorsKeepTheirMeaning(t *testing.T) {
	r := startApp(t, "relay")
	call := func(id string, args ...any) error {
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		defer cancel()
		_, err := r.app.Bus().Call(ctx, id, args...)
		return err
	}
	err := call("relay.call", "nobody.here", time.Duration(0))
	if !errors.Is(err, ipc.ErrActionFailed) || errors.Is(err, ipc.ErrUnknownID) || !strings.Contains(err.Error(), `"nobody.here"`) {
		t.Fatalf("an inner unknown id: %v", err)
	}
	err = call("relay.call", "other.fail", time.Duration(0))
	if !errors.Is(err, ipc.ErrActionFailed) || !strings.Contains(err.Error(), "valve stuck") {
		t.Fatalf("an inner failure: %v", err)
	}
	err = call("relay.call", "other.slow", 50*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an inner deadline: %v", err)
	}
	err = call("relay.busy")
	if !errors.Is(err, ipc.ErrBusy) || !strings.Contains(err.Error(), "the pump is priming") {
		t.Fatalf("an error made with Errorf: %v", err)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	errc := make(chan error, 1)
	go func() { _, err := r.app.Bus().Call(ctx, "relay.call", "other.slow", time.Duration(0)); errc <- err }()
	cancel()
	if err := waitFor(t, errc, "the cancelled call"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled call: %v", err)
	}
}
