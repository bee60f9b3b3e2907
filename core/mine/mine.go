// Package mine turns a corpus of Python source into repair tasks: the
// self-contained functions in it, each with tests recorded by calling it.
//
// The training tasks of a task set are a few hundred programs; a model that
// learns to repair from corruptions of them sees the same programs over
// and over. The standard library alone holds hundreds of small functions
// that take and return plain values. For each one, the miner (miner.py,
// run by the interpreter the sandbox uses) calls it on arguments drawn from
// a fixed pool of ints, strings, lists and dicts and keeps up to five calls
// whose results are literals, as assert lines:
//
//	assert unwrap('<URL:abc>') == 'abc'
//
// A corruption that changes what the function computes then fails a test,
// so the tool can judge a repair of it like any task's. Only functions that
// name nothing but their parameters, their locals and harmless builtins
// (no imports, no open, no eval, no dunder attributes) are ever called,
// each call under a time limit, in a process with a memory limit.
//
// The source kind is registered with package tasks: a dataset
// `source = "mined:builtin:python-stdlib"` (or "mined:files:DIR") is split
// by hash like any set without official splits.
package mine

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lathe-ml/lathe/core/corpus"
	"github.com/lathe-ml/lathe/core/sandbox"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/sdk"
)

//go:embed miner.py
var minerScript string

// Options tune what is mined; the zero value means the defaults.
type Options struct {
	// Seed draws the argument tuples.
	Seed int64
	// MinLines and MaxLines bound a function's length (docstring and
	// comments removed); defaults 3 and 20.
	MinLines, MaxLines int
	// Tries is the number of argument tuples tried per function (default
	// 60); CallLimit the time one call may take (default 50 ms).
	Tries     int
	CallLimit time.Duration
	// MemoryMB limits the miner process's address space (default 2048).
	MemoryMB int
	// Timeout bounds the whole run (default 10 minutes).
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MinLines == 0 {
		o.MinLines = 3
	}
	if o.MaxLines == 0 {
		o.MaxLines = 20
	}
	if o.Tries == 0 {
		o.Tries = 60
	}
	if o.CallLimit == 0 {
		o.CallLimit = 50 * time.Millisecond
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 2048
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Stats say what a run read and kept.
type Stats struct {
	Files, Functions int
	Wall             time.Duration
}

// Source is the task-source kind this package registers.
const Source = "mined"

func init() {
	tasks.RegisterSource(Source, func(ctx context.Context, location string) ([]sdk.Task, error) {
		ts, _, err := Tasks(ctx, location, Options{})
		return ts, err
	})
}

// Tasks mines the functions of a corpus source (see package corpus) into
// tasks whose Program and Reference are the function and whose Tests are
// the recorded calls; task ids are "mined/<path>:<function>", the path
// relative to the corpus directory, sorted.
func Tasks(ctx context.Context, source string, o Options) ([]sdk.Task, Stats, error) {
	o = o.withDefaults()
	t0 := time.Now()
	docs, _, err := corpus.Load(ctx, source)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("mine: %w", err)
	}
	py, err := sandbox.Interpreter(ctx, "")
	if err != nil {
		return nil, Stats{}, fmt.Errorf("mine: %w", err)
	}
	root := commonDir(docs)
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	if err := enc.Encode(map[string]any{"seed": o.Seed, "tries": o.Tries, "call_limit_s": o.CallLimit.Seconds(),
		"min_lines": o.MinLines, "max_lines": o.MaxLines, "memory_mb": o.MemoryMB}); err != nil {
		return nil, Stats{}, err
	}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d.Path)
		if err != nil {
			rel = d.Path
		}
		if err := enc.Encode(map[string]string{"path": filepath.ToSlash(rel), "text": d.Text}); err != nil {
			return nil, Stats{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	work, err := os.MkdirTemp("", "lathe-mine-")
	if err != nil {
		return nil, Stats{}, fmt.Errorf("mine: %w", err)
	}
	defer os.RemoveAll(work)
	// -I: isolated (no user site, no environment variables, no script
	// directory on the path); the working directory is an empty one.
	cmd := exec.CommandContext(ctx, py, "-I", "-c", minerScript)
	cmd.Dir, cmd.Env = work, []string{}
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, Stats{}, fmt.Errorf("mine: the miner (%s) failed on %s: %w: %s", py, source, err, tail(stderr.String(), 2000))
	}
	var ts []sdk.Task
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var r struct {
			ID      string `json:"task_id"`
			Program string `json:"program"`
			Tests   string `json:"tests"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.ID == "" || r.Program == "" || r.Tests == "" {
			return nil, Stats{}, fmt.Errorf("mine: the miner's output line %d is not a task: %.200s", line, sc.Text())
		}
		ts = append(ts, sdk.Task{ID: "mined/" + r.ID, Program: r.Program, Reference: r.Program, Tests: r.Tests})
	}
	if err := sc.Err(); err != nil {
		return nil, Stats{}, fmt.Errorf("mine: reading the miner's output: %w", err)
	}
	tasks.SortByID(ts)
	if len(ts) == 0 {
		return nil, Stats{}, fmt.Errorf("mine: no function of %s (%d files) could be mined", source, len(docs))
	}
	return ts, Stats{Files: len(docs), Functions: len(ts), Wall: time.Since(t0)}, nil
}

// commonDir is the deepest directory holding every document.
func commonDir(docs []corpus.Document) string {
	if len(docs) == 0 {
		return ""
	}
	dir := filepath.Dir(docs[0].Path)
	for _, d := range docs[1:] {
		for dir != "/" && dir != "." && !strings.HasPrefix(d.Path, dir+string(filepath.Separator)) {
			dir = filepath.Dir(dir)
		}
	}
	return dir
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
