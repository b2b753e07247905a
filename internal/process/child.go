package process

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/logx"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/wirecodec"
	"github.com/kervi/kervi-go/ipc"
)

// ChildConfig says what a module process runs.
type ChildConfig struct {
	Module string
	Setup  func(ctx context.Context, b *ipc.Bus) error
}

// Serve runs this process as the module process of cfg.Module and exits
// the process when the module stops; it never returns.
//
// The module stops when the parent tells it to (KIND_STOP), and on its own
// when the parent dies or the stream to it breaks: then it runs its stop
// hooks within the stop timeout the parent passed, and exits even if a
// hook hangs. SIGTERM with the parent alive and connected is left to the
// parent, which stops the whole application in order (systemd sends
// SIGTERM to every process of a service at once); SIGTERM after the parent
// died (it is the signal the kernel sends a module process when its parent
// dies, on Linux) stops the module.
func Serve(cfg ChildConfig) {
	if err := parentAlive(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	level, _ := logx.ParseLevel(os.Getenv(EnvLogLevel))
	// go-plugin replaces os.Stderr once it serves; keep the real one for
	// the log, which the parent reads and replays.
	stdout, stderr := os.Stdout, os.Stderr
	base := slog.New(logx.NewModuleHandler(stderr, level))
	log := base.With(logx.ModuleKey, cfg.Module)
	slog.SetDefault(log)
	if n, err := strconv.Atoi(os.Getenv(EnvGOMAXPROCS)); err == nil && n > 0 {
		runtime.GOMAXPROCS(n)
	}
	stopTimeout, err := time.ParseDuration(os.Getenv(EnvStopTimeout))
	if err != nil || stopTimeout <= 0 {
		stopTimeout = ipc.StopTimeout
	}

	s := &server{cfg: cfg, log: log, base: base, stdout: stdout, stderr: stderr,
		limits: ParseLimits(os.Getenv(EnvLimits)), stopTimeout: stopTimeout,
		sockDir: os.Getenv(plugin.EnvUnixSocketDir),
		events:  make(chan kervipb.Module_EventsServer, 1), lost: make(chan error, 2)}
	// stdout and stderr are pipes to the parent. Once it died, a write to
	// them (the log of the stop below, a hook's output) would end the
	// process by SIGPIPE before its stop hooks ran: asking for SIGPIPE
	// makes such writes fail with EPIPE instead. (Unlike signal.Ignore,
	// this is not inherited by programs the module runs.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// SIGINT is left to the parent too: go-plugin ignores it here.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		for range term {
			if parentAlive() == nil && !s.broken.Load() {
				log.Debug("SIGTERM: the parent stops this module")
				continue
			}
			s.shutdown("SIGTERM, and the parent is gone", 0)
		}
	}()

	frame := s.limits.MaxFrameSize()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{pluginName: &modulePlugin{server: s}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(frame), grpc.MaxSendMsgSize(frame),
				grpc.ForceServerCodec(wirecodec.Codec{}))
			return grpc.NewServer(opts...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: stderr, JSONFormat: true}),
	})
	// Serve returns when the parent shut the server down.
	s.shutdown("the parent closed the connection", 0)
}

// server serves the Module service in a module process.
type server struct {
	kervipb.UnimplementedModuleServer
	cfg         ChildConfig
	log         *slog.Logger // with the module
	base        *slog.Logger // without: the bus adds it
	stdout      *os.File     // the process's own stdout and stderr
	stderr      *os.File
	limits      ipc.Limits
	stopTimeout time.Duration
	sockDir     string // the private directory of the socket
	connected   atomic.Bool
	broken      atomic.Bool
	bus         atomic.Pointer[plumb.Bus]
	stopping    sync.Once
	events      chan kervipb.Module_EventsServer // the Events stream, handed to Connect
	lost        chan error                       // a stream broke
}

// Events is the stream of value events and the messages that stay in order
// with them. Connect uses it; it lasts as long as the module.
func (s *server) Events(stream kervipb.Module_EventsServer) error {
	select {
	case s.events <- stream:
	default:
		return status.Error(codes.AlreadyExists, "kervi: events stream already open")
	}
	<-stream.Context().Done()
	return nil
}

// Connect is the stream to the hub. The module runs for as long as it
// lasts; the process exits when the module stopped or the stream broke.
func (s *server) Connect(stream kervipb.Module_ConnectServer) error {
	if !s.connected.CompareAndSwap(false, true) {
		return status.Error(codes.AlreadyExists, "kervi: module already connected")
	}
	// The handshake is done (the parent connected after reading it), so
	// stdout is free again. go-plugin pointed os.Stdout and os.Stderr at
	// pipes it forwards asynchronously, which loses what a process writes
	// just before it exits; writing to the real files, which the parent
	// reads to the end, loses nothing.
	os.Stdout, os.Stderr = s.stdout, s.stderr
	attached := make(chan struct{})
	var b plumb.Bus
	bad := func(m *kervipb.Msg, err error) { <-attached; b.Undeliverable(m, err) }
	// The hub opens the Events stream right after this one.
	var events kervipb.Module_EventsServer
	eventsOpen := make(chan struct{})
	b = plumb.NewBus(s.cfg.Module,
		sender(func(f wirecodec.Encoded) error { return stream.SendMsg(f) }, bad),
		plumb.BusOptions{Logger: s.base, Limits: s.limits,
			SendEvents: sender(func(f wirecodec.Encoded) error {
				select {
				case <-eventsOpen:
				case <-stream.Context().Done():
					return stream.Context().Err()
				}
				return events.SendMsg(f)
			}, bad)})
	close(attached)
	s.bus.Store(&b)
	recv := func(r grpc.ServerStream) {
		for {
			f := new(kervipb.Frame)
			if err := r.RecvMsg(f); err != nil {
				s.broken.Store(true)
				s.lost <- err
				return
			}
			b.Receive(f.Msgs)
		}
	}
	go recv(stream)
	go func() {
		select {
		case events = <-s.events:
			close(eventsOpen)
			recv(events)
		case <-stream.Context().Done():
		}
	}()

	go func() {
		select {
		case <-b.Done():
			// Leave once the parent has everything (it closes the streams
			// when it reads KIND_STOPPED); what is still in gRPC's buffers
			// when the process exits is lost.
			select {
			case <-stream.Context().Done():
			case <-time.After(time.Second):
			}
			s.exit(0)
		case err := <-s.lost:
			select {
			case <-b.Done(): // stopped as told; the parent closed the streams
				s.exit(0)
			default:
			}
			// The hub is gone: the parent died or dropped us. Put devices
			// in their safe state (stop hooks), within the stop timeout.
			s.shutdown("the connection to the application was lost: "+err.Error(), 1)
		}
	}()

	setup := s.cfg.Setup
	bus := b.Handle().(*ipc.Bus)
	if err := b.RunSetup(func(ctx context.Context) error {
		if setup == nil {
			return nil
		}
		return setup(ctx, bus)
	}); err != nil {
		s.log.Error("setup failed", "error", err)
		// Wait until the parent has read why (it ends the process then):
		// exiting at once could lose the message in gRPC's buffers.
		select {
		case <-stream.Context().Done():
		case <-time.After(2 * time.Second):
		}
		os.Exit(ExitSetupFailed)
	}
	select {} // the goroutine above ends the process
}

// shutdown stops the module on its own: it runs the stop hooks, within the
// stop timeout, then exits with code. A watchdog exits the process if the
// hooks do not return in time.
func (s *server) shutdown(reason string, code int) {
	s.stopping.Do(func() {
		b := s.bus.Load()
		if b == nil {
			s.log.Warn("stopping", "reason", reason)
			s.exit(code)
		}
		deadline := time.Now().Add(s.stopTimeout)
		s.log.Warn("stopping on its own", "reason", reason, "within", s.stopTimeout)
		time.AfterFunc(s.stopTimeout+time.Second, func() {
			s.log.Error("stop hooks did not return in time; exiting")
			s.exit(code)
		})
		(*b).Stop(deadline)
		s.exit(code)
	})
}

// exit ends the process. A module whose parent is gone removes what is
// left of the application's socket directory, which the parent would
// have removed.
func (s *server) exit(code int) {
	if s.sockDir != "" && s.parentGone() {
		_ = os.RemoveAll(s.sockDir)
		_ = os.Remove(filepath.Dir(s.sockDir)) // the application's, once empty
	}
	os.Exit(code)
}

// parentGone reports whether the parent has died. A parent that is killed
// closes its end of the streams a moment before the kernel gives its
// children to another process (only then does getppid change), so a
// module whose stream broke gives it up to a second.
func (s *server) parentGone() bool {
	deadline := time.Now().Add(time.Second)
	for parentAlive() == nil {
		if !s.broken.Load() || time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond) // the kernel tells of it in no other way
	}
	return true
}
