package kervi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/logx"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/process"
	"github.com/kervi/kervi-go/ipc"
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
// process, that holds the state of the named module (the names of
// ModuleState: "starting", "ready", ...). Only the parent writes it.
func ModuleStateID(module string) string { return "kervi.module." + module }

// Application is a kervi application: its modules and how to run them.
type Application struct {
	modules []Module
	opts    options
	log     *slog.Logger
	started atomic.Bool
	ready   chan struct{}

	stopping     chan struct{} // closed when the application begins to stop
	stoppingOnce sync.Once
	startedCh    chan string // modules whose app-start hooks returned

	stateMu sync.Mutex // orders state changes: the status and the state value agree

	// The parent process's runtime, made on first use (see handle).
	handleOnce sync.Once
	handleErr  error
	logp       atomic.Pointer[slog.Logger] // what the runtime logs to; Main may change it
	appPort    plumb.Port
	ctx        context.Context // carries the parent's bus; ends when the stop begins
	cancelCtx  context.CancelFunc

	failed   chan struct{} // closed when Run returned without the application ready
	startErr error         // why; set before failed is closed

	mu        sync.Mutex
	status    map[string]*ModuleStatus
	runs      map[string]*moduleRun
	feed      *logFeed                 // nil in a module process, or when turned off
	health    map[string]*moduleHealth // the modules' state and health values
	hub       plumb.Hub
	appRT     plumb.Bus // the runtime side of the parent's bus
	bus       *ipc.Bus
	appReady  bool
	dups      chan error
	onStop    []func(context.Context) error
	stopBegun bool // the OnStop hooks ran

	nodes    nodeSetup              // the nodes, if the application has several (nodes.go)
	nodeVals map[string]*nodeValues // on the main node: each node's state values
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
	// Behind reports that the module does not keep up with the value
	// events routed to it: they are coalesced to the latest of each id
	// until it catches up.
	Behind bool
	// Coalesced counts the value events coalesced for the module, by the
	// hub and by its own process, because it or its subscribers were slow.
	Coalesced uint64
}

// NewApplication returns an application made of modules. Module names must
// be unique; "app" is the parent process's own.
//
// In a module process that kervi started, NewApplication returns the same
// application, whose Run serves that one module.
func NewApplication(modules []Module, opts ...Option) (*Application, error) {
	a := &Application{opts: defaultOptions(), ready: make(chan struct{}), status: map[string]*ModuleStatus{},
		dups: make(chan error, 16), stopping: make(chan struct{}), failed: make(chan struct{})}
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
		if err := plumb.ValidModule(m.Name); err != nil {
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
	mine, err := a.setupNodes(modules)
	if err != nil {
		return nil, fmt.Errorf("kervi: %w", err)
	}
	for _, m := range modules {
		if !slices.ContainsFunc(mine, func(x Module) bool { return x.Name == m.Name }) {
			delete(a.status, m.Name)
		}
	}
	a.modules = mine
	a.startedCh = make(chan string, 4*len(modules)+4)
	if !IsModuleProcess() && !a.opts.logFeedOff {
		a.feed = newLogFeed(a.opts.logFeedLevel)
	}
	a.log = a.opts.logger
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.wrapLogger(a.log)
	a.logp.Store(a.log)
	return a, nil
}

// handle makes the parent process's runtime, once: the hub, the parent's
// own bus (with the app hooks and the module state values), and the
// application's context. It does nothing in a module process.
func (a *Application) handle() error {
	if IsModuleProcess() {
		return nil
	}
	a.handleOnce.Do(func() {
		runs := make(map[string]*moduleRun, len(a.modules))
		for _, m := range a.modules {
			runs[m.Name] = &moduleRun{m: m, notices: make(chan plumb.Notice, 64), stop: make(chan struct{}), done: make(chan struct{})}
		}
		log := slog.New(logx.Forward(&a.logp))
		var node string
		if a.nodes.on {
			node = a.nodes.name
		}
		hub := plumb.NewHub(plumb.HubOptions{Logger: log, Limits: a.opts.limits, Notify: a.notice(runs), Node: node})
		rt, port, err := hub.Connect(appModule, plumb.BusOptions{Logger: log, OnError: a.opts.onError})
		if err != nil {
			a.handleErr = err
			return
		}
		bus := rt.Handle().(*ipc.Bus)
		ctx, cancel := context.WithCancel(ipc.NewContext(context.Background(), bus))
		a.mu.Lock()
		a.hub, a.appRT, a.bus, a.runs, a.appPort = hub, rt, bus, runs, port
		a.ctx, a.cancelCtx = ctx, cancel
		a.mu.Unlock()
		a.handleErr = a.setupAppBus(rt, bus)
		// The hub has seen the parent ready once its messages were handed
		// to it: from now on, calls from the parent are not a setup's.
		fctx, cancel := context.WithTimeout(context.Background(), a.opts.startTimeout)
		defer cancel()
		if err := bus.Flush(fctx); err != nil && a.handleErr == nil {
			a.handleErr = fmt.Errorf("kervi: the parent's bus: %w", err)
		}
	})
	return a.handleErr
}

// Main runs the application until SIGINT or SIGTERM, then stops it in
// order and exits the process: with status 0 after a clean stop, 1 if the
// application failed. A second signal during the stop ends the parent
// process at once; its module processes then still run their stop hooks,
// within the stop timeout, on their own. Since os.Exit skips deferred
// calls, a program that runs servers of its own stops them in OnStop hooks;
// one that must run after the application stopped calls Run instead.
func (a *Application) Main() {
	if a.opts.logger == nil {
		a.log = a.wrapLogger(slog.New(logx.NewConsole(os.Stderr, a.opts.logLevel)))
		a.logp.Store(a.log)
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

// Ready is closed when every module is ready, every module's app-start
// hooks (controllers' Start) returned, and the app-main hook was started.
func (a *Application) Ready() <-chan struct{} { return a.ready }

// WaitReady waits until the application is ready (see Ready), and returns
// nil; or returns the error that kept it from starting (Run's error),
// ErrStopped if Run's context ended before it was ready, or ctx's error.
// It may be called before Run.
func (a *Application) WaitReady(ctx context.Context) error {
	select {
	case <-a.ready:
		return nil
	case <-a.failed:
		return a.startErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Bus returns the bus of the parent process: the handle with which a
// program that embeds kervi reads, sets and follows values and calls
// actions, from anywhere in the application. It exists from
// NewApplication on, before Run. Calls, sets, reads and descriptions of
// an id no module owns yet, made before the application is ready, wait
// until it is, for as long as their context allows; once it is ready,
// an unknown id fails at once (ipc.ErrUnknownID). One made to an id a
// module has announced is served as soon as that module has started. The
// bus stops working when Run returns.
//
// In a module process, Bus returns nil: the module's bus is the one its
// setup gets.
func (a *Application) Bus() *ipc.Bus {
	if err := a.handle(); err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bus
}

// Context returns a context that carries the parent process's bus (so the
// functions of actions, ipc and values that take a context work with it)
// and ends when the application begins to stop, or when Run returns
// without having started it. A program that embeds kervi hands it to its
// own servers, such as http.Server's BaseContext, so that every request's
// context carries the bus and ends with the application:
//
//	srv := &http.Server{Handler: mux, BaseContext: func(net.Listener) context.Context { return app.Context() }}
//
// In a module process it is context.Background().
func (a *Application) Context() context.Context {
	if err := a.handle(); err != nil || a.ctx == nil {
		return context.Background()
	}
	return a.ctx
}

// OnStop registers fn to run when the application begins to stop, before
// the app-exit hook and before any module stops, and also when Run fails
// to start the application: for the program's own servers and workers,
// which must stop even under Main, whose os.Exit skips deferred calls.
// Hooks run one at a time, in the reverse order of registration, and
// share a deadline of the exit timeout (WithExitTimeout); fn's context
// carries the bus. An error is logged. Registered once the stop has
// begun, fn runs at once.
func (a *Application) OnStop(fn func(ctx context.Context) error) {
	a.mu.Lock()
	late := a.stopBegun
	if !late {
		a.onStop = append(a.onStop, fn)
	}
	a.mu.Unlock()
	if late {
		a.runStopHooks([]func(context.Context) error{fn})
	}
}

// beginStop ends the application's context and runs the OnStop hooks,
// once.
func (a *Application) beginStop() {
	if a.cancelCtx != nil {
		a.cancelCtx()
	}
	a.mu.Lock()
	if a.stopBegun {
		a.mu.Unlock()
		return
	}
	a.stopBegun = true
	hooks := a.onStop
	a.onStop = nil
	a.mu.Unlock()
	a.runStopHooks(hooks)
}

// runStopHooks runs OnStop hooks, the last registered first, within the
// exit timeout.
func (a *Application) runStopHooks(hooks []func(context.Context) error) {
	if len(hooks) == 0 {
		return
	}
	base := context.Background()
	a.mu.Lock()
	if a.bus != nil {
		base = ipc.NewContext(base, a.bus)
	}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(base, a.opts.exitTimeout)
	defer cancel()
	for i := len(hooks) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if r := recover(); r != nil {
					a.log.Error("stop hook panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				}
			}()
			if err := hooks[i](ctx); err != nil {
				a.log.Error("stop hook failed", "error", err)
			}
		}()
	}
}

// Components returns the application's catalogue: the description of
// every component its modules announced, sorted by id; nil in a module
// process. Before the application is ready it holds what the modules
// announced so far (WaitReady first for all of it). It is the parent's
// bus's Catalogue; to follow the catalogue as it changes, use the bus's
// FollowCatalogue.
func (a *Application) Components() []ipc.Description {
	if err := a.handle(); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.startTimeout)
	defer cancel()
	ds, err := a.bus.Catalogue(ctx)
	if err != nil {
		a.log.Warn("reading the catalogue", "error", err)
		return nil
	}
	slices.SortFunc(ds, func(x, y ipc.Description) int { return strings.Compare(x.ID, y.ID) })
	return ds
}

// Modules returns the status of every module, in the order given to
// NewApplication.
func (a *Application) Modules() []ModuleStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ModuleStatus, 0, len(a.modules))
	for _, m := range a.modules {
		st := *a.status[m.Name]
		if r := a.runs[m.Name]; r != nil {
			st.Coalesced, st.Behind = r.coalescing()
		}
		out = append(out, st)
	}
	return out
}

// setState records a module's new state and publishes it. State changes
// are ordered, so that the module's state and health values always end on
// the status Modules reports.
func (a *Application) setState(name string, s ModuleState, edit func(*ModuleStatus)) {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	a.mu.Lock()
	st := a.status[name]
	st.State, st.Since = s, time.Now()
	if edit != nil {
		edit(st)
	}
	snap := *st
	if r := a.runs[name]; r != nil {
		snap.Coalesced, snap.Behind = r.coalescing()
	}
	hub := a.hub
	a.mu.Unlock()
	if hub != nil && (s == StateStopped || s == StateFailed) {
		hub.Retire(name) // for good: its entries leave the catalogue
	}
	a.publishHealth(snap, true)
	if a.opts.onState != nil {
		a.opts.onState(snap)
	}
}

// moduleRun is the runtime of one module.
type moduleRun struct {
	m       Module
	run     runner
	notices chan plumb.Notice // ready, setup failed
	stop    chan struct{}     // closed when the application stops the module
	done    chan struct{}     // closed when its supervisor returned

	mu        sync.Mutex
	inst      instance // the running instance, if any
	ready     bool
	coalesced uint64 // events coalesced for the module's earlier instances
}

func (r *moduleRun) current() (instance, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inst, r.ready
}

func (r *moduleRun) set(inst instance, ready bool) {
	r.mu.Lock()
	if r.inst != nil && r.inst != inst {
		r.coalesced += r.inst.port().Coalesced()
	}
	r.inst, r.ready = inst, ready
	r.mu.Unlock()
}

// coalescing returns how many events were coalesced for the module, and
// whether the hub coalesces its events now.
func (r *moduleRun) coalescing() (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.coalesced
	behind := false
	if r.inst != nil {
		n += r.inst.port().Coalesced()
		_, behind = r.inst.port().Behind()
	}
	return n, behind
}

// notice receives the hub's notices. It runs with the hub's lock held, so
// it only passes them on.
func (a *Application) notice(runs map[string]*moduleRun) func(plumb.Notice) {
	return func(n plumb.Notice) {
		switch n.Kind {
		case plumb.NoticeDuplicate:
			if n.Node != n.OtherNode {
				// Claimed on two nodes: this node's module keeps the id
				// here and the other node's claim is refused, which the
				// bridge logs once, naming both; the application runs on.
				return
			}
			select {
			case a.dups <- n.Err:
			default:
			}
		case plumb.NoticeStarted:
			select {
			case a.startedCh <- n.Module:
			default: // nobody waits once the application runs
			}
		case plumb.NoticeBehind:
			a.log.Warn("module does not keep up with its value events; coalescing them to the latest of each id", "module", n.Module)
			go a.stateChanged(n.Module)
		case plumb.NoticeCaughtUp:
			a.log.Info("module caught up with its value events", "module", n.Module, "coalesced", n.Coalesced,
				"after", time.Since(n.Since).Round(time.Millisecond))
			go a.stateChanged(n.Module)
		default:
			if r := runs[n.Module]; r != nil {
				select {
				case r.notices <- n:
				default:
					a.log.Warn("dropped module notice", "module", n.Module, "notice", n.Kind)
				}
			}
		}
	}
}

// stateChanged publishes the health values of a module whose coalescing
// changed, and tells OnModuleState.
func (a *Application) stateChanged(name string) {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	a.mu.Lock()
	snap := *a.status[name]
	r := a.runs[name]
	a.mu.Unlock()
	if r != nil {
		snap.Coalesced, snap.Behind = r.coalescing()
	}
	a.publishHealth(snap, false)
	if a.opts.onState != nil {
		a.opts.onState(snap)
	}
}

// isStopping reports whether the application has begun to stop.
func (a *Application) isStopping() bool {
	select {
	case <-a.stopping:
		return true
	default:
		return false
	}
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
	err := a.run(ctx)
	select {
	case <-a.ready:
	default:
		a.startErr = err
		if err == nil {
			a.startErr = ErrStopped
		}
		close(a.failed)
	}
	return err
}

// run is Run in the parent process.
func (a *Application) run(ctx context.Context) error {
	t0 := time.Now()
	if err := a.handle(); err != nil {
		a.beginStop()
		return err
	}
	hub, bus, runs, appPort := a.hub, a.bus, a.runs, a.appPort
	defer a.appRT.Kill()

	var socketDir string
	if !a.opts.inProcess {
		var err error
		socketDir, err = makeSocketDir(a.opts.name, a.log)
		if err != nil {
			a.beginStop()
			return fmt.Errorf("kervi: socket directory: %w", err)
		}
		defer os.RemoveAll(socketDir)
	}
	for _, r := range runs {
		if a.opts.inProcess {
			r.run = &busRunner{opts: plumb.BusOptions{Logger: a.log, OnError: a.opts.onError}}
			continue
		}
		var err error
		if r.run, err = a.newProcessRunner(r.m.Name, socketDir); err != nil {
			a.beginStop()
			return err
		}
	}
	cl, err := a.startCluster(ctx)
	if err != nil {
		a.beginStop()
		return fmt.Errorf("kervi: %w", err)
	}
	defer cl.stop()
	attrs := []any{"app", a.opts.name, "modules", len(a.modules), "in_process", a.opts.inProcess}
	if a.nodes.on {
		attrs = append(attrs, "node", a.nodes.name)
	}
	a.log.Info("starting application", attrs...)

	first := make(chan error, len(a.modules))
	for _, r := range runs {
		go a.supervise(r, hub, first)
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
			a.beginStop()
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
	if startErr == nil {
		// Every module is ready: each runs its app-start hooks
		// (controllers' Start); the application runs once all returned.
		hub.Start()
		startErr = a.awaitStarted(ctx, runs, appPort)
	}
	if startErr != nil || ctx.Err() != nil {
		a.beginStop()
		a.stopModules(runs)
		if ctx.Err() != nil {
			a.log.Info("stopped while starting")
			return nil
		}
		return startErr
	}

	a.mu.Lock()
	a.appReady = true
	a.mu.Unlock()
	hub.SetAppReady()
	a.log.Info("application ready", "app", a.opts.name, "after", time.Since(t0).Round(time.Microsecond))

	mainCtx, cancelMain := context.WithCancel(ipc.NewContext(ctx, bus))
	defer cancelMain()
	mainDone := make(chan struct{})
	go func() {
		defer close(mainDone)
		if a.opts.appMain == nil || !a.isMain() {
			return
		}
		if _, err := bus.Call(mainCtx, AppMainID); err != nil && mainCtx.Err() == nil {
			a.log.Error("app_main failed", "error", err)
		}
	}()
	close(a.ready)
	go a.reportLateDuplicates(ctx)

	<-ctx.Done()
	a.stoppingOnce.Do(func() { close(a.stopping) }) // from now on, no module is restarted
	a.log.Info("stopping application", "app", a.opts.name)
	a.beginStop()
	cancelMain()
	if a.opts.appExit != nil && a.isMain() {
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
	cl.leave() // the other nodes keep this one's ids, stale, until it is back
	a.stopModules(runs)
	appPort.Send(&kervipb.Msg{Kind: kervipb.Kind_KIND_STOP, Deadline: time.Now().Add(a.opts.stopTimeout).UnixNano()})
	select {
	case <-bus.Done():
	case <-time.After(a.opts.stopTimeout):
	}
	a.log.Info("application stopped", "app", a.opts.name)
	return nil
}

// awaitStarted waits until every module, and the parent's own bus, ran
// its app-start hooks, for at most the start timeout.
func (a *Application) awaitStarted(ctx context.Context, runs map[string]*moduleRun, appPort plumb.Port) error {
	timer := time.NewTimer(a.opts.startTimeout)
	defer timer.Stop()
	waiting := make(map[string]bool, len(runs))
	for name := range runs {
		waiting[name] = true
	}
	appStarted := appPort.Started()
	for len(waiting) > 0 || appStarted != nil {
		select {
		case name := <-a.startedCh:
			delete(waiting, name)
		case <-appStarted:
			appStarted = nil
		case err := <-a.dups:
			return err
		case <-timer.C:
			var names []string
			for name := range waiting {
				names = append(names, strconv.Quote(name))
			}
			return fmt.Errorf("%w: the app-start hooks (controllers' Start) of module %s did not return within %v",
				ErrStartTimeout, strings.Join(names, ", "), a.opts.startTimeout)
		case <-ctx.Done():
			return nil
		}
	}
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

// setupAppBus registers the app hooks, the module state and health values,
// the actions that report modules and logs, and the log feed on the
// parent's bus.
func (a *Application) setupAppBus(rt plumb.Bus, b *ipc.Bus) error {
	return rt.RunSetup(func(ctx context.Context) error {
		if fn := a.opts.appMain; fn != nil && a.isMain() {
			actions.Register(b, AppMainID, fn, actions.Name("App main"))
		}
		if fn := a.opts.appExit; fn != nil && a.isMain() {
			actions.Register(b, AppExitID, fn, actions.Name("App exit"))
		}
		nv := a.registerNodeValues(b)
		a.mu.Lock()
		a.nodeVals = nv
		a.mu.Unlock()
		health := make(map[string]*moduleHealth, len(a.modules))
		for _, m := range a.modules {
			health[m.Name] = newModuleHealth(b, m.Name)
		}
		a.registerModuleActions(b)
		if a.feed != nil {
			a.feed.start(b)
		}
		a.mu.Lock()
		a.health = health
		a.mu.Unlock()
		return nil // the first error of a registration fails the setup
	})
}

// awaitReady waits for the module's setup to finish, its instance to
// end, the start deadline, or the application to stop it.
func (a *Application) awaitReady(r *moduleRun, inst instance, deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	// verdict tells what a notice says of the setup, if anything.
	verdict := func(n plumb.Notice) (bool, error) {
		switch n.Kind {
		case plumb.NoticeReady:
			return true, nil
		case plumb.NoticeSetupFailed:
			return true, fmt.Errorf("%w: %v", ErrSetupFailed, n.Err)
		}
		return false, nil
	}
	for {
		select {
		case n := <-r.notices:
			if done, err := verdict(n); done {
				return err
			}
		case <-inst.exited():
			// What the module said before it ended (its setup's error)
			// arrives soon after.
			select {
			case <-inst.said():
			case <-time.After(time.Second):
			}
		drain:
			for {
				select {
				case n := <-r.notices:
					if done, err := verdict(n); done {
						return err
					}
				default:
					break drain
				}
			}
			if inst.setupFailed() {
				return fmt.Errorf("%w (the module's process exited with status %d; its log says why)", ErrSetupFailed, process.ExitSetupFailed)
			}
			return ErrExitedBeforeReady
		case <-timer.C:
			return fmt.Errorf("%w (%v)", ErrStartTimeout, a.opts.startTimeout)
		case <-r.stop:
			return errStopped
		}
	}
}

var errStopped = errors.New("kervi: stopped")

// supervise runs a module's instances: it starts one, and starts another
// when it ends, stops answering its heartbeat, or loses its stream. It
// reports the outcome of the first start on first.
func (a *Application) supervise(r *moduleRun, hub plumb.Hub, first chan<- error) {
	defer close(r.done)
	name := r.m.Name
	reported := false
	crashes := 0
	for restarts := 0; ; restarts++ {
		t0 := time.Now()
		deadline := t0.Add(a.opts.startTimeout)
		inst, err := r.run.start(r.m, hub, deadline)
		if err == nil {
			r.set(inst, false)
			a.setState(name, StateStarting, func(s *ModuleStatus) { s.PID = inst.pid(); s.Restarts = restarts })
			if pid := inst.pid(); pid != 0 {
				a.log.Info("module process started", "module", name, "pid", pid)
			}
			err = a.awaitReady(r, inst, deadline)
		}
		if errors.Is(err, errStopped) {
			inst.kill()
			inst.port().Detach()
			return
		}
		var readyAt time.Time
		failure := "" // why a restarted module did not become ready
		if err != nil {
			mErr := &ModuleError{Module: name, ExitCode: -1, Err: err}
			if inst != nil {
				inst.kill() // a module not ready in time stops now
				mErr = a.moduleError(name, inst, err)
				inst.port().Detach()
			}
			if !reported {
				r.set(nil, false)
				if inst != nil {
					inst.release()
				}
				first <- mErr
				return
			}
			a.log.Error("module failed to restart", "error", mErr)
			failure = mErr.Err.Error()
		} else {
			readyAt = time.Now()
			r.set(inst, true)
			a.setState(name, StateReady, nil)
			a.log.Info("module ready", "module", name, "pid", inst.pid(), "after", time.Since(t0).Round(time.Microsecond))
			if !reported {
				reported = true
				first <- nil
			}
			if !a.watch(r, inst) {
				return // stopModules stops the instance
			}
		}
		status := ""
		if inst != nil {
			inst.port().Detach()
			inst.release()
			status = inst.exitStatus()
		}
		if failure != "" {
			status = failure
		}
		r.set(nil, false)
		if a.isStopping() {
			a.log.Info("module ended while the application stops; not restarting it", "module", name, "status", status)
			a.setState(name, StateStopped, func(s *ModuleStatus) { s.PID = 0; s.LastExit = status })
			return
		}
		if !readyAt.IsZero() && time.Since(readyAt) >= a.opts.restart.StableAfter {
			crashes = 0
		}
		crashes++
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

// watch watches a running instance until it ends. One that stops
// answering its heartbeat is killed; one whose stream broke gets the stop
// timeout to stop on its own (it runs its stop hooks), then is killed. It
// reports false if the application stopped the module instead.
func (a *Application) watch(r *moduleRun, inst instance) bool {
	name := r.m.Name
	port := inst.port()
	hb := time.NewTicker(a.opts.heartbeat)
	defer hb.Stop()
	since := time.Now() // a setup may have taken a while: count from now
	port.Ping()
	for {
		select {
		case <-inst.exited():
			a.log.Error("module process died", "module", name, "pid", inst.pid(), "status", inst.exitStatus(),
				"stderr", strings.Join(inst.stderrTail(), "\n"))
			return true
		case <-port.Failed():
			select { // a process that exits breaks its stream too
			case <-inst.exited():
				continue
			case <-time.After(200 * time.Millisecond):
			}
			a.setState(name, StateDisconnected, nil)
			a.log.Error("module's stream to the application broke while its process runs; it stops on its own, then restarts",
				"module", name, "pid", inst.pid(), "error", port.Err())
			port.Detach() // calls to it fail at once
			select {
			case <-inst.exited():
			case <-time.After(a.opts.stopTimeout + time.Second):
				a.log.Warn("module did not stop in time; killing it", "module", name, "pid", inst.pid())
				inst.kill()
				<-inst.exited()
			}
			return true
		case <-hb.C:
			if silent := time.Since(later(port.LastPong(), since)); silent > a.opts.heartbeatTimeout {
				a.setState(name, StateUnresponsive, nil)
				a.log.Error("module does not answer its heartbeat; killing it", "module", name, "pid", inst.pid(),
					"silent_for", silent.Round(time.Millisecond))
				port.Detach() // calls to it fail at once
				inst.kill()
				<-inst.exited()
				return true
			}
			port.Ping()
		case <-r.stop:
			return false
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// moduleError describes a module that did not become ready.
func (a *Application) moduleError(name string, inst instance, err error) *ModuleError {
	e := &ModuleError{Module: name, ExitCode: -1, Err: err}
	select { // the instance was killed, if it still ran
	case <-inst.exited():
		e.ExitCode, e.Status = inst.exitCode(), inst.exitStatus()
		if errors.Is(err, ErrExitedBeforeReady) {
			e.Err = fmt.Errorf("%w (%s)", err, e.Status)
			e.Status = ""
		}
	case <-time.After(2 * time.Second):
	}
	e.Stderr = inst.stderrTail()
	return e
}

// stopModules stops every module gracefully, in parallel, killing those
// that do not stop in time, and waits for their supervisors.
func (a *Application) stopModules(runs map[string]*moduleRun) {
	a.stoppingOnce.Do(func() { close(a.stopping) })
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() {
			close(r.stop)
			inst, ready := r.current()
			name := r.m.Name
			if inst == nil {
				<-r.done
				a.setState(name, StateStopped, func(s *ModuleStatus) { s.PID = 0 })
				return
			}
			a.setState(name, StateStopping, nil)
			deadline := time.Now().Add(a.opts.stopTimeout)
			if ready {
				inst.port().Send(&kervipb.Msg{Kind: kervipb.Kind_KIND_STOP, Deadline: deadline.UnixNano()})
			}
			timer := time.NewTimer(time.Until(deadline) + time.Second)
			defer timer.Stop()
		wait:
			for {
				select {
				case <-inst.exited():
					break wait
				case n := <-r.notices:
					if n.Kind == plumb.NoticeStopped {
						inst.stopped() // it said all it had to say
					}
				case <-timer.C:
					a.log.Warn("module did not stop in time; killing it", "module", name, "pid", inst.pid())
					break wait
				}
			}
			inst.kill()
			inst.port().Detach()
			<-r.done
			r.set(nil, false)
			a.setState(name, StateStopped, func(s *ModuleStatus) { s.PID = 0 })
		})
	}
	wg.Wait()
}

// serveModule runs this process as the module process of name; it never
// returns.
func (a *Application) serveModule(name string) {
	for _, m := range a.modules {
		if m.Name == name {
			setup := m.Setup
			if err := testFunctionError(); err != nil {
				setup = func(context.Context, *ipc.Bus) error { return err }
			}
			process.Serve(process.ChildConfig{Module: name, Setup: setup})
		}
	}
	fmt.Fprintf(os.Stderr, "kervi: module %q is not part of this application\n", name)
	os.Exit(process.ExitSetupFailed)
}
