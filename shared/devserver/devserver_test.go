package devserver_test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/devserver"
	"github.com/vsecure/vsecure/shared/store/embedded"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestLocalWorkflowWiring: the dev server runs the local workflow twin,
// which reschedules the store's live approvals when the server starts.
func TestLocalWorkflowWiring(t *testing.T) {
	dir := t.TempDir()
	st, err := embedded.Open(filepath.Join(dir, "vsecure.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	a := vsecure.Approval{
		ID: "appr_live", Resource: "vsecure://secrets/production/DB", Operation: vsecure.OpRead,
		RequestedBy: "agent-1", RequestedAt: now, ExpiresAt: now.Add(time.Hour), TTL: 3600,
		Status: vsecure.StatusPending, Approvers: []string{"alice"}, RequiredApprovals: 1, Version: 1,
	}
	if err := st.CreateApproval(t.Context(), a, vsecure.Entry{ID: "log_1", Timestamp: now, Operation: vsecure.AuditRequestApproval, Actor: "agent-1", Success: true}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	srv, err := devserver.New(t.Context(), devserver.Config{
		Addr: "127.0.0.1:0", DataDir: dir, AdminKey: "vsk_" + strings.Repeat("a", 43), Store: st,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"msg":"local workflow started","rescheduled":1`) {
		t.Fatalf("the twin did not reschedule the live approval:\n%s", logs.String())
	}
}

// TestFailedNewReleasesWhatItOpened: a start that fails in its last step
// (a malformed admin key) closes everything the earlier steps opened, the
// store and the listener alike, so a corrected start on the same data
// directory and address succeeds at once.
func TestFailedNewReleasesWhatItOpened(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	probe, err := devserver.New(t.Context(), devserver.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminKey: "vsk_" + strings.Repeat("p", 43), DigestEvery: -1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr()
	if err := probe.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := devserver.Config{Addr: addr, DataDir: dir, AdminKey: "vsk_too_short", DigestEvery: -1, Logger: logger}
	if _, err := devserver.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "VSECURE_ADMIN_KEY") {
		t.Fatalf("err = %v, want the admin key refused", err)
	}
	cfg.AdminKey = "vsk_" + strings.Repeat("a", 43)
	srv, err := devserver.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("the corrected start failed: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}
