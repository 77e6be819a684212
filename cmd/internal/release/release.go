package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// platform is a GOOS/GOARCH pair the CLI is released for.
type platform struct{ os, arch string }

func (p platform) String() string { return p.os + "/" + p.arch }

// releasePlatforms are the five the release ships (and the .mcpb bundles).
func releasePlatforms() []platform {
	return []platform{{"darwin", "arm64"}, {"darwin", "amd64"}, {"linux", "amd64"}, {"linux", "arm64"}, {"windows", "amd64"}}
}

func parsePlatform(s string) (platform, error) {
	goos, goarch, ok := strings.Cut(s, "/")
	if !ok || goos == "" || goarch == "" {
		return platform{}, fmt.Errorf("platform %q: want GOOS/GOARCH", s)
	}
	return platform{goos, goarch}, nil
}

// config is one release run.
type config struct {
	module    string // the module's root directory (where go.mod is)
	out       string // where archives, SBOMs and SHA256SUMS go
	version   string // the tag, e.g. v1.2.3: stamped into the binary and the file names
	commit    string // the full commit id, stamped into the binary
	epoch     time.Time
	platforms []platform
	// sbomTool is the path of a pinned cyclonedx-gomod; empty writes no
	// SBOMs.
	sbomTool string
	// extra are files built elsewhere (the .mcpb) that SHA256SUMS lists too.
	extra []string
	log   io.Writer
}

// buildFlags make the binary a function of the source, the toolchain, the
// version and the commit alone: no absolute paths (-trimpath), no build id,
// no symbol table or DWARF (which would carry both), no cgo (no host C
// toolchain). The commit is stamped rather than left to the toolchain's VCS
// stamping, which GOFLAGS may turn off and a git worktree never gets: the
// same commit would give other bytes on another machine.
func buildFlags(version, commit string) []string {
	return []string{"-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid= -X main.releaseVersion=" + version + " -X main.releaseCommit=" + commit}
}

// buildEnv pins what the environment (or `go env -w`) could otherwise
// change in the output.
func buildEnv(p platform) []string {
	return append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.os, "GOARCH="+p.arch, "GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=-mod=readonly")
}

var (
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	commitRE  = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

// release builds, archives (and with sbomTool, describes) the CLI for each
// platform into c.out, then writes SHA256SUMS over what it wrote and
// c.extra. It returns the names written, SHA256SUMS last.
func release(ctx context.Context, c config) ([]string, error) {
	if !versionRE.MatchString(c.version) {
		// It goes into -ldflags and file names: no spaces, no slashes.
		return nil, fmt.Errorf("version %q: want something like v1.2.3", c.version)
	}
	if !commitRE.MatchString(c.commit) {
		return nil, fmt.Errorf("commit %q: want a full hex commit id", c.commit)
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return nil, err
	}
	readme, err := os.ReadFile(filepath.Join(c.module, "README.md"))
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "vsecure-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	var written []string
	for _, p := range c.platforms {
		start := time.Now()
		exe := "vsecure"
		if p.os == "windows" {
			exe += ".exe"
		}
		bin := filepath.Join(work, p.os+"-"+p.arch, exe)
		if err := build(ctx, c.module, p, c.version, c.commit, bin); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		base := fmt.Sprintf("vsecure-%s-%s-%s", c.version, p.os, p.arch)
		files := []file{{name: base + "/" + exe, mode: 0o755, data: data}, {name: base + "/README.md", mode: 0o644, data: readme}}
		var buf bytes.Buffer
		name := base + ".tar.gz"
		if p.os == "windows" {
			name = base + ".zip"
			err = writeZip(&buf, files, c.epoch)
		} else {
			err = writeTarGz(&buf, files, c.epoch)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(c.out, name), buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		written = append(written, name)
		if c.sbomTool != "" {
			sbom := base + ".cdx.json"
			if err := describe(ctx, c.sbomTool, c.module, c.version, bin, filepath.Join(c.out, sbom)); err != nil {
				return nil, fmt.Errorf("%s: %w", sbom, err)
			}
			written = append(written, sbom)
		}
		fmt.Fprintf(c.log, "release: %-14s %s (%.1f MB) in %s\n", p, name, float64(buf.Len())/1e6, time.Since(start).Round(100*time.Millisecond))
	}

	paths := make([]string, 0, len(written)+len(c.extra))
	for _, n := range written {
		paths = append(paths, filepath.Join(c.out, n))
	}
	paths = append(paths, c.extra...)
	sums, err := sha256sums(paths)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(c.out, "SHA256SUMS"), sums, 0o644); err != nil {
		return nil, err
	}
	return append(written, "SHA256SUMS"), nil
}

// build cross-compiles cmd/vsecure for p into bin.
func build(ctx context.Context, module string, p platform, version, commit, bin string) error {
	args := append([]string{"build"}, buildFlags(version, commit)...)
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", bin, "./cmd/vsecure")...)
	cmd.Dir = module
	cmd.Env = buildEnv(p)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for %s: %w\n%s", p, err, out)
	}
	return nil
}

// describe writes the CycloneDX SBOM of a built binary: the modules it
// links, read from the build info the binary carries, so the SBOM is of the
// shipped artifact and not of the source tree. Without serial number and
// timestamp it is as reproducible as the binary.
func describe(ctx context.Context, tool, module, version, bin, out string) error {
	cmd := exec.CommandContext(ctx, tool, "bin", "-json", "-noserial", "-notimestamp", "-version", version, "-output", out, bin)
	cmd.Dir = module
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", tool, err, b)
	}
	return nil
}

// sha256sums is the `sha256sum` format (`sha256sum -c` reads it), by name.
func sha256sums(paths []string) ([]byte, error) {
	lines := make([]string, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		lines = append(lines, hex.EncodeToString(sum[:])+"  "+filepath.Base(p)+"\n")
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][66:] < lines[j][66:] })
	return []byte(strings.Join(lines, "")), nil
}
