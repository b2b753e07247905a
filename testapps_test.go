package kervi_test

// The applications of the integration tests. The test binary is also the
// binary of their module processes: TestMain serves a module when kervi
// started the binary as one, building the application named by
// $KERVI_TEST_APP. With $KERVI_TEST_ROLE=parent the binary instead runs
// that application as a whole, with Main, as a user's program would.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

const (
	envApp  = "KERVI_TEST_APP"
	envRole = "KERVI_TEST_ROLE"
	envDir  = "KERVI_TEST_DIR" // where modules write files the tests check
)

func TestMain(m *testing.M) {
	if kervi.IsModuleProcess() {
		// Output before the go-plugin handshake must not break it.
		fmt.Println("module process output before the handshake")
		app, err := buildApp(os.Getenv(envApp))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		app.Run(context.Background()) // never returns in a module process
	}
	switch os.Getenv(envRole) {
	case "parent":
		runParent()
	case "uds-sink":
		udsSink()
	case "uds-relay":
		udsRelay()
	}
	os.Exit(m.Run())
}

// runParent runs an application as a program's main would, printing the
// pids of its module processes once it is ready.
func runParent() {
	app, err := buildApp(os.Getenv(envApp))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go func() {
		<-app.Ready()
		var pids []string
		for _, s := range app.Modules() {
			pids = append(pids, fmt.Sprint(s.PID))
		}
		fmt.Println("PIDS " + strings.Join(pids, " "))
	}()
	app.Main()
}

// buildApp returns the named test application.
func buildApp(name string, extra ...kervi.Option) (*kervi.Application, error) {
	opts := append([]kervi.Option{
		kervi.WithName(name),
		kervi.WithModuleEnv(envApp + "=" + name),
		kervi.WithRestartPolicy(kervi.RestartPolicy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, MaxRestarts: 5, StableAfter: time.Minute}),
	}, extra...)
	switch name {
	case "pair", "pair-inproc":
		if name == "pair-inproc" {
			opts = append(opts, kervi.InProcess())
		}
		return kervi.NewApplication([]kervi.Module{producerModule(0), consumerModule(0)}, opts...)
	case "late-producer":
		return kervi.NewApplication([]kervi.Module{producerModule(300 * time.Millisecond), consumerModule(0)}, opts...)
	case "late-consumer":
		return kervi.NewApplication([]kervi.Module{producerModule(0), consumerModule(300 * time.Millisecond)}, opts...)
	case "bench":
		return kervi.NewApplication(benchModules(), opts...)
	case "duplicate":
		dup := func(ctx context.Context, b *ipc.Bus) error {
			values.NewNumber(b, "shared.temp", "Temperature")
			return nil
		}
		return kervi.NewApplication([]kervi.Module{{Name: "first", Setup: dup}, {Name: "second", Setup: dup}}, opts...)
	case "exits-in-setup":
		return kervi.NewApplication([]kervi.Module{producerModule(0), {Name: "broken", Setup: func(ctx context.Context, b *ipc.Bus) error {
			fmt.Fprintln(os.Stderr, "cannot open /dev/i2c-1: no such device")
			os.Exit(7)
			return nil
		}}}, opts...)
	case "crashloop":
		// "flaky" dies each time the application is ready; "producer" is fine.
		opts = append(opts, kervi.WithRestartPolicy(kervi.RestartPolicy{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, MaxRestarts: 2, StableAfter: time.Minute}))
		return kervi.NewApplication([]kervi.Module{producerModule(0), {Name: "flaky", Setup: func(ctx context.Context, b *ipc.Bus) error {
			b.OnAppReady(func(context.Context) {
				fmt.Fprintln(os.Stderr, "flaky: giving up")
				os.Exit(9)
			})
			return nil
		}}}, opts...)
	case "setup-error":
		return kervi.NewApplication([]kervi.Module{{Name: "broken", Setup: func(ctx context.Context, b *ipc.Bus) error {
			return errors.New("sensor bme280 not found on i2c bus 1")
		}}}, opts...)
	case "shutdown":
		opts = append(opts,
			kervi.WithAppMain(func(ctx context.Context) error {
				_, err := actions.Call(ctx, "recorder.note", "app_main")
				if err == nil {
					fmt.Println("APP_MAIN DONE") // for the test that runs this parent
				}
				return err
			}),
			kervi.WithAppExit(func(ctx context.Context) error {
				_, err := actions.Call(ctx, "recorder.slow_note", "app_exit")
				return err
			}))
		return kervi.NewApplication([]kervi.Module{recorderModule()}, opts...)
	}
	if build := testApps[name]; build != nil {
		return build(opts)
	}
	return nil, fmt.Errorf("no test application %q", name)
}

// testApps holds test applications defined next to the tests that use
// them; their files add them in init.
var testApps = map[string]func(opts []kervi.Option) (*kervi.Application, error){}

// producerModule owns a counter it publishes on demand and actions of
// every kind of outcome. delay postpones its setup, to reorder start-up.
func producerModule(delay time.Duration) kervi.Module {
	return kervi.Module{Name: "producer", Setup: func(ctx context.Context, b *ipc.Bus) error {
		if delay > 0 {
			time.Sleep(delay) // a slow start, not a synchronisation
		}
		fmt.Println("producer setup says hello on stdout")
		counter := values.NewNumber(b, "producer.counter", "Counter", values.Output(), values.Initial(-1))
		setting := values.NewNumber(b, "producer.setting", "Setting", values.Range(0, 100))
		cancelled := values.NewString(b, "producer.cancelled", "Last cancelled call", values.Output())
		blocking := values.NewString(b, "producer.blocking", "Last blocking call", values.Output())
		var mu sync.Mutex
		var streaming context.CancelFunc
		reg := func(id string, fn any, opts ...actions.Option) { actions.Register(b, id, fn, opts...) }
		reg("producer.burst", func(n int) int {
			for i := range n {
				counter.Set(float64(i))
			}
			return n
		})
		// stream publishes the counter continuously until stopped.
		reg("producer.stream", func(on bool) {
			mu.Lock()
			defer mu.Unlock()
			if streaming != nil {
				streaming()
				streaming = nil
			}
			if !on {
				return
			}
			sctx, cancel := context.WithCancel(b.Context())
			streaming = cancel
			b.Go(func(context.Context) {
				for i := 0; sctx.Err() == nil; i++ {
					counter.Set(float64(i))
					if i%64 == 0 {
						time.Sleep(100 * time.Microsecond) // pace the load
					}
				}
			})
		})
		reg("producer.echo", func(x any) any { return x })
		reg("producer.add", func(a, b float64) float64 { return a + b })
		reg("producer.fail", func() error { return errors.New("valve stuck") })
		reg("producer.panic", func() { panic("gear slipped") })
		reg("producer.pid", func() int { return os.Getpid() })
		reg("producer.get_setting", func() float64 { return setting.Value() }, actions.Name("read setting"), actions.WithMode(actions.Concurrent))
		reg("producer.block", func(ctx context.Context, tag string) error {
			blocking.Set(tag)
			<-ctx.Done()
			cancelled.Set(tag + ": " + ctx.Err().Error())
			return ctx.Err()
		}, actions.WithMode(actions.Concurrent))
		reg("producer.print", func(s string) {
			fmt.Println(s)                           // os.Stdout, after the handshake
			syscall.Write(1, []byte("fd1: "+s+"\n")) // straight to file descriptor 1
			fmt.Fprintln(os.Stderr, "stderr: "+s)    // os.Stderr
		})
		return nil
	}}
}

// consumerModule links an input to the producer's counter and checks that
// the events arrive complete and in order.
func consumerModule(delay time.Duration) kervi.Module {
	return kervi.Module{Name: "consumer", Setup: func(ctx context.Context, b *ipc.Bus) error {
		if delay > 0 {
			time.Sleep(delay)
		}
		in := values.NewNumber(b, "consumer.in", "In")
		var mu sync.Mutex
		var count, gaps, back int
		last := -2.0
		changed := make(chan struct{}, 1)
		in.OnChange(func(ctx context.Context, v float64) {
			mu.Lock()
			count++
			// A restart of the stream begins at 0 (after the initial -1); a
			// restarted producer publishes its last value again.
			if v != last+1 && v != 0 && v != -1 && v != last {
				gaps++
				if v < last {
					back++ // out of order
				}
			}
			last = v
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		})
		if _, err := in.Link("producer.counter", nil); err != nil {
			return err
		}
		stats := func() map[string]any {
			mu.Lock()
			defer mu.Unlock()
			return map[string]any{"count": count, "gaps": gaps, "back": back, "last": last}
		}
		reg := func(id string, fn any) { actions.Register(b, id, fn, actions.WithMode(actions.Concurrent)) }
		reg("consumer.stats", stats)
		reg("consumer.reset", func() {
			mu.Lock()
			count, gaps, back, last = 0, 0, 0, -2
			mu.Unlock()
		})
		// until waits until cond holds for the input's history.
		until := func(ctx context.Context, cond func() bool) (map[string]any, error) {
			for {
				mu.Lock()
				done := cond()
				mu.Unlock()
				if done {
					return stats(), nil
				}
				select {
				case <-changed:
				case <-ctx.Done():
					return nil, fmt.Errorf("consumer at %v: %w", stats(), ctx.Err())
				}
			}
		}
		// wait returns the stats once the input has seen value v.
		reg("consumer.wait", func(ctx context.Context, v float64) (map[string]any, error) {
			return until(ctx, func() bool { return last == v })
		})
		// wait_count returns the stats once the input has seen n events.
		reg("consumer.wait_count", func(ctx context.Context, n int) (map[string]any, error) {
			return until(ctx, func() bool { return count >= n })
		})
		// relay calls an action from this process: child to child.
		reg("consumer.relay", func(ctx context.Context, id string, args []any) (any, error) {
			return actions.Call(ctx, id, args...)
		})
		reg("consumer.pid", func() int { return os.Getpid() })
		return nil
	}}
}

// recorder is a controller that writes what happens to it to files in
// $KERVI_TEST_DIR, so that tests can check it after the processes ended.
type recorder struct {
	*controllers.Controller
	dir string
}

func recorderModule() kervi.Module {
	return kervi.Module{Name: "recorder", Setup: func(ctx context.Context, b *ipc.Bus) error {
		r := &recorder{dir: os.Getenv(envDir)}
		r.Controller = controllers.New(b, "recorder", "Recorder", r)
		r.Action("note", r.note)
		r.Action("slow_note", func(ctx context.Context, what string) error {
			select { // takes a while, as a real device might: Run must wait
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
			return r.note(what)
		})
		return nil
	}}
}

func (r *recorder) note(what string) error {
	f, err := os.OpenFile(r.dir+"/notes", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, what)
	return err
}

// Exit is the controller's exit hook; it runs after app_exit.
func (r *recorder) Exit(ctx context.Context) error { return r.note("exit") }
