package kervi_test

// What a module process logs, as the parent's console shows it.

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/logx"
	"github.com/kervi/kervi-go/ipc"
)

func init() {
	// "logs": a module whose actions log typed attributes, and panic.
	testApps["logs"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{{Name: "gadget", Setup: func(ctx context.Context, b *ipc.Bus) error {
			actions.Register(b, "gadget.log", func() {
				b.Logger().Warn("sensor read failed", "sensor", "bme280", "retry_in", 500*time.Millisecond,
					"label", ipc.StringValue("living room"), "color", ipc.ColorValue("#ff0000"))
			})
			actions.Register(b, "gadget.panic", func() { panic("gear slipped") })
			return nil
		}}}, opts...)
	}
	// "logs-exit": a module that logs an error and exits before it is ready.
	testApps["logs-exit"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{{Name: "broken", Setup: func(ctx context.Context, b *ipc.Bus) error {
			b.Logger().Error("setup failed", "error", errors.New("sensor bme280 not found"), "retry_in", 2*time.Second)
			os.Exit(7)
			return nil
		}}}, opts...)
	}
}

// consoleBuffer collects a console logger's output and tells of each write.
type consoleBuffer struct {
	lockedBuffer
	wrote chan struct{}
}

func newConsoleBuffer() *consoleBuffer { return &consoleBuffer{wrote: make(chan struct{}, 1)} }

func (c *consoleBuffer) Write(p []byte) (int, error) {
	n, err := c.lockedBuffer.Write(p)
	select {
	case c.wrote <- struct{}{}:
	default:
	}
	return n, err
}

// waitFor waits until the output contains s.
func (c *consoleBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(c.String(), s) {
		select {
		case <-c.wrote:
		case <-deadline:
			t.Fatalf("the console never showed %q; it shows:\n%s", s, c.String())
		}
	}
}

func TestModuleLogs(t *testing.T) {
	t.Run("console", func(t *testing.T) {
		out := newConsoleBuffer()
		app, err := buildApp("logs", kervi.WithLogger(slog.New(logx.NewConsole(out, slog.LevelDebug))))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		errc := make(chan error, 1)
		go func() { errc <- app.Run(runCtx) }()
		select {
		case <-app.Ready():
		case err := <-errc:
			t.Fatalf("Run returned before ready: %v", err)
		case <-ctx.Done():
			t.Fatal("application not ready")
		}
		cctx := ipc.NewContext(ctx, app.Bus())
		if _, err := actions.Call(cctx, "gadget.log"); err != nil {
			t.Fatal(err)
		}
		if _, err := actions.Call(cctx, "gadget.panic"); !errors.Is(err, ipc.ErrPanic) {
			t.Fatalf("gadget.panic: %v", err)
		}
		out.waitFor(t, `action panicked action=gadget.panic panic="gear slipped"`)
		stop()
		if err := <-errc; err != nil {
			t.Fatalf("Run: %v", err)
		}
		got := out.String()
		t.Log("console:\n" + got)

		if !strings.Contains(got, `WARN  [gadget] sensor read failed sensor=bme280 retry_in=500ms label="living room" color=#ff0000`+"\n") {
			t.Error("the duration or the values are not shown as they are")
		}
		// The panic's stack: once, as a block of real lines after the record.
		if n := strings.Count(got, "[running]:"); n != 1 {
			t.Errorf("the stack shows %d times", n)
		}
		if strings.Contains(got, `\n`) || strings.Contains(got, `\t`) || strings.Contains(got, `\"`) {
			t.Error("the console shows escaped text")
		}
		lines := strings.Split(got, "\n")
		for i, l := range lines {
			if strings.HasSuffix(l, `ERROR [gadget] action panicked action=gadget.panic panic="gear slipped"`) {
				if i+3 >= len(lines) || lines[i+1] != "  stack:" || !strings.HasPrefix(lines[i+2], "    goroutine ") ||
					!strings.HasPrefix(lines[i+3], "    ") {
					t.Errorf("no stack block after the panic's record (line %d)", i+1)
				}
			}
		}
	})

	t.Run("exit before ready", func(t *testing.T) {
		out := newConsoleBuffer()
		app, err := buildApp("logs-exit", kervi.WithLogger(slog.New(logx.NewConsole(out, slog.LevelDebug))))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = app.Run(ctx)
		var me *kervi.ModuleError
		if !errors.As(err, &me) || me.ExitCode != 7 {
			t.Fatalf("Run = %v, want a *ModuleError with exit code 7", err)
		}
		const want = `ERROR setup failed error="sensor bme280 not found" retry_in=2s`
		found := false
		for _, l := range me.Stderr {
			found = found || l == want
			if strings.ContainsAny(l, "{}") || strings.Contains(l, `"msg":`) {
				t.Errorf("stderr line %q is JSON", l)
			}
		}
		if !found {
			t.Errorf("stderr tail %q lacks %q", me.Stderr, want)
		}
		if !strings.Contains(out.String(), `ERROR [broken] setup failed error="sensor bme280 not found" retry_in=2s`+"\n") {
			t.Errorf("the console shows:\n%s", out.String())
		}
		t.Log("error:\n" + err.Error())
	})
}
