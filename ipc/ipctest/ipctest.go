// Package ipctest runs modules in one process, on a hub of their own, for
// the tests of components and of applications' modules: the modules' buses
// behave as in an application (ids, links, calls, sets, restored values
// after a crash, the life cycle of controllers), without processes.
//
//	h := ipctest.New()
//	defer h.Close()
//	sensorsBus, err := h.Module("sensors", sensorsSetup)
//	...
//	controlBus, err := h.Module("control", controlSetup)
//	...
//	if err := h.Start(ctx); err != nil { ... } // controllers start, the application runs
//
// Every module's setup runs as kervi runs it: Module returns once the
// module is ready. Start then runs every module's app-start hooks (the
// controllers' Start), and the application runs: controllers see their
// inputs change, calls from other modules are served. Crash ends a module
// as a crash of its process would; set it up again with Module, and its
// values take the content they had.
package ipctest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/ipc"
)

// Hub is a hub with modules in this process. Its methods are safe for
// concurrent use.
type Hub struct {
	hub     plumb.Hub
	opts    options
	timeout time.Duration

	mu      sync.Mutex
	modules map[string]*module
	order   []string
	dups    []error
	started bool
}

type module struct {
	bus  *ipc.Bus
	rt   plumb.Bus
	port plumb.Port
}

type options struct {
	limits  ipc.Limits
	logger  *slog.Logger
	onError func(module string, err error)
	timeout time.Duration
}

// Option configures a Hub.
type Option func(*options)

// WithLimits sets the limits of the hub and its buses.
func WithLimits(l ipc.Limits) Option { return func(o *options) { o.limits = l } }

// WithLogger sets the logger of the hub and its buses. Default:
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// OnError sets the handler of the errors a module reports with no caller
// to return them to (a link refusing an update, an error of a scheduled
// run). Default: they are logged.
func OnError(fn func(module string, err error)) Option { return func(o *options) { o.onError = fn } }

// WithTimeout bounds how long Module, Start and Stop wait for a module.
// Default 10 seconds.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// New returns a hub with no modules. Close it when done.
func New(opts ...Option) *Hub {
	o := options{logger: slog.Default(), timeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	h := &Hub{opts: o, timeout: o.timeout, modules: map[string]*module{}}
	h.hub = plumb.NewHub(plumb.HubOptions{Logger: o.logger, Limits: o.limits, Notify: h.notice})
	return h
}

// notice runs with the hub's lock held: it only records.
func (h *Hub) notice(n plumb.Notice) {
	if n.Kind == plumb.NoticeDuplicate {
		h.mu.Lock()
		h.dups = append(h.dups, n.Err)
		h.mu.Unlock()
	}
}

// Connect connects the module name to the hub and returns its bus, with
// its setup not yet run: for tests that create components step by step.
// Call Setup when they are made.
func (h *Hub) Connect(name string) (*ipc.Bus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.modules[name]; m != nil {
		return nil, fmt.Errorf("ipctest: module %q is connected already", name)
	}
	bo := plumb.BusOptions{Logger: h.opts.logger}
	if h.opts.onError != nil {
		bo.OnError = func(err error) { h.opts.onError(name, err) }
	}
	rt, port, err := h.hub.Connect(name, bo)
	if err != nil {
		return nil, err
	}
	bus := rt.Handle().(*ipc.Bus)
	h.modules[name] = &module{bus: bus, rt: rt, port: port}
	h.order = append(h.order, name)
	return bus, nil
}

// Setup runs setup on the module's bus as kervi runs a module's setup
// (then its start hooks), and returns once the hub has seen the module
// ready, or with the setup's error; a module whose setup failed is ended
// and its entries leave the catalogue (connect it again to retry). If the hub is started, the module
// starts at once, as a module restarted in a running application does.
func (h *Hub) Setup(name string, setup func(ctx context.Context, bus *ipc.Bus) error) error {
	m, err := h.module(name)
	if err != nil {
		return err
	}
	err = m.rt.RunSetup(func(ctx context.Context) error {
		if setup == nil {
			return nil
		}
		return setup(ctx, m.bus)
	})
	if err != nil {
		// As kervi does with a module whose setup failed, the module is
		// ended, and what it announced leaves the catalogue.
		h.drop(name, m)
		h.hub.Retire(name)
		return fmt.Errorf("ipctest: module %q: setup: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	if err := m.bus.Flush(ctx); err != nil {
		return fmt.Errorf("ipctest: module %q: %w", name, err)
	}
	h.mu.Lock()
	started := h.started
	h.mu.Unlock()
	if started {
		return h.awaitStarted(ctx, name, m)
	}
	return nil
}

// Module connects the module name and runs setup on its bus (see Setup).
// It returns the module's bus, or the setup's error.
func (h *Hub) Module(name string, setup func(ctx context.Context, bus *ipc.Bus) error) (*ipc.Bus, error) {
	bus, err := h.Connect(name)
	if err != nil {
		return nil, err
	}
	return bus, h.Setup(name, setup)
}

// Bus returns the bus of the module name, or nil.
func (h *Hub) Bus(name string) *ipc.Bus {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.modules[name]; m != nil {
		return m.bus
	}
	return nil
}

func (h *Hub) module(name string) (*module, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.modules[name]
	if m == nil {
		return nil, fmt.Errorf("ipctest: no module %q", name)
	}
	return m, nil
}

// Start starts the application once every module is set up: each module
// runs its app-start hooks (controllers' Start), then the application
// runs, and Start returns. It fails if two modules claimed the same id.
func (h *Hub) Start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	h.mu.Lock()
	if err := errors.Join(h.dups...); err != nil {
		h.mu.Unlock()
		return err
	}
	h.started = true
	mods := make(map[string]*module, len(h.modules))
	for n, m := range h.modules {
		mods[n] = m
	}
	h.mu.Unlock()
	h.hub.Start()
	for name, m := range mods {
		select {
		case <-m.port.Started():
		case <-ctx.Done():
			return fmt.Errorf("ipctest: module %q did not start: %w", name, ctx.Err())
		}
	}
	h.hub.SetAppReady()
	for name, m := range mods {
		if err := awaitAppReady(ctx, name, m.bus); err != nil {
			return err
		}
	}
	return nil
}

// awaitStarted waits until a module set up in a running application has
// started and sees the application running.
func (h *Hub) awaitStarted(ctx context.Context, name string, m *module) error {
	select {
	case <-m.port.Started():
	case <-ctx.Done():
		return fmt.Errorf("ipctest: module %q did not start: %w", name, ctx.Err())
	}
	return awaitAppReady(ctx, name, m.bus)
}

func awaitAppReady(ctx context.Context, name string, bus *ipc.Bus) error {
	ready := make(chan struct{})
	bus.OnAppReady(func(context.Context) { close(ready) })
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ipctest: module %q does not see the application run: %w", name, ctx.Err())
	}
}

// Stop stops the module name as kervi stops a module (its stop hooks and
// controllers' Exit run), waits until it stopped, and disconnects it. Its
// ids stay its own: set it up again with Module.
func (h *Hub) Stop(name string) error {
	m, err := h.module(name)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(h.timeout)
	m.port.Send(&kervipb.Msg{Kind: kervipb.Kind_KIND_STOP, Deadline: deadline.UnixNano()})
	var stopErr error
	select {
	case <-m.bus.Done():
	case <-time.After(time.Until(deadline) + time.Second):
		stopErr = fmt.Errorf("ipctest: module %q did not stop in %v", name, h.timeout)
	}
	h.drop(name, m)
	return stopErr
}

// Crash ends the module name at once, as the death of its process would:
// no stop hooks run, calls it serves fail with ipc.ErrOwnerGone. Its ids
// stay its own and keep their last content: set it up again with Module,
// and its values take that content.
func (h *Hub) Crash(name string) error {
	m, err := h.module(name)
	if err != nil {
		return err
	}
	h.drop(name, m)
	return nil
}

func (h *Hub) drop(name string, m *module) {
	m.port.Detach()
	m.rt.Kill()
	h.mu.Lock()
	delete(h.modules, name)
	for i, n := range h.order {
		if n == name {
			h.order = append(h.order[:i:i], h.order[i+1:]...)
			break
		}
	}
	h.mu.Unlock()
}

// Close stops every module, in the reverse order of their connection, and
// ends the hub.
func (h *Hub) Close() {
	h.mu.Lock()
	order := append([]string(nil), h.order...)
	h.mu.Unlock()
	for i := len(order) - 1; i >= 0; i-- {
		_ = h.Stop(order[i])
	}
}
