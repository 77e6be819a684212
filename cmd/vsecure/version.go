package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// releaseVersion is the release's tag, stamped by the release build
// (`-ldflags "-X main.releaseVersion=v1.2.3"`, cmd/internal/release). It has
// to be a package variable: -X can set nothing else. Other builds leave it
// empty and fall back to what the toolchain recorded.
var releaseVersion string

// releaseCommit is the commit the release was built from, stamped the same
// way: the toolchain's own VCS stamping is off in some environments
// (GOFLAGS=-buildvcs=false) and absent in git worktrees, and a release must
// not depend on either.
var releaseCommit string

// version is this binary's version, as `vsecure version` prints it and the
// API client's User-Agent and the MCP server's implementation info carry it.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	return describeBuild(releaseVersion, releaseCommit, bi, ok).Version
}

// buildInfo is what `vsecure version` reports.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"commitTime,omitempty"`
	Modified bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// describeBuild combines what the release build stamped with the build info
// the toolchain embeds: the module version for `go install ...@v1.2.3`, the
// VCS revision for a `go build` in a clone.
func describeBuild(stampedVersion, stampedCommit string, bi *debug.BuildInfo, ok bool) buildInfo {
	b := buildInfo{Version: stampedVersion, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if ok {
		b.Go = bi.GoVersion
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if stampedCommit != "" {
		b.Commit, b.Time, b.Modified = stampedCommit, "", false
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

func setupVersion(fs *flag.FlagSet, _ func(string) string, std stdio) action {
	jsonOut := fs.Bool("json", false, "print JSON")
	return func(context.Context, []string) int {
		bi, ok := debug.ReadBuildInfo()
		b := describeBuild(releaseVersion, releaseCommit, bi, ok)
		if *jsonOut {
			enc := json.NewEncoder(std.Out)
			enc.SetIndent("", "  ")
			if err := enc.Encode(b); err != nil {
				return exitError
			}
			return exitOK
		}
		fmt.Fprintf(std.Out, "vsecure %s\n", b.Version)
		if b.Commit != "" {
			commit := b.Commit
			if b.Time != "" {
				commit += " (" + b.Time + ")"
			}
			if b.Modified {
				commit += ", modified"
			}
			fmt.Fprintf(std.Out, "commit  %s\n", commit)
		}
		fmt.Fprintf(std.Out, "go      %s %s\n", b.Go, b.Platform)
		return exitOK
	}
}
