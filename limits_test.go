package kervi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

func init() {
	// "gate": calls to gate.wait wait until the parent's value ctl.open is
	// true; gate.waiting counts them. "caller" floods it from its own
	// process.
	testApps["gate"] = func(opts []kervi.Option) (*kervi.Application, error) {
		gate := kervi.Module{Name: "gate", Setup: func(ctx context.Context, b *ipc.Bus) error {
			waiting := values.NewNumber(b, "gate.waiting", "Waiting calls", values.Output(), values.Initial(0))
			var mu sync.Mutex
			n := 0
			open := make(chan struct{})
			var once sync.Once
			if _, err := b.Subscribe("ctl.open", func(ev ipc.Event) {
				if ev.Value.Bool() {
					once.Do(func() { close(open) })
				}
			}); err != nil {
				return err
			}
			actions.Register(b, "gate.wait", func(ctx context.Context) error {
				mu.Lock()
				n++
				waiting.Set(float64(n))
				mu.Unlock()
				select {
				case <-open:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}, actions.WithMode(actions.Concurrent))
			return nil
		}}
		caller := kervi.Module{Name: "caller", Setup: func(ctx context.Context, b *ipc.Bus) error {
			var mu sync.Mutex
			var results []string
			var wg sync.WaitGroup
			actions.Register(b, "caller.flood", func(n int) {
				for range n {
					wg.Go(func() {
						_, err := actions.Call(b.Context(), "gate.wait")
						mu.Lock()
						results = append(results, fmt.Sprint(err))
						mu.Unlock()
					})
				}
			})
			actions.Register(b, "caller.try", func(ctx context.Context) error {
				_, err := actions.Call(ctx, "gate.wait")
				return err
			}, actions.WithMode(actions.Concurrent))
			actions.Register(b, "caller.results", func() []string {
				wg.Wait()
				mu.Lock()
				defer mu.Unlock()
				return results
			}, actions.WithMode(actions.Concurrent))
			return nil
		}}
		return kervi.NewApplication([]kervi.Module{gate, caller}, opts...)
	}
}

// Calls and sets in flight are capped, to a module and from a process:
// beyond the cap they are refused at once with ErrBusy naming the module,
// and the calls in flight are not hurt.
func TestCallsBeyondTheCapAreRefused(t *testing.T) {
	const max = 4
	r := startApp(t, "gate", kervi.WithLimits(ipc.Limits{MaxCalls: max}))
	bus := r.app.Bus()
	open := values.NewBool(bus, "ctl.open", "Open the gate", values.Output(), values.Initial(false))
	if err := open.Err(); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan float64, 100)
	if _, err := bus.Subscribe("gate.waiting", func(ev ipc.Event) { waiting <- ev.Value.Number() }); err != nil {
		t.Fatal(err)
	}
	r.call(t, "caller.flood", max)
	for n := 0.0; n < max; n = waitFor(t, waiting, "the calls to reach the gate") {
	}

	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	// The gate has max calls in flight: one more, from the parent, is
	// refused by the hub.
	_, err := bus.Call(ctx, "gate.wait")
	if !errors.Is(err, ipc.ErrBusy) || !strings.Contains(err.Error(), `module "gate" has 4 calls and sets in flight`) {
		t.Fatalf("a call to a module at its cap: %v", err)
	}
	// The caller has max calls in flight: one more is refused in its own
	// process (the action passes that error on as its failure).
	_, err = bus.Call(ctx, "caller.try")
	if !errors.Is(err, ipc.ErrActionFailed) || !strings.Contains(err.Error(), `module "caller" has 4 calls and sets in flight`) {
		t.Fatalf("a call from a process at its cap: %v", err)
	}
	// Value events are not capped: opening the gate lets the calls return.
	if err := open.Set(true); err != nil {
		t.Fatal(err)
	}
	res := r.call(t, "caller.results").([]any)
	if len(res) != max {
		t.Fatalf("results %v", res)
	}
	for _, e := range res {
		if e != "<nil>" {
			t.Fatalf("a call in flight was hurt: %v", res)
		}
	}
}
