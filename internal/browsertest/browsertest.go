// Package browsertest starts a real headless Chromium for a test and drives
// a page in it with chromedp.
//
// The browser is the one named by the environment variable KERVI_CHROME,
// else /usr/bin/chromium, else /tmp/chromium-root/chromium.sh (what
// .ci/install-chromium unpacks). When none is there, or it cannot start,
// the test is skipped, unless KERVI_REQUIRE_BROWSER=1: then it fails, as it
// does in CI.
//
// A Page collects the page's console; a JavaScript exception that nothing
// caught fails the test, and console errors are logged with the test's
// output. Every wait has a deadline: Wait polls a JavaScript condition in
// the page until it holds or the deadline passes.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Environment variables that choose the browser and whether it is
// required.
const (
	// EnvChrome names the browser binary (or a wrapper script) to start.
	EnvChrome = "KERVI_CHROME"
	// EnvRequire, when "1", makes a test fail instead of skip when no
	// browser can start.
	EnvRequire = "KERVI_REQUIRE_BROWSER"
)

// candidates are the browser paths tried after $KERVI_CHROME.
var candidates = []string{"/usr/bin/chromium", "/tmp/chromium-root/chromium.sh"}

// StartTimeout bounds the start of the browser and its first tab.
const StartTimeout = 60 * time.Second

// Path returns the browser to start: $KERVI_CHROME if set, else the first
// of /usr/bin/chromium and /tmp/chromium-root/chromium.sh that exists; ""
// if none does.
func Path() string {
	if p := os.Getenv(EnvChrome); p != "" {
		return p
	}
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// Required reports whether the environment requires the browser
// (KERVI_REQUIRE_BROWSER=1).
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// unavailable skips t, or fails it when the browser is required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("browser required (%s=1): %s", EnvRequire, msg)
	}
	t.Skipf("no browser: %s (set %s, or run .ci/install-chromium)", msg, EnvChrome)
}

// Option configures a Page.
type Option func(*config)

type config struct {
	width, height int
	mobile        bool
	scale         float64
}

// Viewport sets the size of the page's window in CSS pixels (default
// 1280x800).
func Viewport(width, height int) Option {
	return func(c *config) { c.width, c.height = width, height }
}

// Mobile emulates a phone: a portrait viewport of width x height CSS
// pixels, a device scale factor of scale, touch and the mobile meta
// viewport.
func Mobile(width, height int, scale float64) Option {
	return func(c *config) { c.width, c.height, c.mobile, c.scale = width, height, true, scale }
}

// Page is a tab of a headless Chromium started for one test; the browser
// stops when the test ends.
type Page struct {
	t   testing.TB
	ctx context.Context // the tab's; Run on it never times out

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// New starts a headless Chromium for t with one tab, and returns the tab.
// It skips t when no browser is found or it cannot start, or fails t
// when the browser is required (see the package doc). When t ends, New
// fails t if the page threw an exception that nothing caught, then stops
// the browser.
func New(t testing.TB, opts ...Option) *Page {
	t.Helper()
	cfg := config{width: 1280, height: 800, scale: 1}
	for _, o := range opts {
		o(&cfg)
	}
	path := Path()
	if path == "" {
		unavailable(t, "none of $%s, %s", EnvChrome, strings.Join(candidates, ", "))
	}
	if _, err := os.Stat(path); err != nil {
		unavailable(t, "%v", err)
	}
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(cfg.width, cfg.height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	stop := func() { cancel(); cancelAlloc() }

	// The first Run starts the browser, for as long as ctx lives: it takes
	// no timeout of its own, so a timer stops it.
	timer := time.AfterFunc(StartTimeout, stop)
	err := chromedp.Do(ctx)
	if !timer.Stop() && err == nil {
		err = fmt.Errorf("not started within %v", StartTimeout)
	}
	if err != nil {
		stop()
		unavailable(t, "%s did not start: %v", path, err)
	}
	p := &Page{t: t, ctx: ctx}

	// The console, from now on: Console subscribes when it returns.
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		for _, m := range p.Console() {
			switch {
			case m.IsException():
				t.Errorf("browser: uncaught exception at %s:%d: %s", m.URL, m.Line+1, m.Text)
			case m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning:
				t.Logf("browser console: %s", m)
			}
		}
		stop()
		<-done
	})

	if cfg.mobile {
		p.Do(10*time.Second, chromedp.EmulateViewport(int64(cfg.width), int64(cfg.height),
			chromedp.EmulateScale(cfg.scale), chromedp.EmulateMobile, chromedp.EmulatePortrait, chromedp.EmulateTouch))
	} else {
		p.Do(10*time.Second, chromedp.EmulateViewport(int64(cfg.width), int64(cfg.height)))
	}
	return p
}

// Context returns the tab's context, for chromedp.Run and chromedp.Do.
// Derive a context with a deadline from it for each action: the tab lives
// as long as the test.
func (p *Page) Context() context.Context { return p.ctx }

// Console returns the console messages of the page so far: calls of the
// console API, uncaught exceptions and the browser's log.
func (p *Page) Console() []chromedp.ConsoleMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.console)
}

// Exceptions returns the uncaught exceptions of the page so far.
func (p *Page) Exceptions() []chromedp.ConsoleMessage {
	var ex []chromedp.ConsoleMessage
	for _, m := range p.Console() {
		if m.IsException() {
			ex = append(ex, m)
		}
	}
	return ex
}

// TakeExceptions returns the uncaught exceptions of the page so far and
// forgets them, so that they do not fail the test: for a test that
// expects them.
func (p *Page) TakeExceptions() []chromedp.ConsoleMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ex []chromedp.ConsoleMessage
	p.console = slices.DeleteFunc(p.console, func(m chromedp.ConsoleMessage) bool {
		if m.IsException() {
			ex = append(ex, m)
			return true
		}
		return false
	})
	return ex
}

// fatal fails the test with msg and the page's last console messages.
func (p *Page) fatal(msg string) {
	p.t.Helper()
	c := p.Console()
	if len(c) > 20 {
		c = c[len(c)-20:]
	}
	var b strings.Builder
	for _, m := range c {
		fmt.Fprintf(&b, "\n  console %s", m)
	}
	p.t.Fatalf("%s%s", msg, b.String())
}

// Do runs actions in the tab, all within timeout; an error fails the
// test.
func (p *Page) Do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fatal(fmt.Sprintf("browser: %v", err))
	}
}

// Run runs action in the tab within timeout and returns its value; an
// error fails the test.
func Run[T any](p *Page, timeout time.Duration, action chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		p.fatal(fmt.Sprintf("browser: %v", err))
	}
	return v
}

// Eval evaluates the JavaScript expression in the page and returns its
// value, decoded into T (see chromedp.Evaluate); an error fails the test.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	return Run(p, 10*time.Second, chromedp.Evaluate[T](expr))
}

// ErrTimeout is matched by the error of TryWait when the condition did
// not hold in time.
var ErrTimeout = errors.New("browsertest: condition not met in time")

// TryWait polls the JavaScript expression cond in the page every 20 ms
// until it is truthy, and returns its value decoded into T; it fails with
// ErrTimeout after timeout.
func TryWait[T any](p *Page, timeout time.Duration, cond string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, timeout+5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](cond,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if errors.Is(err, chromedp.ErrPollingTimeout) || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (%v): %v", ErrTimeout, timeout, err)
	}
	return v, err
}

// Wait polls the JavaScript expression cond in the page until it is
// truthy and returns its value decoded into T; it fails the test, saying
// what was awaited, if cond does not hold within timeout.
func Wait[T any](p *Page, timeout time.Duration, what, cond string) T {
	p.t.Helper()
	v, err := TryWait[T](p, timeout, cond)
	if err != nil {
		p.fatal(fmt.Sprintf("waiting %v for %s (%s): %v", timeout, what, cond, err))
	}
	return v
}
