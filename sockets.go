package kervi

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// makeSocketDir makes the private directory under which module processes
// put their sockets: kervi-<app>-<pid>-<random> in the temporary
// directory. It is removed when Run returns; a module process whose parent
// was killed removes it too. Directories left by an application's earlier
// parents that were killed before either could happen (their pid is no
// longer running) are removed first.
func makeSocketDir(app string, log *slog.Logger) (string, error) {
	sweepSocketDirs(os.TempDir(), log)
	return os.MkdirTemp("", "kervi-"+app+"-"+strconv.Itoa(os.Getpid())+"-")
}

// sweepSocketDirs removes the socket directories in dir whose parent
// process is gone. Only directories of this user, named as makeSocketDir
// names them, are touched.
func sweepSocketDirs(dir string, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "kervi-") {
			continue
		}
		parts := strings.Split(name, "-")
		if len(parts) < 4 {
			continue
		}
		pid, err := strconv.Atoi(parts[len(parts)-2])
		if err != nil || pid <= 0 || pid == os.Getpid() || alive(pid) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if st, ok := info.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err == nil {
			log.Info("removed the socket directory of an application that was killed", "dir", filepath.Join(dir, name))
		}
	}
}

// alive reports whether a process pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
