package process

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kervi/kervi-go/internal/logx"
	"github.com/kervi/kervi-go/internal/wirecodec"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/proto/kervipb"
)

// ChildConfig says what a module process runs.
type ChildConfig struct {
	Module string
	Setup  func(ctx context.Context, b *ipc.Bus) error
}

// Serve runs this process as the module process of cfg.Module and exits
// the process when the module stops; it never returns.
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

	s := &server{cfg: cfg, log: log, base: base, stdout: stdout, stderr: stderr}
	// SIGTERM stops the module gracefully; SIGINT is left to the parent,
	// which stops the application in order (go-plugin ignores it here).
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		log.Info("SIGTERM: stopping")
		if b := s.bus.Load(); b != nil {
			b.Stop(time.Now().Add(ipc.StopTimeout))
		}
		os.Exit(0)
	}()

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{pluginName: &modulePlugin{server: s}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(maxMsgSize), grpc.MaxSendMsgSize(maxMsgSize),
				grpc.ForceServerCodec(wirecodec.Codec{}))
			return grpc.NewServer(opts...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: stderr, JSONFormat: true}),
	})
	// Serve returns when the parent shut the server down.
	os.Exit(0)
}

// server serves the Module service in a module process.
type server struct {
	kervipb.UnimplementedModuleServer
	cfg       ChildConfig
	log       *slog.Logger // with the module
	base      *slog.Logger // without: the bus adds it
	stdout    *os.File     // the process's own stdout and stderr
	stderr    *os.File
	connected atomic.Bool
	bus       atomic.Pointer[ipc.Bus]
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
	b := ipc.NewBus(s.cfg.Module, func(msgs []*kervipb.Msg) error {
		return stream.Send(&kervipb.Frame{Msgs: msgs})
	}, ipc.BusOptions{Logger: s.base})
	s.bus.Store(b)

	broken := make(chan error, 1)
	go func() {
		for {
			f, err := stream.Recv()
			if err != nil {
				broken <- err
				return
			}
			b.Receive(f.Msgs)
		}
	}()

	if err := b.RunSetup(s.cfg.Setup); err != nil {
		s.log.Error("setup failed", "error", err)
		flushCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = b.Flush(flushCtx)
		cancel()
		os.Exit(ExitSetupFailed)
	}

	select {
	case <-b.Done():
		os.Exit(0)
	case err := <-broken:
		// The hub is gone: the parent died or dropped us. Put devices in
		// their safe state (stop hooks), briefly, then leave.
		s.log.Warn("connection to the application lost; stopping", "error", err)
		done := make(chan struct{})
		go func() { b.Stop(time.Now().Add(2 * time.Second)); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
		}
		os.Exit(1)
	}
	return nil
}
