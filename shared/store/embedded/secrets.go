package embedded

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// PutPolicy stores p under its URI, replacing any policy there.
func (s *Store) PutPolicy(ctx context.Context, p vsecure.Policy, e vsecure.Entry) error {
	if p.URI == "" {
		return vsecure.Errorf(vsecure.EInvalid, "policy has no uri")
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := put(tx.Bucket(bucketPolicies), p.URI, p); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
}

// ListPolicies returns every policy ordered by URI.
func (s *Store) ListPolicies(ctx context.Context) ([]vsecure.Policy, error) {
	var out []vsecure.Policy
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPolicies).ForEach(func(_, v []byte) error {
			var p vsecure.Policy
			if err := decode(v, &p); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// LoadAccess reads the candidate policies, the secret, the grant, and the
// caller's key and token approval when asked, in one read transaction, so
// they are consistent with each other.
func (s *Store) LoadAccess(ctx context.Context, q vsecure.AccessQuery) (vsecure.AccessView, error) {
	var view vsecure.AccessView
	uri := q.Resource.String()
	err := s.view(ctx, func(tx *bolt.Tx) error {
		policies := tx.Bucket(bucketPolicies)
		for _, c := range q.Resource.Candidates() {
			var p vsecure.Policy
			ok, err := getMemo(s.memo, policies, bucketPolicies, c.String(), &p)
			if err != nil {
				return err
			}
			if ok {
				view.Policies = append(view.Policies, p)
			}
		}

		var head vsecure.Secret
		ok, err := getMemo(s.memo, tx.Bucket(bucketSecrets), bucketSecrets, uri, &head)
		if err != nil {
			return err
		}
		if ok {
			withStats(tx, &head)
			view.Secret = &head
			version := q.Version
			if version == 0 {
				version = head.Version
			}
			var v vsecure.SecretVersion
			ok, err := getMemo(s.memo, tx.Bucket(bucketVersions), bucketVersions, versionKey(uri, version), &v)
			if err != nil {
				return err
			}
			if ok {
				view.Value = &v
			}
		}

		if id := tx.Bucket(bucketGrants).Get(grantKey(q.Principal, uri, q.Operation)); id != nil {
			var a vsecure.Approval
			ok, err := getMemo(s.memo, tx.Bucket(bucketApprovals), bucketApprovals, string(id), &a)
			if err != nil {
				return err
			}
			if ok {
				view.Grant = &a
			}
		}

		if q.KeyID != "" {
			var k vsecure.Key
			switch err := s.getKey(tx, q.KeyID, &k); {
			case err == nil:
				view.Key = &k
			case !vsecure.IsCode(err, vsecure.ENotFound):
				return err
			}
		}
		if q.ApprovalID != "" {
			var a vsecure.Approval
			ok, err := getMemo(s.memo, tx.Bucket(bucketApprovals), bucketApprovals, q.ApprovalID, &a)
			if err != nil {
				return err
			}
			if ok {
				view.Approval = &a
			}
		}
		return nil
	})
	if err != nil {
		return vsecure.AccessView{}, err
	}
	return view, nil
}

// RecordRead bumps the read statistics of uri and appends e. It shares its
// transaction and fsync with concurrent reads (see the package doc).
func (s *Store) RecordRead(ctx context.Context, uri string, at time.Time, e vsecure.Entry) error {
	var entry []byte
	if e.ID != "" {
		var err error
		if entry, err = json.Marshal(e); err != nil {
			return vsecure.Wrap(vsecure.EInternal, err, "encode audit entry")
		}
	}
	var refused error // a refusal found before anything was written
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		refused = nil
		if tx.Bucket(bucketSecrets).Get([]byte(uri)) == nil {
			refused = vsecure.Errorf(vsecure.ENotFound, "secret %s not found", uri)
			return nil
		}
		if refused = entryFree(tx, e.ID); refused != nil {
			return nil
		}
		stats := tx.Bucket(bucketStats)
		count, _ := decodeStats(stats.Get([]byte(uri)))
		if err := stats.Put([]byte(uri), encodeStats(count+1, at)); err != nil {
			return err
		}
		if entry == nil {
			return nil
		}
		return s.putEncodedEntry(tx, e.ID, e.Timestamp, entry)
	})
	if err == nil {
		err = refused
	}
	return err
}

// PutSecret writes head and its version v if v follows the stored version.
// The stored access statistics are kept: RecordRead owns them, and the
// caller's head may predate reads that happened since it was loaded.
func (s *Store) PutSecret(ctx context.Context, head vsecure.Secret, v vsecure.SecretVersion, e vsecure.Entry) error {
	switch {
	case head.URI == "" || head.URI != v.URI:
		return vsecure.Errorf(vsecure.EInvalid, "secret head %q and version %q name different URIs", head.URI, v.URI)
	case head.Version != v.Version:
		return vsecure.Errorf(vsecure.EInvalid, "secret head is at version %d but the new version is %d", head.Version, v.Version)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		secrets, versions := tx.Bucket(bucketSecrets), tx.Bucket(bucketVersions)
		var stored vsecure.Secret
		if _, err := get(secrets, head.URI, &stored); err != nil {
			return err
		}
		if v.Version != stored.Version+1 {
			return vsecure.Errorf(vsecure.EConflict, "secret %s is at version %d; cannot write version %d", head.URI, stored.Version, v.Version)
		}
		vk := versionKey(v.URI, v.Version)
		if versions.Get([]byte(vk)) != nil {
			return vsecure.Errorf(vsecure.EConflict, "secret %s version %d already exists", v.URI, v.Version)
		}
		head.AccessCount, head.AccessedAt = 0, nil // kept in bucketStats
		if err := put(secrets, head.URI, head); err != nil {
			return err
		}
		if err := put(versions, vk, v); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
}

// ListSecrets lists the heads pattern covers, ordered by URI. It seeks to
// the pattern's literal prefix, so it reads only the secrets below it.
func (s *Store) ListSecrets(ctx context.Context, pattern string, cursor string, limit int) ([]vsecure.Secret, string, error) {
	limit = pageLimit(limit)
	var (
		p      vsecure.URI
		prefix string
	)
	if pattern != "" {
		var err error
		if p, err = vsecure.ParseURI(pattern); err != nil {
			return nil, "", err
		}
		prefix = strings.TrimSuffix(p.String(), "*")
	}
	if cursor != "" {
		if u, err := vsecure.ParseURI(cursor); err != nil || u.IsPattern() {
			return nil, "", badCursor()
		}
	}
	var out []vsecure.Secret
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return oldestFirst(ctx, tx.Bucket(bucketSecrets), prefix, cursor, func(k, v []byte) (bool, error) {
			if !strings.HasPrefix(string(k), prefix) {
				return false, nil
			}
			if pattern != "" {
				u, err := vsecure.ParseURI(string(k))
				if err != nil || !p.Covers(u) {
					return true, nil
				}
			}
			var h vsecure.Secret
			if err := decode(v, &h); err != nil {
				return false, err
			}
			withStats(tx, &h)
			out = append(out, h)
			return len(out) <= limit, nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].URI, nil
	}
	return out, "", nil
}

// versionKey orders a secret's versions numerically under its URI.
func versionKey(uri string, version int) string {
	return fmt.Sprintf("%s\x00%010d", uri, version)
}

func grantKey(principal, resource string, op vsecure.Operation) []byte {
	return []byte(principal + "\x00" + resource + "\x00" + string(op))
}

// withStats fills a head's access statistics from bucketStats.
func withStats(tx *bolt.Tx, h *vsecure.Secret) {
	count, at := decodeStats(tx.Bucket(bucketStats).Get([]byte(h.URI)))
	h.AccessCount, h.AccessedAt = count, at
}

func encodeStats(count int64, at time.Time) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(count))
	binary.BigEndian.PutUint64(b[8:], uint64(at.UnixNano()))
	return b
}

func decodeStats(b []byte) (int64, *time.Time) {
	if len(b) != 16 {
		return 0, nil
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(b[8:]))).UTC()
	return int64(binary.BigEndian.Uint64(b)), &at
}
