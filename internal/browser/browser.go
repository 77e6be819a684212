// Package browser drives Debian's headless Chromium from Go tests over the
// DevTools protocol (chromedp), so the console is tested the way a human
// meets it: a real page, real form posts, real WebAuthn ceremonies against
// the CDP virtual authenticator. It owns one outside program, the browser:
// the test setup installs it (.ci/emulators.sh, `make test-deps`) and
// exports its path as VSECURE_TEST_CHROMIUM; without it a test fails and
// says to run `make test`.
//
// The helpers take the test and fail it on error, so a page test reads as a
// list of steps. Every step is bounded by Browser.Timeout, and the browser,
// its temporary profile and its tab go at the test's cleanup. On failure the
// page's console, its uncaught exceptions and the browser's own output are
// logged.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/vsecure/vsecure/internal/syncbuf"
)

// EnvChromium names the variable that holds the browser's path.
const EnvChromium = "VSECURE_TEST_CHROMIUM"

// StartTimeout bounds the browser's start: a machine too loaded to start a
// browser in this time fails the test rather than hanging it.
const StartTimeout = 45 * time.Second

// Width and Height are the viewport's CSS size, a laptop's.
const (
	Width  = 1280
	Height = 800
)

// DefaultTimeout bounds each step; generous, as CI machines are small.
const DefaultTimeout = 15 * time.Second

// Browser is one headless browser with one tab, owned by one test. Its
// helpers run on the test's goroutine (they call t.Fatal).
type Browser struct {
	t   testing.TB
	ctx context.Context // the tab's chromedp context

	// Timeout bounds each step (navigate, click, wait, ...).
	Timeout time.Duration

	page   syncbuf.Buffer // the page's console and uncaught exceptions
	output syncbuf.Buffer // the browser process's stdout and stderr
}

// Start launches the browser named by VSECURE_TEST_CHROMIUM with a fresh
// temporary profile, opens a blank tab and registers its shutdown with
// t.Cleanup.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := os.Getenv(EnvChromium)
	if path == "" {
		t.Fatal(EnvChromium + " is not set: run the tests with `make test` or " +
			"`.ci/emulators.sh run go test ./...`, which install Debian's chromium and export its path")
	}
	b := &Browser{t: t, Timeout: DefaultTimeout}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(Width, Height),
		chromedp.CombinedOutput(&b.output),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run its sandbox as root (CI containers run
		// as root); the pages under test are our own.
		opts = append(opts, chromedp.NoSandbox)
	}
	// The allocator (no profile flag given) makes a temporary profile and
	// removes it when the browser has exited, children included.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		// A graceful close lets Chromium flush and exit on its own, within
		// a bound; the allocator's cancel then kills what is left, waits
		// for the process and removes the profile.
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		if err := chromedp.Cancel(cctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("browser: close: %v", err)
		}
		cancel()
		cancelAlloc()
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("browser: page console and exceptions:\n%s", b.page.String())
			t.Logf("browser: chromium output (last 4 KB):\n%s", tail(b.output.String(), 4096))
		}
	})
	b.ctx = ctx

	// The first run starts the browser and binds its life to ctx, so it
	// must not carry a timeout; the bound is kept from outside instead.
	t0 := time.Now()
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("browser: start %s: %v\n%s", path, err, tail(b.output.String(), 4096))
		}
	case <-time.After(StartTimeout):
		cancel()
		t.Fatalf("browser: %s did not start within %s\n%s", path, StartTimeout, tail(b.output.String(), 4096))
	}
	t.Logf("browser: %s started in %s", path, time.Since(t0).Round(time.Millisecond))
	// The window's size minus the browser's frame varies by version: pin the
	// viewport itself, so layouts and screenshots are the same everywhere.
	b.Viewport(Width, Height)
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("browser: listen: %v", err)
	}
	return b
}

// record keeps what the page logs and throws, for the failure report. It
// runs on the tab's reader goroutine, so it only appends.
func (b *Browser) record(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			if a.Value != nil {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		fmt.Fprintf(&b.page, "console.%s: %s\n", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		fmt.Fprintf(&b.page, "exception at %s:%d: %s\n", d.URL, d.LineNumber+1, msg)
	}
}

// Context is the tab's chromedp context, for actions the helpers lack. A
// step derived from it should carry its own timeout.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs chromedp actions on the tab within one Timeout.
func (b *Browser) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	for {
		err := chromedp.Do(ctx, steps...)
		if err == nil {
			return
		}
		// A document replaced between finding an element and acting on it
		// (a navigation chromedp had not seen yet) leaves a stale node id:
		// nothing was done to it, so the steps start again on the new
		// document, until Timeout.
		if !staleNode(err) || ctx.Err() != nil {
			b.t.Fatalf("browser: %s: %v", what, err)
		}
	}
}

// staleNode reports the CDP error of a node id from a replaced document.
func staleNode(err error) bool {
	return strings.Contains(err.Error(), "Could not find node with given id")
}

// Run runs one chromedp action returning a value on b's tab within one
// Timeout.
func Run[T any](b *Browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// Eval evaluates a JavaScript expression in the page, awaiting it if it is
// a promise, and decodes its value into T.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	return Run(b, "eval "+expr, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// Navigate loads url and waits for its load event.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.Do("navigate to "+url, chromedp.Navigate(url))
}

// Viewport resizes the page's viewport to width×height CSS pixels, e.g.
// 390×844 for a phone; it stays so across navigations.
func (b *Browser) Viewport(width, height int64) {
	b.t.Helper()
	b.Do("viewport", chromedp.EmulateViewport(width, height))
}

// Location is the tab's current URL.
func (b *Browser) Location() string {
	b.t.Helper()
	return Run(b, "location", chromedp.Location())
}

// Fill replaces the value of the input matching the CSS selector by typing
// value into it, key by key as a user would: focus, then key events to the
// focused element. Not chromedp.SendKeys: in v0.23.0 it reads the node's
// attribute slice before taking the node's lock, a data race with the DOM
// events that update it (the race detector caught it in make test).
func (b *Browser) Fill(sel, value string) {
	b.t.Helper()
	b.Do("fill "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent(value))
}

// Click clicks the element matching the CSS selector once it is visible.
// A click that submits a form or follows a link returns before the next
// page has loaded: wait for what it shows with WaitText.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	b.Do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Text is the visible text of the element matching the CSS selector.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	return Run(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// WaitText waits until the visible text of the element matching the CSS
// selector contains want, and returns that text. It polls, so it survives
// the navigation a click may start; after Timeout it fails with the text
// seen last.
func (b *Browser) WaitText(sel, want string) string {
	b.t.Helper()
	const probe = `(() => { const e = document.querySelector(%q); return e ? e.innerText : null; })()`
	expr := fmt.Sprintf(probe, sel)
	deadline := time.Now().Add(b.Timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[*string](expr))
		cancel()
		lastErr = err
		if err == nil && got != nil {
			last = *got
			if strings.Contains(last, want) {
				return last
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser: %s never showed %q within %s (last text %q, last error %v, at %s)",
				sel, want, b.Timeout, last, lastErr, b.Location())
		}
		<-tick.C
	}
}

// Screenshot writes a PNG of the whole page (beyond the viewport) to path,
// creating its directory.
func (b *Browser) Screenshot(path string) {
	b.t.Helper()
	png := Run(b, "screenshot", chromedp.FullScreenshot(100))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
