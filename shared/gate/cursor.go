package gate

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/vsecure"
)

// Cursors are the store's raw position, bound by HMAC to the query that
// produced it (operation, caller and filters). A forged, altered or
// transplanted cursor fails verification, so it cannot reach items outside
// the caller's query.

// CursorKeySource supplies the cursor key when it is not known at
// construction: a Lambda function loads it from Secrets Manager on the
// first call that paginates, not at init. It is asked on every paginated
// call, so it caches.
type CursorKeySource interface {
	CursorKey(ctx context.Context) ([]byte, error)
}

// cursorSigner signs and opens cursors with one key.
type cursorSigner struct{ key []byte }

// cursors returns the signer of this call: the fixed key, or the source's.
func (g *Gate) cursors(ctx context.Context) (cursorSigner, error) {
	if g.cursorSource == nil {
		return cursorSigner{g.cursorKey}, nil
	}
	k, err := g.cursorSource.CursorKey(ctx)
	if err != nil {
		return cursorSigner{}, fmt.Errorf("cursor key: %w", err)
	}
	if len(k) < 32 {
		return cursorSigner{}, errors.New("cursor key: shorter than 32 bytes")
	}
	return cursorSigner{k}, nil
}

func (c cursorSigner) sign(scope, raw string) string {
	if raw == "" {
		return ""
	}
	body := base64.RawURLEncoding.EncodeToString([]byte(raw))
	return body + "." + base64.RawURLEncoding.EncodeToString(c.mac(scope, raw))
}

func (c cursorSigner) open(scope, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	bad := vsecure.Errorf(vsecure.EInvalid, "invalid cursor")
	body, mac, ok := strings.Cut(cursor, ".")
	if !ok || len(cursor) > 2048 {
		return "", bad
	}
	raw, err1 := base64.RawURLEncoding.Strict().DecodeString(body)
	sig, err2 := base64.RawURLEncoding.Strict().DecodeString(mac)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, c.mac(scope, string(raw))) {
		return "", bad
	}
	return string(raw), nil
}

func (c cursorSigner) mac(scope, raw string) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write([]byte(raw))
	return m.Sum(nil)[:16]
}

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return api.DefaultLimit, nil
	case n < 1 || n > api.MaxLimit:
		return 0, vsecure.Errorf(vsecure.EInvalid, "limit must be between 1 and %d", api.MaxLimit)
	}
	return n, nil
}
