// Package testbus runs modules' buses on an in-process hub for the tests of
// kervi's own packages, driving their life cycle as the runtime does.
package testbus

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/ipc"
)

// Hub is an in-process hub with helpers.
type Hub struct {
	t       testing.TB
	Hub     plumb.Hub
	Notices chan plumb.Notice
	ports   map[string]plumb.Port
	rts     map[string]plumb.Bus
	buses   map[string]*ipc.Bus
	setup   map[string]bool
}

// New returns an empty hub; its buses are killed when the test ends.
func New(t testing.TB) *Hub { return NewNode(t, "") }

// NewNode returns the empty hub of node, in an application of several
// nodes.
func NewNode(t testing.TB, node string) *Hub {
	h := &Hub{t: t, Notices: make(chan plumb.Notice, 1000), ports: map[string]plumb.Port{}, rts: map[string]plumb.Bus{}, buses: map[string]*ipc.Bus{}, setup: map[string]bool{}}
	h.Hub = plumb.NewHub(plumb.HubOptions{Node: node, Notify: func(n plumb.Notice) {
		select {
		case h.Notices <- n:
		default:
		}
	}})
	t.Cleanup(func() {
		// Stop waits for the modules' goroutines (a sensor's polling).
		for m, p := range h.ports {
			h.rts[m].Stop(time.Now().Add(5 * time.Second))
			p.Detach()
			h.rts[m].Kill()
		}
	})
	return h
}

// Bus connects a module; errs, if not nil, receives its reported errors.
func (h *Hub) Bus(module string, errs chan<- error) *ipc.Bus {
	h.t.Helper()
	opts := plumb.BusOptions{}
	if errs != nil {
		opts.OnError = func(err error) { errs <- err }
	}
	return h.BusWith(module, opts)
}

// BusWith connects a module with the given options.
func (h *Hub) BusWith(module string, opts plumb.BusOptions) *ipc.Bus {
	h.t.Helper()
	rt, p, err := h.Hub.Connect(module, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	b := rt.Handle().(*ipc.Bus)
	h.ports[module], h.rts[module], h.buses[module] = p, rt, b
	return b
}

// Crash ends the module as the death of its process would: its port is
// detached and its bus killed. Connect it again with Bus.
func (h *Hub) Crash(module string) {
	h.ports[module].Detach()
	h.rts[module].Kill()
	delete(h.ports, module)
	delete(h.rts, module)
	delete(h.buses, module)
	delete(h.setup, module)
}

// Setup runs setup on the module's bus as the runtime does, and waits until
// the hub has seen the module ready.
func (h *Hub) Setup(module string, setup func(ctx context.Context, b *ipc.Bus) error) error {
	h.t.Helper()
	b := h.buses[module]
	h.setup[module] = true
	err := h.rts[module].RunSetup(func(ctx context.Context) error {
		if setup == nil {
			return nil
		}
		return setup(ctx, b)
	})
	_ = b.Flush(context.Background())
	return err
}

// Run runs the setup (with nothing to do) of every module not set up yet,
// then starts the application: from then on the modules call each other.
func (h *Hub) Run() {
	h.t.Helper()
	for m := range h.buses {
		if !h.setup[m] {
			if err := h.Setup(m, nil); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	h.Start()
}

// Start starts the application as the runtime does, once every module is
// ready (Setup returned): each module runs its app-start hooks, then the
// application runs. It waits for both.
func (h *Hub) Start() {
	h.t.Helper()
	h.Hub.Start()
	for m, p := range h.ports {
		select {
		case <-p.Started():
		case <-time.After(10 * time.Second):
			h.t.Fatalf("module %q did not start", m)
		}
	}
	h.Hub.SetAppReady()
	for m, b := range h.buses {
		Eventually(h.t, "module "+m+" to see the application ready", b.AppReady)
	}
}

// Stop stops a module and waits until it stopped.
func (h *Hub) Stop(module string) {
	h.t.Helper()
	h.ports[module].Send(&kervipb.Msg{Kind: kervipb.Kind_KIND_STOP, Deadline: time.Now().Add(5 * time.Second).UnixNano()})
	select {
	case <-h.buses[module].Done():
	case <-time.After(10 * time.Second):
		h.t.Fatalf("module %q did not stop", module)
	}
}

// Wait returns the next value from ch, failing the test after 10 seconds.
func Wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// Eventually polls cond every millisecond until it holds, failing the test
// after 5 seconds. It is for states that announce themselves with no event.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// SkipIfCannotExecSelf skips a test that starts module processes (the
// test binary itself) when the binary cannot be executed by the kernel:
// under user-mode emulation (qemu-arm-static through go test -exec) with no
// binfmt_misc registration, a child process is an "exec format error".
// Such tests run natively in CI; the rest of their package runs emulated.
func SkipIfCannotExecSelf(t testing.TB) {
	t.Helper()
	selfExec.Do(func() {
		err := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1").Run()
		selfExecErr = err
	})
	if errors.Is(selfExecErr, syscall.ENOEXEC) {
		t.Skipf("the test binary cannot start itself (%v): module processes need the kernel to run it, as under emulation without binfmt_misc", selfExecErr)
	}
}

var (
	selfExec    sync.Once
	selfExecErr error
)
