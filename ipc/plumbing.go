package ipc

import (
	"context"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/plumb"
)

// The runtime reaches the hub and the runtime side of buses through
// internal/plumb, which this file fills in: they are not part of the
// package's API.
func init() {
	plumb.NewHub = func(o plumb.HubOptions) plumb.Hub { return hubHandle{newHub(o)} }
	plumb.NewBus = func(module string, send plumb.SendFunc, o plumb.BusOptions) plumb.Bus {
		return busRuntime{newBus(module, send, o)}
	}
}

// limitsOf returns the ipc.Limits an option carries, or the zero Limits.
func limitsOf(l any) Limits {
	lim, _ := l.(Limits)
	return lim
}

// hubHandle is a hub as the runtime sees it.
type hubHandle struct{ *hubCore }

func (h hubHandle) Attach(module string, send, events plumb.SendFunc) (plumb.Port, error) {
	p, err := h.hubCore.Attach(module, send, events)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (h hubHandle) AttachNode(node string, send plumb.SendFunc) (plumb.Port, error) {
	p, err := h.hubCore.AttachNode(node, send)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (h hubHandle) Connect(module string, opts plumb.BusOptions) (plumb.Bus, plumb.Port, error) {
	b, p, err := h.hubCore.Connect(module, opts)
	if err != nil {
		return nil, nil, err
	}
	return busRuntime{b}, p, nil
}

// busRuntime is the runtime's side of a bus.
type busRuntime struct{ b *Bus }

func (r busRuntime) Handle() any                             { return r.b }
func (r busRuntime) Receive(msgs []*kervipb.Msg)             { r.b.receive(msgs) }
func (r busRuntime) Undeliverable(m *kervipb.Msg, err error) { r.b.undeliverable(m, err) }
func (r busRuntime) Stop(deadline time.Time)                 { r.b.stopWait(deadline) }
func (r busRuntime) Kill()                                   { r.b.kill() }
func (r busRuntime) Done() <-chan struct{}                   { return r.b.Done() }

func (r busRuntime) RunSetup(setup func(context.Context) error) error {
	if setup == nil {
		return r.b.runSetup(nil)
	}
	return r.b.runSetup(func(ctx context.Context, _ *Bus) error { return setup(ctx) })
}
