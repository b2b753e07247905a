package kervi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kervi/kervi-go/ipc"
)

// Option configures an Application.
type Option func(*options) error

type options struct {
	name          string
	appMain       func(ctx context.Context) error
	appExit       func(ctx context.Context) error
	logger        *slog.Logger
	logLevel      slog.Level
	inProcess     bool
	restart       RestartPolicy
	startTimeout  time.Duration
	exitTimeout   time.Duration
	stopTimeout   time.Duration
	gomaxprocs    int
	gomaxprocsSet bool
	env           []string
	onState       func(ModuleStatus)
	onError       func(error)
	logFeedLevel  slog.Level
	logFeedOff    bool
	limits        ipc.Limits
	heartbeat     time.Duration
	// heartbeatTimeout is how long a module process may leave heartbeats
	// unanswered.
	heartbeatTimeout time.Duration

	// Nodes (nodes.go).
	nodes                 map[string][]string
	node, joinFile        string
	nodeDir, natsLeaf     string
	natsListen            *string
	natsURLs, natsHosts   []string
	natsCreds             string
	nodeBeat, nodeOffline time.Duration
	nodeClock             func() time.Time

	// A site's leaf hub (site.go).
	siteListen *string
}

func defaultOptions() options {
	return options{
		name:         "kervi",
		logLevel:     slog.LevelInfo,
		restart:      DefaultRestartPolicy(),
		startTimeout: 30 * time.Second,
		exitTimeout:  10 * time.Second,
		stopTimeout:  10 * time.Second,
		gomaxprocs:   1,
		logFeedLevel: slog.LevelWarn,
		limits:       ipc.Limits{}.WithDefaults(),

		heartbeat:        DefaultHeartbeat,
		heartbeatTimeout: DefaultHeartbeatTimeout,
	}
}

// The default heartbeat of module processes (see WithHeartbeat).
const (
	DefaultHeartbeat        = time.Second
	DefaultHeartbeatTimeout = 5 * time.Second
)

// RestartPolicy says how module processes that die are restarted: after a
// delay that starts at Initial and doubles with every consecutive crash up
// to Max. A module that crashes more than MaxRestarts times in a row is
// marked failed and left alone; a module that stayed ready for StableAfter
// starts counting afresh.
type RestartPolicy struct {
	Initial     time.Duration
	Max         time.Duration
	MaxRestarts int
	StableAfter time.Duration
}

// DefaultRestartPolicy returns the default policy: 100 ms doubling up to
// 30 s, failed after 5 crashes in a row, reset after 1 minute ready.
func DefaultRestartPolicy() RestartPolicy {
	return RestartPolicy{Initial: 100 * time.Millisecond, Max: 30 * time.Second, MaxRestarts: 5, StableAfter: time.Minute}
}

// delay returns the wait before restart number n (1 for the first).
func (p RestartPolicy) delay(n int) time.Duration {
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// WithName names the application (default "kervi"); it appears in logs.
func WithName(name string) Option {
	return func(o *options) error {
		if name == "" {
			return errors.New("empty application name")
		}
		o.name = name
		return nil
	}
}

// WithAppMain sets the hook that runs, in the parent process, once every
// module is ready: the action "app_main". Its context carries the bus and
// ends when the application stops. An error is logged.
func WithAppMain(fn func(ctx context.Context) error) Option {
	return func(o *options) error { o.appMain = fn; return nil }
}

// WithAppExit sets the hook that runs, in the parent process, when the
// application stops, before the modules stop: the action "app_exit". Run
// waits for it up to the exit timeout.
func WithAppExit(fn func(ctx context.Context) error) Option {
	return func(o *options) error { o.appExit = fn; return nil }
}

// WithLogger sets the logger of the application. Module processes' logs
// are replayed into it, with a "module" attribute. Default: slog.Default(),
// or for Main a console logger on stderr.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithLogLevel sets the lowest level module processes log, and that of
// Main's console logger (default info, or $KERVI_LOG_LEVEL).
func WithLogLevel(l slog.Level) Option {
	return func(o *options) error { o.logLevel = l; return nil }
}

// InProcess runs every module in the calling process instead of a process
// of its own, with the same semantics: the same hub, the same ids, the
// same life cycle (there are no processes to restart). For tests of user
// code and for programs that embed kervi.
func InProcess() Option {
	return func(o *options) error { o.inProcess = true; return nil }
}

// WithRestartPolicy sets how crashed module processes are restarted
// (default DefaultRestartPolicy).
func WithRestartPolicy(p RestartPolicy) Option {
	return func(o *options) error {
		if p.Initial <= 0 || p.Max < p.Initial || p.MaxRestarts < 0 {
			return fmt.Errorf("restart policy %+v: want 0 < Initial <= Max and MaxRestarts >= 0", p)
		}
		o.restart = p
		return nil
	}
}

// WithStartTimeout bounds how long a module may take to become ready: its
// process's start and its setup (default 30 s). It also bounds the
// app-start hooks (controllers' Start) of the modules.
func WithStartTimeout(d time.Duration) Option {
	return positive("start timeout", d, func(o *options) { o.startTimeout = d })
}

// WithExitTimeout bounds how long Run waits for the app-exit hook (default
// 10 s).
func WithExitTimeout(d time.Duration) Option {
	return positive("exit timeout", d, func(o *options) { o.exitTimeout = d })
}

// WithStopTimeout bounds how long a module may take to stop gracefully
// before its process is killed (default 10 s). A module process whose
// parent died, or whose stream broke, stops on its own within the same
// time, then exits even if a stop hook hangs.
func WithStopTimeout(d time.Duration) Option {
	return positive("stop timeout", d, func(o *options) { o.stopTimeout = d })
}

func positive(what string, d time.Duration, set func(*options)) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%s %v is not positive", what, d)
		}
		set(o)
		return nil
	}
}

// WithModuleGOMAXPROCS sets GOMAXPROCS in module processes; 0 leaves Go's
// default (the number of CPUs). The default is 1, unless the environment
// sets GOMAXPROCS: modules mostly wait for devices and messages, and one
// processor saves wake-ups between threads, which on the reference machine
// gave 18 % more events per second and 16 % faster action calls (see
// docs/benchmarks.md). A module that computes in parallel should raise it.
func WithModuleGOMAXPROCS(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("GOMAXPROCS %d is negative", n)
		}
		o.gomaxprocs, o.gomaxprocsSet = n, true
		return nil
	}
}

// WithModuleEnv adds "KEY=value" variables to the environment of module
// processes.
func WithModuleEnv(kv ...string) Option {
	return func(o *options) error { o.env = append(o.env, kv...); return nil }
}

// OnModuleState sets a function called with a module's status each time
// its state changes, and when it falls behind its value events or catches
// up (ModuleStatus.Behind). It must not block.
func OnModuleState(fn func(ModuleStatus)) Option {
	return func(o *options) error { o.onState = fn; return nil }
}

// WithLimits sets the limits on messages and queues (see ipc.Limits: the
// largest message, how many value events may wait for a slow process
// before they are coalesced, how many calls may be in flight to a module,
// how many ids a process may own or follow). Zero fields keep their
// defaults: 4 MiB, 65536 events and 64 MiB, 1024 calls, 65536 ids. Every
// process of the application applies the same limits, in-process mode too.
func WithLimits(l ipc.Limits) Option {
	return func(o *options) error {
		if l.MaxMessageSize < 0 || l.QueueEvents < 0 || l.QueueBytes < 0 || l.MaxCalls < 0 || l.MaxIDs < 0 {
			return fmt.Errorf("limits %+v: negative", l)
		}
		o.limits = l.WithDefaults()
		return nil
	}
}

// WithHeartbeat sets how often the parent checks that each module process
// answers (interval, default 1 s), and how long a process may leave the
// heartbeat unanswered before it is taken for hung (timeout, default 5 s):
// then its module shows StateUnresponsive, and its process is killed and
// restarted under the restart policy. The heartbeat is answered below user
// code, so a slow callback or action never gets a module killed; a process
// that is stopped (SIGSTOP) or wedged as a whole does. In-process modules
// (InProcess) answer it on their own bus.
func WithHeartbeat(interval, timeout time.Duration) Option {
	return func(o *options) error {
		if interval <= 0 || timeout < interval {
			return fmt.Errorf("heartbeat every %v, timeout %v: want 0 < interval <= timeout", interval, timeout)
		}
		o.heartbeat, o.heartbeatTimeout = interval, timeout
		return nil
	}
}

// OnError sets the handler of errors that have no caller, such as a linked
// value refusing an update in the parent process. Default: log them.
func OnError(fn func(error)) Option {
	return func(o *options) error { o.onError = fn; return nil }
}

// WithLogFeed sets the lowest level of the records the log feed publishes
// (LogFeedID) and keeps (LogsID). Default: slog.LevelWarn, the warnings and
// errors of every process. A module process's records reach the parent only
// if they pass the module's own level (WithLogLevel, KERVI_LOG_LEVEL).
func WithLogFeed(level slog.Level) Option {
	return func(o *options) error { o.logFeedLevel, o.logFeedOff = level, false; return nil }
}

// WithoutLogFeed turns the log feed off: the parent owns neither LogFeedID
// nor LogsID. Default: the feed is on.
func WithoutLogFeed() Option {
	return func(o *options) error { o.logFeedOff = true; return nil }
}
