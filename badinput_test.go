package kervi_test

// Bad input never kills a stream, and the hub keeps its integrity (issue 5,
// sections 1 and 3), through real module processes.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// invalid is text that is not valid UTF-8: "café" in Latin-1.
const invalid = "caf\xe9"

func init() {
	// "badinput": "src" owns values and actions that produce or take bad
	// input; "watch" follows src's values from another process and calls
	// from there; "spoof" tries to publish on ids it does not own.
	testApps["badinput"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{srcModule(), watchModule(), spoofModule()}, opts...)
	}
	// Modules whose setup declares a component with a text that is not
	// valid UTF-8, or too large to be announced: each must fail its setup.
	for name, setup := range map[string]kervi.SetupFunc{
		"value-name": func(ctx context.Context, b *ipc.Bus) error {
			values.NewNumber(b, "gadget.level", "Level "+invalid)
			return nil
		},
		"value-unit": func(ctx context.Context, b *ipc.Bus) error {
			values.NewNumber(b, "gadget.temp", "Temperature", values.Unit("\xb0C"))
			return nil
		},
		"enum-option": func(ctx context.Context, b *ipc.Bus) error {
			values.NewEnum(b, "gadget.mode", "Mode", values.Choices("tea", invalid))
			return nil
		},
		"string-initial": func(ctx context.Context, b *ipc.Bus) error {
			values.NewString(b, "gadget.label", "Label", values.Initial(invalid))
			return nil
		},
		"enum-size": func(ctx context.Context, b *ipc.Bus) error {
			opts := make([]string, 5000) // 5 MB of options, over the default 4 MiB limit
			for i := range opts {
				opts[i] = fmt.Sprintf("%04d", i) + strings.Repeat("x", 1000)
			}
			values.NewEnum(b, "gadget.mode", "Mode", values.Choices(opts...))
			return nil
		},
		"action-name": func(ctx context.Context, b *ipc.Bus) error {
			actions.Register(b, "gadget.brew", func() {}, actions.Name("Brew "+invalid))
			return nil
		},
	} {
		testApps["bad-"+name] = func(opts []kervi.Option) (*kervi.Application, error) {
			return kervi.NewApplication([]kervi.Module{{Name: "gadget", Setup: setup}}, opts...)
		}
	}
}

// register returns a function that registers actions on b; the first
// failure fails the module's setup.
func register(b *ipc.Bus) func(id string, fn any, opts ...actions.Option) {
	return func(id string, fn any, opts ...actions.Option) {
		actions.Register(b, id, fn, opts...)
	}
}

func srcModule() kervi.Module {
	return kervi.Module{Name: "src", Setup: func(ctx context.Context, b *ipc.Bus) error {
		text := values.NewString(b, "src.text", "Text")
		events := values.NewString(b, "src.events", "Events", values.Output())
		values.NewNumber(b, "src.temp", "Temperature", values.Unit("°C"))
		values.NewNumber(b, "src.inf", "Unbounded", values.AllowInf())
		count := values.NewNumber(b, "src.count", "Count", values.Output(), values.Initial(0))
		big := values.NewString(b, "src.big", "Big", values.Output())
		reg := register(b)
		reg("src.pid", func() int { return os.Getpid() })
		reg("src.add", func(x, y int) int { return x + y })
		reg("src.echo", func(x any) any { return x })
		reg("src.bad_result", func() string { return invalid })
		reg("src.bad_error", func() error { return errors.New("valve " + invalid + " stuck") })
		reg("src.big_result", func(n int) string { return strings.Repeat("x", n) })
		reg("src.big_error", func(n int) error { return errors.New(strings.Repeat("x", n)) })
		reg("src.big_panic", func(n int) { panic(strings.Repeat("x", n)) })
		reg("src.print", func(n int, tag string) {
			fmt.Println(strings.Repeat("x", n))
			fmt.Fprintln(os.Stderr, strings.Repeat("y", n))
			fmt.Println(tag)
			fmt.Fprintln(os.Stderr, tag+" on stderr")
		})
		reg("src.fill", func(n int) error { return text.Set(strings.Repeat("x", n)) })
		// burst publishes an event, makes a call and a write that must be
		// refused, and publishes another event, all in one go: the
		// refusals must not take the events with them.
		reg("src.burst", func(ctx context.Context, tag string) (map[string]any, error) {
			if err := events.Set(tag + ":before"); err != nil {
				return nil, err
			}
			_, callErr := actions.Call(ctx, "watch.note", invalid)
			setErr := events.Set(invalid)
			if err := events.Set(tag + ":after"); err != nil {
				return nil, err
			}
			return map[string]any{
				"call_bad_args": errors.Is(callErr, ipc.ErrBadArgs), "call": fmt.Sprint(callErr),
				"set_wrong_type": errors.Is(setErr, ipc.ErrWrongType), "set": fmt.Sprint(setErr),
			}, nil
		})
		reg("src.count_to", func(from, to int) error {
			for i := from; i <= to; i++ {
				if err := count.Set(float64(i)); err != nil {
					return err
				}
			}
			return nil
		})
		// flood publishes n distinct string values of size bytes each;
		// each begins with its number.
		reg("src.flood", func(n, size int) (int, error) {
			for i := range n {
				if err := big.Set(fmt.Sprintf("%05d", i) + strings.Repeat("x", size-5)); err != nil {
					return i, err
				}
			}
			return n, nil
		})
		return nil
	}}
}

// watchModule follows src's values (and the module state values) from a
// process of its own and keeps what it saw.
func watchModule() kervi.Module {
	return kervi.Module{Name: "watch", Setup: func(ctx context.Context, b *ipc.Bus) error {
		var mu sync.Mutex
		seen := map[string][]any{}
		badText := 0
		changed := make(chan struct{}) // closed and replaced on every event
		var gate chan struct{}         // while set, src.big's next event waits for it
		var held chan struct{}         // what release closes
		blocked := make(chan struct{}, 1)
		record := func(id string, v any) {
			mu.Lock()
			if s, ok := v.(string); ok && !utf8.ValidString(s) {
				badText++
			}
			seen[id] = append(seen[id], v)
			close(changed)
			changed = make(chan struct{})
			mu.Unlock()
		}
		for _, id := range []string{"src.text", "src.events", "src.temp", "src.inf", "src.count",
			kervi.ModuleStateID("src"), "spoof.marker"} {
			if _, err := b.Subscribe(id, func(ev ipc.Event) { record(id, ev.Value.Any()) }); err != nil {
				return err
			}
		}
		// src.big keeps the number each value begins with, not the value.
		if _, err := b.Subscribe("src.big", func(ev ipc.Event) {
			mu.Lock()
			g := gate
			gate = nil
			mu.Unlock()
			if g != nil { // a slow subscriber: it waits until released
				blocked <- struct{}{}
				select {
				case <-g:
				case <-b.Context().Done():
				}
			}
			s := ev.Value.Text()
			record("src.big", s[:min(5, len(s))])
		}); err != nil {
			return err
		}
		// until waits until id's last content is want.
		until := func(ctx context.Context, id string, want func(any) bool) ([]any, error) {
			for {
				mu.Lock()
				h := append([]any(nil), seen[id]...)
				ch := changed
				mu.Unlock()
				if len(h) > 0 && want(h[len(h)-1]) {
					return h, nil
				}
				select {
				case <-ch:
				case <-ctx.Done():
					return nil, fmt.Errorf("%s: saw %v: %w", id, h[max(0, len(h)-10):], ctx.Err())
				}
			}
		}
		reg := func(id string, fn any) {
			actions.Register(b, id, fn, actions.WithMode(actions.Concurrent))
		}
		reg("watch.pid", func() int { return os.Getpid() })
		reg("watch.note", func(s string) {})
		reg("watch.wait_text", func(ctx context.Context, id, want string) ([]any, error) {
			return until(ctx, id, func(x any) bool { return x == want })
		})
		reg("watch.wait_number", func(ctx context.Context, id string, want float64) ([]any, error) {
			return until(ctx, id, func(x any) bool { return x == want })
		})
		reg("watch.bad_text", func() int {
			mu.Lock()
			defer mu.Unlock()
			return badText
		})
		// Writes and calls from this process, with their outcome.
		reg("watch.set", func(ctx context.Context, id string, v any) map[string]any { return outcome(b.Set(ctx, id, v)) })
		reg("watch.set_invalid", func(ctx context.Context, id string) map[string]any { return outcome(b.Set(ctx, id, invalid)) })
		reg("watch.set_big", func(ctx context.Context, id string, n int) map[string]any {
			return outcome(b.Set(ctx, id, strings.Repeat("x", n)))
		})
		reg("watch.call", func(ctx context.Context, id string) map[string]any {
			_, err := b.Call(ctx, id)
			return outcome(err)
		})
		reg("watch.call_big", func(ctx context.Context, id string, n int) map[string]any {
			_, err := b.Call(ctx, id, strings.Repeat("x", n))
			return outcome(err)
		})
		reg("watch.call_invalid", func(ctx context.Context, id string) map[string]any {
			_, err := b.Call(ctx, id, invalid)
			return outcome(err)
		})
		reg("watch.hold", func() {
			mu.Lock()
			gate = make(chan struct{})
			held = gate
			mu.Unlock()
		})
		reg("watch.blocked", func(ctx context.Context) error {
			select {
			case <-blocked:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		reg("watch.release", func() {
			mu.Lock()
			if held != nil {
				close(held)
				held = nil
			}
			mu.Unlock()
		})
		// hammer calls n ids nobody owns, from workers goroutines, then
		// calls 10 ids of 10 MiB. It counts the errors by kind.
		reg("watch.hammer", func(ctx context.Context, n, workers int) (map[string]any, error) {
			var next, unknown, other atomic.Int64
			var firstOther atomic.Value
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
						var err error
						if i%10 == 0 {
							err = b.Set(ctx, "nobody.v"+strconv.FormatInt(i, 10), 1)
						} else {
							_, err = b.Call(ctx, "nobody.a"+strconv.FormatInt(i, 10))
						}
						if errors.Is(err, ipc.ErrUnknownID) {
							unknown.Add(1)
						} else {
							other.Add(1)
							firstOther.CompareAndSwap(nil, fmt.Sprint(err))
						}
					}
				})
			}
			wg.Wait()
			invalidIDs, longest := 0, 0
			var wrong []string
			for i := range 10 {
				id := strings.Repeat("a", 10<<20) + strconv.Itoa(i)
				var err error
				if i%2 == 0 {
					_, err = b.Call(ctx, id)
				} else {
					err = b.Set(ctx, id, 1)
				}
				if err == nil {
					wrong = append(wrong, "no error")
					continue
				}
				if errors.Is(err, ipc.ErrInvalidID) {
					invalidIDs++
				} else {
					wrong = append(wrong, err.Error()[:min(200, len(err.Error()))])
				}
				longest = max(longest, len(err.Error()))
			}
			first, _ := firstOther.Load().(string)
			return map[string]any{"unknown": unknown.Load(), "other": other.Load(), "first_other": first,
				"invalid": invalidIDs, "wrong": wrong, "longest": longest}, nil
		})
		return nil
	}}
}

// outcome describes the error of a call or write made in a module process
// for the test, which cannot see its code otherwise: an action that returns
// the error of a call it made fails with ErrActionFailed.
func outcome(err error) map[string]any {
	if err == nil {
		return map[string]any{"is": "nil", "error": ""}
	}
	is := "other"
	for name, s := range map[string]error{"bad_args": ipc.ErrBadArgs, "too_large": ipc.ErrTooLarge,
		"wrong_type": ipc.ErrWrongType, "out_of_range": ipc.ErrOutOfRange, "not_settable": ipc.ErrNotSettable,
		"invalid_id": ipc.ErrInvalidID, "unknown_id": ipc.ErrUnknownID, "action_failed": ipc.ErrActionFailed} {
		if errors.Is(err, s) {
			is = name
		}
	}
	return map[string]any{"is": is, "error": err.Error()}
}

// remote returns the outcome of a write or call that the module action id
// makes; it checks that the error matches is and names names.
func (r *running) remote(t *testing.T, is string, names []string, id string, args ...any) string {
	t.Helper()
	o := r.call(t, id, args...).(map[string]any)
	msg := o["error"].(string)
	if o["is"] != is || !utf8.ValidString(msg) {
		t.Fatalf("%s%v: %v, want an error matching %s", id, args, o, is)
	}
	for _, n := range names {
		if !strings.Contains(msg, n) {
			t.Fatalf("%s%v: %q does not name %s", id, args, msg, n)
		}
	}
	return msg
}

// spoofModule claims, once the application runs, ids other modules own,
// and publishes on them.
func spoofModule() kervi.Module {
	return kervi.Module{Name: "spoof", Setup: func(ctx context.Context, b *ipc.Bus) error {
		marker := values.NewNumber(b, "spoof.marker", "Marker", values.Output())
		var mu sync.Mutex
		var count *values.Number
		var state *values.String
		marks := 0
		reg := register(b)
		reg("spoof.claim", func() error {
			mu.Lock()
			defer mu.Unlock()
			if count = values.NewNumber(b, "src.count", "Count", values.Output()); count.Err() != nil {
				return count.Err()
			}
			state = values.NewString(b, kervi.ModuleStateID("src"), "src", values.Output())
			return state.Err()
		})
		// publish publishes n spoofed counts (1000 and up) and a spoofed
		// module state, then its own marker, whose number it returns.
		reg("spoof.publish", func(n int) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			for i := range n {
				if err := count.Set(float64(1000 + i)); err != nil {
					return 0, err
				}
			}
			if err := state.Set("spoofed"); err != nil {
				return 0, err
			}
			marks++
			return marks, marker.Set(float64(marks))
		})
		return nil
	}}
}

// status returns the status of module.
func status(t *testing.T, app *kervi.Application, module string) kervi.ModuleStatus {
	t.Helper()
	for _, s := range app.Modules() {
		if s.Name == module {
			return s
		}
	}
	t.Fatalf("no module %q", module)
	return kervi.ModuleStatus{}
}

// checkUp checks that module is ready, in the process it had, never
// restarted, and answers.
func (r *running) checkUp(t *testing.T, module string, pid int) {
	t.Helper()
	s := status(t, r.app, module)
	if s.State != kervi.StateReady || s.Restarts != 0 || s.PID != pid {
		t.Fatalf("module %s: %+v, want ready in pid %d, never restarted", module, s, pid)
	}
	if got := r.call(t, module+".pid"); got != int64(pid) {
		t.Fatalf("%s.pid = %v, want %d", module, got, pid)
	}
}

// callErr calls id and returns its error, failing the test on success.
func (r *running) callErr(t *testing.T, id string, args ...any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	res, err := r.app.Bus().Call(ctx, id, args...)
	if err == nil {
		t.Fatalf("%s returned %v, want an error", id, res)
	}
	return err
}

// setErr sets id from the parent and returns the error.
func (r *running) setErr(id string, v any) error {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	return r.app.Bus().Set(ctx, id, v)
}

// pids returns the pid of every module.
func (r *running) pids() map[string]int {
	out := map[string]int{}
	for _, s := range r.app.Modules() {
		out[s.Name] = s.PID
	}
	return out
}

func TestInvalidUTF8IsRefusedWhereItEnters(t *testing.T) {
	r := startApp(t, "badinput")
	pids := r.pids()
	bus := r.app.Bus()

	// An argument: refused at the caller, naming the action.
	err := r.callErr(t, "src.echo", invalid)
	if !errors.Is(err, ipc.ErrBadArgs) || !strings.Contains(err.Error(), `"src.echo"`) || !utf8.ValidString(err.Error()) {
		t.Fatalf("call with an invalid argument: %v", err)
	}
	err = r.callErr(t, "src.echo", map[string]any{"k": []any{1, invalid}})
	if !errors.Is(err, ipc.ErrBadArgs) || !strings.Contains(err.Error(), `"src.echo"`) {
		t.Fatalf("call with an invalid nested argument: %v", err)
	}
	// A result: the caller gets an error; the module lives on.
	err = r.callErr(t, "src.bad_result")
	if !errors.Is(err, ipc.ErrActionFailed) || !strings.Contains(err.Error(), `"src.bad_result"`) || !utf8.ValidString(err.Error()) {
		t.Fatalf("invalid result: %v", err)
	}
	r.checkUp(t, "src", pids["src"])
	// An error message from user code: made valid, the rest kept.
	err = r.callErr(t, "src.bad_error")
	if !errors.Is(err, ipc.ErrActionFailed) || !strings.Contains(err.Error(), "valve caf\uFFFD stuck") {
		t.Fatalf("invalid error message: %q", err)
	}
	// The same from one module process to another, through the hub.
	r.remote(t, "bad_args", []string{`"src.echo"`}, "watch.call_invalid", "src.echo")
	r.remote(t, "action_failed", []string{`"src.bad_result"`}, "watch.call", "src.bad_result")
	r.remote(t, "action_failed", []string{"valve caf\uFFFD stuck"}, "watch.call", "src.bad_error")
	r.checkUp(t, "src", pids["src"])

	// A string value: refused with ErrWrongType naming the id, from the
	// parent and from another module process; no subscriber sees it.
	if err := r.setErr("src.text", invalid); !errors.Is(err, ipc.ErrWrongType) || !strings.Contains(err.Error(), `"src.text"`) {
		t.Fatalf("set to invalid text: %v", err)
	}
	r.remote(t, "wrong_type", []string{`"src.text"`}, "watch.set_invalid", "src.text")
	if err := r.setErr("src.text", "café"); err != nil {
		t.Fatal(err)
	}
	r.call(t, "watch.wait_text", "src.text", "café")

	// A burst: an event, a call and a write that are refused, another
	// event. The refusals fail alone: both events arrive.
	res := r.call(t, "src.burst", "b1").(map[string]any)
	if res["call_bad_args"] != true || res["set_wrong_type"] != true {
		t.Fatalf("burst: %v", res)
	}
	for _, k := range []string{"call", "set"} {
		if s := res[k].(string); !utf8.ValidString(s) || !strings.Contains(s, map[string]string{"call": `"watch.note"`, "set": `"src.events"`}[k]) {
			t.Fatalf("burst: %s error %q", k, s)
		}
	}
	h := r.call(t, "watch.wait_text", "src.events", "b1:after").([]any)
	if len(h) < 2 || h[len(h)-2] != "b1:before" {
		t.Fatalf("the subscriber saw %q, want b1:before then b1:after", h)
	}
	if n := r.call(t, "watch.bad_text"); n != int64(0) {
		t.Fatalf("the subscriber saw %v texts that are not valid UTF-8", n)
	}
	if ev, ok := bus.Last("src.text"); ok && !utf8.ValidString(ev.Value.Text()) {
		t.Fatalf("the parent's last src.text is %q", ev.Value.Text())
	}

	for _, m := range []string{"src", "watch"} {
		r.checkUp(t, m, pids[m])
	}
}

// A component whose name, unit or option is not valid UTF-8, or whose
// description is larger than the size limit, fails its module's setup,
// with the setup's error.
func TestBadComponentFailsSetup(t *testing.T) {
	for _, name := range []string{"value-name", "value-unit", "enum-option", "action-name", "string-initial", "enum-size"} {
		t.Run(name, func(t *testing.T) {
			err := runToEnd(t, "bad-"+name)
			var me *kervi.ModuleError
			if !errors.As(err, &me) || me.Module != "gadget" || !errors.Is(err, kervi.ErrSetupFailed) {
				t.Fatalf("Run = %v, want a *ModuleError of module gadget matching ErrSetupFailed", err)
			}
			what := "UTF-8"
			if strings.HasSuffix(name, "-size") {
				what = "larger than the limit"
			}
			if !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), `"gadget.`) {
				t.Fatalf("the error does not say what is wrong: %v", err)
			}
		})
	}
}

// kervi's own error text cut strings by bytes, which made invalid UTF-8
// out of a valid argument, and failed the module.
func TestErrorTextCutsAtRunes(t *testing.T) {
	r := startApp(t, "badinput")
	pid := r.pids()["src"]
	arg := strings.Repeat("é", 30)
	for i := range 6 {
		err := r.callErr(t, "src.add", arg, 1)
		if !errors.Is(err, ipc.ErrBadArgs) || !utf8.ValidString(err.Error()) || !strings.Contains(err.Error(), "éé") {
			t.Fatalf("call %d: %q", i+1, err)
		}
	}
	r.checkUp(t, "src", pid)
	if got := r.call(t, "src.add", 2, 3); got != int64(5) {
		t.Fatalf("src.add = %v", got)
	}
}

// A module that prints a line longer than the parent read at once (1 MiB)
// keeps running: the parent read nothing more of its stdout after such a
// line, so the module's next write blocked for ever.
func TestLongOutputLines(t *testing.T) {
	r := startApp(t, "badinput")
	pid := r.pids()["src"]
	for i := range 3 {
		tag := fmt.Sprintf("printed %d", i)
		r.call(t, "src.print", 2<<20, tag)
		r.logs.waitFor(t, "INFO "+tag, "module=src", "stream=stdout")
		r.logs.waitFor(t, tag+" on stderr", "module=src", "stream=stderr")
	}
	r.checkUp(t, "src", pid)
}

// sizeIn returns the sizes in bytes err names.
func sizeIn(err error) []int {
	var out []int
	for _, m := range regexp.MustCompile(`(\d+) bytes`).FindAllStringSubmatch(err.Error(), -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

func TestMessagesOverTheLimitAreRefused(t *testing.T) {
	const limit = 1 << 20
	r := startApp(t, "badinput", kervi.WithLimits(ipc.Limits{MaxMessageSize: limit}))
	pids := r.pids()
	big := strings.Repeat("x", 2*limit)

	// Arguments: refused at once at the caller (no module answered),
	// naming the id and the size.
	err := r.callErr(t, "src.echo", big)
	if sizes := sizeIn(err); !errors.Is(err, ipc.ErrTooLarge) || !strings.Contains(err.Error(), `"src.echo"`) ||
		strings.Contains(err.Error(), "(module") || len(sizes) == 0 || sizes[0] < 2*limit {
		t.Fatalf("call with %d bytes: %v", len(big), err)
	}
	// The same from a module process.
	r.remote(t, "too_large", []string{`"src.echo"`, "bytes"}, "watch.call_big", "src.echo", 2*limit)
	// A result.
	err = r.callErr(t, "src.big_result", 2*limit)
	if !errors.Is(err, ipc.ErrTooLarge) || !strings.Contains(err.Error(), `"src.big_result"`) {
		t.Fatalf("result of %d bytes: %v", 2*limit, err)
	}
	// An error message, and a panic's: cut, with their size.
	for id, is := range map[string]error{"src.big_error": ipc.ErrActionFailed, "src.big_panic": ipc.ErrPanic} {
		err = r.callErr(t, id, 2*limit)
		if msg := err.Error(); !errors.Is(err, is) || len(msg) > 100<<10 || !strings.HasPrefix(msg, `kervi: "`+id+`": `) ||
			!strings.Contains(msg, "xxx…(") || !strings.Contains(msg, " bytes)") {
			t.Fatalf("%s: %.200q (%d bytes)", id, msg, len(msg))
		}
	}
	// A string value: from the parent, and by its owner.
	err = r.setErr("src.text", big)
	if sizes := sizeIn(err); !errors.Is(err, ipc.ErrTooLarge) || !strings.Contains(err.Error(), `"src.text"`) ||
		len(sizes) == 0 || sizes[0] != len(big) {
		t.Fatalf("set of %d bytes: %v", len(big), err)
	}
	r.remote(t, "too_large", []string{`"src.text"`, strconv.Itoa(2 * limit)}, "watch.set_big", "src.text", 2*limit)
	err = r.callErr(t, "src.fill", 2*limit)
	if !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("own write of %d bytes: %v", 2*limit, err)
	}
	// Under the limit, all is well.
	if err := r.setErr("src.text", big[:limit/2]); err != nil {
		t.Fatal(err)
	}
	if got := r.call(t, "src.echo", big[:limit/2]); got != big[:limit/2] {
		t.Fatal("echo of half the limit came back different")
	}
	for _, m := range []string{"src", "watch"} {
		r.checkUp(t, m, pids[m])
	}
}

// vmHWM returns the peak resident set size of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatalf("VmHWM line %q", l)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// A burst of large events while the subscriber pauses: the streams
// survive, the subscriber ends on the latest value, and its memory stays
// bounded.
func TestBurstOfLargeEvents(t *testing.T) {
	const n, size = 300, 256 << 10
	// With the default limits: the subscriber stops taking events, so after
	// the stall timeout its events are coalesced, long before the 75 MiB
	// of the burst could pile up.
	r := startApp(t, "badinput")
	pids := r.pids()
	base := vmHWM(t, pids["watch"])

	r.call(t, "watch.hold") // its next src.big event blocks the subscriber
	if got := r.call(t, "src.flood", n, size); got != int64(n) {
		t.Fatalf("flood = %v", got)
	}
	r.call(t, "watch.blocked")
	// The subscriber stays blocked until its backlog reached the bound and
	// is coalesced (by its own process or by the hub), for 2 s at most:
	// without a bound, the hub sent the burst as one frame then.
	_, coalesced := r.logs.wait(2*time.Second, "coalescing", "module=watch")
	r.call(t, "watch.release")
	h := r.call(t, "watch.wait_text", "src.big", fmt.Sprintf("%05d", n-1)).([]any)
	for i := 1; i < len(h); i++ { // coalesced, but in order
		if h[i].(string) <= h[i-1].(string) {
			t.Fatalf("the subscriber saw %v", h)
		}
	}
	grown := vmHWM(t, pids["watch"]) - base
	t.Logf("the subscriber's peak RSS grew by %.1f MiB (%d events seen)", float64(grown)/(1<<20), len(h))
	if limit := 40 << 20; grown > limit {
		t.Errorf("the subscriber's peak RSS grew by %d MiB, over %d MiB", grown>>20, limit>>20)
	}
	for _, m := range []string{"src", "watch"} {
		r.checkUp(t, m, pids[m])
	}
	if !coalesced {
		t.Fatal("the subscriber's events were not coalesced while it was blocked")
	}
}

// A Number refuses ±Inf unless made with AllowInf, from any process; NaN
// is refused either way.
func TestNumberInfinity(t *testing.T) {
	r := startApp(t, "badinput")
	err := r.setErr("src.temp", math.Inf(1))
	if !errors.Is(err, ipc.ErrOutOfRange) || !strings.Contains(err.Error(), `"src.temp"`) {
		t.Fatalf("set of +Inf: %v", err)
	}
	r.remote(t, "out_of_range", []string{`"src.temp"`, "Inf"}, "watch.set", "src.temp", math.Inf(-1))
	// With AllowInf, a subscriber in another process sees it.
	if err := r.setErr("src.inf", math.Inf(1)); err != nil {
		t.Fatalf("set of +Inf with AllowInf: %v", err)
	}
	r.call(t, "watch.wait_number", "src.inf", math.Inf(1))
	r.remote(t, "nil", nil, "watch.set", "src.inf", math.Inf(-1))
	r.call(t, "watch.wait_number", "src.inf", math.Inf(-1))
	for _, id := range []string{"src.temp", "src.inf"} {
		if err := r.setErr(id, math.NaN()); !errors.Is(err, ipc.ErrWrongType) || !strings.Contains(err.Error(), `"`+id+`"`) {
			t.Fatalf("set of NaN to %s: %v", id, err)
		}
		r.remote(t, "wrong_type", []string{`"` + id + `"`}, "watch.set", id, math.NaN())
	}
	// The subscriber saw no refused content.
	if err := r.setErr("src.temp", 21.5); err != nil {
		t.Fatal(err)
	}
	h := r.call(t, "watch.wait_number", "src.temp", 21.5).([]any)
	for _, x := range h {
		if f := x.(float64); math.IsInf(f, 0) || math.IsNaN(f) {
			t.Fatalf("the subscriber saw %v", h)
		}
	}
}

// Only the owner of an id publishes it: events another module publishes
// on it never reach subscribers, nor do writes of the module state values.
func TestSpoofedEventsAreRefused(t *testing.T) {
	r := startApp(t, "badinput")
	r.call(t, "src.count_to", 1, 3)
	r.call(t, "watch.wait_number", "src.count", 3)
	var mu sync.Mutex
	var inParent []float64 // what a subscriber in the parent sees
	if _, err := r.app.Bus().Subscribe("src.count", func(ev ipc.Event) {
		mu.Lock()
		inParent = append(inParent, ev.Value.Number())
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}

	// spoof claims src.count and src's state value once the application
	// runs (the hub refuses the claims), and publishes on them.
	r.call(t, "spoof.claim")
	mark := r.call(t, "spoof.publish", 5)
	// The marker follows the spoofed events on spoof's stream: once the
	// subscriber has it, the hub has handled them.
	r.call(t, "watch.wait_number", "spoof.marker", mark)
	// The owner's events keep flowing.
	r.call(t, "src.count_to", 4, 6)
	mark = r.call(t, "spoof.publish", 5) // once more, in the flow
	r.call(t, "src.count_to", 7, 9)
	r.call(t, "watch.wait_number", "spoof.marker", mark)
	h := r.call(t, "watch.wait_number", "src.count", 9).([]any)
	for i, x := range h {
		if x != float64(i) {
			t.Fatalf("the subscriber of src.count saw %v, want 0 to 9", h)
		}
	}
	mu.Lock()
	for _, x := range inParent {
		if x >= 1000 {
			t.Errorf("the subscriber of src.count in the parent saw %v", inParent)
			break
		}
	}
	mu.Unlock()
	h = r.call(t, "watch.wait_text", kervi.ModuleStateID("src"), "ready").([]any)
	for _, x := range h {
		if x == "spoofed" {
			t.Fatalf("the subscriber of %s saw %v", kervi.ModuleStateID("src"), h)
		}
	}
	r.logs.waitFor(t, "duplicate id", `"src.count"`, `"spoof"`)
	r.logs.waitFor(t, "event refused", "module=spoof", `id="src.count"`)
	r.logs.waitFor(t, "event refused", "module=spoof", `id="`+kervi.ModuleStateID("src")+`"`)
	if ev, ok := r.app.Bus().Last(kervi.ModuleStateID("src")); !ok || ev.Value.Text() != "ready" {
		t.Fatalf("the parent's state value of src: %v %v", ev, ok)
	}
	if st := status(t, r.app, "src"); st.State != kervi.StateReady {
		t.Fatalf("src: %+v", st)
	}
	// Nobody but the parent writes a module state value.
	if err := r.setErr(kervi.ModuleStateID("src"), "failed"); !errors.Is(err, ipc.ErrNotSettable) {
		t.Fatalf("set of a module state value from the parent: %v", err)
	}
	r.remote(t, "not_settable", []string{`"` + kervi.ModuleStateID("src") + `"`}, "watch.set", kervi.ModuleStateID("src"), "failed")
}

// The module state values agree with Modules after every transition.
func TestModuleStateValuesAgreeWithModules(t *testing.T) {
	var mu sync.Mutex
	var mismatches []string
	seen := map[kervi.ModuleState]int{}
	t.Cleanup(func() { // after the application stopped: its last transitions too
		mu.Lock()
		defer mu.Unlock()
		if len(mismatches) > 0 {
			t.Errorf("state values disagreed with the status: %q", mismatches)
		}
		if seen[kervi.StateStopped] != 1 {
			t.Errorf("transitions seen: %v", seen)
		}
	})
	r := startAppStates(t, "badinput", func(app *kervi.Application, s kervi.ModuleStatus) {
		ev, ok := app.Bus().Last(kervi.ModuleStateID(s.Name))
		mu.Lock()
		defer mu.Unlock()
		if s.Name == "src" {
			seen[s.State]++
		}
		if !ok || ev.Value.Text() != s.State.String() {
			mismatches = append(mismatches, fmt.Sprintf("%s is %v, its value %q", s.Name, s.State, ev.Value.Text()))
		}
	})
	for i := range 3 {
		pid := status(t, r.app, "src").PID
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		r.waitState(t, "src", kervi.StateRestarting)
		if st := r.waitState(t, "src", kervi.StateReady); st.Restarts != i+1 || st.PID == pid {
			t.Fatalf("after kill %d: %+v", i+1, st)
		}
	}
	r.call(t, "watch.wait_text", kervi.ModuleStateID("src"), "ready")
	for _, s := range r.app.Modules() {
		if ev, ok := r.app.Bus().Last(kervi.ModuleStateID(s.Name)); !ok || ev.Value.Text() != s.State.String() {
			t.Errorf("module %s is %v, its state value %v", s.Name, s.State, ev.Value)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(mismatches) > 0 {
		t.Errorf("state values disagreed with the status: %q", mismatches)
	}
	if seen[kervi.StateRestarting] < 3 || seen[kervi.StateStarting] < 4 || seen[kervi.StateReady] < 4 {
		t.Errorf("transitions seen: %v", seen)
	}
}

// Calls and sets to ids nobody owns, and to ids too long to be ids, leave
// the hub's memory where it was.
func TestDirectoryIsBounded(t *testing.T) {
	r := startApp(t, "badinput")
	bus := r.app.Bus()
	for _, id := range []string{"", "has space", "caf\xe9", strings.Repeat("a", ipc.MaxIDLength+1)} {
		if _, err := bus.Call(r.ctx, id); !errors.Is(err, ipc.ErrInvalidID) {
			t.Errorf("Call(%.20q): %v", id, err)
		}
		if err := bus.Set(r.ctx, id, 1); !errors.Is(err, ipc.ErrInvalidID) {
			t.Errorf("Set(%.20q): %v", id, err)
		}
	}

	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	r.call(t, "watch.hammer", 1000, 8) // warm up what grows once
	before := heap()
	n := hammerCalls
	t0 := time.Now()
	res := r.call(t, "watch.hammer", n, 16).(map[string]any)
	t.Logf("%d calls and sets in %v", n, time.Since(t0).Round(time.Millisecond))
	after := heap()
	grown := int64(after) - int64(before)
	t.Logf("the parent's heap grew by %.2f MiB", float64(grown)/(1<<20))
	if grown > 4<<20 {
		t.Errorf("the parent's heap grew by %.1f MiB", float64(grown)/(1<<20))
	}
	if res["unknown"] != int64(n) || res["invalid"] != int64(10) {
		t.Fatalf("hammer: %v", res)
	}
	if l := res["longest"].(int64); l > 1000 {
		t.Fatalf("an error about a 10 MiB id is %d bytes long", l)
	}
	r.checkUp(t, "watch", r.pids()["watch"])
}
