package ipc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
)

// records is a slog handler that keeps the messages and errors it logs.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	msg := rec.Message
	rec.Attrs(func(a slog.Attr) bool { msg += " " + a.Key + "=" + a.Value.String(); return true })
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	r.mu.Unlock()
	return nil
}

func (r *records) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

// The first error recorded during the setup fails it, as it is; later ones
// are logged.
func TestFailDuringSetup(t *testing.T) {
	h := testbus.New(t)
	logs := &records{}
	b := h.BusWith("m", plumb.BusOptions{Logger: slog.New(logs)})
	first := fmt.Errorf("values: %w", ipc.ErrInvalidID)
	err := h.Setup("m", func(ctx context.Context, b *ipc.Bus) error {
		b.Fail(nil) // ignored
		b.Fail(first)
		b.Fail(errors.New("second"))
		return nil
	})
	if err != first || !errors.Is(err, ipc.ErrInvalidID) {
		t.Fatalf("setup error %v, want the first recorded", err)
	}
	if b.Err() != first {
		t.Fatalf("Err() = %v", b.Err())
	}
	if l := logs.all(); !strings.Contains(l, "another setup error") || !strings.Contains(l, "error=second") {
		t.Fatalf("the second error was not logged:\n%s", l)
	}
}

// An error the setup returns wins over the recorded ones.
func TestSetupErrorWins(t *testing.T) {
	h := testbus.New(t)
	h.Bus("m", nil)
	own := errors.New("no i2c bus")
	err := h.Setup("m", func(ctx context.Context, b *ipc.Bus) error {
		b.Fail(errors.New("recorded"))
		return own
	})
	if err != own {
		t.Fatalf("setup error %v, want the setup's own", err)
	}
}

// An error recorded in a start hook (after the setup returned) fails the
// start too.
func TestFailInStartHook(t *testing.T) {
	h := testbus.New(t)
	h.Bus("m", nil)
	late := errors.New("late")
	err := h.Setup("m", func(ctx context.Context, b *ipc.Bus) error {
		b.OnStart(func(context.Context) error { b.Fail(late); return nil })
		return nil
	})
	if err != late {
		t.Fatalf("setup error %v", err)
	}
}

// Once the module runs, each recorded error goes to the error handler; Err
// keeps the first.
func TestFailAtRunTime(t *testing.T) {
	h := testbus.New(t)
	errs := make(chan error, 10)
	b := h.Bus("m", errs)
	h.Run()
	one, two := errors.New("one"), errors.New("two")
	b.Fail(one)
	b.Fail(two)
	if got := testbus.Wait(t, errs, "first"); got != one {
		t.Fatalf("reported %v", got)
	}
	if got := testbus.Wait(t, errs, "second"); got != two {
		t.Fatalf("reported %v", got)
	}
	if b.Err() != one {
		t.Fatalf("Err() = %v", b.Err())
	}
}
