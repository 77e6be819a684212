package secretrun

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	refs, err := ParseEnvFile(strings.NewReader("# comment\n\nDB=production/DATABASE_URL\n  TOKEN=vsecure://secrets/staging/API_TOKEN  \n"))
	want := []Ref{{"DB", "vsecure://secrets/production/DATABASE_URL"}, {"TOKEN", "vsecure://secrets/staging/API_TOKEN"}}
	if err != nil || !slices.Equal(refs, want) {
		t.Fatalf("%v %v", refs, err)
	}
	for _, bad := range []string{"DB", "1DB=production/X", "DB=", "DB=vsecure://secrets/production/*", "A B=production/X"} {
		if _, err := ParseEnvFile(strings.NewReader(bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestEnvironReplacesAndAdds(t *testing.T) {
	got := Environ([]string{"PATH=/bin", "DB=old", "DBX=keep"}, []Value{{Ref: Ref{Name: "DB"}, Value: "new"}, {Ref: Ref{Name: "T"}, Value: "t"}})
	if want := []string{"PATH=/bin", "DBX=keep", "DB=new", "T=t"}; !slices.Equal(got, want) {
		t.Fatalf("%v", got)
	}
}

func TestExitCodeLikeAShell(t *testing.T) {
	cases := []struct {
		argv []string
		want int
	}{
		{[]string{"sh", "-c", "exit 0"}, 0},
		{[]string{"sh", "-c", "exit 42"}, 42},
		{[]string{"sh", "-c", "kill -9 $$"}, 128 + 9},
		{[]string{"/nonexistent/cmd"}, 127},
	}
	for _, tc := range cases {
		code, ok := ExitCode(exec.Command(tc.argv[0], tc.argv[1:]...).Run())
		if !ok || code != tc.want {
			t.Errorf("%v: %d %v, want %d", tc.argv, code, ok, tc.want)
		}
	}
}
