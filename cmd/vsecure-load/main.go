// Command vsecure-load is the bounded load run of `make bench`: it seeds a
// policy, a secret and an agent key on a running server, then drives
// audited secret reads over N keep-alive connections for a fixed time and
// prints throughput and latency percentiles.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "server base URL")
	adminKey := flag.String("admin-key", os.Getenv("VSECURE_ADMIN_KEY"), "admin API key used to seed (env VSECURE_ADMIN_KEY)")
	conns := flag.Int("connections", 32, "concurrent connections")
	dur := flag.Duration("duration", 10*time.Second, "how long to run")
	flag.Parse()
	if err := run(*base, *adminKey, *conns, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "vsecure-load:", err)
		os.Exit(1)
	}
}

func run(base, admin string, conns int, dur time.Duration) error {
	if admin == "" {
		return fmt.Errorf("an admin key is required (-admin-key or VSECURE_ADMIN_KEY)")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	uri := "vsecure://secrets/loadtest/API_TOKEN"
	call := func(method, path, key string, body any) ([]byte, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			return nil, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, out)
		}
		return out, nil
	}
	if _, err := call("POST", "/v1/security/mcp/resources", admin, map[string]any{"uri": "vsecure://secrets/loadtest/*", "permissions": []string{"read"}}); err != nil {
		return err
	}
	path := "/v1/security/mcp/resources/" + url.PathEscape(uri)
	if _, err := call("PUT", path, admin, map[string]any{"value": "load-test-value"}); err != nil {
		return err
	}
	out, err := call("POST", "/v1/security/keys", admin, map[string]any{"principal": "load-agent", "roles": []string{"agent"}})
	if err != nil {
		return err
	}
	var k struct{ Key string }
	if err := json.Unmarshal(out, &k); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var (
		mu     sync.Mutex
		lat    []time.Duration
		errs   int
		wg     sync.WaitGroup
		start  = time.Now()
		bodyOK = []byte(`"value":"load-test-value"`)
	)
	for i := 0; i < conns; i++ {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1<<16)
			bad := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				b, err := call("GET", path, k.Key, nil)
				if err != nil || !bytes.Contains(b, bodyOK) {
					if ctx.Err() == nil {
						bad++
					}
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	fmt.Printf("audited reads: %d in %s with %d connections, errors %d\n", len(lat), elapsed.Round(time.Millisecond), conns, errs)
	fmt.Printf("throughput: %.0f reads/s\n", float64(len(lat))/elapsed.Seconds())
	fmt.Printf("latency: p50 %s  p90 %s  p99 %s  max %s\n", pct(0.50), pct(0.90), pct(0.99), pct(1))
	return nil
}
