package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// static is the single-page application: index.html, app.js, app.css and
// the vendored uPlot (vendor/uplot, with its MIT licence). It is plain
// JavaScript and CSS, with no build step. uPlot is version 1.6.32, the files
// dist/uPlot.iife.min.js and dist/uPlot.min.css of `npm pack uplot@1.6.32`,
// unchanged.
//
//go:embed static
var static embed.FS

// contentTypes are the types of the application's files, whatever the
// system's MIME table says.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	"":      "text/plain; charset=utf-8", // LICENSE
}

// staticFile is a file of the application, read once.
type staticFile struct {
	data []byte
	etag string
}

var (
	staticOnce  sync.Once
	staticFiles map[string]staticFile // by name, such as "app.js"
)

// loadStatic reads every embedded file and its ETag (a hash of its
// content).
func loadStatic() {
	staticFiles = make(map[string]staticFile)
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // cannot happen: the directory is embedded
	}
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		staticFiles[name] = staticFile{data: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // cannot happen: embedded files can be read
	}
}

// staticName returns the file that the URL path p names: index.html for
// "/", and "" for a path that names no file (a directory, a parent, a
// backslash or a NUL).
func staticName(p string) string {
	if p == "/" || p == "" {
		return "index.html"
	}
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return ""
	}
	name := p[1:]
	if !fs.ValidPath(name) || path.Clean(name) != name {
		return "" // "..", ".", empty elements, a trailing slash
	}
	return name
}

// serveStatic serves the application's files on GET and HEAD of any path
// outside /api/; an unknown path under /api/ is a 404 whatever the method.
// Files are revalidated (Cache-Control: no-cache) by their
// ETag, so a new binary's files are used at once.
func (s *Server) serveStatic(c echo.Context) error {
	r := c.Request()
	if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
		return echo.ErrNotFound
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return echo.ErrMethodNotAllowed
	}
	// An encoded slash or backslash is never part of a file's name.
	if raw := strings.ToLower(r.URL.EscapedPath()); strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") {
		return echo.ErrNotFound
	}
	staticOnce.Do(loadStatic)
	name := staticName(r.URL.Path)
	f, ok := staticFiles[name]
	if name == "" || !ok {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if name == "index.html" {
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "+
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
	}
	if ct, ok := contentTypes[path.Ext(name)]; ok {
		h.Set("Content-Type", ct)
	}
	// ServeContent answers If-None-Match with 304, and sets Content-Type
	// from the system's table when it is not set.
	http.ServeContent(c.Response(), r, name, time.Time{}, bytes.NewReader(f.data))
	return nil
}
