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

// command is one row of the CLI's table (commands.go): everything `vsecure
// help`, `vsecure NAME --help` and the dispatcher know about it.
type command struct {
	name     string // "mcp serve" style names are dispatched from their first two words
	summary  string // its line in `vsecure help`
	synopsis string // --help: what follows "Usage: vsecure "
	about    string // --help: what it does, a paragraph
	env      string // --help: the environment it reads; empty means the API client's
	args     int    // how many positional arguments it takes; -1: any number
	// tail: the first positional argument (or --) ends the flags; it and
	// what follows are another program's command line (vsecure run).
	tail bool
	// setup registers the command's flags and returns what runs once they
	// have parsed.
	setup func(fs *flag.FlagSet, env func(string) string, std stdio) action
}

// action runs a command with its flags parsed and returns the exit code.
type action func(ctx context.Context, pos []string) int

// clientEnv is the --help environment paragraph of the commands that call
// the API.
const clientEnv = "Environment: VSECURE_API_URL (default " + client.DefaultBaseURL + "), VSECURE_API_KEY (required)"

// run parses args into c's flags and runs it: --help exits 0, a flag or
// argument the command does not take exits 2 with its usage.
func (c command) run(ctx context.Context, args []string, env func(string) string, std stdio) int {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(std.Err)
	fs.Usage = func() { c.help(fs) }
	act := c.setup(fs, env, std)
	pos, code, done := parseArgs(fs, args, c.args, c.tail)
	if done {
		return code
	}
	return act(ctx, pos)
}

// help prints the usage: synopsis, a paragraph, the environment and the
// flags.
func (c command) help(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: vsecure %s\n\n%s\n", c.synopsis, c.about)
	env := c.env
	if env == "" {
		env = clientEnv
	}
	fmt.Fprintln(w, "\n"+env)
	if hasFlags(fs) {
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
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
func parseArgs(fs *flag.FlagSet, args []string, want int, tail bool) (pos []string, code int, done bool) {
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
		if tail {
			pos = args
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

// apiCall is the row of a command that calls the API and prints what it
// returns (T): its flags and call, and how T prints. The parse, connect,
// fail and print steps around them are the same for all (setup).
type apiCall[T any] struct {
	// flags registers the command's own flags (every API command but
	// noJSON ones also has --json) and returns the call.
	flags func(fs *apiFlags) callFunc[T]
	out   printer[T]
	// noJSON: the command has no --json; its call writes its own output.
	noJSON bool
}

// callFunc asks the API; pos are the positional arguments.
type callFunc[T any] func(ctx context.Context, c *client.Client, pos []string) (T, error)

// apiFlags is what an API command's flags func works with.
type apiFlags struct {
	*flag.FlagSet
	std  stdio
	json *bool // --json was given
	// before, if set, checks the parsed flags before anything connects; a
	// usageError from it exits 2.
	before func(pos []string) error
}

// check sets the check that runs on the parsed flags before connecting.
func (f *apiFlags) check(fn func(pos []string) error) { f.before = fn }

func (a apiCall[T]) setup(fs *flag.FlagSet, env func(string) string, std stdio) action {
	f := &apiFlags{FlagSet: fs, std: std, json: new(bool)}
	if !a.noJSON {
		fs.BoolVar(f.json, "json", false, "print JSON")
	}
	call := a.flags(f)
	return func(ctx context.Context, pos []string) int {
		name := fs.Name()
		if f.before != nil {
			if err := f.before(pos); err != nil {
				fmt.Fprintf(std.Err, "vsecure %s: %v\n", name, err)
				var ue usageError
				if errors.As(err, &ue) && ue.usage {
					fs.Usage()
				}
				return exitUsage
			}
		}
		c, code, ok := connect(name, env, std)
		if !ok {
			return code
		}
		v, err := call(ctx, c, pos)
		if err != nil {
			return fail(name, std, err)
		}
		if *f.json {
			var doc any = v
			if a.out.json != nil {
				doc = a.out.json(v)
			}
			return emit(name, std, doc)
		}
		if a.out.show != nil {
			a.out.show(std, v)
		}
		return exitOK
	}
}

// usageError is a problem with the flags found after parsing them.
type usageError struct {
	msg   string
	usage bool // print the command's usage after the message
}

func (e usageError) Error() string { return e.msg }

// badFlags is a usage error followed by the usage.
func badFlags(format string, a ...any) error {
	return usageError{msg: fmt.Sprintf(format, a...), usage: true}
}

// badInput is a usage error about a value, the usage left out.
func badInput(format string, a ...any) error {
	return usageError{msg: fmt.Sprintf(format, a...)}
}

// printer says how a result prints: show for people (nil: nothing), json
// for --json (nil: the result as it is).
type printer[T any] struct {
	show func(std stdio, v T)
	json func(v T) any
}

// text prints a result as lines of text on stdout.
func text[T any](show func(w io.Writer, v T)) printer[T] {
	return printer[T]{show: func(std stdio, v T) { show(std.Out, v) }}
}

// listing is what a list command returns: one page of items, or all of
// them (--all). paged lists answer with their pagination.
type listing[T any] struct {
	items []T
	page  api.Pagination
	paged bool
}

// columns prints a listing as a table, one row per item, and in JSON as
// {key: items, "pagination": ...}.
func columns[T any](key string, header []string, row func(T) []string) printer[listing[T]] {
	return printer[listing[T]]{
		show: func(std stdio, l listing[T]) {
			rows := make([][]string, 0, len(l.items))
			for _, it := range l.items {
				rows = append(rows, row(it))
			}
			table(std.Out, header, rows)
			if l.page.HasMore {
				fmt.Fprintf(std.Err, "(more results: rerun with --all, or --cursor %s)\n", l.page.Cursor)
			}
		},
		json: func(l listing[T]) any {
			items := l.items
			if items == nil {
				items = []T{}
			}
			if !l.paged {
				return map[string]any{key: items}
			}
			return map[string]any{key: items, "pagination": l.page}
		},
	}
}

// connect builds the API client from the environment.
func connect(name string, env func(string) string, std stdio) (*client.Client, int, bool) {
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
	return c, exitOK, true
}

// fail reports an error with its API code and returns the exit code.
func fail(name string, std stdio, err error) int {
	var ae *client.Error
	switch {
	case errors.As(err, &ae):
		fmt.Fprintf(std.Err, "vsecure %s: %s\n", name, ae.Error())
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(std.Err, "vsecure %s: interrupted\n", name)
	default:
		fmt.Fprintf(std.Err, "vsecure %s: %s: %v\n", name, client.CodeOf(err), err)
	}
	return exitError
}

// emit prints v as indented JSON.
func emit(name string, std stdio, v any) int {
	if err := emitJSON(std.Out, v); err != nil {
		return fail(name, std, err)
	}
	return exitOK
}

func emitJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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

// paged registers the paging flags of a list command and returns its
// call: one page, or every page with --all. page asks the API for one.
func paged[T any](fs *apiFlags, page func(ctx context.Context, c *client.Client, limit int, cursor string) ([]T, api.Pagination, error)) callFunc[listing[T]] {
	all := fs.Bool("all", false, "follow cursors and list every page")
	limit := fs.Int("limit", 0, "page size, 1-200 (default 50)")
	cursor := fs.String("cursor", "", "start at this cursor from an earlier page")
	return func(ctx context.Context, c *client.Client, _ []string) (listing[T], error) {
		one := func(ctx context.Context, cursor string) ([]T, api.Pagination, error) {
			return page(ctx, c, *limit, cursor)
		}
		if !*all {
			items, p, err := one(ctx, *cursor)
			return listing[T]{items: items, page: p, paged: true}, err
		}
		items, err := client.Collect(client.All(ctx, *cursor, one))
		return listing[T]{items: items, paged: true}, err
	}
}

// stringList is a repeatable, comma-separable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
