package digest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vsecure/vsecure/shared/auditlog"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// keyring opens epoch keys from their opening entries and keeps them, so a
// sealer or verifier unwraps each epoch's key once (one kms:Decrypt).
type keyring struct {
	keys  auditlog.MACKeys
	store vsecure.AuditDigests // to find opening entries outside the records at hand; may be nil

	mu     sync.Mutex
	open   map[string]auditlog.Key
	failed map[string]bool
	// opened is when each epoch's opening entry was written, learnt from
	// digest heads, so a key can be found for an epoch opened long ago.
	opened map[string]time.Time
}

func newKeyring(keys auditlog.MACKeys, store vsecure.AuditDigests) *keyring {
	return &keyring{keys: keys, store: store, open: map[string]auditlog.Key{}, failed: map[string]bool{}, opened: map[string]time.Time{}}
}

func isOpening(rec vsecure.AuditRecord) bool {
	return rec.Entry.Operation == auditlog.OpEpoch && rec.Seal != nil && rec.Seal.Seq == 0 &&
		rec.Entry.Metadata[auditlog.MetaEpoch] == rec.Seal.Epoch
}

// learn opens the epoch rec opens, if it is a valid opening entry.
func (k *keyring) learn(ctx context.Context, rec vsecure.AuditRecord) {
	if !isOpening(rec) {
		return
	}
	k.mu.Lock()
	_, ok := k.open[rec.Seal.Epoch]
	k.mu.Unlock()
	if ok {
		return
	}
	key, err := auditlog.OpenFromEntry(ctx, k.keys, rec.Entry)
	if err != nil || !key.Check(rec.Entry, *rec.Seal) {
		return // a forged or broken opening entry opens nothing
	}
	k.mu.Lock()
	k.open[key.Epoch] = key
	k.mu.Unlock()
}

func (k *keyring) heads(d vsecure.Digest) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, h := range d.Heads {
		if !h.Opened.IsZero() {
			k.opened[h.Epoch] = h.Opened
		}
	}
}

// key returns epoch's key, reading its opening entry from the store if a
// digest head said when it was written.
func (k *keyring) key(ctx context.Context, epoch string) (auditlog.Key, bool, error) {
	k.mu.Lock()
	key, ok := k.open[epoch]
	at, known := k.opened[epoch]
	failed := k.failed[epoch]
	k.mu.Unlock()
	if !known {
		// No digest read so far names the epoch: its id says when it
		// was opened.
		at, known = auditlog.EpochOpened(epoch)
	}
	if ok || failed || !known || k.store == nil {
		return key, ok, nil
	}
	err := k.store.AuditRange(ctx, at, at.Add(time.Second), func(rec vsecure.AuditRecord) (bool, error) {
		if isOpening(rec) && rec.Seal.Epoch == epoch {
			k.learn(ctx, rec)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return key, false, fmt.Errorf("digest: opening entry of epoch %s: %w", epoch, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok = k.open[epoch]
	k.failed[epoch] = !ok
	return key, ok, nil
}
