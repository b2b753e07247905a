package kervi_test

// Observing the application from a module: the health values of the
// modules, "kervi.modules", the log feed and "kervi.logs".

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// watched collects what a module sees, and wakes the actions that wait for
// it.
type watched[T any] struct {
	mu      sync.Mutex
	items   []T
	changed chan struct{}
}

func newWatched[T any]() *watched[T] { return &watched[T]{changed: make(chan struct{})} }

func (w *watched[T]) add(x T) {
	w.mu.Lock()
	w.items = append(w.items, x)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// until waits until done holds for what was seen, and returns it.
func (w *watched[T]) until(ctx context.Context, done func([]T) bool) ([]T, error) {
	for {
		w.mu.Lock()
		items := append([]T(nil), w.items...)
		ch := w.changed
		w.mu.Unlock()
		if done(items) {
			return items, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("saw %d items: %w", len(items), ctx.Err())
		}
	}
}

func init() {
	// "observe": "watcher" follows the health of the modules and the log
	// feed; "victim" is killed by the tests; "chatty" logs.
	testApps["observe"] = func(opts []kervi.Option) (*kervi.Application, error) {
		watcher := kervi.Module{Name: "watcher", Setup: func(ctx context.Context, b *ipc.Bus) error {
			health := newWatched[ipc.Event]()
			if _, err := b.SubscribePattern("kervi.module.>", health.add); err != nil {
				return err
			}
			logs := newWatched[kervi.LogRecord]()
			if _, err := b.Subscribe(kervi.LogFeedID, func(ev ipc.Event) {
				if ev.Value.Text() == "" {
					return // the feed's initial content
				}
				r, err := kervi.ParseLogRecord(ev.Value.Text())
				if err != nil {
					r = kervi.LogRecord{Msg: "unreadable: " + err.Error()}
				}
				logs.add(r)
			}); err != nil {
				return err
			}
			reg := func(id string, fn any) { actions.Register(b, id, fn, actions.WithMode(actions.Concurrent)) }
			// health returns the events of module's health values seen so
			// far ("restarts=1", "state=ready", ...), in order, once they
			// hold want's events in want's order.
			reg("watcher.health", func(ctx context.Context, module string, want []string) ([]string, error) {
				prefix := kervi.ModuleStateID(module)
				text := func(ev ipc.Event) (string, bool) {
					switch {
					case ev.ID == prefix:
						return "state=" + ev.Value.Text(), true
					case strings.HasPrefix(ev.ID, prefix+"."):
						return strings.TrimPrefix(ev.ID, prefix+".") + "=" + fmt.Sprint(ev.Value.Any()), true
					}
					return "", false
				}
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // to say what it saw
				defer cancel()
				var out []string
				_, err := health.until(ctx, func(evs []ipc.Event) bool {
					out = out[:0]
					i := 0
					for _, ev := range evs {
						if s, ok := text(ev); ok {
							out = append(out, s)
							if i < len(want) && s == want[i] {
								i++
							}
						}
					}
					return i == len(want)
				})
				if err != nil {
					return nil, fmt.Errorf("%w; saw %q", err, out)
				}
				return out, nil
			})
			// logs returns the records of the feed seen so far, once count
			// of them have a message that contains msg.
			reg("watcher.logs", func(ctx context.Context, msg string, count int) ([]kervi.LogRecord, error) {
				return logs.until(ctx, func(rs []kervi.LogRecord) bool {
					n := 0
					for _, r := range rs {
						if strings.Contains(r.Msg, msg) {
							n++
						}
					}
					return n >= count
				})
			})
			reg("watcher.modules", func(ctx context.Context) ([]kervi.ModuleStatus, error) {
				return actions.CallAs[[]kervi.ModuleStatus](ctx, kervi.ModulesID)
			})
			reg("watcher.recent", func(ctx context.Context) ([]kervi.LogRecord, error) {
				return actions.CallAs[[]kervi.LogRecord](ctx, kervi.LogsID)
			})
			return nil
		}}
		victim := kervi.Module{Name: "victim", Setup: func(ctx context.Context, b *ipc.Bus) error {
			values.NewNumber(b, "victim.level", "Level")
			return nil
		}}
		chatty := kervi.Module{Name: "chatty", Setup: func(ctx context.Context, b *ipc.Bus) error {
			actions.Register(b, "chatty.log", func() {
				log := b.Logger()
				log.Info("all is well")
				log.Warn("battery low", "percent", 12, "sensor", slog.GroupValue(slog.String("id", "bme280")))
				log.Error("pump stalled", "after", 1500*time.Millisecond)
			})
			// flood logs n warnings and returns how long it took.
			actions.Register(b, "chatty.flood", func(n int) time.Duration {
				t0 := time.Now()
				for i := range n {
					b.Logger().Warn("flood", "i", i)
				}
				b.Logger().Warn("flood over")
				return time.Since(t0)
			})
			return nil
		}}
		return kervi.NewApplication([]kervi.Module{watcher, victim, chatty}, opts...)
	}
}

func TestObserveModuleHealth(t *testing.T) {
	r := startApp(t, "observe")
	victim := status(t, r.app, "victim")
	if victim.PID == 0 || victim.State != kervi.StateReady {
		t.Fatalf("victim: %+v", victim)
	}
	// The watcher sees the victim ready, with its pid, before the kill.
	r.call(t, "watcher.health", "victim", []string{fmt.Sprintf("pid=%d", victim.PID)})
	r.call(t, "watcher.health", "victim", []string{"state=ready"})
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "victim", kervi.StateRestarting)
	r.waitState(t, "victim", kervi.StateReady)
	after := status(t, r.app, "victim")
	// In order: ready, then the death (no pid, how it died, restarting),
	// then a new process (restarts 1, a new pid) and ready again. The
	// details of a state change come before the state.
	seen := r.call(t, "watcher.health", "victim", []string{"state=ready", "pid=0", "last_exit=signal: killed",
		"state=restarting", "restarts=1", fmt.Sprintf("pid=%d", after.PID), "state=starting", "state=ready"})
	t.Logf("the watcher saw: %q", seen)
	if after.PID == victim.PID {
		t.Errorf("the pid did not change")
	}
	if after.Restarts != 1 || after.LastExit != "signal: killed" {
		t.Errorf("status after the kill: %+v", after)
	}

	// kervi.modules from a module: every module's status, as Modules has it.
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	sts, err := actions.CallAs[[]kervi.ModuleStatus](ctx, "watcher.modules")
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 3 || sts[1].Name != "victim" || sts[1].State != kervi.StateReady || sts[1].PID != after.PID ||
		sts[1].Restarts != 1 || sts[1].LastExit != "signal: killed" || !sts[1].Since.Equal(after.Since) {
		t.Errorf("kervi.modules = %+v, want victim as %+v", sts, after)
	}

	// The catalogue describes the health values under the module's sensor.
	ds := r.app.Components()
	byID := map[string]ipc.Description{}
	for _, d := range ds {
		byID[d.ID] = d
	}
	sensor := byID[kervi.ModuleHealthID("victim")]
	if sensor.Kind != ipc.KindSensor || sensor.Module != "app" {
		t.Errorf("health sensor: %+v", sensor)
	}
	for _, v := range []string{kervi.HealthRestarts, kervi.HealthSince, kervi.HealthPID, kervi.HealthLastExit,
		kervi.HealthBehind, kervi.HealthCoalesced} {
		d, ok := byID[kervi.ModuleHealthValueID("victim", v)]
		if !ok || d.Parent != kervi.ModuleHealthID("victim") || d.Input || d.Name == "" {
			t.Errorf("%s: %+v", v, d)
		}
	}
	if d := byID[kervi.ModuleStateID("victim")]; d.Type != ipc.TypeString || d.Parent != kervi.ModuleHealthID("victim") {
		t.Errorf("state value: %+v", d)
	}
}

func TestObserveLogFeed(t *testing.T) {
	r := startApp(t, "observe")
	r.call(t, "chatty.log")
	recs := logRecords(t, r.call(t, "watcher.logs", "pump stalled", 1))
	var chatty []kervi.LogRecord
	for _, rec := range recs {
		if rec.Module == "chatty" {
			chatty = append(chatty, rec)
		}
		if rec.Level < slog.LevelWarn {
			t.Errorf("below the feed's level: %+v", rec)
		}
	}
	if len(chatty) != 2 || chatty[0].Msg != "battery low" || chatty[0].Level != slog.LevelWarn ||
		chatty[1].Msg != "pump stalled" || chatty[1].Level != slog.LevelError {
		t.Fatalf("chatty's records in the feed: %+v", chatty)
	}
	if a := chatty[0].Attrs; a["percent"] != "12" || a["sensor.id"] != "bme280" {
		t.Errorf("attributes: %q", a)
	}
	if a := chatty[1].Attrs; a["after"] != "1.5s" {
		t.Errorf("attributes: %q", a)
	}
	if chatty[0].Time.IsZero() || chatty[1].Time.Before(chatty[0].Time) {
		t.Errorf("times: %v, %v", chatty[0].Time, chatty[1].Time)
	}

	// kervi.logs: the recent records, for a follower that came late.
	recent := logRecords(t, r.call(t, "watcher.recent"))
	var msgs []string
	for _, rec := range recent {
		if rec.Module == "chatty" {
			msgs = append(msgs, rec.Msg)
		}
	}
	if strings.Join(msgs, ",") != "battery low,pump stalled" {
		t.Errorf("kervi.logs has chatty's %q", msgs)
	}

	// A flood is bounded, and never slows the logging module down.
	const n = 5000
	took := r.call(t, "chatty.flood", n)
	recs = logRecords(t, r.call(t, "watcher.logs", "log records dropped", 1))
	flood, dropped := 0, 0
	for _, rec := range recs {
		switch {
		case rec.Msg == "flood":
			flood++
		case strings.HasSuffix(rec.Msg, " log records dropped"):
			var d int
			fmt.Sscan(rec.Attrs["dropped"], &d)
			dropped += d
		}
	}
	t.Logf("flood of %d took the module %v; the feed published %d of them, and said %d were dropped", n, took, flood, dropped)
	if flood == 0 || flood >= n/2 || dropped == 0 {
		t.Errorf("flood: %d published, %d dropped", flood, dropped)
	}
	if d, _ := took.(time.Duration); d > 5*time.Second {
		t.Errorf("the flood took the module %v", d)
	}
	// The feed goes on after the flood, once the rate allows: records
	// logged before are counted as dropped.
	for i := 0; ; i++ {
		r.call(t, "chatty.log")
		ctx, cancel := context.WithTimeout(r.ctx, time.Second)
		_, err := r.app.Bus().Call(ctx, "watcher.logs", "pump stalled", 2)
		cancel()
		if err == nil {
			break
		}
		if i == 10 {
			t.Fatalf("no record in the feed after the flood: %v", err)
		}
	}
}

// logRecords converts an action's result to log records.
func logRecords(t *testing.T, x any) []kervi.LogRecord {
	t.Helper()
	v, err := ipc.Convert(x, reflect.TypeFor[[]kervi.LogRecord]())
	if err != nil {
		t.Fatalf("log records: %v (%v)", err, x)
	}
	return v.Interface().([]kervi.LogRecord)
}
