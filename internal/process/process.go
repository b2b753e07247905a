// Package process runs kervi modules as child processes: the parent side
// launches the application's own binary once per module through
// hashicorp/go-plugin (magic-cookie handshake, gRPC over a unix socket in a
// private 0700 directory) and opens the one Connect stream the hub uses;
// the child side serves that stream and runs the module on a bus.
//
// What the user's code prints to stdout in a child never reaches the
// handshake: the parent passes only the handshake line to go-plugin and
// logs every other line, before and after the handshake, as the module's
// output. The child logs JSON to stderr, which the parent replays into its
// own logger.
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/wirecodec"
	"github.com/kervi/kervi-go/ipc"
)

// Environment variables of a module process.
const (
	// EnvModule names the module a child process runs.
	EnvModule = "KERVI_MODULE"
	// EnvParentPID is the parent's pid; a child whose parent differs exits.
	EnvParentPID = "KERVI_PARENT_PID"
	// EnvLogLevel is the child's log level.
	EnvLogLevel = "KERVI_LOG_LEVEL"
	// EnvGOMAXPROCS, if set, is the child's GOMAXPROCS.
	EnvGOMAXPROCS = "KERVI_GOMAXPROCS"
	// EnvLimits holds the application's ipc.Limits (see FormatLimits).
	EnvLimits = "KERVI_LIMITS"
	// EnvStopTimeout is how long the child may take to stop on its own,
	// when its parent died or its stream broke (a Go duration).
	EnvStopTimeout = "KERVI_STOP_TIMEOUT"
)

// Handshake is the go-plugin handshake between the parent and its module
// processes. The cookie only tells a module process from a binary started
// by hand; it is not a secret.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "KERVI_MODULE_COOKIE",
	MagicCookieValue: "d0c5b5b8-kervi-module-process",
}

// pluginName is the name the module service is dispensed under.
const pluginName = "module"

// FormatLimits encodes l for EnvLimits.
func FormatLimits(l ipc.Limits) string {
	l = l.WithDefaults()
	return fmt.Sprintf("max_message=%d,queue_events=%d,queue_bytes=%d,max_calls=%d,max_ids=%d,stall=%s",
		l.MaxMessageSize, l.QueueEvents, l.QueueBytes, l.MaxCalls, l.MaxIDs, l.StallTimeout)
}

// ParseLimits decodes what FormatLimits encoded; what it cannot read keeps
// its default.
func ParseLimits(s string) ipc.Limits {
	var l ipc.Limits
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "stall" {
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				l.StallTimeout = d
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		switch k {
		case "max_message":
			l.MaxMessageSize = int(n)
		case "queue_events":
			l.QueueEvents = int(n)
		case "queue_bytes":
			l.QueueBytes = n
		case "max_calls":
			l.MaxCalls = int(n)
		case "max_ids":
			l.MaxIDs = int(n)
		}
	}
	return l.WithDefaults()
}

// sender returns the send function of a stream: it encodes a batch as one
// frame, leaving out any message that cannot be encoded (which bad is told
// about, so that it fails alone), and sends the frame with send.
func sender(send func(frame wirecodec.Encoded) error, bad func(m *kervipb.Msg, err error)) plumb.SendFunc {
	return func(msgs []*kervipb.Msg) error {
		type failure struct {
			m   *kervipb.Msg
			err error
		}
		var failed []failure
		buf := wirecodec.AppendMsgs(make([]byte, 0, 48*len(msgs)), msgs, func(i int, err error) {
			failed = append(failed, failure{msgs[i], err})
		})
		for _, f := range failed {
			bad(f.m, f.err)
		}
		if len(failed) == len(msgs) {
			return nil
		}
		return send(wirecodec.Encoded(buf))
	}
}

// IsChild reports whether this process was started as a module process,
// and which module it runs.
func IsChild() (module string, ok bool) {
	module = os.Getenv(EnvModule)
	return module, module != "" && os.Getenv(Handshake.MagicCookieKey) == Handshake.MagicCookieValue
}

// ExitCode of a module process whose setup failed.
const ExitSetupFailed = 3

// modulePlugin is the go-plugin glue: the child serves kervipb.Module, the
// parent gets a client for it.
type modulePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	server kervipb.ModuleServer
}

func (p *modulePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.server == nil {
		return errors.New("kervi: no module server")
	}
	kervipb.RegisterModuleServer(s, p.server)
	return nil
}

func (p *modulePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return kervipb.NewModuleClient(c), nil
}

var _ plugin.GRPCPlugin = (*modulePlugin)(nil)

// parentAlive reports whether the parent that started this child is still
// its parent (it may have died between fork and exec, before Pdeathsig
// was armed).
func parentAlive() error {
	want := os.Getenv(EnvParentPID)
	if want == "" {
		return nil
	}
	if got := strconv.Itoa(os.Getppid()); got != want {
		return fmt.Errorf("kervi: parent %s is gone (parent is now %s)", want, got)
	}
	return nil
}
