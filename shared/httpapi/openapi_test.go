package httpapi

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// docPath is the committed document; UPDATE_GOLDEN=1 go test -run
// TestOpenAPIDocIsCurrent ./shared/httpapi/ rewrites it (make openapi).
var docPath = filepath.Join("..", "..", "docs", "openapi.json")

func TestOpenAPIDocIsCurrent(t *testing.T) {
	got, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(docPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (run make openapi to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run make openapi and review the diff", docPath)
	}
}

type openAPIDocument struct {
	Paths      map[string]map[string]map[string]any `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]any `json:"properties"`
			Required   []string       `json:"required"`
		} `json:"schemas"`
	} `json:"components"`
}

func parseOpenAPI(t *testing.T) openAPIDocument {
	t.Helper()
	b, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDocument
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestOpenAPICoversTheRouteTable: every route is in the document with its
// method, authentication and idempotency, and the document has no
// operation that no route serves. The console's HTML pages are not the
// JSON API and are not in it.
func TestOpenAPICoversTheRouteTable(t *testing.T) {
	doc := parseOpenAPI(t)
	served := map[string]bool{}
	for _, rt := range Routes() {
		if rt.Mount == MountConsole {
			if _, ok := doc.Paths[openAPIPath(rt.Path)]; ok {
				t.Errorf("console route %s is in the JSON API's document", rt.Pattern())
			}
			continue
		}
		key := strings.ToLower(rt.Method) + " " + openAPIPath(rt.Path)
		served[key] = true
		o, ok := doc.Paths[openAPIPath(rt.Path)][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("route %s is not in the document", rt.Pattern())
			continue
		}
		sec, hasSec := o["security"].([]any)
		if public := rt.Auth != AuthKey; public != (hasSec && len(sec) == 0) {
			t.Errorf("%s: security %v, want public=%v", rt.Pattern(), o["security"], public)
		}
		params, _ := json.Marshal(o["parameters"])
		if idem := rt.Idempotent; idem != strings.Contains(string(params), "IdempotencyKey") {
			t.Errorf("%s: Idempotency-Key documented = %v, want %v", rt.Pattern(), !idem, idem)
		}
		for _, seg := range strings.Split(openAPIPath(rt.Path), "/") {
			if name, ok := strings.CutPrefix(seg, "{"); ok && !strings.Contains(string(params), `"name":"`+strings.TrimSuffix(name, "}")+`"`) {
				t.Errorf("%s: path parameter %s not documented", rt.Pattern(), name)
			}
		}
		if rt.Auth == AuthKey {
			res, _ := o["responses"].(map[string]any)
			if _, ok := res["401"]; !ok {
				t.Errorf("%s: authenticated, but no 401 documented", rt.Pattern())
			}
		}
	}
	for p, methods := range doc.Paths {
		for m := range methods {
			if !served[m+" "+p] {
				t.Errorf("the document has %s %s, which no route serves", strings.ToUpper(m), p)
			}
		}
	}
	for pattern := range operations {
		if !slices.ContainsFunc(Routes(), func(rt Route) bool { return rt.Pattern() == pattern }) {
			t.Errorf("operations documents %s, which is not in the route table", pattern)
		}
	}
}

// TestOpenAPISchemasMatchEncoding: each schema component has exactly the
// keys encoding/json writes for its Go type (all of them when every field
// is set), and its required fields are the ones written even when empty.
func TestOpenAPISchemasMatchEncoding(t *testing.T) {
	_, types, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	doc := parseOpenAPI(t)
	if len(types) != len(doc.Components.Schemas) {
		t.Fatalf("%d types for %d schema components", len(types), len(doc.Components.Schemas))
	}
	keysOf := func(v reflect.Value) []string {
		b, err := json.Marshal(v.Interface())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return slices.Sorted(maps.Keys(m))
	}
	for name, typ := range types {
		s := doc.Components.Schemas[name]
		props := slices.Sorted(maps.Keys(s.Properties))
		if got := keysOf(filled(typ, 0)); !slices.Equal(got, props) {
			t.Errorf("%s: encoding/json writes %v, the schema has %v", name, got, props)
		}
		if typ.Kind() == reflect.Struct && s.Properties != nil && isResponse(name) {
			empty := keysOf(reflect.New(typ).Elem())
			if req := slices.Sorted(slices.Values(s.Required)); !slices.Equal(req, empty) {
				t.Errorf("%s: required %v, but an empty value writes %v", name, req, empty)
			}
		}
	}
}

// isResponse tells the components of responses (their required fields
// are what encoding/json always writes) from request bodies (closed, with
// the fields the gate needs).
func isResponse(name string) bool {
	for _, o := range operations {
		if o.req != nil && reflect.TypeOf(o.req).Name() != "" && componentName(reflect.TypeOf(o.req)) == name {
			return false
		}
	}
	return true
}

// filled returns a value of t with every field set, so that encoding/json
// writes every key, omitempty or not.
func filled(t reflect.Type, depth int) reflect.Value {
	v := reflect.New(t).Elem()
	if depth > 4 {
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		v.Set(filled(t.Elem(), depth+1).Addr())
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Slice:
		v.Set(reflect.Append(v, filled(t.Elem(), depth+1)))
	case reflect.Map:
		v.Set(reflect.MakeMap(t))
		v.SetMapIndex(reflect.ValueOf("k").Convert(t.Key()), filled(t.Elem(), depth+1))
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC)))
			break
		}
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				v.Field(i).Set(filled(f.Type, depth+1))
			}
		}
	}
	return v
}
