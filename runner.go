package kervi

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/process"
	"github.com/kervi/kervi-go/ipc"
)

// A runner starts the instances of a module. How a module runs, in a
// process of its own or on a bus in the parent process (later, on another
// machine), is all a runner knows; supervision drives every runner the same
// way.
type runner interface {
	// start starts an instance of m, connected to hub, that must report
	// ready (or its setup's failure) before deadline.
	start(m Module, hub plumb.Hub, deadline time.Time) (instance, error)
}

// An instance is one run of a module, from its start to its end.
type instance interface {
	// port is the instance's connection in the hub.
	port() plumb.Port
	// pid is its process id; 0 if it has no process of its own.
	pid() int
	// exited is closed when the instance has ended.
	exited() <-chan struct{}
	// said is closed when everything the instance sent before it ended has
	// reached the hub.
	said() <-chan struct{}
	// setupFailed reports that the instance ended because its setup
	// failed; valid once exited is closed.
	setupFailed() bool
	// exitStatus describes how it ended, such as "exit status 2"; its
	// exitCode is -1 if it had none. Valid once exited is closed.
	exitStatus() string
	exitCode() int
	// stderrTail is the last lines it wrote to its standard error, if it
	// has one of its own.
	stderrTail() []string
	// stopped tells the instance that it said all it had to say after a
	// stop.
	stopped()
	// kill ends the instance at once; exited is closed when it returns.
	kill()
	// release frees what the instance holds once it ended.
	release()
}

// processRunner runs each instance of a module in a process of its own:
// this program's binary, started again in module mode.
type processRunner struct {
	cfg process.LaunchConfig
}

func (a *Application) newProcessRunner(name, socketDir string) (*processRunner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("kervi: module %q: %w", name, err)
	}
	env := append([]string{process.EnvLogLevel + "=" + a.opts.logLevel.String()}, a.opts.env...)
	if n := a.opts.gomaxprocs; n > 0 && (a.opts.gomaxprocsSet || os.Getenv("GOMAXPROCS") == "") {
		env = append(env, process.EnvGOMAXPROCS+"="+strconv.Itoa(n))
	}
	if a.nodes.on {
		// The module process does not read the join file: it learns its
		// node from the parent, which may have it from the join file only.
		env = append(env, EnvNode+"="+a.nodes.name)
	}
	return &processRunner{cfg: process.LaunchConfig{
		Module: name, Path: exe, Args: os.Args[1:], Env: env, SocketDir: socketDir,
		Limits: a.opts.limits, StopTimeout: a.opts.stopTimeout, Logger: a.log, TailLines: 20,
	}}, nil
}

func (pr *processRunner) start(m Module, hub plumb.Hub, deadline time.Time) (instance, error) {
	cfg := pr.cfg
	cfg.Deadline = deadline
	child, err := process.Launch(cfg)
	if err != nil {
		return nil, err
	}
	p, err := child.Connect(hub)
	if err != nil {
		child.Kill()
		child.Release()
		return nil, err
	}
	return &processInstance{child: child, p: p}, nil
}

// processInstance is a module's process.
type processInstance struct {
	child *process.Child
	p     plumb.Port
}

func (pi *processInstance) port() plumb.Port        { return pi.p }
func (pi *processInstance) pid() int                { return pi.child.PID() }
func (pi *processInstance) exited() <-chan struct{} { return pi.child.Exited() }
func (pi *processInstance) said() <-chan struct{}   { return pi.child.StreamsDone() }
func (pi *processInstance) setupFailed() bool       { return pi.child.ExitCode() == process.ExitSetupFailed }
func (pi *processInstance) exitStatus() string      { return pi.child.ExitStatus() }
func (pi *processInstance) exitCode() int           { return pi.child.ExitCode() }
func (pi *processInstance) stderrTail() []string    { return pi.child.StderrTail() }
func (pi *processInstance) stopped()                { pi.child.CloseStreams() }
func (pi *processInstance) kill()                   { pi.child.Kill() }
func (pi *processInstance) release()                { pi.child.Release() }

// busRunner runs each instance of a module on a bus of its own in this
// process (InProcess).
type busRunner struct {
	opts plumb.BusOptions
}

func (br *busRunner) start(m Module, hub plumb.Hub, deadline time.Time) (instance, error) {
	rt, p, err := hub.Connect(m.Name, br.opts)
	if err != nil {
		return nil, err
	}
	bus := rt.Handle().(*ipc.Bus)
	bi := &busInstance{rt: rt, p: p, end: make(chan struct{})}
	go func() {
		select {
		case <-rt.Done():
			bi.end1("stopped")
		case <-bi.end:
		}
	}()
	go func() {
		_ = rt.RunSetup(func(ctx context.Context) error { return m.Setup(ctx, bus) })
	}()
	return bi, nil
}

// busInstance is a module's bus in this process.
type busInstance struct {
	rt plumb.Bus
	p  plumb.Port

	once   sync.Once
	end    chan struct{}
	status string
}

func (bi *busInstance) end1(status string) {
	bi.once.Do(func() {
		bi.status = status
		close(bi.end)
	})
}

func (bi *busInstance) port() plumb.Port        { return bi.p }
func (bi *busInstance) pid() int                { return 0 }
func (bi *busInstance) exited() <-chan struct{} { return bi.end }
func (bi *busInstance) said() <-chan struct{}   { return bi.end }
func (bi *busInstance) setupFailed() bool       { return false }
func (bi *busInstance) exitStatus() string      { <-bi.end; return bi.status }
func (bi *busInstance) exitCode() int           { return -1 }
func (bi *busInstance) stderrTail() []string    { return nil }
func (bi *busInstance) stopped()                {}
func (bi *busInstance) release()                {}

func (bi *busInstance) kill() {
	bi.rt.Kill()
	bi.end1("") // no process, no exit status
}

// compile-time checks
var (
	_ runner   = (*processRunner)(nil)
	_ runner   = (*busRunner)(nil)
	_ instance = (*processInstance)(nil)
	_ instance = (*busInstance)(nil)
)
