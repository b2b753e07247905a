// Package faultproxy is a TCP proxy that injects network faults, for tests
// that put it between a kervi node and the NATS server.
//
// A Proxy listens on a random loopback port and forwards every connection to
// one target. Its Mode decides what happens to the bytes: Pass forwards them,
// Blackhole reads and drops them in both directions while the connections stay
// open (a pulled cable, no RST), and Reset closes every connection with a TCP
// RST and resets new ones at once. After a blackhole ends, the connections
// that survived it carry bytes again; whatever was sent meanwhile is lost.
//
// Clients must not learn the target's address from the target itself (NATS
// URL discovery): set nats.IgnoreDiscoveredServers, or they go around the
// proxy.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what a Proxy does with the connections going through it.
type Mode int

const (
	// Pass forwards bytes both ways.
	Pass Mode = iota
	// Blackhole keeps connections open but reads and discards every byte in
	// either direction; new connections are accepted and blackholed too.
	Blackhole
	// Reset closes every open connection with a TCP RST, and resets each new
	// connection as soon as it is accepted, for as long as the mode lasts.
	Reset
)

// String returns "pass", "blackhole" or "reset".
func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Blackhole:
		return "blackhole"
	case Reset:
		return "reset"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// bufSize bounds the memory of a connection: one buffer per direction.
const bufSize = 32 << 10

// dialTimeout bounds the dial to the target for one accepted connection.
const dialTimeout = 5 * time.Second

// Proxy is a fault-injecting TCP proxy to one target. Its methods are safe for
// concurrent use. Close stops it and waits for all its goroutines.
type Proxy struct {
	target string
	ln     net.Listener
	ctx    context.Context // done once Close has begun
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mode      atomic.Int32 // read without mu on the data path; written under mu
	discarded atomic.Int64 // bytes dropped while not passing (for tests)

	mu     sync.Mutex
	links  map[*link]struct{}
	closed bool
	onMode func(Mode) // test hook, called after each SetMode
}

// link is one proxied connection. Its fields other than client are guarded by
// Proxy.mu.
type link struct {
	client   net.Conn
	upstream net.Conn // nil until the target has been dialled
	ended    int      // directions whose reader has stopped
	broken   bool     // a side went away during a blackhole
	closed   bool
}

// New starts a proxy listening on 127.0.0.1 at a random port that forwards
// each connection to target ("host:port"). The target is dialled once per
// accepted connection, not by New.
func New(target string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen for target %q: %w", target, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target: target,
		ln:     ln,
		ctx:    ctx,
		cancel: cancel,
		links:  make(map[*link]struct{}),
	}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr returns the host:port clients dial to go through the proxy.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns "nats://" + Addr().
func (p *Proxy) URL() string { return "nats://" + p.Addr() }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode { return Mode(p.mode.Load()) }

// SetMode switches the proxy to m. Switching to Reset resets every open
// connection before SetMode returns. Switching to Pass resumes the
// connections that survived a blackhole and resets those whose other side
// went away during it.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode.Store(int32(m))
	for l := range p.links {
		if m == Reset || (m == Pass && l.broken) {
			p.closeLocked(l, true)
		}
	}
	hook := p.onMode
	p.mu.Unlock()
	if hook != nil {
		hook(m)
	}
}

// Flap alternates Pass for up and down for downFor, starting with Pass, until
// ctx ends or the proxy is closed; it then leaves the proxy in Pass. It blocks:
// run it in its own goroutine.
func (p *Proxy) Flap(ctx context.Context, down Mode, up, downFor time.Duration) {
	defer p.SetMode(Pass)
	for {
		p.SetMode(Pass)
		if !p.wait(ctx, up) {
			return
		}
		p.SetMode(down)
		if !p.wait(ctx, downFor) {
			return
		}
	}
}

// wait reports whether d elapsed before ctx ended or the proxy closed.
func (p *Proxy) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-p.ctx.Done():
		return false
	}
}

// Conns returns the number of proxied connections still open on at least one
// side: a connection whose client went away during a blackhole counts until
// the blackhole ends.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops listening, closes every connection and waits until all the
// proxy's goroutines have returned. Calling it again does nothing.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for l := range p.links {
		p.closeLocked(l, false)
	}
	p.mu.Unlock()
	p.cancel()
	err := p.ln.Close()
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("faultproxy: close listener %s for target %q: %w", p.Addr(), p.target, err)
	}
	return nil
}

// serve accepts connections until the listener is closed.
func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// E.g. too many open files: back off a little, then retry.
			t := time.NewTimer(10 * time.Millisecond)
			select {
			case <-t.C:
				continue
			case <-p.ctx.Done():
				t.Stop()
				return
			}
		}
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			_ = c.Close()
			return
		case p.Mode() == Reset:
			p.mu.Unlock()
			reset(c)
			continue
		}
		l := &link{client: c}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.run(l)
	}
}

// run dials the target for l and copies bytes both ways until l closes.
func (p *Proxy) run(l *link) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: dialTimeout}
	up, err := d.DialContext(p.ctx, "tcp", p.target)
	p.mu.Lock()
	if l.closed {
		p.mu.Unlock()
		if up != nil {
			_ = up.Close()
		}
		return
	}
	if err != nil {
		// The target is unreachable: the client sees a reset, as it would
		// if it had dialled the target itself.
		p.closeLocked(l, true)
		p.mu.Unlock()
		return
	}
	l.upstream = up
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.pump(l, up, l.client)
	}()
	p.pump(l, l.client, up)
}

// pump copies src to dst while the mode is Pass and discards src's bytes
// otherwise, until src fails.
func (p *Proxy) pump(l *link, src, dst net.Conn) {
	buf := make([]byte, bufSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if p.Mode() == Pass {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					p.end(l)
					return
				}
			} else {
				p.discarded.Add(int64(n))
			}
		}
		if err != nil {
			p.end(l)
			return
		}
	}
}

// end records that one direction of l has stopped. Outside a blackhole the
// link closes, so the other side sees it; during a blackhole the other side
// must notice nothing, so it stays open (and discarding) until Pass resets it.
func (p *Proxy) end(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.closed {
		return
	}
	l.ended++
	if p.Mode() == Blackhole && l.ended < 2 {
		l.broken = true
		return
	}
	p.closeLocked(l, false)
}

// closeLocked closes both sides of l, with a RST when rst is set, and forgets
// it. p.mu must be held.
func (p *Proxy) closeLocked(l *link, rst bool) {
	if l.closed {
		return
	}
	l.closed = true
	delete(p.links, l)
	for _, c := range []net.Conn{l.client, l.upstream} {
		if c == nil {
			continue
		}
		if rst {
			reset(c)
		} else {
			_ = c.Close()
		}
	}
}

// reset closes c so that its peer gets a TCP RST rather than a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
