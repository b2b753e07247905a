package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/logx"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/wirecodec"
	"github.com/kervi/kervi-go/ipc"
)

// LaunchConfig says how to start a module process.
type LaunchConfig struct {
	Module string
	// Path and Args are the binary and its arguments (without argv[0]).
	Path string
	Args []string
	// Env is added to the parent's environment.
	Env []string
	// SocketDir is the directory in which go-plugin makes the private
	// directory of the module's socket.
	SocketDir string
	// Deadline bounds the start: launch and handshake.
	Deadline time.Time
	// Limits are the application's; the child applies them too.
	Limits ipc.Limits
	// StopTimeout is how long the child may take to stop on its own, when
	// the parent died or the stream broke.
	StopTimeout time.Duration
	// Logger is the parent's logger; the module's output is logged
	// through it with a "module" attribute.
	Logger *slog.Logger
	// TailLines is how many lines of stderr to keep for error reports.
	TailLines int
}

// Child is a running module process.
type Child struct {
	module  string
	client  *plugin.Client
	run     *cmdRunner
	tail    *logx.Tail
	log     *slog.Logger
	limits  ipc.Limits
	sockDir string             // the private directory of the socket
	cancel  context.CancelFunc // ends the streams
	streams chan struct{}      // closed when both streams ended
}

// Launch starts a module process and completes the go-plugin handshake.
func Launch(cfg LaunchConfig) (*Child, error) {
	log := cfg.Logger.With(logx.ModuleKey, cfg.Module)
	c := &Child{module: cfg.Module, tail: logx.NewTail(max(cfg.TailLines, 1)), log: log, limits: cfg.Limits.WithDefaults()}
	stderr := logx.NewLineWriter(stderrLine(cfg.Logger.Handler(), log, c.tail))
	stdout := logx.NewLineWriter(func(line []byte) {
		log.Info(string(line), "stream", "stdout")
	})
	env := append([]string{
		EnvModule + "=" + cfg.Module,
		EnvParentPID + "=" + strconv.Itoa(os.Getpid()),
		EnvLimits + "=" + FormatLimits(c.limits),
		EnvStopTimeout + "=" + cfg.StopTimeout.String(),
	}, cfg.Env...)
	frame := c.limits.MaxFrameSize()
	c.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{pluginName: &modulePlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		RunnerFunc: func(_ hclog.Logger, tmpl *exec.Cmd, sockDir string) (runner.Runner, error) {
			c.sockDir = sockDir
			cmd := exec.Command(cfg.Path, cfg.Args...)
			cmd.Env = append(tmpl.Env, env...)
			cmd.SysProcAttr = sysProcAttr()
			c.run = &cmdRunner{cmd: cmd, module: cfg.Module, onLine: stdout, tail: c.tail, exited: make(chan struct{})}
			return c.run, nil
		},
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: cfg.SocketDir},
		StartTimeout:     max(time.Until(cfg.Deadline), time.Millisecond),
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Off}),
		Stderr:           stderr,
		SyncStdout:       stdout,
		SyncStderr:       stderr,
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(frame), grpc.MaxCallSendMsgSize(frame),
			grpc.ForceCodec(wirecodec.Codec{}))},
	})
	if _, err := c.client.Client(); err != nil {
		c.client.Kill()
		if c.run != nil {
			<-c.run.exited
		}
		return c, fmt.Errorf("kervi: module %q: start: %w", cfg.Module, err)
	}
	return c, nil
}

// stderrLine handles a line of a module process's stderr: a log record is
// replayed through h, other output is logged as is through log (which
// names the module). Either way the line is kept in tail, as the text a
// person reads in an error report.
func stderrLine(h slog.Handler, log *slog.Logger, tail *logx.Tail) func(line []byte) {
	return func(line []byte) {
		if text, ok := logx.Replay(h, line); ok {
			tail.Add(text)
			return
		}
		tail.Add(string(line))
		log.Warn(string(line), "stream", "stderr")
	}
}

// Connect opens the module's two streams (control and value events) and
// attaches them to the hub. When a stream breaks, the port's Failed channel
// is closed; StreamsDone is closed once both ended. Once connected, the
// socket's directory is removed: the connection does not need it, and
// nothing is left behind if the parent is killed.
func (c *Child) Connect(hub plumb.Hub) (plumb.Port, error) {
	rpc, err := c.client.Client()
	if err != nil {
		return nil, err
	}
	raw, err := rpc.Dispense(pluginName)
	if err != nil {
		return nil, fmt.Errorf("kervi: module %q: %w", c.module, err)
	}
	client := raw.(kervipb.ModuleClient)
	ctx, cancel := context.WithCancel(context.Background())
	ctrl, err := client.Connect(ctx)
	var events kervipb.Module_EventsClient
	if err == nil {
		events, err = client.Events(ctx)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("kervi: module %q: connect: %w", c.module, err)
	}
	c.cancel = cancel
	if c.sockDir != "" {
		_ = os.RemoveAll(c.sockDir)
	}
	attached := make(chan struct{})
	var port plumb.Port
	bad := func(m *kervipb.Msg, err error) { <-attached; port.Undeliverable(m, err) }
	port, err = hub.Attach(c.module,
		sender(func(f wirecodec.Encoded) error { return ctrl.SendMsg(f) }, bad),
		sender(func(f wirecodec.Encoded) error { return events.SendMsg(f) }, bad))
	if err != nil {
		cancel()
		return nil, err
	}
	close(attached)
	var wg sync.WaitGroup
	for name, stream := range map[string]grpc.ClientStream{"control": ctrl, "events": events} {
		wg.Go(func() {
			for {
				f := new(kervipb.Frame)
				if err := stream.RecvMsg(f); err != nil {
					port.Fail(fmt.Errorf("the %s stream from module %q ended: %w", name, c.module, err))
					cancel()
					return
				}
				port.Receive(f.Msgs)
			}
		})
	}
	c.streams = make(chan struct{})
	go func() { wg.Wait(); close(c.streams) }()
	return port, nil
}

// CloseStreams ends the module's streams, as the parent does once it read
// the module's last message (KIND_STOPPED); the module process then exits.
func (c *Child) CloseStreams() {
	if c.cancel != nil {
		c.cancel()
	}
}

// StreamsDone is closed once both streams of a connected module ended:
// by then the hub has everything the module sent.
func (c *Child) StreamsDone() <-chan struct{} {
	if c.streams == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.streams
}

// PID returns the process id, or 0 if it never started.
func (c *Child) PID() int {
	if c.run == nil {
		return 0
	}
	return c.run.pid
}

// Exited is closed when the process has ended.
func (c *Child) Exited() <-chan struct{} {
	if c.run == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.run.exited
}

// ExitCode returns the process's exit code, or -1 if it was killed by a
// signal or never ran. Valid once Exited is closed.
func (c *Child) ExitCode() int {
	if c.run == nil || c.run.state == nil {
		return -1
	}
	return c.run.state.ExitCode()
}

// ExitStatus describes how the process ended, such as "exit status 3" or
// "signal: killed".
func (c *Child) ExitStatus() string {
	if c.run == nil || c.run.state == nil {
		return "did not start"
	}
	return c.run.state.String()
}

// StderrTail returns the last lines the process wrote to stderr.
func (c *Child) StderrTail() []string { return c.tail.Lines() }

// Kill kills the process (and any it started) at once, and releases the
// go-plugin client.
func (c *Child) Kill() {
	if c.cancel != nil {
		c.cancel()
	}
	if c.run != nil && c.run.pid > 0 {
		select {
		case <-c.run.exited:
		default:
			_ = killGroup(c.run.pid)
		}
	}
	c.client.Kill()
}

// Release frees the go-plugin client of a process that has exited.
func (c *Child) Release() {
	if c.cancel != nil {
		c.cancel()
	}
	c.client.Kill()
}

// Signal sends sig to the process, if it still runs.
func (c *Child) Signal(sig os.Signal) {
	if c.run != nil && c.run.cmd.Process != nil {
		select {
		case <-c.run.exited:
		default:
			_ = c.run.cmd.Process.Signal(sig)
		}
	}
}

// handshakeLine matches go-plugin's handshake:
// CORE-VERSION|APP-VERSION|NETWORK|ADDR|PROTOCOL...
var handshakeLine = regexp.MustCompile(`^\d+\|\d+\|(unix|tcp)\|[^|]+\|(grpc|netrpc)`)

// cmdRunner is go-plugin's runner for a module process: it starts the
// process on the locked spawner thread, and hands go-plugin only the
// handshake line of stdout; every other line is the module's output.
type cmdRunner struct {
	cmd    *exec.Cmd
	module string
	onLine io.Writer
	tail   *logx.Tail
	pid    int
	stdout io.ReadCloser
	stderr io.ReadCloser
	state  *os.ProcessState
	exited chan struct{}
	once   sync.Once
}

var _ runner.Runner = (*cmdRunner)(nil)

func (r *cmdRunner) Start(context.Context) error {
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	errPipe, err := r.cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := startCmd(r.cmd); err != nil {
		close(r.exited)
		return err
	}
	r.pid = r.cmd.Process.Pid
	r.stderr = errPipe
	pr, pw := io.Pipe()
	r.stdout = pr
	go func() {
		// Read to the end whatever the module prints: a line the reader
		// gave up on would leave the pipe unread, and the module's next
		// write to stdout would block for ever. Very long lines come in
		// pieces (see logx.LineWriter).
		handshook := false
		lines := logx.NewLineWriter(func(line []byte) {
			if !handshook && handshakeLine.Match(line) {
				handshook = true
				_, _ = pw.Write(append(append([]byte(nil), line...), '\n'))
				return
			}
			_, _ = r.onLine.Write(append(append([]byte(nil), line...), '\n'))
		})
		_, _ = io.Copy(lines, out)
		_ = lines.Close()
		pw.Close()
	}()
	return nil
}

func (r *cmdRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.once.Do(func() {
		r.state = r.cmd.ProcessState
		close(r.exited)
	})
	return err
}

func (r *cmdRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := killGroup(r.pid); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return r.cmd.Process.Kill()
	}
	return nil
}

func (r *cmdRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *cmdRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *cmdRunner) Name() string          { return r.module }
func (r *cmdRunner) ID() string            { return strconv.Itoa(r.pid) }

func (r *cmdRunner) Diagnose(context.Context) string {
	lines := r.tail.Lines()
	if len(lines) == 0 {
		return ""
	}
	return "module " + strconv.Quote(r.module) + " stderr:\n" + strings.Join(lines, "\n")
}

func (r *cmdRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *cmdRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
