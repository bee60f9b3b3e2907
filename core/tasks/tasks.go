// Package tasks loads repair tasks from the sources an experiment names
// (docs/design.md §5) and assigns each task to a split.
//
// A source is "KIND:LOCATION":
//
//	builtin:NAME      an embedded task set of package builtinset (e.g. builtin:basic)
//	mbpp:PATH         MBPP's mbpp.jsonl; official splits by task id (1-10 prompt,
//	                  11-510 test, 511-600 validation, 601-974 train)
//	humaneval:PATH    HumanEval-style JSONL (prompt, canonical_solution, test, entry_point)
//	quixbugs:DIR      QuixBugs: python_programs/ (buggy), correct_python_programs/,
//	                  json_testcases/ turned into assert lines
//	jsonl:PATH        the repair-task JSONL of docs/design.md §5
//
// Sets without an official split are split by a hash of (seed, task id), never
// by position, so a task's split does not change when the file is reordered
// or grows. Tasks are returned sorted by id (digit runs compared as numbers).
//
// Benchmarks of correct code (builtin, mbpp, humaneval) load with Program set
// to the reference; RepairTasks gives them a broken program to start from.
// Malformed records are errors naming file and line; with Options.Strict
// unset they are skipped and each one is passed to Options.Warn.
//
// This package does not run Python and does not corrupt programs itself.
package tasks

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/lathe-ml/lathe/sdk"
)

// The split names.
const (
	SplitTrain      = "train"
	SplitValidation = "validation"
	SplitTest       = "test"
	// SplitPrompt holds MBPP's few-shot prompt examples (ids 1-10).
	SplitPrompt = "prompt"
	// SplitAll selects every task; "" means the same.
	SplitAll = "all"
)

// Options controls loading.
type Options struct {
	// Split selects "train", "validation", "test", "prompt" or "all" ("" =
	// all).
	Split string
	// Seed keys the hash split of sets without an official split.
	Seed int64
	// MaxTasks keeps the first MaxTasks tasks (by id) of the split; 0 keeps
	// all.
	MaxTasks int
	// Strict makes a malformed record an error; otherwise it is skipped and
	// reported through Warn.
	Strict bool
	// TestFraction is the share of a hash-split set that goes to "test"
	// (default 0.2) and ValidationFraction the share that goes to
	// "validation" (default 0); the rest is "train".
	TestFraction       float64
	ValidationFraction float64
	// Warn receives each skipped record's error (a *RecordError) and other
	// warnings. Nil logs them with the standard logger.
	Warn func(error)
}

// RecordError is a malformed record: its file, its 1-based line (0 when the
// problem is not on one line) and the cause.
type RecordError struct {
	File string
	Line int
	Err  error
}

func (e *RecordError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("tasks: %s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("tasks: %s: %v", e.File, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// ErrUnknownSource is wrapped when a source's kind is not one of the
// loaders'.
var ErrUnknownSource = errors.New("unknown task source")

// Kinds lists the source kinds Load understands, registered ones last.
func Kinds() []string {
	kinds := []string{"builtin", "mbpp", "humaneval", "quixbugs", "jsonl"}
	registry.Lock()
	defer registry.Unlock()
	for _, k := range registry.order {
		kinds = append(kinds, k)
	}
	return kinds
}

// A SourceFunc makes the tasks of a registered source kind from the
// location after "KIND:". Tasks without a split are split by hash, as
// every other source's.
type SourceFunc func(ctx context.Context, location string) ([]sdk.Task, error)

// registry holds source kinds added by packages that do what this one
// does not (run Python, read a corpus): core/mine registers "mined".
var registry struct {
	sync.Mutex
	funcs map[string]SourceFunc
	order []string
}

// RegisterSource adds a source kind; registering a kind twice, or a
// built-in one, panics (as database/sql's Register does).
func RegisterSource(kind string, f SourceFunc) {
	registry.Lock()
	defer registry.Unlock()
	if slices.Contains([]string{"builtin", "mbpp", "humaneval", "quixbugs", "jsonl"}, kind) || registry.funcs[kind] != nil {
		panic("tasks: source kind " + kind + " registered twice")
	}
	if registry.funcs == nil {
		registry.funcs = map[string]SourceFunc{}
	}
	registry.funcs[kind] = f
	registry.order = append(registry.order, kind)
}

func registered(kind string) SourceFunc {
	registry.Lock()
	defer registry.Unlock()
	return registry.funcs[kind]
}

// Load reads the tasks of source and returns those of opts.Split, sorted by
// id.
func Load(ctx context.Context, source string, opts Options) ([]sdk.Task, error) {
	kind, loc, ok := strings.Cut(source, ":")
	if !ok || loc == "" {
		return nil, fmt.Errorf("tasks: source %q: want KIND:LOCATION with KIND one of %s", source, strings.Join(Kinds(), ", "))
	}
	split := opts.Split
	if split == "" {
		split = SplitAll
	}
	switch split {
	case SplitTrain, SplitValidation, SplitTest, SplitPrompt, SplitAll:
	default:
		return nil, fmt.Errorf("tasks: unknown split %q (want train, validation, test, prompt or all)", opts.Split)
	}
	if opts.TestFraction == 0 {
		opts.TestFraction = 0.2
	}
	if opts.TestFraction < 0 || opts.ValidationFraction < 0 || opts.TestFraction+opts.ValidationFraction > 1 {
		return nil, fmt.Errorf("tasks: split fractions test=%g validation=%g must be >= 0 and sum to at most 1", opts.TestFraction, opts.ValidationFraction)
	}
	r := &reader{opts: opts}
	var all []sdk.Task
	var err error
	switch kind {
	case "builtin":
		all, err = loadBuiltin(r, loc)
	case "mbpp":
		all, err = loadMBPP(r, loc)
	case "humaneval":
		all, err = loadHumanEval(r, loc)
	case "quixbugs":
		all, err = loadQuixBugs(r, loc)
	case "jsonl":
		all, err = loadRepairJSONL(r, loc)
	default:
		f := registered(kind)
		if f == nil {
			return nil, fmt.Errorf("tasks: source %q: %w %q (want one of %s)", source, ErrUnknownSource, kind, strings.Join(Kinds(), ", "))
		}
		all, err = f(ctx, loc)
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tasks: load %s: %w", source, err)
	}
	for i := range all {
		if all[i].Split == "" {
			all[i].Split = HashSplit(opts.Seed, all[i].ID, opts.TestFraction, opts.ValidationFraction)
		}
	}
	SortByID(all)
	var out []sdk.Task
	for _, t := range all {
		if split == SplitAll || t.Split == split {
			out = append(out, t)
		}
	}
	if opts.MaxTasks > 0 && len(out) > opts.MaxTasks {
		out = out[:opts.MaxTasks]
	}
	return out, nil
}

// HashSplit assigns a task to "test", "validation" or "train" by a hash of
// (seed, id): the same id always lands in the same split for a given seed,
// whatever else is in the set.
func HashSplit(seed int64, id string, testFrac, validFrac float64) string {
	// SHA-256 rather than FNV: FNV's high bits barely move between ids
	// that differ in their last digit, which skews the shares.
	sum := sha256.Sum256([]byte(strconv.FormatInt(seed, 10) + "\x00" + id))
	// The top 53 bits as a uniform float in [0, 1).
	u := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
	switch {
	case u < testFrac:
		return SplitTest
	case u < testFrac+validFrac:
		return SplitValidation
	}
	return SplitTrain
}

// SortByID sorts tasks by id, comparing runs of digits as numbers so that
// "mbpp/9" comes before "mbpp/10".
func SortByID(ts []sdk.Task) {
	sort.SliceStable(ts, func(i, j int) bool { return naturalLess(ts[i].ID, ts[j].ID) })
}

func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// reader carries the options and the bookkeeping shared by the loaders.
type reader struct {
	opts Options
}

// bad reports a malformed record: an error when strict, else a warning.
// It returns the error to stop on, or nil to skip the record and go on.
func (r *reader) bad(file string, line int, err error) error {
	re := &RecordError{File: file, Line: line, Err: err}
	if r.opts.Strict {
		return re
	}
	r.warn(re)
	return nil
}

func (r *reader) warn(err error) {
	if r.opts.Warn != nil {
		r.opts.Warn(err)
		return
	}
	log.Printf("warning: %v (skipped)", err)
}

// dedupe drops tasks whose id repeats an earlier one, reporting each.
func (r *reader) dedupe(file string, ts []sdk.Task, lines []int) ([]sdk.Task, error) {
	first := map[string]int{}
	var out []sdk.Task
	for i, t := range ts {
		if l, dup := first[t.ID]; dup {
			if err := r.bad(file, lines[i], fmt.Errorf("duplicate task_id %q (first on line %d)", t.ID, l)); err != nil {
				return nil, err
			}
			continue
		}
		first[t.ID] = lines[i]
		out = append(out, t)
	}
	return out, nil
}
