// Package ddbsize holds DynamoDB's published item-size rules that the
// measuring tools (vsecure-cost, vsecure-auditbench) bill by.
package ddbsize

import "strings"

// Number is the size of a number attribute value: 1 byte per two
// significant digits (leading and trailing zeros trimmed) plus 1.
func Number(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.ReplaceAll(s, ".", "")
	s = strings.TrimLeft(s, "0")
	s = strings.TrimRight(s, "0")
	return (len(s)+1)/2 + 1
}
