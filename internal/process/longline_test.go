//go:build unix

package process

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A line longer than any buffer does not stop the runner from reading the
// module's stdout (which would block the module's next write for ever):
// it arrives in pieces, and the lines after it arrive.
func TestRunnerReadsPastLongLines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a blocked writer is killed
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `echo "1|1|unix|/tmp/s|grpc|"; head -c 3000000 /dev/zero | tr '\0' x; echo; echo after`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	handshake, output, _ := runFiltered(t, cmd)
	if string(handshake) != "1|1|unix|/tmp/s|grpc|\n" {
		t.Fatalf("go-plugin would read %q", handshake)
	}
	n := 0
	for _, l := range output[:len(output)-1] {
		if strings.Trim(l, "x") != "" {
			t.Fatalf("a piece of the long line holds %.40q", l)
		}
		n += len(l)
	}
	if n != 3000000 || output[len(output)-1] != "after" {
		t.Fatalf("read %d bytes of the long line, then %q", n, output[len(output)-1])
	}
}
