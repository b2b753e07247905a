package process

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/logx"
	"github.com/kervi/kervi-go/ipc"
)

func TestHandshakeLine(t *testing.T) {
	for line, want := range map[string]bool{
		"1|1|unix|/tmp/plugin123/sock|grpc|":        true,
		"1|1|tcp|127.0.0.1:1234|grpc|":              true,
		"hello from the module":                     false,
		"1|1|unix":                                  false,
		"printed 1|1|unix|/tmp/x|grpc| in the text": false,
	} {
		if got := handshakeLine.MatchString(line); got != want {
			t.Errorf("%q: %v, want %v", line, got, want)
		}
	}
}

// runFiltered runs cmd through the runner, and returns what go-plugin
// would read of its stdout and the lines logged as the module's output.
func runFiltered(t *testing.T, cmd *exec.Cmd) (handshake []byte, output []string, r *cmdRunner) {
	t.Helper()
	var mu sync.Mutex
	r = &cmdRunner{cmd: cmd, module: "m", tail: logx.NewTail(5), exited: make(chan struct{}),
		onLine: logx.NewLineWriter(func(l []byte) { mu.Lock(); output = append(output, string(l)); mu.Unlock() })}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	handshake, _ = io.ReadAll(r.Stdout())
	io.Copy(io.Discard, r.Stderr())
	if err := r.Wait(context.Background()); err != nil {
		t.Fatalf("the command: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return handshake, append([]string(nil), output...), r
}

// The runner hands go-plugin only the handshake line of the child's
// stdout; the rest is the module's output.
func TestRunnerFiltersStdout(t *testing.T) {
	cmd := exec.Command("sh", "-c", `echo banner; echo "1|1|unix|/tmp/s|grpc|"; echo after; echo "1|1|unix|/tmp/t|grpc|"`)
	handshake, output, r := runFiltered(t, cmd)
	if string(handshake) != "1|1|unix|/tmp/s|grpc|\n" {
		t.Fatalf("go-plugin would read %q", handshake)
	}
	if strings.Join(output, "|") != "banner|after|1|1|unix|/tmp/t|grpc|" {
		t.Fatalf("module output %q", output)
	}
	if r.state.ExitCode() != 0 || r.pid <= 0 {
		t.Fatalf("state %v pid %d", r.state, r.pid)
	}
}

func TestIsChild(t *testing.T) {
	t.Setenv(EnvModule, "sensors")
	if _, ok := IsChild(); ok {
		t.Fatal("a module name without the cookie makes a module process")
	}
	t.Setenv(Handshake.MagicCookieKey, Handshake.MagicCookieValue)
	if m, ok := IsChild(); !ok || m != "sensors" {
		t.Fatalf("IsChild = %q, %v", m, ok)
	}
}

func TestParentAlive(t *testing.T) {
	t.Setenv(EnvParentPID, "")
	if err := parentAlive(); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvParentPID, "1")
	if os.Getppid() != 1 {
		if err := parentAlive(); err == nil || !strings.Contains(err.Error(), "gone") {
			t.Fatalf("parentAlive = %v", err)
		}
	}
}

// A module's log records reach the parent's log and, as readable text,
// the stderr tail of error reports; other output is kept as it is.
func TestStderrLineKeepsReadableText(t *testing.T) {
	var child, parent bytes.Buffer
	slog.New(logx.NewModuleHandler(&child, slog.LevelInfo)).With(logx.ModuleKey, "m").
		Error("setup failed", "error", errors.New("sensor bme280 not found"))
	h := logx.NewConsole(&parent, slog.LevelInfo)
	tail := logx.NewTail(5)
	handle := stderrLine(h, slog.New(h).With(logx.ModuleKey, "m"), tail)
	handle(bytes.TrimSpace(child.Bytes()))
	handle([]byte("cannot open /dev/i2c-1"))
	want := []string{`ERROR setup failed error="sensor bme280 not found"`, "cannot open /dev/i2c-1"}
	if got := tail.Lines(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("tail %q, want %q", got, want)
	}
	for _, s := range []string{
		`ERROR [m] setup failed error="sensor bme280 not found"` + "\n",
		"WARN  [m] cannot open /dev/i2c-1 stream=stderr\n",
	} {
		if !strings.Contains(parent.String(), s) {
			t.Errorf("parent's log lacks %q:\n%s", s, parent.String())
		}
	}
}

// Module processes get every limit of the application.
func TestLimitsRoundTrip(t *testing.T) {
	l := ipc.Limits{MaxMessageSize: 1 << 20, QueueEvents: 100, QueueBytes: 1 << 22, MaxCalls: 7, MaxIDs: 9, StallTimeout: 150 * time.Millisecond}
	if got := ParseLimits(FormatLimits(l)); got != l {
		t.Fatalf("ParseLimits(FormatLimits(%+v)) = %+v", l, got)
	}
	if got, want := ParseLimits(""), (ipc.Limits{}).WithDefaults(); got != want {
		t.Fatalf("ParseLimits(\"\") = %+v, want the defaults %+v", got, want)
	}
	if got := ParseLimits("garbage,max_calls=-3,stall=x"); got != (ipc.Limits{}).WithDefaults() {
		t.Fatalf("bad input: %+v", got)
	}
}
