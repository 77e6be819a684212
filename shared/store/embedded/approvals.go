package embedded

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// CreateApproval stores a new request. An approval created approved (by an
// autoApprove rule) becomes its requester's grant at once.
func (s *Store) CreateApproval(ctx context.Context, a vsecure.Approval, e vsecure.Entry) error {
	if a.ID == "" {
		return vsecure.Errorf(vsecure.EInvalid, "approval has no id")
	}
	// Shared commits (see groupCommit): a burst of requests or of workflow
	// expiries costs one fsync per batch, not one each; a refused call is
	// rolled back alone.
	return s.batch(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketApprovals)
		if b.Get([]byte(a.ID)) != nil {
			return vsecure.Errorf(vsecure.EConflict, "approval %s already exists", a.ID)
		}
		if err := put(b, a.ID, a); err != nil {
			return err
		}
		if err := index(tx, nil, a); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
}

// GetApproval returns the approval with id.
func (s *Store) GetApproval(ctx context.Context, id string) (vsecure.Approval, error) {
	var a vsecure.Approval
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return getApproval(tx, id, &a)
	})
	return a, err
}

func getApproval(tx *bolt.Tx, id string, a *vsecure.Approval) error {
	ok, err := get(tx.Bucket(bucketApprovals), id, a)
	if err == nil && !ok {
		err = vsecure.Errorf(vsecure.ENotFound, "approval %s not found", id)
	}
	return err
}

// UpdateApproval replaces the stored approval if it is at a.Version-1 and
// moves the grant and token indexes with a's status.
func (s *Store) UpdateApproval(ctx context.Context, a vsecure.Approval, e vsecure.Entry) error {
	return s.batch(ctx, func(tx *bolt.Tx) error {
		var old vsecure.Approval
		if err := getApproval(tx, a.ID, &old); err != nil {
			return err
		}
		if old.Version != a.Version-1 {
			return vsecure.Errorf(vsecure.EConflict, "approval %s changed (stored version %d, update built on %d)", a.ID, old.Version, a.Version-1)
		}
		// The grant index is keyed by these; they never change after the request.
		if old.RequestedBy != a.RequestedBy || old.OnBehalfOf != a.OnBehalfOf || old.Resource != a.Resource || old.Operation != a.Operation {
			return vsecure.Errorf(vsecure.EInvalid, "approval %s: requester, resource and operation cannot change", a.ID)
		}
		if err := put(tx.Bucket(bucketApprovals), a.ID, a); err != nil {
			return err
		}
		if err := index(tx, &old, a); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
}

// index keeps the grant and token indexes in step with a, whose stored
// predecessor is old (nil for a new approval).
//
// The grant of (requester, resource, operation) points at the approval that
// most recently became approved; rewriting an approval that already was
// approved (storing a notice, say) does not move it, and an approval that
// stops being approved takes the grant with it only if it holds it. The
// token index stays after revocation or expiry: the approval it finds says
// it no longer grants.
func index(tx *bolt.Tx, old *vsecure.Approval, a vsecure.Approval) error {
	grants, tokens := tx.Bucket(bucketGrants), tx.Bucket(bucketTokens)
	gk := grantKey(a.RequestedBy, a.Resource, a.Operation)
	wasApproved := old != nil && old.Status == vsecure.StatusApproved
	if a.Status != vsecure.StatusApproved {
		if id := grants.Get(gk); id != nil && string(id) == a.ID {
			return grants.Delete(gk)
		}
		return nil
	}
	if !wasApproved {
		if err := grants.Put(gk, []byte(a.ID)); err != nil {
			return err
		}
	}
	if a.TokenHash == "" {
		return nil
	}
	if id := tokens.Get([]byte(a.TokenHash)); id != nil && string(id) != a.ID {
		return vsecure.Errorf(vsecure.EConflict, "access token already issued by another approval")
	}
	if old != nil && old.TokenHash != "" && old.TokenHash != a.TokenHash {
		if err := tokens.Delete([]byte(old.TokenHash)); err != nil {
			return err
		}
	}
	return tokens.Put([]byte(a.TokenHash), []byte(a.ID))
}

// ApprovalByToken finds the approval whose access token hashes to
// tokenHash.
func (s *Store) ApprovalByToken(ctx context.Context, tokenHash string) (vsecure.Approval, error) {
	var a vsecure.Approval
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var id []byte
		if tokenHash != "" {
			id = tx.Bucket(bucketTokens).Get([]byte(tokenHash))
		}
		if id == nil {
			return vsecure.Errorf(vsecure.ENotFound, "unknown access token")
		}
		return getApproval(tx, string(id), &a)
	})
	return a, err
}

// ListApprovals returns approvals matching f, newest first.
func (s *Store) ListApprovals(ctx context.Context, f vsecure.ApprovalFilter, cursor string, limit int) ([]vsecure.Approval, string, error) {
	return newestPage(ctx, s, bucketApprovals, cursor, limit, decodeAs[vsecure.Approval], f.Matches, func(a vsecure.Approval) string { return a.ID })
}

// ListLiveApprovals returns every approval stored as pending or approved,
// including those whose expiresAt has passed but that were not yet expired.
func (s *Store) ListLiveApprovals(ctx context.Context) ([]vsecure.Approval, error) {
	var out []vsecure.Approval
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return oldestFirst(ctx, tx.Bucket(bucketApprovals), "", "", func(_, v []byte) (bool, error) {
			var a vsecure.Approval
			if err := decode(v, &a); err != nil {
				return false, err
			}
			if a.Status == vsecure.StatusPending || a.Status == vsecure.StatusApproved {
				out = append(out, a)
			}
			return true, nil
		})
	})
	return out, err
}

// SpendUse stores a over its predecessor, bumps the read statistics of
// uri and appends e in one shared transaction. A lost race is an expected
// refusal (24 readers of a one-use grant), so it is reported without
// failing the transaction the other readers share.
func (s *Store) SpendUse(ctx context.Context, a vsecure.Approval, uri string, at time.Time, e vsecure.Entry) error {
	var refused error
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		refused = nil
		var old vsecure.Approval
		if refused = getApproval(tx, a.ID, &old); refused != nil {
			return nil
		}
		switch {
		case old.Version != a.Version-1:
			refused = vsecure.Errorf(vsecure.EConflict, "approval %s changed (stored version %d, update built on %d)", a.ID, old.Version, a.Version-1)
		case old.RequestedBy != a.RequestedBy || old.Resource != a.Resource || old.Operation != a.Operation:
			refused = vsecure.Errorf(vsecure.EInvalid, "approval %s: requester, resource and operation cannot change", a.ID)
		case tx.Bucket(bucketSecrets).Get([]byte(uri)) == nil:
			refused = vsecure.Errorf(vsecure.ENotFound, "secret %s not found", uri)
		default:
			refused = entryFree(tx, e.ID)
		}
		if refused != nil {
			return nil
		}
		if err := put(tx.Bucket(bucketApprovals), a.ID, a); err != nil {
			return err
		}
		if err := index(tx, &old, a); err != nil {
			return err
		}
		stats := tx.Bucket(bucketStats)
		count, _ := decodeStats(stats.Get([]byte(uri)))
		if err := stats.Put([]byte(uri), encodeStats(count+1, at)); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
	if err == nil {
		err = refused
	}
	return err
}
