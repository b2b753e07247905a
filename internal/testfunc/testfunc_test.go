// Package testfunc_test is a user's test binary that runs a multi-process
// application from a test function instead of from TestMain, which is not
// supported: the module processes (this test binary again) would run the
// binary's tests before reaching the application. kervi refuses it with an
// error that names the supported pattern.
package testfunc_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunFromTestFunction(t *testing.T) {
	var log syncBuffer
	app, err := kervi.NewApplication([]kervi.Module{{Name: "pump", Setup: func(ctx context.Context, b *ipc.Bus) error {
		actions.Register(b, "pump.run", func() {})
		return nil
	}}}, kervi.WithLogger(slog.New(slog.NewTextHandler(&log, nil))), kervi.WithStartTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	err = app.Run(context.Background())
	if !errors.Is(err, kervi.ErrSetupFailed) || !strings.Contains(err.Error(), "TestMain") ||
		!strings.Contains(err.Error(), "kervi.IsModuleProcess()") {
		t.Fatalf("Run = %v; want a setup error naming the TestMain pattern\nlog:\n%s", err, log.String())
	}
	if strings.Contains(log.String(), "unexpected call to os.Exit") {
		t.Fatalf("a module process panicked:\n%s", log.String())
	}
}
