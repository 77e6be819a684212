package strictjson_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/vsecure/vsecure/shared/strictjson"
)

type conditions struct {
	TimeWindow string   `json:"timeWindow,omitempty"`
	Requester  []string `json:"requester,omitempty"`
}

type inner struct {
	Enabled    bool       `json:"enabled"`
	Conditions conditions `json:"conditions"`
}

type Base struct {
	ID string `json:"id"`
}

type body struct {
	Base
	Roles    []string          `json:"roles"`
	Metadata map[string]string `json:"metadata"`
	Auto     *inner            `json:"autoApprove"`
	Items    []inner           `json:"items"`
	Raw      json.RawMessage   `json:"raw"`
	Any      any               `json:"any"`
	Skipped  string            `json:"-"`
	Plain    int
}

func TestStrictJSON(t *testing.T) {
	cases := []struct {
		name, in string
		// want is the error text, "" for success.
		want string
	}{
		{"clean", `{"roles":["agent"],"metadata":{"env":"prod"},"autoApprove":{"enabled":true,"conditions":{"requester":["a"]}}}`, ""},
		{"duplicate_field", `{"roles":["agent"],"roles":["admin"]}`, `duplicate key "roles"`},
		{"miscased_next_to_field", `{"roles":["agent"],"Roles":["admin"]}`, `key "Roles" must be spelled "roles"`},
		{"miscased_alone", `{"Roles":["admin"]}`, `key "Roles" must be spelled "roles"`},
		{"unicode_fold_long_s", `{"role\u017f":["admin"]}`, `key "roleſ" must be spelled "roles"`},
		{"escaped_duplicate", `{"roles":[],"r\u006fles":["admin"]}`, `duplicate key "roles"`},
		{"escaped_miscase", `{"R\u006fles":["admin"]}`, `key "Roles" must be spelled "roles"`},
		{"untagged_field_exact_go_name", `{"Plain":1}`, ""},
		{"untagged_field_other_case", `{"plain":1}`, `key "plain" must be spelled "Plain"`},
		{"embedded_field_promoted", `{"id":"a"}`, ""},
		{"embedded_field_miscased", `{"ID":"a"}`, `key "ID" must be spelled "id"`},
		{"nested_struct_miscased", `{"autoApprove":{"enabled":true,"conditions":{"Requester":["x"]}}}`, `key "Requester" in autoApprove.conditions must be spelled "requester"`},
		{"nested_struct_duplicate", `{"autoApprove":{"conditions":{"requester":["a"],"requester":["b"]}}}`, `duplicate key "requester" in autoApprove.conditions`},
		{"struct_in_array", `{"items":[{"enabled":true},{"enabled":false,"Enabled":true}]}`, `key "Enabled" in items[1] must be spelled "enabled"`},
		{"map_exact_duplicate", `{"metadata":{"env":"a","env":"b"}}`, `duplicate key "env" in metadata`},
		{"map_keys_differ_in_case", `{"metadata":{"env":"a","Env":"b","ENV":"c"}}`, ""},
		{"map_escaped_duplicate", `{"metadata":{"env":"a","\u0065nv":"b"}}`, `duplicate key "env" in metadata`},
		{"raw_message_duplicate", `{"raw":{"a":1,"a":2}}`, `duplicate key "a" in raw`},
		{"raw_message_case_is_free", `{"raw":{"a":1,"A":2}}`, ""},
		{"interface_deep_duplicate", `{"any":[{"x":[{"y":1,"y":2}]}]}`, `duplicate key "y" in any[0].x[0]`},
		{"many_keys_duplicate_after_small", `{"metadata":{` + manyKeys(40) + `,"k3":"dup"}}`, `duplicate key "k3" in metadata`},
		{"many_keys_clean", `{"metadata":{` + manyKeys(40) + `}}`, ""},
		{"unknown_field", `{"role":["admin"]}`, `json: unknown field "role"`},
		{"ignored_tag_is_unknown", `{"Skipped":"x"}`, `json: unknown field "Skipped"`},
		{"whitespace_everywhere", " {\n\t\"roles\" : [ \"a\" ] , \"metadata\" : { \"k\" : \"v\" , \"k\" : \"w\" } } \n", `duplicate key "k" in metadata`},
		{"strings_with_braces_and_quotes", `{"metadata":{"a":"}{\",\"a\":","b":"\\"}}`, ""},
		{"null_values", `{"roles":null,"metadata":null,"autoApprove":null}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b body
			err := strictjson.Unmarshal([]byte(tc.in), &b)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
		})
	}
	t.Run("trailing_data", func(t *testing.T) {
		var b body
		if err := strictjson.Unmarshal([]byte(`{} {}`), &b); !errors.Is(err, strictjson.ErrTrailing) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		var b body
		if err := strictjson.Unmarshal(nil, &b); !errors.Is(err, io.EOF) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("open_ignores_unknown_but_not_duplicates_or_miscased", func(t *testing.T) {
		var b body
		if err := strictjson.UnmarshalOpen([]byte(`{"new":{"x":1},"roles":["a"]}`), &b); err != nil || b.Roles[0] != "a" {
			t.Fatalf("refused: %v", err)
		}
		if err := strictjson.UnmarshalOpen([]byte(`{"new":{"x":1,"x":2}}`), &b); err == nil || err.Error() != `duplicate key "x" in new` {
			t.Fatalf("err = %v", err)
		}
		if err := strictjson.UnmarshalOpen([]byte(`{"ROLES":["admin"]}`), &b); err == nil {
			t.Fatal("miscased field accepted")
		}
	})
	t.Run("custom_unmarshaler_checks_duplicates_only", func(t *testing.T) {
		var c custom
		if err := strictjson.UnmarshalOpen([]byte(`{"Whatever":1}`), &c); err != nil {
			t.Fatalf("refused: %v", err)
		}
		if err := strictjson.UnmarshalOpen([]byte(`{"a":{"b":1,"b":1}}`), &c); err == nil {
			t.Fatal("duplicate accepted")
		}
	})
}

type custom struct{ m map[string]any }

func (c *custom) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &c.m) }

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	return strings.Join(keys, ",")
}

// hasDuplicate is the reference: a token walk that tracks the keys of
// every open object.
func hasDuplicate(data []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	type frame struct {
		obj     bool
		keys    map[string]bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.wantKey = true
				}
				stack = append(stack, &frame{obj: v == '{', keys: map[string]bool{}, wantKey: true})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.obj && top.wantKey {
				if top.keys[v] {
					return true
				}
				top.keys[v] = true
				top.wantKey = false
				continue
			}
		}
		if top != nil && top.obj {
			top.wantKey = true
		}
	}
}

// FuzzStrictJSON: on any input, decoding into any is refused exactly when
// the reference finds a duplicate key (or encoding/json refuses), and
// decoding into a struct never panics and never accepts a key that is not
// spelled as a field.
func FuzzStrictJSON(f *testing.F) {
	for _, s := range []string{
		`{"roles":["agent"],"Roles":["admin"]}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `{"metadata":{"a":"1","A":"2"}}`,
		`{"r\u006fles":1,"roles":2}`, `[{"x":1},{"x":1}]`, `{"a":"\"}","a":1}`, `"x"`, `1e400`, `{"a":1}{}`,
		"{\"\xff\":1,\"\xfe\":2}", `{"autoApprove":{"conditions":{"requester":["a"],"requester":[]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		err := strictjson.Unmarshal(data, &v)
		var std any
		stdErr := json.Unmarshal(data, &std)
		switch {
		case stdErr != nil:
			if err == nil {
				t.Fatalf("accepted what encoding/json refuses: %q", data)
			}
		case hasDuplicate(data) != (err != nil):
			t.Fatalf("duplicate=%v but err=%v: %q", hasDuplicate(data), err, data)
		}
		var b body
		if err := strictjson.Unmarshal(data, &b); err == nil {
			var m map[string]json.RawMessage
			if json.Unmarshal(data, &m) == nil {
				for k := range m {
					switch k {
					case "id", "roles", "metadata", "autoApprove", "items", "raw", "any", "Plain":
					default:
						t.Fatalf("accepted key %q: %q", k, data)
					}
				}
			}
		}
	})
}
