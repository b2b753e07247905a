// Package plumb is the runtime's way into package ipc: the hub, its ports
// and the runtime side of a bus (feeding it the hub's messages, running a
// module's setup, stopping or killing it), which are not part of ipc's
// public API. Package ipc fills in NewHub and NewBus when it is
// initialised; kervi's runtime, its transport and its test helpers use
// them.
package plumb

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// ValidModule reports whether name can be a module's name: 1 to 64
// letters, digits, _ and -, which the runtime and the hub (for the modules
// of other nodes) both check.
func ValidModule(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("module name %q: 1 to 64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("module name %q: %q is not allowed (letters, digits, _ and -)", name, r)
		}
	}
	return nil
}

// SendFunc delivers a batch of messages to the other side of a connection
// between a bus and the hub. It must not keep the slice.
type SendFunc func(msgs []*kervipb.Msg) error

// NoticeKind says what a Notice reports.
type NoticeKind int

// The notices a hub reports.
const (
	// NoticeReady: the module's setup is done.
	NoticeReady NoticeKind = iota + 1
	// NoticeSetupFailed: the module's setup failed; Err says why.
	NoticeSetupFailed
	// NoticeStopped: the module stopped after a KIND_STOP.
	NoticeStopped
	// NoticeDuplicate: Module announced ID, which Other already owns.
	NoticeDuplicate
	// NoticeStarted: the module's app-start hooks returned.
	NoticeStarted
	// NoticeBehind: the module does not keep up with the value events the
	// hub routes to it; they are coalesced from now on.
	NoticeBehind
	// NoticeCaughtUp: the module caught up; Coalesced events were
	// coalesced while it was behind.
	NoticeCaughtUp
)

// Notice tells the runtime about a module's life.
type Notice struct {
	Kind   NoticeKind
	Module string
	ID     string
	Other  string
	// Node and OtherNode are the nodes of Module and Other
	// (NoticeDuplicate), in an application of several nodes.
	Node, OtherNode string
	Err             error
	// Coalesced counts the events coalesced in an episode (NoticeCaughtUp).
	Coalesced uint64
	// Since is when the module fell behind (NoticeCaughtUp).
	Since time.Time
}

// HubOptions configures NewHub.
type HubOptions struct {
	// Logger receives the hub's logs. Default: slog.Default().
	Logger *slog.Logger
	// Notify receives notices about modules. It must not block; it may be
	// called with the hub's lock held.
	Notify func(Notice)
	// Limits, an ipc.Limits, bound messages and queues; zero fields take
	// their defaults. (ipc's types cannot be named here: ipc imports this
	// package.)
	Limits any
	// Node is this machine's node name, in an application of several
	// nodes; empty on one machine.
	Node string
}

// BusOptions configures NewBus.
type BusOptions struct {
	// Logger receives the bus's logs; it gets a "module" attribute.
	// Default: slog.Default().
	Logger *slog.Logger
	// OnError receives errors that have no caller to return to. Default:
	// log them as warnings.
	OnError func(error)
	// Limits, an ipc.Limits, bound messages and queues; zero fields take
	// their defaults. Every process of an application uses the same.
	Limits any
	// SendEvents, if set, carries value events and the messages that stay
	// in order with them, on a stream of their own; send carries the rest.
	SendEvents SendFunc
}

// Hub routes messages between the modules' buses by id.
type Hub interface {
	// Attach connects a module to the hub; send delivers the hub's
	// messages to the module's bus, events (if not nil) its value events
	// and the messages that stay in order with them.
	Attach(module string, send, events SendFunc) (Port, error)
	// AttachNode connects the bridge to other nodes: a port that owns the
	// ids of node, or with node "", the bridge's own port, which
	// subscribes and calls on behalf of remote modules (see ipc's
	// hubCore.AttachNode).
	AttachNode(node string, send SendFunc) (Port, error)
	// Connect connects a module whose bus lives in this process.
	Connect(module string, opts BusOptions) (Bus, Port, error)
	// Start starts the modules once every one is ready: each runs its
	// app-start hooks.
	Start()
	// SetAppReady tells every module that the application runs.
	SetAppReady()
	// Retire retires the ids of a module that stopped or failed for
	// good: they leave the catalogue.
	Retire(module string)
	// Size returns how many ids and calls the hub holds.
	Size() (ids, calls int)
}

// Port is a module's connection in the hub.
type Port interface {
	// Module is the module's name.
	Module() string
	// Send queues a message for the module.
	Send(m *kervipb.Msg) bool
	// Receive routes a batch of messages from the module.
	Receive(msgs []*kervipb.Msg)
	// Undeliverable is told about a message the transport could not
	// encode for the module: it fails alone.
	Undeliverable(m *kervipb.Msg, err error)
	// Detach disconnects the module.
	Detach()
	// Ping sends a heartbeat; LastPong is when the last answer came.
	Ping() bool
	LastPong() time.Time
	// Coalesced counts the events coalesced for the module; Behind tells
	// whether the hub coalesces them now, and since when.
	Coalesced() uint64
	Behind() (time.Time, bool)
	// Started is closed when the module's app-start hooks returned.
	Started() <-chan struct{}
	// Fail marks the connection broken; Failed is closed then, Err says
	// why.
	Fail(err error)
	Failed() <-chan struct{}
	Err() error
	// Flush waits until the messages queued for the module were handed to
	// it.
	Flush(ctx context.Context) error
}

// Bus is the runtime's side of a module's bus.
type Bus interface {
	// Handle is the module's *ipc.Bus.
	Handle() any
	// Receive accepts a batch of messages from the hub; it may be called
	// from two goroutines, one per stream.
	Receive(msgs []*kervipb.Msg)
	// Undeliverable is told about a message the transport could not encode
	// for the hub: it fails alone.
	Undeliverable(m *kervipb.Msg, err error)
	// RunSetup runs the module's setup (given its *ipc.Bus), then its start
	// hooks, and tells the hub the module is ready or that its setup
	// failed.
	RunSetup(setup func(ctx context.Context) error) error
	// Stop stops the module as a KIND_STOP from the hub would, and waits.
	Stop(deadline time.Time)
	// Kill ends the bus at once: the hub is gone.
	Kill()
	// Done is closed when the module has stopped and told the hub so.
	Done() <-chan struct{}
}

// NewHub returns an empty hub. Package ipc sets it.
var NewHub func(opts HubOptions) Hub

// NewBus returns the bus of a module process, which sends to the hub
// through send. Package ipc sets it.
var NewBus func(module string, send SendFunc, opts BusOptions) Bus
