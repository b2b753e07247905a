// Package kervi turns a Go program into a multi-process sensor and
// automation application: declare sensors, controllers, values and actions
// in plain Go, split them into modules that run as separate processes,
// link values across processes by id, and call actions by id from
// anywhere.
//
// # Modules and the process model
//
// A module is a name and a setup function that creates the module's
// components on the bus it is given; it usually lives in a package of its
// own. Component constructors return usable objects and no error: the
// first error of a creation (an invalid or taken id, an option that does
// not apply) fails the module's setup, naming the component, even if the
// setup returns nil (see ipc.Bus.Fail). main lists the modules and runs the
// application:
//
//	func main() {
//		app, err := kervi.NewApplication([]kervi.Module{sensors.Module, controllers.Module},
//			kervi.WithAppMain(func(ctx context.Context) error {
//				_, err := actions.Call(ctx, "fan_controller.activate", true)
//				return err
//			}))
//		if err != nil {
//			log.Fatal(err)
//		}
//		app.Main()
//	}
//
// Run starts the program's own binary again once per module, in module
// mode (hashicorp/go-plugin: a magic-cookie handshake, then gRPC over a unix
// socket in a private 0700 directory). In module mode NewApplication and
// Run serve that one module: its setup runs, and its components exist,
// poll and run only in that process. The parent process hosts the hub,
// which routes value events and action calls between the processes by id,
// over one long-lived stream per module.
//
// Because every module process runs the program from the start, nothing a
// package does at init time may start goroutines, touch devices or open
// sockets, and start-up work in main that must happen once belongs after a
// check of IsModuleProcess (see the example of IsModuleProcess).
//
// # Command-line flags and the environment
//
// A module process is the program's binary (os.Executable) started with
// the parent's command-line arguments (os.Args[1:], as they are when Run
// starts; its os.Args[0] is the binary's path), the parent's environment
// plus kervi's own KERVI_* variables and those of WithModuleEnv, and the
// parent's working directory; its standard input is empty (/dev/null). So
// flags parsed in main, before NewApplication, have the same values in
// every module process, and a list of modules that depends on them is the
// same list there: "prog -load=false" leaves a module out in the parent and
// its module processes alike. A restarted module process gets the same
// arguments again. Values a program computes at run time (from a prompt,
// a random number, the time) differ between processes: pass them with
// WithModuleEnv.
//
// # Panics
//
// A panic in a module's setup fails the setup (ErrSetupFailed). A panic in
// an action is its caller's ipc.ErrPanic. A panic in a controller's
// InputChanged, Start, Restore or Exit, in a scheduled run or in a
// subscription's callback (OnChange, ipc.Bus.Subscribe) is recovered and
// logged at error level with its stack on the module's logger ("controller
// hook panicked", "schedule panicked", "callback panicked"); the controller
// or subscription goes on with the next change, and the module keeps
// running. A sensor driver that panics fails that read. A panic anywhere
// else, such as in a goroutine of the program's own or one started with
// ipc.Bus.Go, crashes the module process, which is restarted (see Life
// cycle).
//
// # Life cycle
//
//  1. Every module's setup runs, in its own process; the application is
//     ready when all have returned. A module that fails its setup, or dies
//     before it is ready, makes Run fail at once with its exit code and the
//     tail of its stderr. An id claimed by two modules is a start error that
//     names both.
//  2. Every module runs its app-start hooks (controllers' Start), side by
//     side; a module serves calls from other processes only once its own
//     hooks returned. When the hooks of every module returned, the
//     application runs: OnAppReady callbacks run, controllers receive input
//     changes, and the app-main hook runs (an action with id "app_main",
//     callable like any other). A module's setup cannot call another
//     module: the application is not ready until every setup returned, so
//     such a call fails at once with ipc.ErrNotReady; call other modules
//     from a controller's Start, an OnAppReady callback or later.
//  3. A module process that dies is restarted with exponential backoff; its
//     components announce themselves again, links and subscriptions are
//     restored, and the last value of each of its values is published
//     again (a controller rebuilds its own fields from them in Restore, see
//     controllers.Restorer). So is a process that stops answering its heartbeat (it is
//     stopped or wedged: StateUnresponsive), after it is killed, and one
//     whose stream to the application broke (StateDisconnected), after it
//     stopped. A module that keeps crashing is marked failed; the
//     application stays up.
//  4. When Run's context ends (Main: SIGINT or SIGTERM), the app-exit hook
//     ("app_exit") runs and is awaited, with a deadline; then every module
//     stops gracefully (controllers' Exit hooks, sensors stop) and Run
//     returns nil. No module is restarted once the application stops. A
//     module process that gets SIGTERM while its parent runs leaves the
//     stop to the parent (systemd signals every process of a service at
//     once). A module process whose parent dies (even by SIGKILL), or
//     whose stream broke, runs its stop hooks within the stop timeout and
//     exits, so that an actuator is left in its safe state.
//
// # Slow and stopped processes
//
// No process can hold the others back for long. Calls, sets, results and
// the life cycle travel apart from value events, so a busy process still
// answers calls and still stops. A process that keeps up with the value
// events it follows gets every one, in order; its publishers are slowed to
// its pace. One that falls far behind (Limits.QueueEvents), or takes
// nothing for Limits.StallTimeout (it is stopped or wedged), no longer
// holds anybody back: its events are coalesced to the latest content of
// each id, in order per id, until it has caught up, which is logged once
// when it starts and once when it ends and counted in
// ModuleStatus.Coalesced. Subscribers within one process are treated the
// same way: an OnChange callback that is slow gets the latest content
// rather than a growing backlog. Every queue is bounded (see WithLimits).
//
// # Observing the application
//
// The parent process publishes how the application fares, for any process
// to follow, as a dashboard's health and log panels do:
//
//   - Module health. Beside each module's state value (ModuleStateID,
//     "kervi.module.<name>": "starting", "ready", ...), output values under
//     "kervi.module.<name>." mirror its ModuleStatus: restarts, since (when
//     it entered its state; its uptime is the time since then while it is
//     "ready"), pid (0 when it has none), last_exit (how its last process
//     ended, or why its setup failed on a restart), behind and coalesced
//     (see ModuleHealthValueID). In the catalogue they and the state value
//     have the module's health sensor (ModuleHealthID) as their Parent.
//     They change under the same lock as the status, the details before the
//     state, so a follower that sees a new state finds them current.
//     SubscribePattern("kervi.module.>", ...) follows them all; the action
//     "kervi.modules" (ModulesID) returns every []ModuleStatus at once.
//   - The log feed. The records at warning level and above (WithLogFeed) of
//     every process, the parent's and every module's, are published on the
//     string value "kervi.log" (LogFeedID), one JSON LogRecord per event
//     (ParseLogRecord). Subscribe to it to get every record in order; like
//     any follower, one that falls far behind is coalesced and misses
//     records, so a dashboard keeps its own ring buffer of them. The feed
//     never slows logging: it publishes at most LogFeedRate records per
//     second and counts the rest in one "N log records dropped" record,
//     and cuts long texts (LogAttrMax, LogRecordMax). The action
//     "kervi.logs" (LogsID) returns the last LogHistory records, for a
//     follower that starts late.
//
// # Embedding
//
// A program with work of its own next to the application, such as an HTTP
// API, gets the parent's bus from Bus as soon as NewApplication returns,
// and hands Context to its servers (http.Server's BaseContext), so that
// every request's context carries the bus: handlers call actions.Call,
// ipc.Get and ipc.Set with it. A call, set or read made before the
// application is ready to an id no module owns yet waits until it is ready;
// once it is, an unknown id fails at once with ipc.ErrUnknownID. WaitReady
// waits for the application or returns why it did not start, and OnStop
// hooks shut the program's servers down when the application stops, also
// under Main, whose os.Exit skips deferred calls (see examples/embed).
//
// # Testing
//
// InProcess runs an application in the test's process. To test with module
// processes, the test binary serves them from TestMain, before m.Run
// (module processes are the test binary again, and must not run the
// tests):
//
//	func TestMain(m *testing.M) {
//		if kervi.IsModuleProcess() {
//			app, err := newApp()
//			if err != nil {
//				log.Fatal(err)
//			}
//			app.Run(context.Background()) // never returns in a module process
//		}
//		os.Exit(m.Run())
//	}
//
// A module process started by a test function of a binary without such a
// TestMain fails its setup with an error that says so.
//
// With InProcess the same application runs all its modules in one
// process, with the same semantics and no child processes: for tests of
// user code, and for services that embed kervi.
package kervi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kervi/kervi-go/internal/process"
	"github.com/kervi/kervi-go/ipc"
)

// Module is a part of an application that runs in a process of its own.
// Setup creates the module's components on bus; the context it gets
// carries the bus and ends when the module stops.
type Module struct {
	// Name identifies the module: letters, digits, '_' and '-'.
	Name string
	// Setup creates the module's components. It runs once per start of
	// the module's process, before the module is ready. It must not block.
	Setup SetupFunc
}

// SetupFunc creates a module's components on bus. ctx carries the bus and
// ends when the module stops.
type SetupFunc func(ctx context.Context, bus *ipc.Bus) error

// IsModuleProcess reports whether this process is a module process that
// kervi started. Programs whose main does work before running the
// application that must happen once, such as opening a database or
// starting a web server of their own, do it only when IsModuleProcess is
// false; module processes go straight to Run.
func IsModuleProcess() bool {
	_, ok := process.IsChild()
	return ok
}

// ModuleState is where a module is in its life cycle.
type ModuleState int

// The module states.
const (
	// StateStarting: the module's process is starting or running its setup.
	StateStarting ModuleState = iota + 1
	// StateReady: the module's setup is done; it runs.
	StateReady
	// StateRestarting: the module's process died and waits to be restarted.
	StateRestarting
	// StateFailed: the module crashed too often and is not restarted.
	StateFailed
	// StateStopping: the application is stopping the module.
	StateStopping
	// StateStopped: the module stopped.
	StateStopped
	// StateUnresponsive: the module's process stopped answering its
	// heartbeat (it is stopped or wedged); it is killed, then restarted
	// under the restart policy.
	StateUnresponsive
	// StateDisconnected: the module's stream to the application broke
	// while its process runs; the process stops on its own (or is killed
	// at the stop timeout), then is restarted under the restart policy.
	StateDisconnected
)

// String returns the state's name, such as "ready".
func (s ModuleState) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateReady:
		return "ready"
	case StateRestarting:
		return "restarting"
	case StateFailed:
		return "failed"
	case StateStopping:
		return "stopping"
	case StateStopped:
		return "stopped"
	case StateUnresponsive:
		return "unresponsive"
	case StateDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("ModuleState(%d)", int(s))
}

// ModuleError reports a module that could not start: its setup failed (Err
// matches ErrSetupFailed and carries the setup's error text), its process
// died before it was ready (ErrExitedBeforeReady), or it was not ready in
// time (ErrStartTimeout).
type ModuleError struct {
	Module string
	// ExitCode is the process's exit code; -1 if it did not exit by itself
	// (killed by a signal, still running, or in-process mode).
	ExitCode int
	// Status describes how the process ended, such as "exit status 3".
	Status string
	// Stderr holds the last lines the process wrote to stderr.
	Stderr []string
	Err    error
}

// Error implements error.
func (e *ModuleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kervi: module %q", e.Module)
	if e.Status != "" {
		fmt.Fprintf(&b, " (%s)", e.Status)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %s", strings.TrimPrefix(e.Err.Error(), "kervi: "))
	}
	if len(e.Stderr) > 0 {
		b.WriteString("\n  stderr (last lines):")
		for _, l := range e.Stderr {
			b.WriteString("\n  | ")
			b.WriteString(l)
		}
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ModuleError) Unwrap() error { return e.Err }

// Errors of the application.
var (
	// ErrSetupFailed: a module's setup returned an error or panicked. The
	// error's text carries the setup's own.
	ErrSetupFailed = errors.New("kervi: setup failed")
	// ErrStartTimeout: a module was not ready within the start timeout, or its
	// app-start hooks did not return within it.
	ErrStartTimeout = errors.New("kervi: module not ready in time")
	// ErrExitedBeforeReady: a module's process ended before it was ready.
	ErrExitedBeforeReady = errors.New("kervi: module process exited before it was ready")
	// ErrAlreadyRunning: Run was called on an application that runs.
	ErrAlreadyRunning = errors.New("kervi: application already running")
	// ErrStopped: the application stopped before it was ready (WaitReady):
	// Run's context ended while it started.
	ErrStopped = errors.New("kervi: application stopped before it was ready")
)

// MarshalText encodes the state as its name, for JSON and logs.
func (s ModuleState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state's name.
func (s *ModuleState) UnmarshalText(b []byte) error {
	for c := StateStarting; c <= StateDisconnected; c++ {
		if c.String() == string(b) {
			*s = c
			return nil
		}
	}
	return fmt.Errorf("kervi: unknown module state %q", b)
}
