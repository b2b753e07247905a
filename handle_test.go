package kervi_test

// The handle of a program that embeds kervi: the parent's bus exists
// before Run, waits for the application where it must, and the program's
// own servers stop with the application.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
)

func init() {
	// "onstop": the pair, with an OnStop hook that says when it runs.
	testApps["onstop"] = func(opts []kervi.Option) (*kervi.Application, error) {
		app, err := kervi.NewApplication([]kervi.Module{producerModule(0), consumerModule(0)}, opts...)
		if err != nil {
			return nil, err
		}
		app.OnStop(func(ctx context.Context) error {
			_, hasBus := ipc.FromContext(ctx)
			_, hasDeadline := ctx.Deadline()
			fmt.Printf("ONSTOP bus=%v deadline=%v context-ended=%v\n", hasBus, hasDeadline, app.Context().Err() != nil)
			return nil
		})
		return app, nil
	}
}

// stopRecorder records the OnStop hooks' runs.
type stopRecorder struct {
	mu   sync.Mutex
	runs []string
}

func (s *stopRecorder) hook(name string, app *kervi.Application) func(context.Context) error {
	return func(ctx context.Context) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, hasBus := ipc.FromContext(ctx)
		s.runs = append(s.runs, fmt.Sprintf("%s bus=%v context-ended=%v", name, hasBus, app.Context().Err() != nil))
		return nil
	}
}

func (s *stopRecorder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.runs, "; ")
}

func TestHandleExistsBeforeRun(t *testing.T) {
	logs := newLogSink()
	app, err := buildApp("pair", kervi.WithLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	bus := app.Bus()
	if bus == nil {
		t.Fatal("no bus before Run")
	}
	var stops stopRecorder
	app.OnStop(stops.hook("first", app))
	app.OnStop(stops.hook("second", app))

	// Before the application is ready, a call waits for it, for as long
	// as its context allows.
	short, cancel := context.WithTimeout(app.Context(), 50*time.Millisecond)
	_, err = bus.Call(short, "producer.add", 1, 2)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call before Run: %v", err)
	}
	sum := make(chan string, 1)
	go func() {
		s, err := actions.CallAs[float64](app.Context(), "producer.add", 1, 2)
		sum <- fmt.Sprint(s, err)
	}()
	read := make(chan string, 1)
	go func() {
		v, err := ipc.Get[float64](app.Context(), "producer.counter")
		read <- fmt.Sprint(v, err)
	}()

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	returned := false
	defer func() {
		stop()
		if !returned {
			<-done
		}
		if t.Failed() {
			t.Log("application log:\n" + strings.Join(logs.lines(), "\n"))
		}
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := app.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	if s := waitFor(t, sum, "the call made before Run"); s != "3 <nil>" {
		t.Fatalf("call made before Run: %s", s)
	}
	if s := waitFor(t, read, "the read made before Run"); s != "-1 <nil>" {
		t.Fatalf("read made before Run: %s", s)
	}
	// Once it is ready, an unknown id fails at once.
	if _, err := bus.Call(wctx, "producer.nothing"); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("unknown id after ready: %v", err)
	}
	if _, err := ipc.Get[float64](wctx, "producer.counter"); !errors.Is(err, ipc.ErrNoBus) {
		t.Fatalf("a context of one's own carries no bus: %v", err)
	}
	if app.Context().Err() != nil || stops.String() != "" {
		t.Fatalf("stopped early: %v, %s", app.Context().Err(), stops.String())
	}

	stop()
	err = waitFor(t, done, "Run to return")
	returned = true
	if err != nil {
		t.Fatal(err)
	}
	if got := stops.String(); got != "second bus=true context-ended=true; first bus=true context-ended=true" {
		t.Fatalf("stop hooks: %s", got)
	}
	// A hook registered once the stop began runs at once.
	app.OnStop(stops.hook("late", app))
	if got := stops.String(); !strings.HasSuffix(got, "; late bus=true context-ended=true") {
		t.Fatalf("late stop hook: %s", got)
	}
	if _, err := bus.Call(context.Background(), "producer.add", 1, 2); !errors.Is(err, ipc.ErrOwnerGone) {
		t.Fatalf("call after Run returned: %v", err)
	}
	if err := app.WaitReady(wctx); err != nil {
		t.Fatalf("WaitReady after the stop: %v", err)
	}
}

func TestWaitReadyReportsTheStartError(t *testing.T) {
	app, err := buildApp("setup-error", kervi.WithLogger(slog.New(newLogSink())))
	if err != nil {
		t.Fatal(err)
	}
	var stops stopRecorder
	app.OnStop(stops.hook("server", app))
	waited := make(chan error, 1)
	go func() {
		_, err := app.Bus().Call(context.Background(), "broken.anything")
		waited <- err
	}()
	ready := make(chan error, 1)
	go func() { ready <- app.WaitReady(context.Background()) }()

	runErr := app.Run(context.Background())
	if !errors.Is(runErr, kervi.ErrSetupFailed) {
		t.Fatalf("Run: %v", runErr)
	}
	if err := waitFor(t, ready, "WaitReady"); err != runErr {
		t.Fatalf("WaitReady = %v; Run = %v", err, runErr)
	}
	if got := stops.String(); got != "server bus=true context-ended=true" {
		t.Fatalf("stop hooks: %q", got)
	}
	if err := waitFor(t, waited, "the call that waited"); !errors.Is(err, ipc.ErrOwnerGone) {
		t.Fatalf("call that waited for a start that failed: %v", err)
	}
}

func TestWaitReadyWhenStoppedWhileStarting(t *testing.T) {
	app, err := buildApp("hangs-in-setup", kervi.WithLogger(slog.New(newLogSink())))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := app.WaitReady(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady while starting: %v", err)
	}
	stop()
	if err := waitFor(t, done, "Run"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := app.WaitReady(context.Background()); !errors.Is(err, kervi.ErrStopped) {
		t.Fatalf("WaitReady after a stop while starting: %v", err)
	}
}

// Main ends the process with os.Exit: the program's OnStop hooks run
// before it, at the start of the stop, with the application's context
// ended.
func TestOnStopRunsUnderMain(t *testing.T) {
	p := startParent(t, "onstop")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, p, 30*time.Second); err != nil {
		t.Fatalf("parent exited with %v\n%s", err, p.stderr.String())
	}
	var lines []string
	for len(p.lines) > 0 {
		lines = append(lines, <-p.lines)
	}
	want := "ONSTOP bus=true deadline=true context-ended=true"
	if strings.Count(strings.Join(lines, "\n"), "ONSTOP") != 1 || !strings.Contains(strings.Join(lines, "\n"), want) {
		t.Fatalf("stdout: %q; want one %q", lines, want)
	}
}
