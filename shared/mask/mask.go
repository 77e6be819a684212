// Package mask hides secret values in a stream of output: `vsecure run`
// and the MCP tool run_with_secrets pipe a child's stdout and stderr
// through a Writer so that the values injected into its environment, and
// their common encodings, never reach the terminal or the model.
//
// Each value is searched for as itself, as base64 (standard, raw
// standard, URL, raw URL), as hex (lower and upper case) and URL-encoded
// (query and path escaping). A value embedded at any byte offset of a
// longer base64 stream (`echo "$X" | base64` encodes the value and the
// newline) is caught by its offset cores: for each of the three
// alignments, the run of base64 characters that depends on the value's
// bytes alone (see docs/SECURITY.md for what is not covered).
//
// Matching is one pass of an Aho-Corasick automaton, linear in the output
// whatever the number of values, and streaming: bytes are held back only
// while they may still begin an occurrence, so a value split across Write
// calls is masked, and any splitting of the same bytes gives the same
// output.
package mask

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
)

// Mask replaces each run of output covered by occurrences of the values.
const Mask = "<vsecure:masked>"

// minCore is the shortest misaligned base64 core that is masked: shorter
// cores are common substrings of unrelated base64 and would mask noise.
const minCore = 8

// Patterns returns the byte strings that stand for value in output: the
// value and each of its encodings, without duplicates. An empty value has
// none.
func Patterns(value string) []string {
	if value == "" {
		return nil
	}
	v := []byte(value)
	forms := []string{
		value,
		base64.StdEncoding.EncodeToString(v),
		base64.RawStdEncoding.EncodeToString(v),
		base64.URLEncoding.EncodeToString(v),
		base64.RawURLEncoding.EncodeToString(v),
		hex.EncodeToString(v),
		strings.ToUpper(hex.EncodeToString(v)),
		url.QueryEscape(value),
		url.PathEscape(value),
	}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for off := 0; off < 3; off++ {
			if c := core(enc, v, off); len(c) >= minCore {
				forms = append(forms, c)
			}
		}
	}
	seen := map[string]bool{}
	out := forms[:0]
	for _, f := range forms {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// core is the part of the base64 of a stream holding v at byte offset off
// (mod 3) that depends on v alone: base64 character i carries stream bits
// [6i, 6i+6), which must lie inside v's bits [8off, 8(off+n)).
func core(enc *base64.Encoding, v []byte, off int) string {
	buf := make([]byte, off+len(v)+2)
	copy(buf[off:], v)
	s := enc.EncodeToString(buf)
	first := (8*off + 5) / 6
	last := 8 * (off + len(v)) / 6 // exclusive
	if last <= first {
		return ""
	}
	return s[first:last]
}

// automaton is an Aho-Corasick DFA over byte classes: class maps a byte
// to its column (0: a byte no pattern holds), next is states×classes.
type automaton struct {
	class   [256]int32
	classes int32
	next    []int32
	// table is next for the hot loop: a row per state of its classes'
	// successors, pre-multiplied into row offsets, then its cover; a
	// state is known by its row offset.
	table []int32
	// cover[s]: the longest pattern ending in state s (0: none); a match
	// covers that many bytes back from where it ends.
	cover []int32
	// depth[s]: how many trailing bytes state s has consumed, the most
	// that may still begin an occurrence.
	depth []int32
}

func build(patterns []string) *automaton {
	a := &automaton{classes: 1}
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			if a.class[p[i]] == 0 {
				a.class[p[i]] = a.classes
				a.classes++
			}
		}
	}
	nc := a.classes
	// The trie, with -1 for a missing edge.
	a.next = make([]int32, nc)
	for i := range a.next {
		a.next[i] = -1
	}
	a.cover, a.depth = []int32{0}, []int32{0}
	for _, p := range patterns {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := a.class[p[i]]
			if a.next[s*nc+c] < 0 {
				n := int32(len(a.cover))
				a.next[s*nc+c] = n
				for j := int32(0); j < nc; j++ {
					a.next = append(a.next, -1)
				}
				a.cover = append(a.cover, 0)
				a.depth = append(a.depth, a.depth[s]+1)
			}
			s = a.next[s*nc+c]
		}
		a.cover[s] = int32(len(p))
	}
	// Breadth first: fill missing edges from the failure state, and
	// inherit the longest pattern that is a suffix.
	fail := make([]int32, len(a.cover))
	queue := []int32{}
	for c := int32(0); c < nc; c++ {
		if n := a.next[c]; n < 0 {
			a.next[c] = 0
		} else {
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		a.cover[s] = max(a.cover[s], a.cover[fail[s]])
		for c := int32(0); c < nc; c++ {
			n := a.next[s*nc+c]
			if n < 0 {
				a.next[s*nc+c] = a.next[fail[s]*nc+c]
				continue
			}
			fail[n] = a.next[fail[s]*nc+c]
			queue = append(queue, n)
		}
	}
	stride := nc + 1
	a.table = make([]int32, len(a.cover)*int(stride))
	for s := range a.cover {
		row := a.table[s*int(stride):]
		for c := int32(0); c < nc; c++ {
			row[c] = a.next[int32(s)*nc+c] * stride
		}
		row[nc] = a.cover[s]
	}
	return a
}
