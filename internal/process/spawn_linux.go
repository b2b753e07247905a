package process

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// sysProcAttr puts a module process in its own process group (a Ctrl-C at
// the terminal reaches only the parent, which stops the modules in order)
// and has the kernel send it SIGTERM when the parent dies, even by
// SIGKILL: the module then runs its stop hooks (an actuator goes to its
// safe state) and exits within its stop timeout (see Serve).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// Pdeathsig fires when the thread that forked the child exits, not the
// process. Go threads can exit (a goroutine that locked its thread and
// returned takes it along), so children are started from one goroutine
// locked to its thread for the life of the process. It starts on the
// first launch, never at init.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}

// killGroup kills the module process and any processes it started.
func killGroup(pid int) error {
	return syscall.Kill(-pid, syscall.SIGKILL)
}
