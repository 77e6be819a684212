package embedded

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// keyRecord is a Key as stored: Key leaves its hash out of JSON so it never
// reaches an API response, but the store must keep it.
type keyRecord struct {
	vsecure.Key
	Hash string `json:"hash"`
}

func (r keyRecord) key() vsecure.Key {
	k := r.Key
	k.Hash = r.Hash
	return k
}

// CreateKey stores k and indexes its hash. A taken id or hash is a
// conflict.
func (s *Store) CreateKey(ctx context.Context, k vsecure.Key, e vsecure.Entry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := createKey(tx, k); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
}

// bootstrapMarker is the key of the bootstrap marker in bucketMeta.
var bootstrapMarker = []byte("bootstrap#admin")

// BootstrapKey is CreateKey plus, unless breakGlass, the bootstrap marker
// naming the key, in the same transaction. bbolt serializes writers: of
// concurrent bootstraps the first to commit writes the marker and the
// others find it naming an active key. A marker whose key is no longer
// active (revoked or expired: no admin is left that could mint one) may be
// replaced, so a stack whose admins are all gone can bootstrap again.
func (s *Store) BootstrapKey(ctx context.Context, k vsecure.Key, e vsecure.Entry, breakGlass bool) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if !breakGlass {
			if prev := meta.Get(bootstrapMarker); prev != nil {
				var rec keyRecord
				found, err := get(tx.Bucket(bucketKeys), string(prev), &rec)
				if err != nil {
					return err
				}
				if found && rec.Key.Active(e.Timestamp) {
					return vsecure.Errorf(vsecure.EAlreadyDecided,
						"an admin key was already bootstrapped (%s) and is active; create further keys with an admin key, or bootstrap with breakGlass", prev)
				}
			}
			if err := meta.Put(bootstrapMarker, []byte(k.ID)); err != nil {
				return err
			}
		}
		if err := createKey(tx, k); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
}

func createKey(tx *bolt.Tx, k vsecure.Key) error {
	if k.ID == "" || k.Hash == "" {
		return vsecure.Errorf(vsecure.EInvalid, "key needs an id and a hash")
	}
	keys, hashes := tx.Bucket(bucketKeys), tx.Bucket(bucketKeyHash)
	if keys.Get([]byte(k.ID)) != nil {
		return vsecure.Errorf(vsecure.EConflict, "key %s already exists", k.ID)
	}
	if hashes.Get([]byte(k.Hash)) != nil {
		return vsecure.Errorf(vsecure.EConflict, "a key with this hash already exists")
	}
	if err := put(keys, k.ID, keyRecord{Key: k, Hash: k.Hash}); err != nil {
		return err
	}
	return hashes.Put([]byte(k.Hash), []byte(k.ID))
}

// KeyByHash finds the key whose secret hashes to hash.
func (s *Store) KeyByHash(ctx context.Context, hash string) (vsecure.Key, error) {
	var k vsecure.Key
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var id []byte
		if hash != "" {
			id = tx.Bucket(bucketKeyHash).Get([]byte(hash))
		}
		if id == nil {
			return vsecure.Errorf(vsecure.ENotFound, "unknown key")
		}
		return s.getKey(tx, string(id), &k)
	})
	return k, err
}

// GetKey returns the key with id.
func (s *Store) GetKey(ctx context.Context, id string) (vsecure.Key, error) {
	var k vsecure.Key
	err := s.view(ctx, func(tx *bolt.Tx) error { return s.getKey(tx, id, &k) })
	return k, err
}

func (s *Store) getKey(tx *bolt.Tx, id string, k *vsecure.Key) error {
	var r keyRecord
	ok, err := getMemo(s.memo, tx.Bucket(bucketKeys), bucketKeys, id, &r)
	if err != nil {
		return err
	}
	if !ok {
		return vsecure.Errorf(vsecure.ENotFound, "key %s not found", id)
	}
	*k = r.key()
	return nil
}

// UpdateKey implements vsecure.Store: the version and revocation checks
// read the record inside the writing transaction, so they cannot race. An
// empty k.Hash keeps the stored hash (a Key that went through JSON has
// lost it); a new hash moves the index.
func (s *Store) UpdateKey(ctx context.Context, k vsecure.Key, e vsecure.Entry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := s.updateKey(tx, k); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
}

// RotateKey implements vsecure.Store in one transaction.
func (s *Store) RotateKey(ctx context.Context, old, next vsecure.Key, e vsecure.Entry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := s.updateKey(tx, old); err != nil {
			return err
		}
		if err := createKey(tx, next); err != nil {
			return err
		}
		return s.putEntry(tx, e)
	})
}

func (s *Store) updateKey(tx *bolt.Tx, k vsecure.Key) error {
	var old vsecure.Key
	if err := s.getKey(tx, k.ID, &old); err != nil {
		return err
	}
	if old.Version != k.Version-1 {
		return vsecure.Errorf(vsecure.EConflict, "key %s changed (stored version %d, update built on %d)", k.ID, old.Version, k.Version-1)
	}
	if old.RevokedAt != nil && k.RevokedAt == nil {
		return vsecure.Errorf(vsecure.EConflict, "key %s is revoked", k.ID)
	}
	hashes := tx.Bucket(bucketKeyHash)
	if k.Hash == "" {
		k.Hash = old.Hash
	}
	if k.Hash != old.Hash {
		if hashes.Get([]byte(k.Hash)) != nil {
			return vsecure.Errorf(vsecure.EConflict, "a key with this hash already exists")
		}
		if err := hashes.Delete([]byte(old.Hash)); err != nil {
			return err
		}
		if err := hashes.Put([]byte(k.Hash), []byte(k.ID)); err != nil {
			return err
		}
	}
	return put(tx.Bucket(bucketKeys), k.ID, keyRecord{Key: k, Hash: k.Hash})
}

// ListKeys lists keys by ascending id: the order they were issued in.
func (s *Store) ListKeys(ctx context.Context, cursor string, limit int) ([]vsecure.Key, string, error) {
	limit = pageLimit(limit)
	if err := checkID(cursor); err != nil {
		return nil, "", err
	}
	var out []vsecure.Key
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return oldestFirst(ctx, tx.Bucket(bucketKeys), "", cursor, func(_, v []byte) (bool, error) {
			var r keyRecord
			if err := decode(v, &r); err != nil {
				return false, err
			}
			out = append(out, r.key())
			return len(out) <= limit, nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	if len(out) > limit {
		out = out[:limit]
		return out, out[limit-1].ID, nil
	}
	return out, "", nil
}

// MarkKeyUsed implements vsecure.Store. The key record is the only copy in
// this store (the hash bucket holds just the id). It rewrites the record
// as read inside its own transaction, so it changes nothing but
// LastUsedAt, and it leaves Version alone: a recorded use must not make a
// concurrent revocation lose its race.
func (s *Store) MarkKeyUsed(ctx context.Context, k vsecure.Key, at, since time.Time) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var cur vsecure.Key
		if err := s.getKey(tx, k.ID, &cur); err != nil {
			return err
		}
		if cur.LastUsedAt != nil && !cur.LastUsedAt.Before(since) {
			return nil
		}
		at := at
		cur.LastUsedAt = &at
		return put(tx.Bucket(bucketKeys), cur.ID, keyRecord{Key: cur, Hash: cur.Hash})
	})
}
