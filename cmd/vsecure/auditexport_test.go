package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/devserver/devtest"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestAuditExportVerifyOffline runs a real local server, does a few
// operations, seals them, exports the log with the CLI, and verifies the
// file offline with the public key audit:verify printed (no server
// involved: it is stopped first). Then it changes one entry's actor in the
// file and checks the offline verification names that entry.
func TestAuditExportVerifyOffline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// The server's clock jumps an hour ahead before sealing, so the windows
	// just written are closed and sealed now instead of in minutes, and
	// what is audited afterwards (the verify and the export themselves)
	// lands in a later, unsealed window, as it would an hour later.
	var skew atomic.Int64
	env := devtest.Start(t, devtest.WithoutFixture(), devtest.WithConfig(func(c *devserver.Config) {
		c.DataDir, c.DigestEvery = filepath.Join(dir, "data"), -1
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	}))
	srv := env.Server
	vs := func(stdin string, args ...string) (int, string) {
		t.Helper()
		var out, errb bytes.Buffer
		env := map[string]string{"VSECURE_API_URL": srv.URL(), "VSECURE_API_KEY": devtest.AdminKey}
		code := run(ctx, args, func(k string) string { return env[k] }, stdio{In: strings.NewReader(stdin), Out: &out, Err: &errb})
		return code, out.String() + errb.String()
	}
	cfg := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(cfg, []byte(`{"uri":"vsecure://secrets/staging/*","permissions":["read","write"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"mcp:configure", "-f", cfg},
		{"secrets:put", devtest.StagingURI},
		{"secrets:get", devtest.StagingURI},
		{"keys:create", "--principal", "carol", "--role", "agent"},
	} {
		if code, out := vs("stg-value\n", args...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}
	skew.Store(int64(time.Hour))
	if n, err := srv.SealAudit(ctx); err != nil || n == 0 {
		t.Fatalf("SealAudit = %d, %v", n, err)
	}
	code, out := vs("", "audit:verify")
	m := regexp.MustCompile(`(?m)^Public key: +(\S+)$`).FindStringSubmatch(out)
	if code != exitOK || m == nil || !strings.Contains(out, "Trusted key: local-ed25519:") || !regexp.MustCompile(`(?m)^Digest head: [0-9a-f]{64}$`).MatchString(out) {
		t.Fatalf("audit:verify: exit %d, want OK, the trusted key and the digest head\n%s", code, out)
	}
	pub := m[1]
	code, export := vs("", "audit:export")
	if code != exitOK {
		t.Fatalf("audit:export: exit %d\n%s", code, export)
	}
	env.Stop() // offline means offline

	lines := strings.Split(strings.TrimSuffix(export, "\n"), "\n")
	var target int
	var targetID string
	var records, digests int
	for i, l := range lines {
		var el vsecure.ExportLine
		if err := json.Unmarshal([]byte(l), &el); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, l)
		}
		switch {
		case i == 0:
			if el.Export == nil || !strings.HasPrefix(el.Export.KeyID, "local-ed25519:") {
				t.Fatalf("first line %s, want the export header naming the key", l)
			}
		case el.Record != nil:
			if digests > 0 {
				t.Fatalf("line %d: a record after the digests", i+1)
			}
			records++
			if el.Record.Entry.Operation == vsecure.AuditRead && targetID == "" {
				target, targetID = i, el.Record.Entry.ID
			}
		case el.Digest != nil:
			digests++
		default:
			t.Fatalf("line %d is neither header, record nor digest: %s", i+1, l)
		}
	}
	if records < 5 || digests == 0 || targetID == "" {
		t.Fatalf("export has %d records and %d digests, the read entry %q:\n%s", records, digests, targetID, export)
	}
	file := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(file, []byte(export), 0o600); err != nil {
		t.Fatal(err)
	}
	offline := func() (int, string) {
		var o, e bytes.Buffer
		code := run(ctx, []string{"audit:verify", "--offline", file, "--public-key", pub},
			func(string) string { return "" }, stdio{In: strings.NewReader(""), Out: &o, Err: &e})
		return code, o.String() + e.String()
	}
	if code, out := offline(); code != exitOK || !strings.Contains(out, "OK: ") || !strings.Contains(out, "Public key:  "+pub) {
		t.Fatalf("offline verify of the untouched export: exit %d\n%s", code, out)
	}

	var el vsecure.ExportLine
	if err := json.Unmarshal([]byte(lines[target]), &el); err != nil {
		t.Fatal(err)
	}
	el.Record.Entry.Actor = "mallory"
	b, err := json.Marshal(el)
	if err != nil {
		t.Fatal(err)
	}
	lines[target] = string(b)
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = offline()
	if code != exitTampered || !findingNames(out, "modified", targetID) {
		t.Fatalf("after changing the actor of %s: exit %d, want it named as modified\n%s", targetID, code, out)
	}
	t.Logf("vsecure audit:verify --offline after tampering:\n%s", out)
}

// findingNames reports whether a row of the findings table names kind and
// entry.
func findingNames(out, kind, entry string) bool {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == kind && f[1] == entry {
			return true
		}
	}
	return false
}
