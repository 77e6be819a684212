package mask

import "io"

// Writer masks values in what is written through it to an underlying
// writer. It is not safe for concurrent use: give stdout and stderr a
// Writer each. Close flushes what is held back; it does not close the
// underlying writer.
type Writer struct {
	w     io.Writer
	a     *automaton
	state int32
	// pending is output not yet written: everything from the first byte
	// that may still belong to an occurrence.
	pending []byte
	// spans are the covered runs of pending, disjoint and in order; a span
	// grows when an occurrence overlaps it. Spans that merely touch stay
	// apart, so the output does not depend on where writes split.
	spans []span
	out   []byte
	err   error
}

type span struct {
	from, to int
	// shown: its mask was written already (the span began before the
	// last flush point and reaches past it).
	shown bool
}

// NewWriter returns a Writer that masks every value in values.
func NewWriter(w io.Writer, values []string) *Writer {
	var patterns []string
	for _, v := range values {
		patterns = append(patterns, Patterns(v)...)
	}
	return &Writer{w: w, a: build(patterns)}
}

// Write masks p into the underlying writer. It reports len(p) unless the
// underlying writer failed.
func (m *Writer) Write(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	start := len(m.pending)
	m.pending = append(m.pending, p...)
	a, s, nc := m.a, m.state, m.a.classes
	table, class := a.table, &a.class
	buf := m.pending
	for i := start; i < len(buf); i++ {
		c := class[buf[i]]
		var l int32
		if s >= 0 {
			s = table[s+c]
		} else {
			s = a.step(s, c)
		}
		if s >= 0 {
			l = table[s+nc]
		} else {
			l = a.cover[^s]
		}
		if l > 0 {
			m.cover(i+1-int(l), i+1)
		}
	}
	m.state = s
	// An occurrence still to come starts within the last depth bytes.
	if err := m.flush(len(buf) - int(a.depthOf(s))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// cover records the occurrence [from, to) of pending.
func (m *Writer) cover(from, to int) {
	shown := false
	for n := len(m.spans); n > 0 && m.spans[n-1].to > from; n-- {
		last := m.spans[n-1]
		from, shown = min(from, last.from), last.shown
		m.spans = m.spans[:n-1]
	}
	m.spans = append(m.spans, span{from, to, shown})
}

// flush writes pending[:upto], masks in place of covered spans, and keeps
// the rest.
func (m *Writer) flush(upto int) error {
	if upto <= 0 {
		return nil
	}
	out := m.out[:0]
	at := 0
	kept := m.spans[:0]
	for _, sp := range m.spans {
		if sp.from >= upto {
			kept = append(kept, sp)
			continue
		}
		out = append(out, m.pending[at:sp.from]...)
		if !sp.shown {
			out = append(out, Mask...)
		}
		at = min(sp.to, upto)
		if sp.to > upto {
			kept = append(kept, span{from: upto, to: sp.to, shown: true})
		}
	}
	out = append(out, m.pending[at:upto]...)
	m.out = out
	// Shift what is kept to the front.
	n := copy(m.pending, m.pending[upto:])
	m.pending = m.pending[:n]
	for i := range kept {
		kept[i].from -= upto
		kept[i].to -= upto
	}
	m.spans = kept
	if len(out) > 0 {
		if _, err := m.w.Write(out); err != nil {
			m.err = err
			return err
		}
	}
	return nil
}

// Close writes what is held back: at the end of the stream nothing more
// can complete an occurrence.
func (m *Writer) Close() error {
	if m.err != nil {
		return m.err
	}
	err := m.flush(len(m.pending))
	m.state = 0
	return err
}
