package gate_test

import (
	"slices"
	"testing"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// TestFailClosed: when the audit log cannot be written, nothing happens
// and nothing is returned; when a state write fails, the caller sees
// audit_unavailable and the state is as before. Each row breaks the store
// for one call (after its setup), mends it, and checks what the store
// holds.
func TestFailClosed(t *testing.T) {
	const (
		auditDown  = "audit"  // audit appends fail
		writesDown = "writes" // state writes (each carrying its entry) fail
		allDown    = "all"    // the audit log cannot be written at all
	)
	cases := []struct {
		name string
		// downs are the failure modes the row is run under.
		downs []string
		// call runs with the store broken and returns what it returned
		// (to check that no data came back) and its error.
		call func(w *world, s *setup) (any, error)
		// after checks the store once mended; nil checks nothing more.
		after func(w *world, s *setup)
	}{
		// Reads return their data only after their entry is written.
		{"secret_read_returns_no_value", []string{writesDown, allDown}, func(w *world, s *setup) (any, error) {
			return w.read(w.as("ai-agent-123"), stagingURI)
		}, func(w *world, s *setup) {
			r, err := w.read(w.as("ai-agent-123"), stagingURI)
			want(w.t, err, "", "read after the outage")
			if r.AccessCount != 1 {
				w.t.Fatalf("access count %d after the outage, want 1 (the failed read counted)", r.AccessCount)
			}
		}},
		{"secret_read_whose_count_cannot_be_written", []string{writesDown}, func(w *world, s *setup) (any, error) {
			return w.read(w.as("ai-agent-123"), stagingURI)
		}, nil},
		{"approved_read_returns_no_value", []string{writesDown, allDown}, func(w *world, s *setup) (any, error) {
			return w.read(s.token, dbURI)
		}, nil},
		{"list_resources", []string{auditDown}, func(w *world, _ *setup) (any, error) {
			return w.g.ListResources(w.t.Context(), w.as("ai-agent-123"))
		}, nil},
		{"get_pattern", []string{auditDown}, func(w *world, _ *setup) (any, error) {
			return w.g.GetPattern(w.t.Context(), w.as("ai-agent-123"), uri(w.t, "vsecure://secrets/staging/*"))
		}, nil},
		{"list_secrets", []string{auditDown}, func(w *world, _ *setup) (any, error) {
			l, _, err := w.g.ListSecrets(w.t.Context(), w.as("ai-agent-123"), nil, "", 0)
			return l, err
		}, nil},
		{"get_approval", []string{auditDown}, func(w *world, s *setup) (any, error) {
			return w.g.GetApproval(w.t.Context(), w.as("ai-agent-123"), s.id)
		}, nil},
		{"list_approvals", []string{auditDown}, func(w *world, _ *setup) (any, error) {
			l, _, err := w.g.ListApprovals(w.t.Context(), w.as("ai-agent-123"), gate.ApprovalQuery{})
			return l, err
		}, nil},
		{"query_audit", []string{auditDown}, func(w *world, _ *setup) (any, error) {
			l, _, err := w.g.QueryAudit(w.t.Context(), w.as("auditor-1"), gate.AuditQuery{})
			return l, err
		}, nil},
		{"list_keys", []string{auditDown}, func(w *world, _ *setup) (any, error) {
			l, _, err := w.g.ListKeys(w.t.Context(), w.as("admin"), "", 0)
			return l, err
		}, nil},
		{"whoami", []string{auditDown}, func(w *world, _ *setup) (any, error) {
			return w.g.Whoami(w.t.Context(), w.as("ai-agent-123"))
		}, nil},

		// Refusals are audited too: one that cannot be is audit_unavailable.
		{"refused_read", []string{auditDown}, func(w *world, _ *setup) (any, error) {
			return w.read(w.as("ai-agent-999"), dbURI) // approval_required
		}, nil},
		{"refused_decision", []string{auditDown}, func(w *world, s *setup) (any, error) {
			return w.decide("carol", s.pending, "approve") // not_an_approver
		}, func(w *world, s *setup) {
			if st := w.stored(s.pending).Status; st != vsecure.StatusPending {
				w.t.Fatalf("status %s", st)
			}
		}},
		{"refused_credential", []string{auditDown}, func(w *world, _ *setup) (any, error) {
			return w.g.Authenticate(w.t.Context(), "vsk_no-such-key-000000000000000000000000000000", gate.Call{IP: "192.0.2.1"})
		}, nil},

		// State changes do not happen without their entry.
		{"secret_write", []string{writesDown, allDown}, func(w *world, _ *setup) (any, error) {
			return w.write(w.as("ai-agent-123"), stagingURI, "new")
		}, func(w *world, _ *setup) {
			r, err := w.read(w.as("ai-agent-123"), stagingURI)
			want(w.t, err, "", "read after the outage")
			if r.Version != 1 || r.Value != "value of "+stagingURI {
				w.t.Fatalf("version %d value %q after a failed write", r.Version, r.Value)
			}
		}},
		{"approval_request", []string{writesDown, allDown}, func(w *world, _ *setup) (any, error) {
			return w.request("ai-agent-999", otherURI, "read", nil)
		}, func(w *world, _ *setup) {
			l, _, err := w.g.ListApprovals(w.t.Context(), w.as("ai-agent-999"), gate.ApprovalQuery{})
			want(w.t, err, "", "list after the outage")
			if len(l) != 0 {
				w.t.Fatalf("%d approvals created during the outage", len(l))
			}
		}},
		{"auto_approved_request_issues_no_token", []string{writesDown, allDown}, func(w *world, _ *setup) (any, error) {
			return w.request("ai-agent-999", "vsecure://secrets/ci/TOKEN", "read", nil)
		}, nil},
		{"decision", []string{writesDown, allDown}, func(w *world, s *setup) (any, error) {
			return w.decide("alice", s.pending, "approve")
		}, func(w *world, s *setup) {
			if a := w.stored(s.pending); a.Status != vsecure.StatusPending || len(a.Decisions) != 0 {
				w.t.Fatalf("status %s with %d decisions after a failed decision", a.Status, len(a.Decisions))
			}
		}},
		{"approval_revocation", []string{writesDown, allDown}, func(w *world, s *setup) (any, error) {
			return w.g.Revoke(w.t.Context(), w.as("alice"), s.id)
		}, func(w *world, s *setup) {
			_, err := w.read(s.token, dbURI)
			want(w.t, err, "", "token read after a failed revocation")
		}},
		{"policy_change", []string{writesDown, allDown}, func(w *world, _ *setup) (any, error) {
			return w.g.ConfigurePolicy(w.t.Context(), w.as("admin"), vsecure.Policy{URI: "vsecure://secrets/staging/*", Permissions: []vsecure.Operation{vsecure.OpRead}})
		}, func(w *world, _ *setup) {
			_, err := w.write(w.as("ai-agent-123"), stagingURI, "still writable")
			want(w.t, err, "", "write under the unchanged policy")
		}},
		{"key_creation", []string{writesDown, allDown}, func(w *world, _ *setup) (any, error) {
			return w.g.CreateKey(w.t.Context(), w.as("admin"), api.KeyRequest{Principal: "mallory", Roles: []string{"admin"}})
		}, func(w *world, _ *setup) {
			keys, _, err := w.g.ListKeys(w.t.Context(), w.as("admin"), "", 0)
			want(w.t, err, "", "list keys")
			if slices.ContainsFunc(keys, func(k vsecure.Key) bool { return k.Principal == "mallory" }) {
				w.t.Fatal("a key was created during the outage")
			}
		}},
		{"key_revocation", []string{writesDown, allDown}, func(w *world, _ *setup) (any, error) {
			return w.g.RevokeKey(w.t.Context(), w.as("admin"), w.keys["ai-agent-123"].ID)
		}, func(w *world, _ *setup) {
			_, err := w.g.Authenticate(w.t.Context(), w.cred("ai-agent-123"), gate.Call{})
			want(w.t, err, "", "the key after a failed revocation")
		}},
		{"key_rotation", []string{writesDown, allDown}, func(w *world, _ *setup) (any, error) {
			return w.g.RotateKey(w.t.Context(), w.as("admin"), w.keys["ai-agent-123"].ID, api.RotateRequest{OverlapSeconds: ptr(0)})
		}, func(w *world, _ *setup) {
			_, err := w.g.Authenticate(w.t.Context(), w.cred("ai-agent-123"), gate.Call{})
			want(w.t, err, "", "the key after a failed rotation")
		}},
		{"key_update", []string{writesDown, allDown}, func(w *world, _ *setup) (any, error) {
			return w.g.UpdateKey(w.t.Context(), w.as("admin"), w.keys["ai-agent-123"].ID, api.KeyUpdateRequest{Roles: []string{"admin"}})
		}, func(w *world, _ *setup) {
			_, _, err := w.g.ListKeys(w.t.Context(), w.as("ai-agent-123"), "", 0)
			want(w.t, err, vsecure.EForbidden, "the agent key after a failed promotion")
		}},
	}
	for _, tc := range cases {
		for _, down := range tc.downs {
			t.Run(down+"_down/"+tc.name, func(t *testing.T) {
				w := newWorld(t)
				s := &setup{pending: w.pending(vaultURI)}
				var token string
				s.id, token = w.approved()
				s.token = w.login(token)
				w.configure(vsecure.Policy{URI: "vsecure://secrets/ci/*", Permissions: []vsecure.Operation{vsecure.OpRead}})
				// Authenticating a good key writes no entry (w.as works
				// while the store is broken): the failure is the call's own.
				w.st.audit.Store(down != writesDown)
				w.st.writes.Store(down != auditDown)
				got, err := tc.call(w, s)
				w.st.audit.Store(false)
				w.st.writes.Store(false)
				want(t, err, vsecure.EAuditUnavailable, tc.name)
				if !isZero(got) {
					t.Fatalf("%s returned data without its audit entry: %+v", tc.name, got)
				}
				if tc.after != nil {
					tc.after(w, s)
				}
			})
		}
	}
}

// setup is what each fail-closed row starts from: a pending request of
// ai-agent-123 on vaultURI, an approved one on dbURI with its token, and
// an open policy on ci/* (requests are granted at once).
type setup struct {
	pending, id string
	token       gate.Call
}

// isZero reports whether v is the zero value of its type or an empty
// slice, the only things a failed call may return.
func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case api.SecretRead:
		return x.Value == "" && x.URI == ""
	case api.SecretInfo:
		return x.URI == ""
	case api.ApprovalView:
		return x.ID == "" && x.AccessToken == ""
	case []api.ResourceView:
		return len(x) == 0
	case api.ResourceView:
		return x.URI == ""
	case []api.SecretInfo:
		return len(x) == 0
	case []api.ApprovalView:
		return len(x) == 0
	case []vsecure.Entry:
		return len(x) == 0
	case []vsecure.Key:
		return len(x) == 0
	case vsecure.Key:
		return x.ID == ""
	case api.Identity:
		return x.Principal == ""
	case vsecure.Principal:
		return x.ID == ""
	case api.CreatedKey:
		return x.ID == "" && x.Secret == ""
	case api.RotatedKey:
		return x.ID == "" && x.Secret == ""
	}
	panic("isZero: unknown type")
}
