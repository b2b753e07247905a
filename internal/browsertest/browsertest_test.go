package browsertest_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/kervi/kervi-go/internal/browsertest"
)

// A page loads, its script runs, Wait sees what it does and TryWait gives
// up at its deadline.
func TestPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>t</title><p id="x">0</p>
<script>let n = 0; setInterval(() => { document.getElementById("x").textContent = String(++n) }, 10)</script>`))
	}))
	defer srv.Close()
	p := browsertest.New(t)
	p.Do(10*time.Second, chromedp.Navigate(srv.URL))
	n := browsertest.Wait[string](p, 5*time.Second, "the counter to pass 3", `(() => { const v = document.getElementById("x").textContent; return Number(v) > 3 && v })()`)
	if n == "" {
		t.Fatal("Wait returned no value")
	}
	if got := browsertest.Eval[string](p, `document.title`); got != "t" {
		t.Errorf("title %q; want t", got)
	}
	start := time.Now()
	_, err := browsertest.TryWait[bool](p, 200*time.Millisecond, `false`)
	if !errors.Is(err, browsertest.ErrTimeout) {
		t.Errorf("TryWait of false: %v; want ErrTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("TryWait of 200ms took %v", d)
	}
}

// An exception that nothing catches is reported.
func TestException(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><script>setTimeout(() => { document.title = "thrown"; throw new Error("boom") }, 10)</script>`))
	}))
	defer srv.Close()
	p := browsertest.New(t)
	p.Do(10*time.Second, chromedp.Navigate(srv.URL))
	browsertest.Wait[bool](p, 5*time.Second, "the script to throw", `document.title === "thrown"`)
	var ex []chromedp.ConsoleMessage
	for deadline := time.Now().Add(5 * time.Second); len(ex) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no exception reported; console: %v", p.Console())
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline: the event may follow the title
		ex = p.TakeExceptions()
	}
	if len(ex) != 1 || !strings.Contains(ex[0].Text, "boom") {
		t.Errorf("exceptions %v; want the one thrown", ex)
	}
}

// With no browser, a test is skipped; with the browser required, it
// fails. The test binary runs TestPage again with a browser that does not
// exist.
func TestRequired(t *testing.T) {
	run := func(require string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPage$", "-test.v")
		cmd.Env = append(os.Environ(), browsertest.EnvChrome+"=/nonexistent/chromium", browsertest.EnvRequire+"="+require)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("")
	if err != nil || !strings.Contains(out, "--- SKIP: TestPage") {
		t.Errorf("without a browser: %v\n%s\nwant TestPage skipped", err, out)
	}
	out, err = run("1")
	if err == nil || !strings.Contains(out, "--- FAIL: TestPage") || !strings.Contains(out, "/nonexistent/chromium") {
		t.Errorf("without a browser, required: %v\n%s\nwant TestPage failed naming the browser", err, out)
	}
}
