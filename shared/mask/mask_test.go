package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/url"
	"runtime"
	"strings"
	"testing"
)

// reference masks data the slow, obvious way: mark every byte of every
// occurrence of every pattern, join occurrences that share a byte, write
// one Mask per joined run. The streaming Writer must agree with it.
func reference(data []byte, values []string) []byte {
	var patterns []string
	for _, v := range values {
		patterns = append(patterns, Patterns(v)...)
	}
	// ends[i]: the furthest end of an occurrence starting at i.
	ends := make([]int, len(data))
	for _, p := range patterns {
		for i := 0; i+len(p) <= len(data); i++ {
			if bytes.Equal(data[i:i+len(p)], []byte(p)) {
				ends[i] = max(ends[i], i+len(p))
			}
		}
	}
	var out []byte
	for i := 0; i < len(data); {
		if ends[i] == 0 {
			out = append(out, data[i])
			i++
			continue
		}
		end := ends[i]
		for j := i; j < end; j++ {
			end = max(end, ends[j])
		}
		out = append(out, Mask...)
		i = end
	}
	return out
}

// masked writes data through a Writer in the given chunk sizes (cycled).
func masked(t testing.TB, data []byte, values []string, chunks []int) []byte {
	var out bytes.Buffer
	w := NewWriter(&out, values)
	for i, k := 0, 0; i < len(data); k++ {
		n := len(data) - i
		if len(chunks) > 0 {
			n = min(n, max(1, chunks[k%len(chunks)]))
		}
		if c, err := w.Write(data[i : i+n]); err != nil || c != n {
			t.Fatalf("write: %d %v", c, err)
		}
		i += n
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestEveryEncodingIsMasked(t *testing.T) {
	v := "postgresql://app:pw@db:5432/prod?ssl=on&x=a b"
	b := []byte(v)
	forms := map[string]string{
		"plain":       v,
		"base64":      base64.StdEncoding.EncodeToString(b),
		"base64 raw":  base64.RawStdEncoding.EncodeToString(b),
		"base64url":   base64.URLEncoding.EncodeToString(b),
		"base64url r": base64.RawURLEncoding.EncodeToString(b),
		"hex":         hex.EncodeToString(b),
		"HEX":         strings.ToUpper(hex.EncodeToString(b)),
		"query":       url.QueryEscape(v),
		"path":        url.PathEscape(v),
	}
	for name, f := range forms {
		t.Run(name, func(t *testing.T) {
			got := string(masked(t, []byte("before "+f+" after\n"), []string{v}, nil))
			if got != "before "+Mask+" after\n" {
				t.Fatalf("got %q", got)
			}
		})
	}
}

// TestBase64AtAnyOffset: `echo "$X" | base64`, or the value inside a
// longer encoded blob, leaves only characters that also depend on the
// neighbouring bytes.
func TestBase64AtAnyOffset(t *testing.T) {
	v := "s3cr3t-value-of-some-length"
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for pre := 0; pre < 6; pre++ {
			for _, post := range []string{"", "\n", "xyz"} {
				blob := enc.EncodeToString([]byte(strings.Repeat("A", pre) + v + post))
				got := string(masked(t, []byte(blob), []string{v}, []int{3}))
				if !strings.Contains(got, Mask) {
					t.Fatalf("offset %d %q: %q unmasked", pre, post, got)
				}
				rest := strings.Replace(got, Mask, "", 1)
				// Only the neighbours' characters stay, and at most
				// two on each side that mix their bits with the value's.
				if bound := (pre+len(post))*4/3 + 2 + 2 + 2; len(rest) > bound {
					t.Fatalf("offset %d %q: %d characters left around the mask: %q", pre, post, len(rest), got)
				}
			}
		}
	}
}

func TestSplitAcrossWrites(t *testing.T) {
	v := "hunter2-hunter2"
	data := []byte("a" + v + "b" + v + v + "c")
	want := "a" + Mask + "b" + Mask + Mask + "c"
	for n := 1; n <= len(data); n++ {
		if got := string(masked(t, data, []string{v}, []int{n})); got != want {
			t.Fatalf("chunks of %d: %q", n, got)
		}
	}
}

func TestOverlappingValuesJoin(t *testing.T) {
	got := string(masked(t, []byte("xabcdey"), []string{"abcd", "cde"}, []int{1}))
	if got != "x"+Mask+"y" {
		t.Fatalf("got %q", got)
	}
}

func TestShortValuesStillMasked(t *testing.T) {
	if got := string(masked(t, []byte("a=1;b=12"), []string{"1"}, nil)); got != "a="+Mask+";b="+Mask+"2" {
		t.Fatalf("got %q", got)
	}
}

// TestLargeValueStaysSmall: a value of the largest size a secret may have,
// holding every byte value (a key file), builds an automaton linear in its
// length: full rows for every state would take gigabytes.
func TestLargeValueStaysSmall(t *testing.T) {
	v := make([]byte, 32<<10)
	for i := range v {
		v[i] = byte(i*7 + i/256)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w := NewWriter(io.Discard, []string{string(v)})
	runtime.ReadMemStats(&after)
	if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 256 {
		t.Fatalf("building the automaton allocated %d MiB", mb)
	}
	w.Close()
	data := append(append([]byte("head "), hex.EncodeToString(v)...), " tail"...)
	if got := string(masked(t, data, []string{string(v)}, []int{4093})); got != "head "+Mask+" tail" {
		t.Fatalf("got %d bytes, not masked", len(got))
	}
}

func TestNoValuesPassesThrough(t *testing.T) {
	data := []byte("nothing to hide\n")
	if got := masked(t, data, nil, []int{2}); !bytes.Equal(got, data) {
		t.Fatalf("got %q", got)
	}
}

func TestCloseFlushesHeldBackTail(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, []string{"secret"})
	w.Write([]byte("ok secr"))
	if out.String() != "ok " {
		t.Fatalf("before close %q: a possible start must be held back", out.String())
	}
	w.Close()
	if out.String() != "ok secr" {
		t.Fatalf("after close %q", out.String())
	}
}

// FuzzMask: random values, data built from them, their encodings and
// noise, written in random chunks: the output is the reference's, so it
// never shows an occurrence outside a mask and does not depend on the
// splitting.
func FuzzMask(f *testing.F) {
	f.Add([]byte("hunter2"), []byte("pw=1234"), []byte("x hunter2 y"), uint8(0), []byte{3, 1, 4})
	f.Add([]byte("abc"), []byte("bcd"), []byte("abcd"), uint8(3), []byte{1})
	f.Add([]byte("postgresql://u:p@h/db"), []byte{}, []byte("\n"), uint8(9), []byte{7, 2})
	f.Fuzz(func(t *testing.T, v1, v2, noise []byte, enc uint8, chunks []byte) {
		values := []string{string(v1), string(v2)}
		// The data: noise, each value in one of its forms, noise again.
		var data []byte
		data = append(data, noise...)
		for i, v := range values {
			if ps := Patterns(v); len(ps) > 0 {
				data = append(data, ps[(int(enc)+i)%len(ps)]...)
			}
			data = append(data, noise...)
		}
		sizes := make([]int, len(chunks))
		for i, c := range chunks {
			sizes[i] = int(c)
		}
		want := reference(data, values)
		if got := masked(t, data, values, sizes); !bytes.Equal(got, want) {
			t.Fatalf("chunks %v:\n got %q\nwant %q", sizes, got, want)
		}
		if got := masked(t, data, values, nil); !bytes.Equal(got, want) {
			t.Fatalf("one write:\n got %q\nwant %q", got, want)
		}
		// What is not masked holds no pattern: check every stretch
		// between masks of the reference output that no value can
		// collide with the mask itself.
		for _, v := range values {
			for _, p := range Patterns(v) {
				if strings.Contains(Mask, p) {
					return
				}
			}
		}
		for _, part := range bytes.Split(want, []byte(Mask)) {
			for _, v := range values {
				for _, p := range Patterns(v) {
					if bytes.Contains(part, []byte(p)) {
						t.Fatalf("pattern %q of %q shows in %q", p, v, want)
					}
				}
			}
		}
	})
}

func BenchmarkMask(b *testing.B) {
	values := []string{"postgresql://app:pw@db:5432/prod", "stg-token-123", "sk_live_0123456789abcdef0123456789"}
	// Log-like output with an occasional value.
	var chunk bytes.Buffer
	for chunk.Len() < 64<<10 {
		chunk.WriteString("2026-12-02T01:40:30Z INFO request served path=/v1/items status=200 bytes=5123 took=3ms\n")
		if chunk.Len()%7 == 0 {
			chunk.WriteString("connecting to postgresql://app:pw@db:5432/prod\n")
		}
	}
	data := chunk.Bytes()
	w := NewWriter(io.Discard, values)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Write(data)
	}
	w.Close()
}
