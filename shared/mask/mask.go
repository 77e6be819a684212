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

// denseDepth: states this shallow get a full row of successors, the
// rest only their trie edges and a failure link. Text sits in shallow
// states nearly always, so the hot loop is one table load a byte, while
// memory stays linear in the patterns' length (a 32 KiB value with every
// byte value in it would need gigabytes of full rows).
const denseDepth = 4

// automaton is an Aho-Corasick automaton over byte classes (class maps a
// byte to its column; 0 is a byte no pattern holds). A state is an int32:
// s >= 0 is the offset of a dense row in table, [classes successors,
// cover, depth]; s < 0 is ^i, sparse state i.
type automaton struct {
	class   [256]int32
	classes int32
	table   []int32
	// Sparse state i: edges edgeClass/edgeTo[from[i]:from[i+1]], failure
	// state fail[i], and cover and depth as in a dense row.
	from, fail, cover, depth []int32
	edgeClass, edgeTo        []int32
}

// A state's cover is the length of the longest pattern ending there (0:
// none): a match covers that many bytes back from where it ends. Its
// depth is how many trailing bytes it has consumed, the most that may
// still begin an occurrence.
func (a *automaton) coverOf(s int32) int32 {
	if s >= 0 {
		return a.table[s+a.classes]
	}
	return a.cover[^s]
}

func (a *automaton) depthOf(s int32) int32 {
	if s >= 0 {
		return a.table[s+a.classes+1]
	}
	return a.depth[^s]
}

// step leaves sparse state s on class c: its edge, or its failure
// state's step, down to a dense state.
func (a *automaton) step(s, c int32) int32 {
	for s < 0 {
		i := ^s
		for e := a.from[i]; e < a.from[i+1]; e++ {
			if a.edgeClass[e] == c {
				return a.edgeTo[e]
			}
		}
		s = a.fail[i]
	}
	return a.table[s+c]
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
	// The trie, children as sibling lists.
	var (
		first   = []int32{-1}
		sibling = []int32{-1}
		label   = []int32{0}
		own     = []int32{0} // length of the pattern ending here
		depth   = []int32{0}
	)
	child := func(n, c int32) int32 {
		for k := first[n]; k >= 0; k = sibling[k] {
			if label[k] == c {
				return k
			}
		}
		return -1
	}
	for _, p := range patterns {
		n := int32(0)
		for i := 0; i < len(p); i++ {
			c := a.class[p[i]]
			k := child(n, c)
			if k < 0 {
				k = int32(len(first))
				first, sibling, label = append(first, -1), append(sibling, first[n]), append(label, c)
				own, depth = append(own, 0), append(depth, depth[n]+1)
				first[n] = k
			}
			n = k
		}
		own[n] = int32(len(p))
	}
	// Breadth first: failure links, covers inherited along them, and each
	// node's encoding, dense rows first in that order.
	fail := make([]int32, len(first))
	order := []int32{0}
	for q := 0; q < len(order); q++ {
		n := order[q]
		if n != 0 {
			own[n] = max(own[n], own[fail[n]])
		}
		for k := first[n]; k >= 0; k = sibling[k] {
			order = append(order, k)
			if n == 0 {
				continue
			}
			f := fail[n]
			for {
				if t := child(f, label[k]); t >= 0 {
					fail[k] = t
					break
				}
				if f == 0 {
					break
				}
				f = fail[f]
			}
		}
	}
	stride := a.classes + 2
	enc := make([]int32, len(first))
	dense, sparse := int32(0), int32(0)
	for _, n := range order {
		if depth[n] < denseDepth {
			enc[n] = dense * stride
			dense++
		} else {
			enc[n] = ^sparse
			sparse++
		}
	}
	a.table = make([]int32, dense*stride)
	a.from = make([]int32, 0, sparse+1)
	for _, n := range order {
		if s := enc[n]; s >= 0 {
			row := a.table[s : s+stride]
			for c := int32(0); c < a.classes; c++ {
				if k := child(n, c); k >= 0 {
					row[c] = enc[k]
				} else if n != 0 {
					// The failure state is shallower, so dense, and done.
					row[c] = a.table[enc[fail[n]]+c]
				}
			}
			row[a.classes], row[a.classes+1] = own[n], depth[n]
			continue
		}
		a.from = append(a.from, int32(len(a.edgeTo)))
		for k := first[n]; k >= 0; k = sibling[k] {
			a.edgeClass, a.edgeTo = append(a.edgeClass, label[k]), append(a.edgeTo, enc[k])
		}
		a.fail, a.cover, a.depth = append(a.fail, enc[fail[n]]), append(a.cover, own[n]), append(a.depth, depth[n])
	}
	a.from = append(a.from, int32(len(a.edgeTo)))
	return a
}
