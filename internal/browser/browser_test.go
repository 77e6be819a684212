package browser_test

import (
	"bytes"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/vsecure/vsecure/internal/browser"
)

// The tiny pages below stand in for the console: same CSP as the console's
// (no inline script), a form POST, a page taller than the viewport.

const csp = "default-src 'self'; frame-ancestors 'none'"

var formPage = template.Must(template.New("form").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>form</title></head><body>
{{if .}}<p id="result">Hello, {{.}}</p>{{end}}
<form method="post" action="/greet">
  <label for="name">Name</label> <input id="name" name="name">
  <button id="send" type="submit">Send</button>
</form></body></html>`))

// formServer answers GET / with the form and POST /greet with the greeting,
// and records what the browser posted.
func formServer(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var posted []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		_ = formPage.Execute(w, "")
	})
	mux.HandleFunc("POST /greet", func(w http.ResponseWriter, r *http.Request) {
		name := r.PostFormValue("name")
		mu.Lock()
		posted = append(posted, name)
		mu.Unlock()
		w.Header().Set("Content-Security-Policy", csp)
		_ = formPage.Execute(w, name)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), posted...)
	}
}

func TestFormPostRoundTrip(t *testing.T) {
	srv, posted := formServer(t)
	b := browser.Start(t)
	b.Navigate(srv.URL + "/")
	b.Fill("#name", "Ada <Lovelace>")
	b.Click("#send")
	got := b.WaitText("#result", "Hello, Ada <Lovelace>")
	if got != "Hello, Ada <Lovelace>" {
		t.Errorf("result text %q", got)
	}
	if p := posted(); len(p) != 1 || p[0] != "Ada <Lovelace>" {
		t.Errorf("server received %q, want exactly one post of the typed name", p)
	}
	if loc := b.Location(); loc != srv.URL+"/greet" {
		t.Errorf("location after the post %q, want %s/greet", loc, srv.URL)
	}
}

func TestScreenshotIsAFullPagePNG(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		fmt.Fprint(w, `<!doctype html><html lang="en"><head><title>tall</title>`+
			`<link rel="stylesheet" href="/tall.css"></head><body><div id="tall">tall</div></body></html>`)
	})
	// A stylesheet of its own: the CSP refuses inline styles, as the console's does.
	mux.HandleFunc("GET /tall.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		fmt.Fprint(w, `body { margin: 0 } #tall { height: 2000px; background: #036; color: #fff }`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := browser.Start(t)
	b.Navigate(srv.URL + "/")
	path := filepath.Join(t.TempDir(), "shots", "tall.png")
	b.Screenshot(path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	// Full page: the whole 2000px, not the 800px viewport.
	if sz := img.Bounds().Size(); sz.X != 1280 || sz.Y < 2000 {
		t.Errorf("screenshot is %v, want 1280 wide and at least 2000 tall", sz)
	}

	// A phone's viewport: the same page, as narrow as the phone.
	b.Viewport(390, 844)
	b.Screenshot(path)
	if raw, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if img, err = png.Decode(bytes.NewReader(raw)); err != nil {
		t.Fatalf("phone screenshot is not a PNG: %v", err)
	}
	if sz := img.Bounds().Size(); sz.X != 390 || sz.Y < 2000 {
		t.Errorf("phone screenshot is %v, want 390 wide and at least 2000 tall", sz)
	}
}

// TestStartFailsWithoutChromium: without the install's variable the harness
// fails the test and says how to get the browser; it never skips.
func TestStartFailsWithoutChromium(t *testing.T) {
	t.Setenv(browser.EnvChromium, "")
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		browser.Start(ft)
	}()
	<-done
	if !strings.Contains(ft.msg, "make test") || !strings.Contains(ft.msg, browser.EnvChromium) {
		t.Errorf("Start without chromium: message %q, want one naming %s and `make test`", ft.msg, browser.EnvChromium)
	}
}

// fatalTB records the first Fatal and ends the goroutine as testing does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatal(args ...any) { f.msg = fmt.Sprint(args...); runtime.Goexit() }
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
