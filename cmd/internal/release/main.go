// Command release builds vsecure's release files: the CLI for each
// platform in a reproducible archive (tar.gz, zip for Windows), a CycloneDX
// SBOM per archive and SHA256SUMS. `make release` runs it; the release
// workflow (.github/workflows/release.yml) runs make release and attests
// and publishes what it wrote.
//
// Reproducible means anyone with the tag and the toolchain of go.mod gets
// the same bytes: the builds are path- and build-id-free, and the archives
// are written here rather than by tar and zip, whose output depends on the
// machine (owners, mtimes, entry order, gzip's name and time).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	out := fs.String("out", "dist", "output directory")
	version := fs.String("version", "", "release version, e.g. v1.2.3 (required)")
	platforms := fs.String("platforms", "", "comma-separated GOOS/GOARCH (default the five released)")
	sbom := fs.String("sbom", "", "path of cyclonedx-gomod; empty writes no SBOMs")
	var extra stringList
	fs.Var(&extra, "sum", "another file for SHA256SUMS, e.g. dist/vsecure.mcpb (repeatable)")
	restamp := fs.String("restamp", "", "only rewrite this zip (the .mcpb) with every entry at the release mtime, and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *restamp != "" {
		epoch, err := sourceDateEpoch(ctx, os.Getenv("SOURCE_DATE_EPOCH"))
		if err != nil {
			return err
		}
		return restampFile(*restamp, epoch)
	}
	if *version == "" {
		return errors.New("-version is required")
	}
	epoch, err := sourceDateEpoch(ctx, os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	commit, err := headCommit(ctx, ".")
	if err != nil {
		return err
	}
	c := config{module: ".", out: *out, version: *version, commit: commit, epoch: epoch, platforms: releasePlatforms(), sbomTool: *sbom, extra: extra, log: os.Stderr}
	if *platforms != "" {
		c.platforms = nil
		for _, s := range strings.Split(*platforms, ",") {
			p, err := parsePlatform(s)
			if err != nil {
				return err
			}
			c.platforms = append(c.platforms, p)
		}
	}
	start := time.Now()
	names, err := release(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "release: %d files in %s/ in %s (mtime %s)\n", len(names), *out, time.Since(start).Round(time.Second), epoch.UTC().Format(time.RFC3339))
	return nil
}

// sourceDateEpoch is the archives' mtime: SOURCE_DATE_EPOCH if set (the
// reproducible-builds convention), else the commit time of HEAD, so a
// rebuild of the same commit gets the same one.
func sourceDateEpoch(ctx context.Context, env string) (time.Time, error) {
	if env == "" {
		b, err := exec.CommandContext(ctx, "git", "log", "-1", "--format=%ct").Output()
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH is unset and git gave no commit time: %w", err)
		}
		env = strings.TrimSpace(string(b))
	}
	s, err := strconv.ParseInt(env, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", env, err)
	}
	return time.Unix(s, 0).UTC(), nil
}

// restampFile rewrites the zip at path with restampZip, through a
// temporary file next to it, so that a failure leaves it as it was.
func restampFile(path string, mtime time.Time) error {
	in, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".restamp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := restampZip(bytes.NewReader(in), int64(len(in)), tmp, mtime); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// headCommit is the commit being released.
func headCommit(ctx context.Context, dir string) (string, error) {
	b, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse HEAD: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
