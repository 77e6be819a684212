// Package workflowtest has what the workflow adapters' tests share: an
// in-memory approvals store with the same conditional-write contract as the
// real stores, a settable clock and a gate built over them.
//
// The store implements only the approval and audit methods the workflow
// and the gate's decision paths use; anything else panics, so a test that
// wanders off the workflow's path fails loudly.
package workflowtest

import (
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vsecure/vsecure/shared/gate"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Store keeps approvals and audit entries in memory.
type Store struct {
	vsecure.Store // nil: unimplemented methods panic

	mu        sync.Mutex
	approvals map[string]vsecure.Approval
	audit     []vsecure.Entry
	// Fail, when set, is returned by every write (store unavailable).
	fail error
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{approvals: map[string]vsecure.Approval{}} }

// SetFail makes every later write return err (nil restores writes).
func (s *Store) SetFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Put stores a without conditions (test setup).
func (s *Store) Put(a vsecure.Approval) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approvals[a.ID] = a
}

// CreateApproval implements vsecure.Store.
func (s *Store) CreateApproval(_ context.Context, a vsecure.Approval, e vsecure.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if _, ok := s.approvals[a.ID]; ok {
		return vsecure.Errorf(vsecure.EConflict, "approval %s exists", a.ID)
	}
	s.approvals[a.ID] = a
	s.appendLocked(e)
	return nil
}

// GetApproval implements vsecure.Store.
func (s *Store) GetApproval(_ context.Context, id string) (vsecure.Approval, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.approvals[id]
	if !ok {
		return a, vsecure.Errorf(vsecure.ENotFound, "approval %s not found", id)
	}
	return a, nil
}

// UpdateApproval implements vsecure.Store: a conditional write on Version.
func (s *Store) UpdateApproval(_ context.Context, a vsecure.Approval, e vsecure.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	old, ok := s.approvals[a.ID]
	if !ok {
		return vsecure.Errorf(vsecure.ENotFound, "approval %s not found", a.ID)
	}
	if old.Version != a.Version-1 {
		return vsecure.Errorf(vsecure.EConflict, "approval %s changed", a.ID)
	}
	s.approvals[a.ID] = a
	s.appendLocked(e)
	return nil
}

// ListLiveApprovals implements vsecure.Store.
func (s *Store) ListLiveApprovals(context.Context) ([]vsecure.Approval, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []vsecure.Approval
	for _, a := range s.approvals {
		if a.Status == vsecure.StatusPending || a.Status == vsecure.StatusApproved {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(x, y vsecure.Approval) int { return compare(x.ID, y.ID) })
	return out, nil
}

// AppendAudit implements vsecure.Store.
func (s *Store) AppendAudit(_ context.Context, e vsecure.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.appendLocked(e)
	return nil
}

func (s *Store) appendLocked(e vsecure.Entry) {
	if e.Operation != "" {
		s.audit = append(s.audit, e)
	}
}

// Audit returns the audit entries written so far, oldest first.
func (s *Store) Audit() []vsecure.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.audit)
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Gate returns a gate over store whose clock is now.
func Gate(t testing.TB, store vsecure.Store, now func() time.Time) *gate.Gate {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Config{Store: store, Sealer: noSealer{}, CursorKey: key, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

type noSealer struct{ vsecure.Sealer }

// T0 is the time the test approvals are requested at.
func T0() time.Time { return time.Date(2025, 3, 15, 10, 0, 0, 0, time.UTC) }

// Pending returns a pending approval requested at T0 with ttl seconds,
// decided by alice or bob, requested by agent-1.
func Pending(id string, ttl int) vsecure.Approval {
	return vsecure.Approval{
		ID: id, Resource: "vsecure://secrets/production/DATABASE_URL", Operation: vsecure.OpRead,
		RequestedBy: "agent-1", RequestedAt: T0(), ExpiresAt: T0().Add(time.Duration(ttl) * time.Second), TTL: ttl,
		Status: vsecure.StatusPending, Approvers: []string{"alice", "bob"}, RequiredApprovals: 1, Version: 1,
	}
}

// Approver is a call by approver id.
func Approver(id string) gate.Call {
	return gate.Call{Principal: vsecure.Principal{ID: id, Roles: []vsecure.Role{vsecure.RoleApprover}}}
}

// Notifier records notifications on buffered channels so tests wait for
// them instead of sleeping.
type Notifier struct {
	Requests chan vsecure.Approval
	Closes   chan vsecure.Approval
	// Notice is returned by Requested.
	Notice map[string]string
}

// NewNotifier returns a recording notifier with room for n events of each
// kind.
func NewNotifier(n int) *Notifier {
	return &Notifier{Requests: make(chan vsecure.Approval, n), Closes: make(chan vsecure.Approval, n)}
}

// Requested implements workflow.Notifier.
func (n *Notifier) Requested(_ context.Context, a vsecure.Approval) (map[string]string, error) {
	n.Requests <- a
	return n.Notice, nil
}

// Closed implements workflow.Notifier.
func (n *Notifier) Closed(_ context.Context, a vsecure.Approval) error {
	n.Closes <- a
	return nil
}

// Wait returns the next value on c, failing the test if none arrives
// within a generous bound (a hung test, not a timing assumption).
func Wait[T any](t testing.TB, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// None fails the test if c holds a value now.
func None[T any](t testing.TB, c <-chan T, what string) {
	t.Helper()
	select {
	case v := <-c:
		t.Fatalf("unexpected %s: %+v", what, v)
	default:
	}
}
