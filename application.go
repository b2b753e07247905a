package kervi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/logx"
	"github.com/kervi/kervi-go/internal/process"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/proto/kervipb"
	"github.com/kervi/kervi-go/values"
)

// The parent process's own module, which owns the app hooks and the module
// state values.
const appModule = "app"

// Ids the application owns.
const (
	// AppMainID is the id of the app-main hook's action.
	AppMainID = "app_main"
	// AppExitID is the id of the app-exit hook's action.
	AppExitID = "app_exit"
)

// ModuleStateID returns the id of the string value, owned by the parent
// process, that holds the state of the named module ("starting", "ready",
// "restarting", "failed", "stopping", "stopped").
func ModuleStateID(module string) string { return "kervi.module." + module }

// Application is a kervi application: its modules and how to run them.
type Application struct {
	modules []Module
	opts    options
	log     *slog.Logger
	started atomic.Bool
	ready   chan struct{}

	mu       sync.Mutex
	status   map[string]*ModuleStatus
	stateVal map[string]*values.String
	hub      *ipc.Hub
	bus      *ipc.Bus
	appReady bool
	dups     chan error
}

// ModuleStatus is the state of a module and its process.
type ModuleStatus struct {
	Name  string
	State ModuleState
	// PID is the module's process id; 0 when it has none (in-process mode,
	// or between processes).
	PID int
	// Restarts counts the restarts of the module's process.
	Restarts int
	// Since is when the module entered its state.
	Since time.Time
	// LastExit describes how its last process ended, if one did.
	LastExit string
}

// NewApplication returns an application made of modules. Module names must
// be unique; "app" is the parent process's own.
//
// In a module process that kervi started, NewApplication returns the same
// application, whose Run serves that one module.
func NewApplication(modules []Module, opts ...Option) (*Application, error) {
	a := &Application{opts: defaultOptions(), ready: make(chan struct{}), status: map[string]*ModuleStatus{}, dups: make(chan error, 16)}
	if lvl, err := logx.ParseLevel(os.Getenv(process.EnvLogLevel)); err == nil {
		a.opts.logLevel = lvl
	}
	for _, o := range opts {
		if err := o(&a.opts); err != nil {
			return nil, fmt.Errorf("kervi: %w", err)
		}
	}
	seen := map[string]bool{}
	for i, m := range modules {
		if err := validModuleName(m.Name); err != nil {
			return nil, fmt.Errorf("kervi: module %d: %w", i+1, err)
		}
		if m.Name == appModule {
			return nil, fmt.Errorf("kervi: module name %q is reserved for the parent process", appModule)
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("kervi: module %q is listed twice", m.Name)
		}
		if m.Setup == nil {
			return nil, fmt.Errorf("kervi: module %q has no setup function", m.Name)
		}
		seen[m.Name] = true
		a.status[m.Name] = &ModuleStatus{Name: m.Name, State: StateStarting}
	}
	a.modules = append([]Module(nil), modules...)
	a.log = a.opts.logger
	if a.log == nil {
		a.log = slog.Default()
	}
	return a, nil
}

func validModuleName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("module name %q: 1 to 64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("module name %q: %q is not allowed (letters, digits, _ and -)", name, r)
		}
	}
	return nil
}

// Main runs the application until SIGINT or SIGTERM, then stops it in
// order and exits the process: with status 0 after a clean stop, 1 if the
// application failed. A second signal during the stop ends the process at
// once. Programs that embed kervi call Run instead.
func (a *Application) Main() {
	if a.opts.logger == nil {
		a.log = slog.New(logx.NewConsole(os.Stderr, a.opts.logLevel))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()
	if err := a.Run(ctx); err != nil {
		a.log.Error(err.Error())
		os.Exit(1)
	}
	os.Exit(0)
}

// Ready is closed when every module is ready and the app-main hook was
// started.
func (a *Application) Ready() <-chan struct{} { return a.ready }

// Bus returns the bus of the parent process, for embedding programs that
// call actions or follow values; nil until Run has started.
func (a *Application) Bus() *ipc.Bus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bus
}

// Components returns every id the application's modules announced.
func (a *Application) Components() []ipc.ComponentInfo {
	a.mu.Lock()
	h := a.hub
	a.mu.Unlock()
	if h == nil {
		return nil
	}
	return h.Components()
}

// Modules returns the status of every module, in the order given to
// NewApplication.
func (a *Application) Modules() []ModuleStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ModuleStatus, 0, len(a.modules))
	for _, m := range a.modules {
		out = append(out, *a.status[m.Name])
	}
	return out
}

// setState records a module's new state and publishes it.
func (a *Application) setState(name string, s ModuleState, edit func(*ModuleStatus)) {
	a.mu.Lock()
	st := a.status[name]
	st.State, st.Since = s, time.Now()
	if edit != nil {
		edit(st)
	}
	snap := *st
	val := a.stateVal[name]
	a.mu.Unlock()
	if val != nil {
		if err := val.Set(s.String()); err != nil {
			a.log.Warn("module state value", "error", err)
		}
	}
	if a.opts.onState != nil {
		a.opts.onState(snap)
	}
}

// moduleRun is the runtime of one module.
type moduleRun struct {
	m       Module
	notices chan ipc.Notice
	stop    chan struct{} // closed when the application stops the module
	done    chan struct{} // closed when its supervisor returned

	mu    sync.Mutex
	port  *ipc.Port
	child *process.Child // process mode
	bus   *ipc.Bus       // in-process mode
	ready bool
}

func (r *moduleRun) current() (*ipc.Port, *process.Child, *ipc.Bus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.port, r.child, r.bus, r.ready
}

func (r *moduleRun) set(port *ipc.Port, child *process.Child, bus *ipc.Bus, ready bool) {
	r.mu.Lock()
	r.port, r.child, r.bus, r.ready = port, child, bus, ready
	r.mu.Unlock()
}

// Run runs the application until ctx ends, then stops it in order and
// returns nil; or returns the error that kept it from starting. Run does
// not handle signals (Main does).
//
// In a module process that kervi started, Run serves its module and exits
// the process when the module stops: it never returns.
func (a *Application) Run(ctx context.Context) error {
	if name, ok := process.IsChild(); ok {
		a.serveModule(name)
	}
	if !a.started.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	t0 := time.Now()
	runs := make(map[string]*moduleRun, len(a.modules))
	for _, m := range a.modules {
		runs[m.Name] = &moduleRun{m: m, notices: make(chan ipc.Notice, 64), stop: make(chan struct{}), done: make(chan struct{})}
	}
	hub := ipc.NewHub(ipc.HubOptions{Logger: a.log, Notify: func(n ipc.Notice) {
		if n.Kind == ipc.NoticeDuplicate {
			select {
			case a.dups <- n.Err:
			default:
			}
			return
		}
		if r := runs[n.Module]; r != nil {
			select {
			case r.notices <- n:
			default:
				a.log.Warn("dropped module notice", "module", n.Module, "notice", n.Kind)
			}
		}
	}})
	bus, appPort, err := hub.Connect(appModule, ipc.BusOptions{Logger: a.log, OnError: a.opts.onError})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.hub, a.bus = hub, bus
	a.mu.Unlock()
	defer bus.Kill()
	if err := a.setupAppBus(bus); err != nil {
		return err
	}

	var socketDir string
	if !a.opts.inProcess {
		socketDir, err = os.MkdirTemp("", "kervi-"+a.opts.name+"-")
		if err != nil {
			return fmt.Errorf("kervi: socket directory: %w", err)
		}
		defer os.RemoveAll(socketDir)
	}
	a.log.Info("starting application", "app", a.opts.name, "modules", len(a.modules), "in_process", a.opts.inProcess)

	first := make(chan error, len(a.modules))
	for _, r := range runs {
		if a.opts.inProcess {
			go a.runInProcess(r, hub, first)
		} else {
			go a.supervise(r, hub, socketDir, first)
		}
	}
	var startErr error
	for pending := len(runs); pending > 0 && startErr == nil; {
		select {
		case err := <-first:
			if err != nil {
				startErr = err
			}
			pending--
		case err := <-a.dups:
			startErr = err
		case <-ctx.Done():
			a.log.Info("stopped while starting")
			a.stopModules(runs)
			return nil
		}
	}
	select { // an id claimed twice is reported as soon as the claims meet
	case err := <-a.dups:
		if startErr == nil {
			startErr = err
		}
	default:
	}
	if startErr != nil {
		a.stopModules(runs)
		return startErr
	}

	a.mu.Lock()
	a.appReady = true
	a.mu.Unlock()
	for _, r := range runs {
		if port, _, _, _ := r.current(); port != nil {
			port.Send(&kervipb.Msg{Kind: kervipb.Kind_KIND_START})
		}
	}
	appPort.Send(&kervipb.Msg{Kind: kervipb.Kind_KIND_START})
	a.log.Info("application ready", "app", a.opts.name, "after", time.Since(t0).Round(time.Microsecond))

	mainCtx, cancelMain := context.WithCancel(ipc.NewContext(ctx, bus))
	defer cancelMain()
	mainDone := make(chan struct{})
	go func() {
		defer close(mainDone)
		if a.opts.appMain == nil {
			return
		}
		if _, err := bus.Call(mainCtx, AppMainID); err != nil && mainCtx.Err() == nil {
			a.log.Error("app_main failed", "error", err)
		}
	}()
	close(a.ready)
	go a.reportLateDuplicates(ctx)

	<-ctx.Done()
	a.log.Info("stopping application", "app", a.opts.name)
	cancelMain()
	if a.opts.appExit != nil {
		exitCtx, cancel := context.WithTimeout(ipc.NewContext(context.Background(), bus), a.opts.exitTimeout)
		if _, err := bus.Call(exitCtx, AppExitID); err != nil {
			a.log.Error("app_exit failed", "error", err)
		}
		cancel()
	}
	select {
	case <-mainDone:
	case <-time.After(a.opts.exitTimeout):
		a.log.Warn("app_main did not return after the application stopped")
	}
	a.stopModules(runs)
	appPort.Send(&kervipb.Msg{Kind: kervipb.Kind_KIND_STOP, Deadline: time.Now().Add(a.opts.stopTimeout).UnixNano()})
	select {
	case <-bus.Done():
	case <-time.After(a.opts.stopTimeout):
	}
	a.log.Info("application stopped", "app", a.opts.name)
	return nil
}

// reportLateDuplicates logs ids claimed twice after the start (by a module
// whose setup changed between restarts).
func (a *Application) reportLateDuplicates(ctx context.Context) {
	for {
		select {
		case err := <-a.dups:
			a.log.Error("duplicate id", "error", err)
		case <-ctx.Done():
			return
		}
	}
}

// setupAppBus registers the app hooks and the module state values on the
// parent's bus.
func (a *Application) setupAppBus(bus *ipc.Bus) error {
	return bus.RunSetup(func(ctx context.Context, b *ipc.Bus) error {
		if fn := a.opts.appMain; fn != nil {
			if _, err := actions.Register(b, AppMainID, fn, actions.Name("App main")); err != nil {
				return err
			}
		}
		if fn := a.opts.appExit; fn != nil {
			if _, err := actions.Register(b, AppExitID, fn, actions.Name("App exit")); err != nil {
				return err
			}
		}
		vals := make(map[string]*values.String, len(a.modules))
		for _, m := range a.modules {
			v, err := values.NewString(b, ModuleStateID(m.Name), m.Name, values.Output(), values.Initial(StateStarting.String()))
			if err != nil {
				return err
			}
			vals[m.Name] = v
		}
		a.mu.Lock()
		a.stateVal = vals
		a.mu.Unlock()
		return nil
	})
}

// runInProcess runs a module on a bus in this process.
func (a *Application) runInProcess(r *moduleRun, hub *ipc.Hub, first chan<- error) {
	defer close(r.done)
	name := r.m.Name
	bus, port, err := hub.Connect(name, ipc.BusOptions{Logger: a.log, OnError: a.opts.onError})
	if err != nil {
		first <- err
		return
	}
	r.set(port, nil, bus, false)
	a.setState(name, StateStarting, nil)
	go func() { _ = bus.RunSetup(r.m.Setup) }()
	err = a.awaitReady(r, nil)
	if err != nil {
		first <- &ModuleError{Module: name, ExitCode: -1, Err: err}
		return
	}
	r.set(port, nil, bus, true)
	a.setState(name, StateReady, nil)
	first <- nil
}

// awaitReady waits for the module's setup to finish, its process to end
// (child != nil), the start timeout, or the application to stop it.
func (a *Application) awaitReady(r *moduleRun, child *process.Child) error {
	timer := time.NewTimer(a.opts.startTimeout)
	defer timer.Stop()
	var exited <-chan struct{}
	if child != nil {
		exited = child.Exited()
	}
	for {
		select {
		case n := <-r.notices:
			switch n.Kind {
			case ipc.NoticeReady:
				return nil
			case ipc.NoticeSetupFailed:
				return n.Err
			}
		case <-exited:
			return ErrExitedBeforeReady
		case <-timer.C:
			return fmt.Errorf("%w (%v)", ErrNotReady, a.opts.startTimeout)
		case <-r.stop:
			return errStopped
		}
	}
}

var errStopped = errors.New("kervi: stopped")

// supervise runs a module in a process of its own, and restarts it when it
// dies. It reports the outcome of the first start on first.
func (a *Application) supervise(r *moduleRun, hub *ipc.Hub, socketDir string, first chan<- error) {
	defer close(r.done)
	name := r.m.Name
	exe, err := os.Executable()
	if err != nil {
		first <- fmt.Errorf("kervi: module %q: %w", name, err)
		return
	}
	env := append([]string{process.EnvLogLevel + "=" + a.opts.logLevel.String()}, a.opts.env...)
	if n := a.opts.gomaxprocs; n > 0 && (a.opts.gomaxprocsSet || os.Getenv("GOMAXPROCS") == "") {
		env = append(env, process.EnvGOMAXPROCS+"="+strconv.Itoa(n))
	}
	cfg := process.LaunchConfig{
		Module: name, Path: exe, Args: os.Args[1:], Env: env, SocketDir: socketDir,
		StartTimeout: a.opts.startTimeout, Logger: a.log, TailLines: 20,
	}
	reported := false
	crashes := 0
	for restarts := 0; ; restarts++ {
		t0 := time.Now()
		child, err := process.Launch(cfg)
		var port *ipc.Port
		if err == nil {
			port, err = child.Connect(hub)
		}
		if err == nil {
			r.set(port, child, nil, false)
			a.setState(name, StateStarting, func(s *ModuleStatus) { s.PID = child.PID(); s.Restarts = restarts })
			a.log.Info("module process started", "module", name, "pid", child.PID())
			err = a.awaitReady(r, child)
		}
		if errors.Is(err, errStopped) {
			child.Kill()
			if port != nil {
				port.Detach()
			}
			return
		}
		var readyAt time.Time
		if err != nil {
			mErr := a.moduleError(name, child, err)
			if !reported {
				child.Kill()
				if port != nil {
					port.Detach()
				}
				first <- mErr
				return
			}
			a.log.Error("module failed to restart", "error", mErr)
			child.Kill()
		} else {
			readyAt = time.Now()
			r.set(port, child, nil, true)
			a.setState(name, StateReady, nil)
			a.log.Info("module ready", "module", name, "pid", child.PID(), "after", time.Since(t0).Round(time.Microsecond))
			if !reported {
				reported = true
				first <- nil
			} else if a.isAppReady() {
				port.Send(&kervipb.Msg{Kind: kervipb.Kind_KIND_START})
			}
			select {
			case <-child.Exited():
			case <-r.stop:
				return // stopModules stops the process
			}
			a.log.Error("module process died", "module", name, "pid", child.PID(), "status", child.ExitStatus(),
				"stderr", child.StderrTail())
		}
		if port != nil {
			port.Detach()
		}
		child.Release()
		r.set(nil, nil, nil, false)
		if !readyAt.IsZero() && time.Since(readyAt) >= a.opts.restart.StableAfter {
			crashes = 0
		}
		crashes++
		status := child.ExitStatus()
		if crashes > a.opts.restart.MaxRestarts {
			a.setState(name, StateFailed, func(s *ModuleStatus) { s.PID = 0; s.LastExit = status })
			a.log.Error("module failed: it keeps crashing; not restarting it", "module", name, "crashes", crashes)
			return
		}
		delay := a.opts.restart.delay(crashes)
		a.setState(name, StateRestarting, func(s *ModuleStatus) { s.PID = 0; s.LastExit = status })
		a.log.Warn("restarting module", "module", name, "in", delay, "crashes", crashes)
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-r.stop:
			timer.Stop()
			return
		}
	}
}

func (a *Application) isAppReady() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.appReady
}

// moduleError describes a module that did not become ready.
func (a *Application) moduleError(name string, child *process.Child, err error) *ModuleError {
	e := &ModuleError{Module: name, ExitCode: -1, Err: err}
	if child == nil {
		return e
	}
	select { // a process that is exiting gets a moment to finish, for its code
	case <-child.Exited():
	case <-time.After(2 * time.Second):
	}
	select {
	case <-child.Exited():
		e.ExitCode, e.Status = child.ExitCode(), child.ExitStatus()
		if errors.Is(err, ErrExitedBeforeReady) {
			e.Err = fmt.Errorf("%w (%s)", err, e.Status)
			e.Status = ""
		}
	default:
	}
	e.Stderr = child.StderrTail()
	return e
}

// stopModules stops every module gracefully, in parallel, killing those
// that do not stop in time, and waits for their supervisors.
func (a *Application) stopModules(runs map[string]*moduleRun) {
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			close(r.stop)
			port, child, bus, ready := r.current()
			name := r.m.Name
			if port == nil {
				<-r.done
				a.setState(name, StateStopped, func(s *ModuleStatus) { s.PID = 0 })
				return
			}
			a.setState(name, StateStopping, nil)
			deadline := time.Now().Add(a.opts.stopTimeout)
			if ready {
				port.Send(&kervipb.Msg{Kind: kervipb.Kind_KIND_STOP, Deadline: deadline.UnixNano()})
			}
			timer := time.NewTimer(time.Until(deadline) + time.Second)
			defer timer.Stop()
			switch {
			case child != nil:
				select {
				case <-child.Exited():
				case <-timer.C:
					a.log.Warn("module did not stop in time; killing it", "module", name, "pid", child.PID())
				}
				child.Kill()
			case bus != nil:
				select {
				case <-bus.Done():
				case <-timer.C:
					a.log.Warn("module did not stop in time", "module", name)
				}
				bus.Kill()
			}
			port.Detach()
			<-r.done
			a.setState(name, StateStopped, func(s *ModuleStatus) { s.PID = 0 })
		}()
	}
	wg.Wait()
}

// serveModule runs this process as the module process of name; it never
// returns.
func (a *Application) serveModule(name string) {
	for _, m := range a.modules {
		if m.Name == name {
			process.Serve(process.ChildConfig{Module: name, Setup: m.Setup})
		}
	}
	fmt.Fprintf(os.Stderr, "kervi: module %q is not part of this application\n", name)
	os.Exit(process.ExitSetupFailed)
}
