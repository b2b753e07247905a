// Package schedule runs work at set times: every period (Every), or at a
// time of day (Daily, At), for as long as the module runs, until a time
// (Until, For) or until a condition holds (StopWhen).
//
//	schedule.Run(bus, schedule.Every(5*time.Second), poll)
//	schedule.Run(bus, schedule.At("07:30"), openBlinds, schedule.For(30*24*time.Hour))
//
// A controller schedules its own work with controllers.Controller.Schedule:
// the runs then hold the controller's lock, as its actions and
// InputChanged do, so they may use its fields without locks of their own.
//
// # When work runs
//
// A schedule starts once the application runs (every module is ready and
// every controller's Start returned; see ipc.Bus.OnAppReady) and stops
// with its module: the module's stop waits for a run in progress. Every(d)
// runs d after the start, then every d. Daily and At run at a wall-clock
// time in the spec's location (time.Local unless set with Spec.In), and
// follow it through daylight saving time as Go's time.Date does: on the
// day the clocks skip the time (02:30 when they jump from 02:00 to 03:00)
// the work runs once, at the normalised time (03:30); on the day the time
// occurs twice, it runs once.
//
// Runs never overlap and never pile up. A run that is due while another
// still runs, or while the module was too busy to start it, is skipped:
// when a run ends, or a late run starts, the next one is the first due
// after that moment. A late run still runs once.
//
// # Errors
//
// An error returned by a run, or a panic in it (recovered, with its stack
// logged), goes to the bus's error handler, naming the schedule; the
// schedule goes on. Run and Controller.Schedule return a usable *Job and
// no error, as bufio.Scanner does: a schedule that cannot be made (a
// period that is not positive, a time of day that does not exist, a nil
// function) records the error on the module's bus (ipc.Bus.Fail), which
// fails the module's setup, and returns it from Job.Err; it never runs.
//
// # Tests
//
// A schedule takes its time from a Clock (WithClock); package
// scheduletest has a fake one that tests move by hand, so that tests of
// scheduled work never sleep.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kervi/kervi-go/internal/failed"
	"github.com/kervi/kervi-go/ipc"
)

// Spec says when work runs: make one with Every, Daily or At. The zero
// Spec is invalid.
type Spec struct {
	every  time.Duration // Every
	daily  bool          // Daily, At
	hour   int
	minute int
	second int
	loc    *time.Location // nil: time.Local
	err    error
	bad    string // At's text, if it is not a time of day
}

// Every runs work every d, the first time d after the schedule starts. d
// must be positive.
func Every(d time.Duration) Spec {
	s := Spec{every: d}
	if d <= 0 {
		s.err = fmt.Errorf("schedule: period %v is not positive", d)
	}
	return s
}

// Daily runs work every day at hour:minute (0..23, 0..59), wall-clock time
// in the spec's location (see In).
func Daily(hour, minute int) Spec {
	return daily(hour, minute, 0)
}

// At runs work every day at a time of day written "15:04" or "15:04:05"
// (24-hour clock), wall-clock time in the spec's location (see In).
func At(clock string) Spec {
	parts := strings.Split(clock, ":")
	var n [3]int
	ok := len(parts) == 2 || len(parts) == 3
	for i := 0; ok && i < len(parts); i++ {
		var err error
		n[i], err = strconv.Atoi(parts[i])
		ok = err == nil && len(parts[i]) == 2
	}
	if !ok {
		return Spec{daily: true, bad: clock, err: fmt.Errorf("schedule: time of day %q is not written \"15:04\" or \"15:04:05\"", clock)}
	}
	return daily(n[0], n[1], n[2])
}

func daily(hour, minute, second int) Spec {
	s := Spec{daily: true, hour: hour, minute: minute, second: second}
	if hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 {
		s.err = fmt.Errorf("schedule: %d:%02d:%02d is not a time of day", hour, minute, second)
	}
	return s
}

// In returns the spec with its times of day in loc instead of time.Local.
// It does not change an Every spec.
func (s Spec) In(loc *time.Location) Spec {
	if loc == nil && s.err == nil {
		s.err = errors.New("schedule: nil location")
	}
	s.loc = loc
	return s
}

// String describes the spec, such as "every 5s", "daily at 07:30" or
// "daily at 07:30 Europe/Oslo".
func (s Spec) String() string {
	var b strings.Builder
	switch {
	case s.bad != "":
		fmt.Fprintf(&b, "daily at %q", s.bad)
	case s.daily:
		fmt.Fprintf(&b, "daily at %02d:%02d", s.hour, s.minute)
		if s.second != 0 {
			fmt.Fprintf(&b, ":%02d", s.second)
		}
	case s.every != 0 || s.err != nil:
		return "every " + s.every.String()
	default:
		return "never"
	}
	if s.loc != nil {
		b.WriteString(" " + s.loc.String())
	}
	return b.String()
}

// Err returns what makes the spec invalid, or nil.
func (s Spec) Err() error {
	if s.err == nil && !s.daily && s.every == 0 {
		return errors.New("schedule: zero Spec (use Every, Daily or At)")
	}
	return s.err
}

// next returns the first time the spec runs after after; start is when
// the schedule started.
func (s Spec) next(start, after time.Time) time.Time {
	if !s.daily {
		k := after.Sub(start)/s.every + 1
		if after.Before(start) {
			k = 1
		}
		return start.Add(k * s.every)
	}
	loc := s.loc
	if loc == nil {
		loc = time.Local
	}
	t := after.In(loc)
	// time.Date normalises a time the clocks skip (a spring-forward gap)
	// to one that exists, perhaps on the day before (a zone that skips
	// midnight), and picks one of a time that occurs twice: each day has
	// one time, which is after the day before's.
	for day := t.Day(); ; day++ {
		if next := time.Date(t.Year(), t.Month(), day, s.hour, s.minute, s.second, 0, loc); next.After(after) {
			return next
		}
	}
}

// Clock is where a schedule takes its time from: the real one by default,
// a fake one in tests (see package scheduletest).
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once d has passed.
	NewTimer(d time.Duration) Timer
}

// Timer is a Clock's timer.
type Timer interface {
	// C receives the time when the timer fires.
	C() <-chan time.Time
	// Stop stops the timer; it reports whether it stopped it before it
	// fired.
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// maxWait bounds one wait for a time of day, so that a schedule notices
// when the wall clock was set, or the machine slept.
const maxWait = time.Minute

// Option configures a schedule.
type Option func(*config) error

type config struct {
	name     string
	until    time.Time
	forD     time.Duration
	stopWhen func() bool
	clock    Clock
	guard    func(ctx context.Context) (release func(), err error)
}

// Until ends the schedule at t: no run starts at or after t.
func Until(t time.Time) Option {
	return func(c *config) error {
		if c.until.IsZero() || t.Before(c.until) {
			c.until = t
		}
		return nil
	}
}

// For ends the schedule d after it was made (with Run or
// Controller.Schedule): no run starts later. d must be positive.
func For(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("duration %v is not positive", d)
		}
		c.forD = d
		return nil
	}
}

// StopWhen ends the schedule as soon as cond returns true; cond is called
// before and after each run, holding what the run holds (a controller's
// lock), and a run does not start when it returns true.
func StopWhen(cond func() bool) Option {
	return func(c *config) error {
		if cond == nil {
			return errors.New("nil StopWhen condition")
		}
		c.stopWhen = cond
		return nil
	}
}

// Name names the schedule in its errors and logs. Default: the spec, such
// as "every 5s".
func Name(name string) Option {
	return func(c *config) error { c.name = name; return nil }
}

// WithClock makes the schedule take its time from clock instead of the
// real clock, for tests (see package scheduletest).
func WithClock(clock Clock) Option {
	return func(c *config) error {
		if clock == nil {
			return errors.New("nil clock")
		}
		c.clock = clock
		return nil
	}
}

// Guard makes every run acquire something before the work and release it
// after, as actions.Guard does for actions: controllers use it to run
// their schedules under their lock. acquire should give up when ctx ends.
func Guard(acquire func(ctx context.Context) (release func(), err error)) Option {
	return func(c *config) error {
		if acquire == nil {
			return errors.New("nil guard")
		}
		c.guard = acquire
		return nil
	}
}

// Job is a schedule made with Run or Controller.Schedule. Its methods are
// safe for concurrent use.
type Job struct {
	bus  *ipc.Bus
	spec Spec
	fn   func(ctx context.Context) error
	cfg  config
	err  error

	stop     chan struct{} // closed by Stop
	stopOnce sync.Once
	done     chan struct{} // closed when the schedule ended
	doneOnce sync.Once

	mu      sync.Mutex
	started bool
	next    time.Time
}

// Run runs fn on bus's module as spec says, from when the application
// runs until the module stops or an option ends the schedule (see the
// package doc). fn's context carries the bus and ends when the module
// stops. If the schedule cannot be made, the job records the error (see
// Job.Err) and never runs.
func Run(bus *ipc.Bus, spec Spec, fn func(ctx context.Context) error, opts ...Option) *Job {
	j := &Job{bus: bus, spec: spec, fn: fn, stop: make(chan struct{}), done: make(chan struct{})}
	j.cfg = config{name: spec.String(), clock: realClock{}}
	if err := j.make(opts); err != nil {
		j.fail(err)
		return j
	}
	if j.cfg.forD > 0 {
		if end := j.cfg.clock.Now().Add(j.cfg.forD); j.cfg.until.IsZero() || end.Before(j.cfg.until) {
			j.cfg.until = end
		}
	}
	bus.OnAppReady(func(ctx context.Context) {
		j.mu.Lock()
		j.started = true
		j.mu.Unlock()
		j.loop(ctx)
	})
	bus.OnStop(func(context.Context) error {
		j.Stop()
		j.mu.Lock()
		started := j.started
		j.mu.Unlock()
		if !started {
			j.end()
		}
		return nil
	})
	return j
}

// make checks the schedule's settings.
func (j *Job) make(opts []Option) error {
	for _, o := range opts {
		if err := o(&j.cfg); err != nil {
			return fmt.Errorf("schedule %q: %w", j.cfg.name, err)
		}
	}
	if j.bus == nil {
		return fmt.Errorf("schedule %q: nil bus", j.cfg.name)
	}
	if err := j.spec.Err(); err != nil {
		return fmt.Errorf("schedule %q: %w", j.cfg.name, err)
	}
	if j.fn == nil {
		return fmt.Errorf("schedule %q: nil function", j.cfg.name)
	}
	return nil
}

// fail records the error of the job's creation and ends it.
func (j *Job) fail(err error) {
	j.err = err
	j.end()
	if j.bus == nil {
		slog.Default().Error("kervi: a schedule could not be made", "error", err)
		return
	}
	j.bus.Fail(err)
}

// Err returns the error that kept the schedule from being made, or nil.
func (j *Job) Err() error { return j.err }

// Stop ends the schedule: no run starts after Stop. A run in progress goes
// on; Done is closed when it returned. Stop may be called from a run, and
// more than once.
func (j *Job) Stop() { j.stopOnce.Do(func() { close(j.stop) }) }

// Done is closed when the schedule has ended: stopped, past Until or For,
// its StopWhen condition held, its module stopped, or it could not be
// made.
func (j *Job) Done() <-chan struct{} { return j.done }

// Next returns when the next run is due; zero if none is: the schedule has
// not started (the application does not run yet) or has ended.
func (j *Job) Next() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.next
}

func (j *Job) setNext(t time.Time) {
	j.mu.Lock()
	j.next = t
	j.mu.Unlock()
}

func (j *Job) end() {
	j.setNext(time.Time{})
	j.doneOnce.Do(func() { close(j.done) })
}

func (j *Job) stopped() bool {
	select {
	case <-j.stop:
		return true
	default:
		return false
	}
}

// loop runs the schedule until it ends.
func (j *Job) loop(ctx context.Context) {
	defer j.end()
	clock := j.cfg.clock
	start := clock.Now()
	after := start
	for !j.stopped() {
		next := j.spec.next(start, after)
		if !j.cfg.until.IsZero() && !next.Before(j.cfg.until) {
			return
		}
		j.setNext(next)
		if !j.wait(ctx, next) {
			return
		}
		if j.run(ctx, next) {
			return
		}
		// Runs that fell due meanwhile are skipped.
		if now := clock.Now(); now.After(next) {
			after = now
		} else {
			after = next
		}
	}
}

// wait waits until the clock reaches t; it reports false if the schedule
// or its module stopped first.
func (j *Job) wait(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(j.cfg.clock.Now())
		if d <= 0 {
			return true
		}
		if j.spec.daily {
			d = min(d, maxWait)
		}
		timer := j.cfg.clock.NewTimer(d)
		select {
		case <-timer.C():
		case <-j.stop:
			timer.Stop()
			return false
		case <-ctx.Done():
			timer.Stop()
			return false
		}
	}
}

// run runs the work once, holding the guard; it reports whether the
// schedule ends.
func (j *Job) run(ctx context.Context, due time.Time) (end bool) {
	if j.cfg.guard != nil {
		release, err := j.cfg.guard(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return true
			}
			j.report(fmt.Errorf("schedule %q: run due at %s: %w", j.cfg.name, due.Format(time.RFC3339), err))
			return false
		}
		defer release()
	}
	if j.stopped() || ctx.Err() != nil { // stopped while waiting for the guard
		return true
	}
	if j.cond("StopWhen", j.cfg.stopWhen) {
		return true
	}
	if err := j.safely("run", func() error { return j.fn(ctx) }); err != nil {
		j.report(fmt.Errorf("schedule %q: run due at %s: %w", j.cfg.name, due.Format(time.RFC3339), err))
	}
	return j.cond("StopWhen", j.cfg.stopWhen)
}

// cond calls a StopWhen condition; a panic counts as false.
func (j *Job) cond(what string, fn func() bool) bool {
	if fn == nil {
		return false
	}
	var holds bool
	if err := j.safely(what, func() error { holds = fn(); return nil }); err != nil {
		j.report(fmt.Errorf("schedule %q: %w", j.cfg.name, err))
	}
	return holds
}

// safely calls fn, turning a panic into an error and logging its stack.
func (j *Job) safely(what string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			j.bus.Logger().Error("schedule panicked", "schedule", j.cfg.name, "in", what,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("%s panicked: %v", what, r)
		}
	}()
	return fn()
}

func (j *Job) report(err error) { j.bus.ReportError(err) }

func init() {
	failed.Job = func(err error) any {
		j := &Job{err: err, stop: make(chan struct{}), done: make(chan struct{})}
		j.end()
		return j
	}
}
