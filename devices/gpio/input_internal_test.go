package gpio

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/testbus"
)

// records keeps the log records of a bus.
type records struct {
	mu  sync.Mutex
	all []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }

func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, rec)
	return nil
}

// messages returns the messages logged at level.
func (r *records) messages(level slog.Level) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, rec := range r.all {
		if rec.Level == level {
			s = append(s, rec.Message)
		}
	}
	return s
}

// errorOf returns the "error" attribute of the i-th record at level.
func (r *records) errorOf(level slog.Level, i int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.all {
		if rec.Level != level {
			continue
		}
		if i--; i >= 0 {
			continue
		}
		var msg string
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				msg = a.Value.String()
				return false
			}
			return true
		})
		return msg
	}
	return ""
}

func TestInputWarnsOncePerRefusal(t *testing.T) {
	h := testbus.New(t)
	logs := &records{}
	b := h.BusWith("io", plumb.BusOptions{Logger: slog.New(logs)})
	p := &gpiotest.Pin{N: "GPIO4", Num: 4, EdgesChan: make(chan gpio.Level)}
	in := NewInput(b, "button", "Button", p)
	if err := in.Err(); err != nil {
		t.Fatal(err)
	}

	// Publications: the first at the start succeeds; then five edges are
	// refused for one reason, one for another, and the last succeeds.
	refused := errors.New("refused: the hub is full")
	other := errors.New("refused: something else")
	results := []error{nil, refused, refused, refused, refused, refused, other, nil}
	calls := make(chan int, len(results))
	var n int // only the input's goroutine (or OnStart before it) calls set
	set := in.set
	in.set = func(v bool) error {
		i := n
		n++
		err := results[i]
		if err == nil {
			err = set(v)
		}
		calls <- i
		return err
	}

	if err := h.Setup("io", nil); err != nil {
		t.Fatal(err)
	}
	if i := testbus.Wait(t, calls, "the first publication"); i != 0 {
		t.Fatalf("call %d, want 0", i)
	}
	// Each edge changes the level from the published one (low), so each
	// is published; a refused one leaves the published level low.
	for i := 1; i < len(results); i++ {
		p.EdgesChan <- gpio.High
		if got := testbus.Wait(t, calls, "a publication"); got != i {
			t.Fatalf("call %d, want %d", got, i)
		}
	}
	h.Stop("io") // the input's goroutine has logged all it will

	warns := logs.messages(slog.LevelWarn)
	if len(warns) != 2 {
		t.Fatalf("warnings %q, want 2: one per distinct refusal", warns)
	}
	for i, want := range []error{refused, other} {
		if warns[i] != "gpio input not published" || logs.errorOf(slog.LevelWarn, i) != want.Error() {
			t.Errorf("warning %d: %q, error %q; want %q", i, warns[i], logs.errorOf(slog.LevelWarn, i), want)
		}
	}
	recovered := 0
	for _, m := range logs.messages(slog.LevelInfo) {
		if m == "gpio input published again" {
			recovered++
		}
	}
	if recovered != 1 {
		t.Errorf("%d recoveries logged, want 1", recovered)
	}
	if in.Fault() != nil || !in.Value().Value() {
		t.Errorf("after the last publication: fault %v, value %v", in.Fault(), in.Value().Value())
	}
}
