package dynamo

import (
	"encoding/base64"
	"encoding/json"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vsecure/vsecure/shared/vsecure"
)

// Cursors are the key of the last item a page returned, as base64url JSON
// of its string key attributes. The gate signs them; the store still checks
// that a cursor names exactly the key attributes of the query it is given
// to and lies in that query's partition, so a malformed or transplanted
// cursor is invalid_request rather than an AWS validation error.

func encodeCursor(k map[string]types.AttributeValue) string {
	if len(k) == 0 {
		return ""
	}
	m := make(map[string]string, len(k))
	for name, v := range k {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			m[name] = s.Value
		}
	}
	b, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the ExclusiveStartKey of cursor, which must hold
// exactly names and have partition attribute part equal to partValue
// (part "": no partition to check).
func decodeCursor(cursor string, names []string, part, partValue string) (map[string]types.AttributeValue, error) {
	if cursor == "" {
		return nil, nil
	}
	bad := vsecure.Errorf(vsecure.EInvalid, "invalid cursor")
	if len(cursor) > 4096 {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, bad
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || len(m) != len(names) {
		return nil, bad
	}
	k := make(map[string]types.AttributeValue, len(m))
	for name, v := range m {
		if !slices.Contains(names, name) || v == "" || len(v) > 1024 {
			return nil, bad
		}
		k[name] = str(v)
	}
	if part != "" && m[part] != partValue {
		return nil, bad
	}
	return k, nil
}

// pageLimit is the number of items a page returns.
func pageLimit(limit int) int {
	if limit <= 0 {
		return 50
	}
	return min(limit, 1000)
}
