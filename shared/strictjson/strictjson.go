// Package strictjson decodes untrusted JSON so that the code reads what a
// human reviewer, a log or a WAF reads in the same text.
//
// encoding/json lets the last of two equal keys win and matches struct
// fields case-insensitively, so {"roles":["agent"],"Roles":["admin"]}
// looks like an agent key and decodes as an admin key. This package refuses
// a key that appears twice in one object (at every depth, maps included)
// and a key that names a struct field in anything but the field's exact
// json name. Keys of free-form maps may differ in case: "env" and "Env"
// are two labels, not one.
//
// The check is a second pass over bytes encoding/json has already
// accepted, guided by the target type; it allocates only for escaped keys,
// objects with many keys, and the error it returns.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// ErrTrailing is returned when data holds more than one JSON value.
var ErrTrailing = errors.New("more than one JSON value")

// Error is a refused key.
type Error struct {
	// Key is the key as written (unescaped).
	Key string
	// Field is the json name of the struct field Key spells in another
	// case; "" for a duplicate key.
	Field string
	// Unknown: Key names no field of the struct.
	Unknown bool
	// path is the enclosing keys and indexes, innermost first.
	path []string
}

// Path is where the object holding Key sits, e.g. "autoApprove.conditions"
// or "items[2]"; "" at the top level.
func (e *Error) Path() string {
	var b strings.Builder
	for i := len(e.path) - 1; i >= 0; i-- {
		s := e.path[i]
		if b.Len() > 0 && s[0] != '[' {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func (e *Error) Error() string {
	where := ""
	if p := e.Path(); p != "" {
		where = " in " + p
	}
	if e.Unknown {
		return "unknown field " + strconv.Quote(e.Key) + where
	}
	if e.Field != "" {
		return "key " + strconv.Quote(e.Key) + where + " must be spelled " + strconv.Quote(e.Field)
	}
	return "duplicate key " + strconv.Quote(e.Key) + where
}

// Unmarshal decodes the one JSON value in data into v, refusing unknown
// struct fields, duplicate keys, keys that spell a field in another case,
// and trailing data. Errors are encoding/json's, *Error or ErrTrailing.
func Unmarshal(data []byte, v any) error { return unmarshal(data, v, false) }

// UnmarshalOpen is Unmarshal for documents of another party's evolving
// schema (Slack's payloads): keys that name no field are ignored, while
// duplicates and miscased field names are still refused. Below a type with
// its own UnmarshalJSON only duplicates are checked, since such a type
// decides its own field names.
func UnmarshalOpen(data []byte, v any) error { return unmarshal(data, v, true) }

func unmarshal(data []byte, v any, open bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if !open {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailing
	}
	s := scanner{data: data, open: open}
	return s.value(reflect.TypeOf(v))
}

// scanner walks JSON that encoding/json has already validated.
type scanner struct {
	data []byte
	i    int
	open bool
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// shape reduces t to what matters for keys: nil means "any JSON", where
// only duplicates are checked.
func shape(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
			return nil
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array:
			return t
		default:
			return nil
		}
	}
	return nil
}

func (s *scanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value(t reflect.Type) error {
	s.ws()
	switch s.data[s.i] {
	case '{':
		return s.object(shape(t))
	case '[':
		return s.array(shape(t))
	case '"':
		s.str()
	default: // number, true, false, null
		for s.i < len(s.data) {
			switch s.data[s.i] {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				return nil
			}
			s.i++
		}
	}
	return nil
}

// str skips a string at s.i and returns its raw contents and whether they
// hold an escape.
func (s *scanner) str() (raw []byte, escaped bool) {
	s.i++ // opening quote
	start := s.i
	for {
		switch s.data[s.i] {
		case '\\':
			escaped = true
			s.i += 2
		case '"':
			raw = s.data[start:s.i]
			s.i++
			return raw, escaped
		default:
			s.i++
		}
	}
}

func (s *scanner) array(t reflect.Type) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	s.i++ // [
	for n := 0; ; n++ {
		s.ws()
		if s.data[s.i] == ']' {
			s.i++
			return nil
		}
		if err := s.value(elem); err != nil {
			return at(err, "["+strconv.Itoa(n)+"]")
		}
		s.ws()
		if s.data[s.i] == ',' {
			s.i++
		}
	}
}

// smallObject is how many keys are compared pairwise before a set takes
// over; request bodies rarely have more.
const smallObject = 16

func (s *scanner) object(t reflect.Type) error {
	var fields *structFields
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = fieldsOf(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	var buf [smallObject][]byte
	seen := buf[:0]
	var set map[string]struct{}
	s.i++ // {
	for {
		s.ws()
		if s.data[s.i] == '}' {
			s.i++
			return nil
		}
		raw, escaped := s.str()
		key := raw
		// encoding/json unescapes keys and replaces invalid UTF-8, so
		// compare what it compares.
		if escaped || !utf8.Valid(raw) {
			var k string
			_ = json.Unmarshal(s.data[s.i-len(raw)-2:s.i], &k) // validated already
			key = []byte(k)
		}
		if set != nil {
			if _, dup := set[string(key)]; dup {
				return &Error{Key: string(key)}
			}
			set[string(key)] = struct{}{}
		} else {
			for _, k := range seen {
				if bytes.Equal(k, key) {
					return &Error{Key: string(key)}
				}
			}
			if len(seen) < smallObject {
				seen = append(seen, key)
			} else {
				// Pairwise comparison would be quadratic in a large object.
				set = make(map[string]struct{}, 4*smallObject)
				for _, k := range seen {
					set[string(k)] = struct{}{}
				}
				set[string(key)] = struct{}{}
			}
		}
		vt := elem
		if fields != nil {
			if f, ok := fields.byName[string(key)]; ok {
				vt = f
			} else if name := fields.fold(key); name != "" {
				return &Error{Key: string(key), Field: name}
			} else if !s.open {
				// encoding/json refuses unknown fields first; should its
				// idea of the fields ever differ from ours, refuse.
				return &Error{Key: string(key), Unknown: true}
			}
		}
		s.ws()
		s.i++ // :
		if err := s.value(vt); err != nil {
			return at(err, string(key))
		}
		s.ws()
		if s.data[s.i] == ',' {
			s.i++
		}
	}
}

// at records that err happened inside the value of seg.
func at(err error, seg string) error {
	var e *Error
	if errors.As(err, &e) {
		e.path = append(e.path, seg)
	}
	return err
}

// structFields are the json names encoding/json decodes into a struct.
type structFields struct {
	byName map[string]reflect.Type
	names  []string
}

// fold returns the field whose name equals key under Unicode case folding
// (encoding/json's rule), or "".
func (f *structFields) fold(key []byte) string {
	for _, n := range f.names {
		if strings.EqualFold(n, string(key)) {
			return n
		}
	}
	return ""
}

var cache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := cache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{byName: map[string]reflect.Type{}}
	collect(f, t, map[reflect.Type]bool{})
	cache.Store(t, f)
	return f
}

// collect adds t's fields, promoting those of untagged embedded structs as
// encoding/json does; a shallower field hides a deeper one of the same name.
func collect(f *structFields, t reflect.Type, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	var embedded []reflect.Type
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, dup := f.byName[name]; !dup {
			f.byName[name] = ft
			f.names = append(f.names, name)
		}
	}
	for _, et := range embedded {
		collect(f, et, visiting)
	}
}
