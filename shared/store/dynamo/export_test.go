package dynamo

// DecodeRefs lets the external tests read a segment's packed refs.
func DecodeRefs(b []byte) ([]string, error) { return decodeRefs(b) }
