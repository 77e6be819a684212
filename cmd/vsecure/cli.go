package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vsecure/vsecure/shared/api"
	"github.com/vsecure/vsecure/shared/client"
)

// Exit codes of the client commands.
const (
	exitOK    = 0
	exitError = 1 // the API refused or failed; stderr names the error code
	exitUsage = 2
	// exitTampered: audit:verify found the log does not match its digests.
	exitTampered = 3
)

// cmdEnv is what every client command works with.
type cmdEnv struct {
	name string
	std  stdio
	api  *client.Client
	json bool
}

// newFlags returns a flag set whose --help prints usage (synopsis and a
// paragraph) followed by the flags.
func newFlags(name, synopsis, about string, std stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(std.Err)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vsecure %s\n\n%s\n", synopsis, about)
		fmt.Fprintln(fs.Output(), "\nEnvironment: VSECURE_API_URL (default "+client.DefaultBaseURL+"), VSECURE_API_KEY (required)")
		if hasFlags(fs) {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseArgs parses flags placed anywhere among args (`mcp:respond ID
// --approve` and `mcp:respond --approve ID` both work) and checks the
// number of positional arguments (want < 0: any). done reports that the
// command should exit with code (help or a usage error).
func parseArgs(fs *flag.FlagSet, args []string, want int) (pos []string, code int, done bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, true
			}
			return nil, exitUsage, true
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if want >= 0 && len(pos) != want {
		if want == 0 {
			fmt.Fprintf(fs.Output(), "vsecure %s: unexpected argument %q\n", fs.Name(), pos[0])
		} else {
			fmt.Fprintf(fs.Output(), "vsecure %s: want %d argument(s), got %d\n", fs.Name(), want, len(pos))
		}
		fs.Usage()
		return nil, exitUsage, true
	}
	return pos, exitOK, false
}

// connect builds the API client from the environment.
func connect(name string, env func(string) string, std stdio, jsonOut bool) (*cmdEnv, int, bool) {
	key := env("VSECURE_API_KEY")
	if key == "" {
		fmt.Fprintf(std.Err, "vsecure %s: VSECURE_API_KEY is not set; export the API key to use (vsecure dev prints one on first start)\n", name)
		return nil, exitUsage, false
	}
	c, err := client.New(client.Config{BaseURL: orDefault(env("VSECURE_API_URL"), client.DefaultBaseURL), Key: key, UserAgent: "vsecure-cli/" + version()})
	if err != nil {
		fmt.Fprintf(std.Err, "vsecure %s: VSECURE_API_URL: %v\n", name, err)
		return nil, exitUsage, false
	}
	return &cmdEnv{name: name, std: std, api: c, json: jsonOut}, exitOK, true
}

// fail reports an error with its API code and returns the exit code.
func (e *cmdEnv) fail(err error) int {
	var ae *client.Error
	switch {
	case errors.As(err, &ae):
		fmt.Fprintf(e.std.Err, "vsecure %s: %s\n", e.name, ae.Error())
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(e.std.Err, "vsecure %s: interrupted\n", e.name)
	default:
		fmt.Fprintf(e.std.Err, "vsecure %s: %s: %v\n", e.name, client.CodeOf(err), err)
	}
	return exitError
}

// emit prints v as indented JSON.
func (e *cmdEnv) emit(v any) int {
	enc := json.NewEncoder(e.std.Out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return e.fail(err)
	}
	return exitOK
}

// table writes aligned columns.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// pageHint tells a human on stderr that a list has more pages.
func (e *cmdEnv) pageHint(p api.Pagination) {
	if p.HasMore && !e.json {
		fmt.Fprintf(e.std.Err, "(more results: rerun with --all, or --cursor %s)\n", p.Cursor)
	}
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func tsp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return ts(*t)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listFlags are the paging flags of list commands.
type listFlags struct {
	all    bool
	limit  int
	cursor string
}

func (l *listFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&l.all, "all", false, "follow cursors and list every page")
	fs.IntVar(&l.limit, "limit", 0, "page size, 1-200 (default 50)")
	fs.StringVar(&l.cursor, "cursor", "", "start at this cursor from an earlier page")
}

// collect fetches one page, or every page with --all.
func collect[T any](ctx context.Context, l listFlags, page func(ctx context.Context, cursor string) ([]T, api.Pagination, error)) ([]T, api.Pagination, error) {
	if !l.all {
		items, p, err := page(ctx, l.cursor)
		return items, p, err
	}
	items, err := client.Collect(client.All(ctx, l.cursor, page))
	return items, api.Pagination{}, err
}
