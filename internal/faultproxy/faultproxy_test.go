package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServer starts a TCP echo server on loopback and returns its address.
// It stops, and waits for its goroutines, when the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("echo server: listen: %v", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatalf("New(%q): %v", target, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial proxy %s: %v", p.Addr(), err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and expects it echoed back within a deadline.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo of %q: %v", msg, err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// expectSilence writes msg and expects nothing back for a while, with the
// connection still open.
func expectSilence(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q during blackhole: %v", msg, err)
	}
	if err := c.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read during blackhole = %q, %v; want nothing and a timeout (connection open)", buf[:n], err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// expectReset expects c to fail at once with a connection reset.
func expectReset(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 16))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after reset: %v, want ECONNRESET", err)
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Pass: "pass", Blackhole: "blackhole", Reset: "reset", Mode(7): "Mode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

func TestNewRejectsBadTarget(t *testing.T) {
	_, err := New("no-port")
	if err == nil {
		t.Fatal("New(\"no-port\") succeeded")
	}
	if !bytes.Contains([]byte(err.Error()), []byte(`"no-port"`)) {
		t.Errorf("error %q does not name the target", err)
	}
}

func TestPass(t *testing.T) {
	p := newProxy(t, echoServer(t))
	if got := p.URL(); got != "nats://"+p.Addr() {
		t.Errorf("URL() = %q", got)
	}
	c := dial(t, p)
	roundTrip(t, c, "hello")
	// More than one buffer's worth in one go.
	big := string(bytes.Repeat([]byte("0123456789abcdef"), 3*bufSize/16+7))
	roundTrip(t, c, big)
	if n := p.Conns(); n != 1 {
		t.Errorf("Conns() = %d, want 1", n)
	}
}

func TestBlackhole(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p)
	roundTrip(t, c, "before")
	p.SetMode(Blackhole)
	if p.Mode() != Blackhole {
		t.Fatalf("Mode() = %v", p.Mode())
	}
	expectSilence(t, c, "lost")
	// A new connection is accepted and blackholed too.
	c2 := dial(t, p)
	expectSilence(t, c2, "lost too")
	if n := p.Conns(); n != 2 {
		t.Errorf("Conns() = %d during blackhole, want 2", n)
	}
}

func TestResumeAfterBlackhole(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p)
	roundTrip(t, c, "before")
	p.SetMode(Blackhole)
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the proxy to drop the blackholed bytes", func() bool { return p.discarded.Load() >= int64(len("lost")) })
	p.SetMode(Pass)
	// Only what is sent after the blackhole comes back.
	roundTrip(t, c, "after")
	// A connection opened during the blackhole resumes too.
	p.SetMode(Blackhole)
	c2 := dial(t, p)
	waitFor(t, "the connection to be accepted", func() bool { return p.Conns() == 2 })
	p.SetMode(Pass)
	roundTrip(t, c2, "opened in the dark")
}

func TestBlackholeHidesAClose(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p)
	roundTrip(t, c, "before")
	p.SetMode(Blackhole)
	// One side of a blackholed link goes away: the other side (here the echo
	// server) must see nothing until the blackhole ends.
	_ = c.Close()
	waitFor(t, "the link to be marked broken", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for l := range p.links {
			if l.broken {
				return true
			}
		}
		return false
	})
	if n := p.Conns(); n != 1 {
		t.Fatalf("Conns() = %d during blackhole, want 1 (the upstream side still open)", n)
	}
	p.SetMode(Pass)
	if n := p.Conns(); n != 0 {
		t.Fatalf("Conns() = %d after the blackhole, want 0 (broken link reset)", n)
	}
	roundTrip(t, dial(t, p), "after")
}

func TestReset(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p)
	roundTrip(t, c, "before")
	readErr := make(chan error, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 16))
		readErr <- err
	}()
	p.SetMode(Reset)
	select {
	case err := <-readErr:
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("blocked read after Reset: %v, want ECONNRESET", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a blocked read did not fail within 2s of Reset")
	}
	if n := p.Conns(); n != 0 {
		t.Errorf("Conns() = %d after Reset, want 0", n)
	}
	// New connections are reset at once while the mode stays Reset.
	c2, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err == nil {
		defer c2.Close()
		expectReset(t, c2)
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("dial during Reset: %v", err)
	}
	p.SetMode(Pass)
	roundTrip(t, dial(t, p), "after")
}

func TestFlap(t *testing.T) {
	for _, down := range []Mode{Blackhole, Reset} {
		t.Run(down.String(), func(t *testing.T) {
			p := newProxy(t, echoServer(t))
			modes := make(chan Mode, 1024)
			p.mu.Lock()
			p.onMode = func(m Mode) {
				select {
				case modes <- m:
				default:
				}
			}
			p.mu.Unlock()
			c := dial(t, p)
			roundTrip(t, c, "before")

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				p.Flap(ctx, down, 10*time.Millisecond, 10*time.Millisecond)
			}()
			want := []Mode{Pass, down, Pass, down, Pass}
			timeout := time.After(5 * time.Second)
			for i, w := range want {
				select {
				case m := <-modes:
					if m != w {
						t.Fatalf("mode change %d = %v, want %v", i, m, w)
					}
				case <-timeout:
					t.Fatalf("timed out waiting for mode change %d (%v)", i, w)
				}
			}
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Flap did not return after its context ended")
			}
			if p.Mode() != Pass {
				t.Fatalf("Mode() after Flap = %v, want pass", p.Mode())
			}
			if down == Reset {
				expectReset(t, c)
				c = dial(t, p)
			}
			roundTrip(t, c, "after")
		})
	}
}

func TestFlapStopsOnClose(t *testing.T) {
	p := newProxy(t, echoServer(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Flap(context.Background(), Blackhole, time.Hour, time.Hour)
	}()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Flap did not return after Close")
	}
}

func TestClose(t *testing.T) {
	target := echoServer(t)
	base := runtime.NumGoroutine()

	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	var clients []net.Conn
	for i := range 3 {
		c := dial(t, p)
		roundTrip(t, c, "hi")
		if i == 2 {
			p.SetMode(Blackhole)
		}
		clients = append(clients, c)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := p.Conns(); n != 0 {
		t.Errorf("Conns() after Close = %d", n)
	}
	for i, c := range clients {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Errorf("client %d: read after Close = %v, want the connection closed", i, err)
		}
		_ = c.Close()
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Error("dial after Close succeeded")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("dial after Close timed out instead of being refused: %v", err)
	}
	// Every goroutine of the proxy (and of the echo server's handlers for
	// its connections) is gone.
	waitFor(t, "goroutines to return to the baseline", func() bool { return runtime.NumGoroutine() <= base })
}
