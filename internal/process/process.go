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

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/kervi/kervi-go/proto/kervipb"
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

// maxMsgSize bounds one Frame on the wire (a call with large arguments).
const maxMsgSize = 64 << 20

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
