package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStatic: the application's files, with their types and ETags; no file
// outside them, however the path is written.
func TestStatic(t *testing.T) {
	s, _, _ := liveServer(t)
	get := func(method, target string, hdr ...string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, target, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w
	}
	for _, tc := range []struct{ path, ctype, has string }{
		{"/", "text/html; charset=utf-8", "<html"},
		{"/index.html", "text/html; charset=utf-8", "<html"},
		{"/app.js", "text/javascript; charset=utf-8", ""},
		{"/app.css", "text/css; charset=utf-8", ""},
		{"/vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8", "uPlot"},
		{"/vendor/uplot/uPlot.min.css", "text/css; charset=utf-8", ".uplot"},
		{"/vendor/uplot/LICENSE", "", "MIT"},
	} {
		w := get("GET", tc.path)
		if w.Code != 200 || tc.ctype != "" && w.Header().Get("Content-Type") != tc.ctype || !strings.Contains(w.Body.String(), tc.has) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, w.Code, w.Header().Get("Content-Type"), tc.has, strings.Contains(w.Body.String(), tc.has))
			continue
		}
		etag := w.Header().Get("ETag")
		if etag == "" || w.Header().Get("Cache-Control") != "no-cache" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v", tc.path, w.Header())
		}
		if w := get("GET", tc.path, "If-None-Match", etag); w.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", tc.path, w.Code)
		}
		if w := get("HEAD", tc.path); w.Code != 200 || w.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d, %d bytes", tc.path, w.Code, w.Body.Len())
		}
	}
	if csp := get("GET", "/").Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("index.html's Content-Security-Policy: %q", csp)
	}

	// Paths that name no file of the application: 404, never a file of the
	// source tree or of the machine.
	for _, p := range []string{
		"/nope.js", "/static/index.html", "/static.go", "/vendor", "/vendor/", "/vendor/uplot/",
		"/../static.go", "/../../../../etc/passwd", "/vendor/../../static.go", "/./index.html", "/app.js/",
		"/%2e%2e/static.go", "/%2E%2E/%2E%2E/etc/passwd", "/vendor/uplot/%2e%2e/%2e%2e/index.html",
		"/vendor%2fuplot%2fLICENSE", "/vendor%2Fuplot/LICENSE", "/..%2fstatic.go", "/..%5cstatic.go", "/..\\static.go",
		"//etc/passwd", "/etc/passwd", "/%2fetc%2fpasswd", "/index.html%00", "/C:/Windows/win.ini",
		"/vendor/uplot//LICENSE",
	} {
		if w := get("GET", p); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404 (%.60q)", p, w.Code, w.Body.String())
		}
	}
	// An absolute URL in the request line: its path is what counts.
	if w := get("GET", "http://example.com/etc/passwd"); w.Code != http.StatusNotFound {
		t.Errorf("GET http://example.com/etc/passwd: %d", w.Code)
	}
	if w := get("GET", "http://example.com/app.js"); w.Code != 200 {
		t.Errorf("GET http://example.com/app.js: %d", w.Code)
	}

	// Unknown /api/ paths stay JSON 404s, whatever the method.
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		for _, p := range []string{"/api/nope", "/api/", "/api", "/api/index.html"} {
			w := get(m, p)
			var e struct{ Error string }
			if w.Code != http.StatusNotFound || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" {
				t.Errorf("%s %s: %d %q, want a JSON 404", m, p, w.Code, w.Body.String())
			}
		}
	}
	if w := get("POST", "/index.html"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /index.html: %d, want 405", w.Code)
	}
}
