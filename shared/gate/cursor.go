package gate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Cursors are the store's raw position, bound by HMAC to the query that
// produced it (operation, caller and filters). A forged, altered or
// transplanted cursor fails verification, so it cannot reach items outside
// the caller's query.

func (g *Gate) signCursor(scope, raw string) string {
	if raw == "" {
		return ""
	}
	body := base64.RawURLEncoding.EncodeToString([]byte(raw))
	return body + "." + base64.RawURLEncoding.EncodeToString(g.cursorMAC(scope, raw))
}

func (g *Gate) openCursor(scope, cursor string) (string, error) {
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
	if err1 != nil || err2 != nil || !hmac.Equal(sig, g.cursorMAC(scope, string(raw))) {
		return "", bad
	}
	return string(raw), nil
}

func (g *Gate) cursorMAC(scope, raw string) []byte {
	m := hmac.New(sha256.New, g.cursorKey)
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write([]byte(raw))
	return m.Sum(nil)[:16]
}

// Page limits.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 1 || n > MaxLimit:
		return 0, vsecure.Errorf(vsecure.EInvalid, "limit must be between 1 and %d", MaxLimit)
	}
	return n, nil
}

// Pagination is the page metadata of list responses.
type Pagination struct {
	Cursor  string `json:"cursor"`
	HasMore bool   `json:"hasMore"`
}
