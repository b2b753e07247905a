package schedule_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // the tests' time zones, whatever the machine has

	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/schedule"
	"github.com/kervi/kervi-go/schedule/scheduletest"
)

// module is a running module on an in-process hub, with a fake clock.
type module struct {
	t     *testing.T
	h     *testbus.Hub
	bus   *ipc.Bus
	errs  chan error
	clock *scheduletest.Clock
}

func newModule(t *testing.T, now time.Time) *module {
	m := &module{t: t, h: testbus.New(t), errs: make(chan error, 100), clock: scheduletest.NewClock(now)}
	m.bus = m.h.Bus("m", m.errs)
	return m
}

// run starts the application: schedules start.
func (m *module) run() { m.t.Helper(); m.h.Run() }

// waiting waits until the schedules wait for their next runs (n timers),
// and returns when job's next run is due.
func (m *module) waiting(job *schedule.Job, n int) time.Time {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.clock.WaitTimers(ctx, n); err != nil {
		m.t.Fatalf("the schedule does not wait for its next run: %v", err)
	}
	return job.Next()
}

// recorder is work that records the clock's time at each run.
type recorder struct {
	clock *scheduletest.Clock
	runs  chan time.Time
}

func newRecorder(clock *scheduletest.Clock) *recorder {
	return &recorder{clock: clock, runs: make(chan time.Time, 100)}
}

func (r *recorder) work(ctx context.Context) error {
	r.runs <- r.clock.Now()
	return nil
}

// none fails if a run happened.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case at := <-r.runs:
		t.Fatalf("unexpected run at %v", at)
	default:
	}
}

func TestEvery(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	m := newModule(t, t0)
	r := newRecorder(m.clock)
	job := schedule.Run(m.bus, schedule.Every(10*time.Second), r.work, schedule.WithClock(m.clock))
	if !job.Next().IsZero() {
		t.Fatal("a schedule is due before the application runs")
	}
	m.run()
	if next := m.waiting(job, 1); !next.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("first run due at %v", next)
	}
	m.clock.Advance(9 * time.Second)
	m.waiting(job, 1)
	r.none(t)
	m.clock.Advance(time.Second)
	if at := testbus.Wait(t, r.runs, "first run"); !at.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("first run at %v", at)
	}
	if next := m.waiting(job, 1); !next.Equal(t0.Add(20 * time.Second)) {
		t.Fatalf("second run due at %v", next)
	}
	job.Stop()
	testbus.Wait(t, job.Done(), "the end of the stopped schedule")
	if !job.Next().IsZero() {
		t.Fatal("a stopped schedule is due")
	}
}

// A run that lasts longer than the period does not queue the runs that
// fell due meanwhile: the next one is the first due after it ended.
func TestMissedRunsAreSkipped(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	m := newModule(t, t0)
	started := make(chan time.Time, 10)
	release := make(chan struct{})
	var runs atomic.Int32
	job := schedule.Run(m.bus, schedule.Every(time.Second), func(ctx context.Context) error {
		started <- m.clock.Now()
		if runs.Add(1) == 1 {
			<-release // the first run is slow
		}
		return nil
	}, schedule.WithClock(m.clock))
	m.run()
	m.waiting(job, 1)
	m.clock.Advance(time.Second)
	testbus.Wait(t, started, "first run")
	m.clock.Advance(3500 * time.Millisecond) // 3.5 periods while it runs
	close(release)
	if next := m.waiting(job, 1); !next.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("after a slow run, the next is due at %v, want %v", next, t0.Add(5*time.Second))
	}
	select {
	case at := <-started:
		t.Fatalf("a missed run ran at %v", at)
	default:
	}
	m.clock.Advance(500 * time.Millisecond)
	if at := testbus.Wait(t, started, "second run"); !at.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("second run at %v", at)
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d runs, want 2", n)
	}
}

// runsOver moves the clock from run to run of job until end, and returns
// the times of the runs.
func runsOver(t *testing.T, m *module, job *schedule.Job, r *recorder, end time.Time) []time.Time {
	t.Helper()
	var runs []time.Time
	for {
		next := m.waiting(job, 1)
		if next.After(end) {
			return runs
		}
		m.clock.Set(next)
		runs = append(runs, testbus.Wait(t, r.runs, "run"))
	}
}

// A daily time follows the zone through daylight saving time, as
// time.Date does: on the day the clocks skip 02:30, the work runs once,
// at 03:30; on the day 02:30 occurs twice, once.
func TestDailyThroughDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		start time.Time
		want  []string // runs, in Berlin's time
	}{
		{"spring forward", time.Date(2026, 3, 27, 12, 0, 0, 0, berlin), []string{
			"2026-03-28 02:30 CET", "2026-03-29 03:30 CEST", "2026-03-30 02:30 CEST", "2026-03-31 02:30 CEST"}},
		{"fall back", time.Date(2026, 10, 23, 12, 0, 0, 0, berlin), []string{
			"2026-10-24 02:30 CEST", "2026-10-25 02:30 CET", "2026-10-26 02:30 CET", "2026-10-27 02:30 CET"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newModule(t, c.start)
			r := newRecorder(m.clock)
			job := schedule.Run(m.bus, schedule.At("02:30").In(berlin), r.work, schedule.WithClock(m.clock))
			m.run()
			var got []string
			for _, at := range runsOver(t, m, job, r, c.start.Add(4*24*time.Hour)) {
				got = append(got, at.In(berlin).Format("2006-01-02 15:04 MST"))
			}
			if strings.Join(got, ", ") != strings.Join(c.want, ", ") {
				t.Fatalf("runs %q, want %q", got, c.want)
			}
		})
	}
}

// The schedule notices the clock set forward: a run due meanwhile runs
// once, late, and the runs after it keep to the time of day.
func TestDailyAfterTheClockJumped(t *testing.T) {
	oslo, _ := time.LoadLocation("Europe/Oslo")
	t0 := time.Date(2026, 6, 1, 6, 0, 0, 0, oslo)
	m := newModule(t, t0)
	r := newRecorder(m.clock)
	job := schedule.Run(m.bus, schedule.Daily(7, 30).In(oslo), r.work, schedule.WithClock(m.clock))
	m.run()
	if next := m.waiting(job, 1); !next.Equal(time.Date(2026, 6, 1, 7, 30, 0, 0, oslo)) {
		t.Fatalf("due at %v", next)
	}
	m.clock.Set(time.Date(2026, 6, 3, 12, 0, 0, 0, oslo)) // two days and a half later
	if at := testbus.Wait(t, r.runs, "late run"); !at.Equal(time.Date(2026, 6, 3, 12, 0, 0, 0, oslo)) {
		t.Fatalf("late run at %v", at)
	}
	if next := m.waiting(job, 1); !next.Equal(time.Date(2026, 6, 4, 7, 30, 0, 0, oslo)) {
		t.Fatalf("next due at %v", next)
	}
	r.none(t)
}

func TestUntilForStopWhen(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	m := newModule(t, t0)
	until, forD, when := newRecorder(m.clock), newRecorder(m.clock), newRecorder(m.clock)
	var n atomic.Int32
	jobs := []*schedule.Job{
		// Runs at +1s, +2s; not at +3s, the end.
		schedule.Run(m.bus, schedule.Every(time.Second), until.work, schedule.WithClock(m.clock), schedule.Until(t0.Add(3*time.Second))),
		// Runs at +1s; For counts from the creation.
		schedule.Run(m.bus, schedule.Every(time.Second), forD.work, schedule.WithClock(m.clock), schedule.For(1500*time.Millisecond)),
		// Runs at +1s, +2s, +3s, then the condition holds after the third.
		schedule.Run(m.bus, schedule.Every(time.Second), func(ctx context.Context) error {
			n.Add(1)
			return when.work(ctx)
		}, schedule.WithClock(m.clock), schedule.StopWhen(func() bool { return n.Load() >= 3 })),
	}
	m.run()
	// After second i, the schedules in ended[i] have ended.
	ended := map[int][]int{1: {1}, 2: {0}, 3: {2}}
	live := len(jobs)
	for i := 1; live > 0; i++ {
		m.waiting(jobs[2], live)
		m.clock.Advance(time.Second)
		for _, c := range []struct {
			r    *recorder
			last int
		}{{until, 2}, {forD, 1}, {when, 3}} {
			if i <= c.last {
				testbus.Wait(t, c.r.runs, "run")
			}
		}
		for _, k := range ended[i] {
			testbus.Wait(t, jobs[k].Done(), "the end of a schedule")
			live--
		}
	}
	until.none(t)
	forD.none(t)
	when.none(t)
	if n.Load() != 3 {
		t.Fatalf("StopWhen: %d runs, want 3", n.Load())
	}
}

// Errors and panics of runs go to the bus's error handler; the schedule
// goes on.
func TestErrorsAndPanicsAreReported(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	m := newModule(t, t0)
	var n atomic.Int32
	ran := make(chan int32, 10)
	job := schedule.Run(m.bus, schedule.Every(time.Minute), func(ctx context.Context) error {
		i := n.Add(1)
		defer func() { ran <- i }()
		switch i {
		case 1:
			return errors.New("valve stuck")
		case 2:
			panic("gear slipped")
		}
		return nil
	}, schedule.WithClock(m.clock), schedule.Name("watering"))
	m.run()
	for i := int32(1); i <= 3; i++ {
		m.waiting(job, 1)
		m.clock.Advance(time.Minute)
		if got := testbus.Wait(t, ran, "run"); got != i {
			t.Fatalf("run %d, want %d", got, i)
		}
	}
	err := testbus.Wait(t, m.errs, "the error")
	if !strings.Contains(err.Error(), `schedule "watering"`) || !strings.Contains(err.Error(), "valve stuck") {
		t.Fatalf("reported %v", err)
	}
	err = testbus.Wait(t, m.errs, "the panic")
	if !strings.Contains(err.Error(), `schedule "watering"`) || !strings.Contains(err.Error(), "panicked: gear slipped") {
		t.Fatalf("reported %v", err)
	}
	select {
	case err := <-m.errs:
		t.Fatalf("reported %v for a good run", err)
	default:
	}
}

// A schedule stops with its module: a run in progress finishes first.
func TestStopsWithTheModule(t *testing.T) {
	m := newModule(t, time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC))
	running := make(chan struct{})
	finished := make(chan struct{})
	job := schedule.Run(m.bus, schedule.Every(time.Second), func(ctx context.Context) error {
		close(running)
		<-ctx.Done() // the module stops
		close(finished)
		return nil
	}, schedule.WithClock(m.clock))
	m.run()
	m.waiting(job, 1)
	m.clock.Advance(time.Second)
	testbus.Wait(t, running, "the run")
	m.h.Stop("m")
	select {
	case <-finished:
	default:
		t.Fatal("the module stopped before the run in progress returned")
	}
	testbus.Wait(t, job.Done(), "the end of the schedule")
}

// A schedule made on a module that stops before the application runs
// ends without running.
func TestStopsBeforeStart(t *testing.T) {
	m := newModule(t, time.Now())
	job := schedule.Run(m.bus, schedule.Every(time.Second), func(context.Context) error {
		t.Error("ran")
		return nil
	}, schedule.WithClock(m.clock))
	if err := m.h.Setup("m", nil); err != nil {
		t.Fatal(err)
	}
	m.h.Stop("m")
	testbus.Wait(t, job.Done(), "the end of the schedule")
}

func TestBadSchedules(t *testing.T) {
	noop := func(context.Context) error { return nil }
	for _, c := range []struct {
		name string
		spec schedule.Spec
		fn   func(context.Context) error
		opts []schedule.Option
		want string
	}{
		{"zero period", schedule.Every(0), noop, nil, "period 0s is not positive"},
		{"negative period", schedule.Every(-time.Second), noop, nil, "not positive"},
		{"hour 24", schedule.Daily(24, 0), noop, nil, "24:00:00 is not a time of day"},
		{"minute 60", schedule.At("07:60"), noop, nil, "is not a time of day"},
		{"one digit", schedule.At("7:30"), noop, nil, `"7:30" is not written`},
		{"no colon", schedule.At("0730"), noop, nil, "is not written"},
		{"zero spec", schedule.Spec{}, noop, nil, "zero Spec"},
		{"nil location", schedule.Daily(7, 0).In(nil), noop, nil, "nil location"},
		{"nil func", schedule.Every(time.Second), nil, nil, "nil function"},
		{"zero For", schedule.Every(time.Second), noop, []schedule.Option{schedule.For(0)}, "not positive"},
		{"nil StopWhen", schedule.Every(time.Second), noop, []schedule.Option{schedule.StopWhen(nil)}, "nil StopWhen"},
		{"nil clock", schedule.Every(time.Second), noop, []schedule.Option{schedule.WithClock(nil)}, "nil clock"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := testbus.New(t)
			b := h.Bus("m", nil)
			job := schedule.Run(b, c.spec, c.fn, c.opts...)
			if err := job.Err(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Err() = %v, want %q", err, c.want)
			}
			select {
			case <-job.Done():
			default:
				t.Fatal("a schedule that could not be made is not done")
			}
			// The module's setup fails with the error.
			if err := h.Setup("m", nil); err != job.Err() {
				t.Fatalf("setup: %v, want %v", err, job.Err())
			}
		})
	}
	if err := schedule.Run(nil, schedule.Every(time.Second), noop).Err(); err == nil || !strings.Contains(err.Error(), "nil bus") {
		t.Fatalf("nil bus: %v", err)
	}
}

func TestSpecString(t *testing.T) {
	oslo, _ := time.LoadLocation("Europe/Oslo")
	for spec, want := range map[schedule.Spec]string{
		schedule.Every(5 * time.Second): "every 5s",
		schedule.Daily(7, 30):           "daily at 07:30",
		schedule.At("07:30:15"):         "daily at 07:30:15",
		schedule.At("07:30").In(oslo):   "daily at 07:30 Europe/Oslo",
		schedule.At("noon"):             `daily at "noon"`,
		{}:                              "never",
	} {
		if got := spec.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}
