//go:build !linux

package process

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts a module process in its own process group. Outside
// Linux there is no Pdeathsig: a module process notices its parent's death
// when its stream to the hub breaks.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }

func killGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
