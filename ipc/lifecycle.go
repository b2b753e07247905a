package ipc

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// This file holds a module's life cycle on its bus: setup, start hooks,
// the start of the application, goroutines, stop and kill.

// OnStart registers fn to run when the module's setup has returned, before
// the module reports ready. A hook that fails fails the module's start.
// Registered once the module has started, fn runs at once, and its error
// goes to the error handler.
func (b *Bus) OnStart(fn func(ctx context.Context) error) {
	b.mu.Lock()
	started := b.started
	if !started {
		b.onStart = append(b.onStart, fn)
	}
	b.mu.Unlock()
	if started {
		if err := fn(b.ctx); err != nil {
			b.ReportError(fmt.Errorf("start hook: %w", err))
		}
	}
}

// OnAppStart registers fn to run when every module of the application is
// ready, before the application runs: controllers' Start hooks. The hooks
// of a module run side by side; calls and sets from other processes wait
// until they all returned, and the application's app-main hook and
// OnAppReady callbacks run after the hooks of every module. An error is
// logged. Registered later, fn runs at once on its own goroutine.
func (b *Bus) OnAppStart(fn func(ctx context.Context) error) {
	b.mu.Lock()
	late := b.phase.Load() >= phaseStarting
	if !late {
		b.onApp = append(b.onApp, fn)
	}
	b.mu.Unlock()
	if late {
		b.Go(func(ctx context.Context) { b.runAppStart(ctx, fn) })
	}
}

// OnAppReady registers fn to run once the application runs: every module
// is ready and every module's app-start hooks returned (or at once, on its
// own goroutine, if that already happened).
func (b *Bus) OnAppReady(fn func(ctx context.Context)) {
	b.mu.Lock()
	ready := b.appReady.Load()
	if !ready {
		b.onReady = append(b.onReady, fn)
	}
	b.mu.Unlock()
	if ready {
		b.Go(fn)
	}
}

// OnStop registers fn to run when the module stops. Stop hooks run in the
// reverse order of registration, before the bus's context ends, and share
// the stop deadline.
func (b *Bus) OnStop(fn func(ctx context.Context) error) {
	b.mu.Lock()
	b.onStop = append(b.onStop, fn)
	b.mu.Unlock()
}

// Go runs fn on a goroutine owned by the bus. fn's context ends when the
// module stops, and the stop waits for fn to return.
func (b *Bus) Go(fn func(ctx context.Context)) {
	if !b.track() {
		return
	}
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
	}()
}

// track counts a goroutine the stop must wait for; it reports false once
// the stop has begun waiting.
func (b *Bus) track() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiting {
		return false
	}
	b.wg.Add(1)
	return true
}

// startApp runs the app-start hooks side by side, then serves the calls
// and sets that waited for them, and tells the hub the module started.
func (b *Bus) startApp(ctx context.Context) {
	b.mu.Lock()
	if b.phase.Load() >= phaseStarting {
		b.mu.Unlock()
		return
	}
	b.phase.Store(phaseStarting)
	hooks := b.onApp
	b.onApp = nil
	b.mu.Unlock()
	// A hook's requests cannot wait for the application to be ready: it
	// waits for them (see mayWaitFor).
	hctx := context.WithValue(ctx, startHookKey{}, true)
	var wg sync.WaitGroup
	for _, fn := range hooks {
		wg.Go(func() { b.runAppStart(hctx, fn) })
	}
	wg.Wait()
	b.mu.Lock()
	b.phase.Store(phaseStarted)
	held := b.held
	b.held = nil
	b.mu.Unlock()
	for _, m := range held {
		b.admit(m)
	}
	b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_STARTED})
}

// runAppStart runs an app-start hook, logging its error or panic.
func (b *Bus) runAppStart(ctx context.Context, fn func(context.Context) error) {
	defer b.recoverCallback("app-start hook", "")
	if err := fn(ctx); err != nil {
		b.log.Error("app-start hook failed", "error", err)
	}
}

// runSetup runs a module's setup function with the bus, then the start
// hooks, and tells the hub the module is ready, or that its setup failed
// (with the setup's error as it is). A setup that returns nil fails with
// the first error recorded with Fail, if any. A panic in setup is an
// error, not a crash.
func (b *Bus) runSetup(setup func(ctx context.Context, b *Bus) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("setup panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("setup panicked: %v", r)
		}
		if err != nil {
			b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_SETUP_FAILED,
				Error: &kervipb.Error{Code: kervipb.Code_CODE_SETUP_FAILED, Message: validText(err.Error()), Module: b.module}})
		} else {
			b.mu.Lock()
			b.phase.Store(phaseReady)
			b.mu.Unlock()
			b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_READY})
		}
	}()
	select { // the restores of a restarted module come first
	case <-b.welcome:
	case <-b.dead:
		return ErrClosed
	case <-time.After(welcomeTimeout):
		b.log.Warn("no welcome from the hub; setting up without restored values")
	}
	if setup != nil {
		if err := setup(b.ctx, b); err != nil {
			return err
		}
	}
	if err := b.Err(); err != nil { // a component's creation failed (Fail)
		return err
	}
	// Hooks may register more hooks; run until none is left.
	for {
		b.mu.Lock()
		hooks := b.onStart
		b.onStart = nil
		if len(hooks) == 0 {
			b.started = true
		}
		b.mu.Unlock()
		if len(hooks) == 0 {
			return b.Err()
		}
		for _, fn := range hooks {
			if err := fn(b.ctx); err != nil {
				return fmt.Errorf("start hook: %w", err)
			}
		}
	}
}

// stop runs the stop hooks, ends the bus's context, waits for its
// goroutines and tells the hub the module stopped.
func (b *Bus) stop(deadline time.Time) {
	b.once.Do(func() {
		ctx, cancel := context.WithDeadline(NewContext(context.Background(), b), deadline)
		defer cancel()
		b.mu.Lock()
		hooks := b.onStop
		b.mu.Unlock()
		for i := len(hooks) - 1; i >= 0; i-- {
			func() {
				defer func() {
					if r := recover(); r != nil {
						b.log.Error("stop hook panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					}
				}()
				if err := hooks[i](ctx); err != nil {
					b.log.Warn("stop hook failed", "error", err)
				}
			}()
		}
		b.cancel()
		b.mu.Lock()
		b.waiting = true
		b.mu.Unlock()
		waited := make(chan struct{})
		go func() { b.wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-ctx.Done():
			b.log.Warn("stop deadline passed with goroutines still running")
		}
		b.sets.kill(ErrClosed)
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_STOPPED})
		if err := b.up.flush(ctx.Done()); err != nil {
			b.log.Warn("could not flush outgoing messages", "error", err)
		}
		close(b.done)
	})
}

// stopWait stops the module as a KIND_STOP from the hub would, and waits for
// it. The runtime uses it when a module must stop on its own, as when its
// parent died.
func (b *Bus) stopWait(deadline time.Time) {
	b.stop(deadline)
	<-b.done
}

// Done is closed when the module has stopped and told the hub so.
func (b *Bus) Done() <-chan struct{} { return b.done }

// kill ends the bus at once: the hub is gone. Pending calls fail with
// ErrOwnerGone, the context ends, queued messages are dropped.
func (b *Bus) kill() {
	b.killed.Do(func() {
		close(b.dead)
		b.cancel()
		b.up.kill(ErrClosed)
		b.in.kill(ErrClosed)
		b.sets.kill(ErrClosed)
	})
}
