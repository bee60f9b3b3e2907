package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/lathe-ml/lathe/core/results"
)

func init() {
	register(command{
		name:    "results",
		summary: "print the result tables of one or more runs, side by side",
		run:     runResults,
	})
}

const resultsUsage = `Usage: lathe results DIR... [--format table|markdown|csv|json]

Prints the result tables stored in each run directory's results.json. A DIR
that holds run directories (runs/<experiment>) stands for all of them, oldest
first. With several runs a "run" column tells them apart.

Flags:
`

func runResults(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lathe results", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, resultsUsage)
		fs.PrintDefaults()
	}
	format := fs.String("format", "table", "output format: "+strings.Join(results.Formats, ", "))
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errSilent
	}
	if !slices.Contains(results.Formats, *format) {
		return fmt.Errorf("--format must be one of %s, not %q", strings.Join(results.Formats, ", "), *format)
	}
	if len(pos) == 0 {
		fs.Usage()
		return errors.New("need at least one run directory")
	}
	var sets []*results.Results
	for _, p := range pos {
		dirs, err := runDirs(p)
		if err != nil {
			return err
		}
		for _, d := range dirs {
			r, err := results.Load(d)
			if err != nil {
				return err
			}
			sets = append(sets, r)
		}
	}
	return results.Write(stdout, *format, sets)
}

// runDirs expands p to the run directories it names: itself when it holds
// results.json, else its subdirectories that do, sorted by name (the UTC
// timestamps sort by time).
func runDirs(p string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(p, results.FileName)); err == nil || filepath.Base(p) == results.FileName {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		sub := filepath.Join(p, e.Name())
		if _, err := os.Stat(filepath.Join(sub, results.FileName)); e.IsDir() && err == nil {
			out = append(out, sub)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no results.json (is it a run directory?)", p)
	}
	sort.Strings(out)
	return out, nil
}
