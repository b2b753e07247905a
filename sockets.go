package kervi

import (
	"errors"
	"fmt"
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
//
// A module's socket is two levels further down (go-plugin's
// plugin-dir<random>/plugin<random>), and a unix socket's path has at most
// 107 bytes: the directory's name keeps at most 16 bytes of the
// application's name, and a temporary directory too long for the sockets
// is an error that says so, rather than a module that cannot listen.
func makeSocketDir(app string, log *slog.Logger) (string, error) {
	sweepSocketDirs(os.TempDir(), log)
	dir, err := os.MkdirTemp("", "kervi-"+dirName(app)+"-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", err
	}
	if n := len(dir) + len("/plugin-dir0123456789/plugin0123456789"); n > maxSocketPath {
		_ = os.Remove(dir)
		return "", fmt.Errorf("the module sockets' paths under %s would be up to %d bytes long, and unix sockets allow %d: set TMPDIR to a shorter directory",
			os.TempDir(), n, maxSocketPath)
	}
	return dir, nil
}

// maxSocketPath is the longest path of a unix socket (sun_path, without
// its terminating zero).
const maxSocketPath = 107

// dirName returns what a socket directory's name keeps of an application's
// name: at most 16 bytes of its letters, digits, '.', '_' and '-'.
func dirName(app string) string {
	var b strings.Builder
	for _, r := range app {
		if b.Len() == 16 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r) {
			b.WriteRune(r)
		}
	}
	return b.String()
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
