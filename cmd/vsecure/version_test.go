package main

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribeBuild(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-trimpath", Value: "true"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-11-30T12:00:00Z"},
		{Key: "vcs.modified", Value: "false"},
	}
	for _, tc := range []struct {
		name    string
		stamped string
		commit  string
		bi      *debug.BuildInfo
		ok      bool
		want    buildInfo
	}{
		{
			name: "release_build_stamped_version_and_commit", stamped: "v1.2.3", commit: "fedcba9876543210fedcba9876543210fedcba98",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "-trimpath", Value: "true"}}}, ok: true,
			want: buildInfo{Version: "v1.2.3", Commit: "fedcba9876543210fedcba9876543210fedcba98", Go: "go1.26.8"},
		},
		{
			name: "clone_build_reports_the_vcs_revision",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs}, ok: true,
			want: buildInfo{Version: "devel", Commit: "0123456789abcdef0123456789abcdef01234567", Time: "2026-11-30T12:00:00Z", Go: "go1.26.8"},
		},
		{
			name: "go_install_at_version_uses_the_module_version",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, ok: true,
			want: buildInfo{Version: "v1.2.3", Go: "go1.26.8"},
		},
		{
			name: "clone_build_with_changes_is_devel_and_modified",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"},
			}}, ok: true,
			want: buildInfo{Version: "devel", Commit: "abc", Modified: true, Go: "go1.26.8"},
		},
		{
			name: "no_build_info_falls_back_to_the_runtime",
			want: buildInfo{Version: "devel", Go: runtime.Version()},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got := describeBuild(tc.stamped, tc.commit, tc.bi, tc.ok); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	code, out, errs := cli(nil, "version")
	if code != exitOK || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	// A test binary is not stamped: no -X version, no VCS settings.
	want := "vsecure devel\ngo      " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	for _, alias := range []string{"--version", "-version"} {
		if code, got, _ := cli(nil, alias); code != exitOK || got != out {
			t.Errorf("vsecure %s: exit %d, stdout %q; want the same as vsecure version", alias, code, got)
		}
	}

	code, out, _ = cli(nil, "version", "--json")
	var b buildInfo
	if err := json.Unmarshal([]byte(out), &b); code != exitOK || err != nil {
		t.Fatalf("--json: exit %d, %v: %q", code, err, out)
	}
	if b.Version != "devel" || b.Go != runtime.Version() || !strings.Contains(out, `"platform"`) {
		t.Errorf("--json: %+v from %s", b, out)
	}
}
