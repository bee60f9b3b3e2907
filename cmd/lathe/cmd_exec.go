package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lathe-ml/lathe/core/sandbox"
)

func init() {
	register(command{
		name:    "exec",
		summary: "run Python programs against their tests in the sandbox",
		run:     runExec,
	})
}

const execUsage = `Usage:
  lathe exec --program F --tests T [--setup S] [--reference R] [--timeout SECONDS]
      runs one check and prints its verdict as JSON
  lathe exec --tasks F.jsonl [--workers N] [--timeout SECONDS]
      reads one task a line: {"id", "program", "tests", "setup"?, "timeout_s"?, "reference"?}
      ("tests" is Python source or a list of assert lines) and writes one line a task,
      in input order: {"id", "status", "passed", "total", "feedback", "duration_ms"};
      a summary with checks/s goes to stderr

Flags:
`

func runExec(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lathe exec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, execUsage)
		fs.PrintDefaults()
	}
	program := fs.String("program", "", "Python `file` with the program to check")
	tests := fs.String("tests", "", "Python `file` with the tests (assert lines)")
	setup := fs.String("setup", "", "Python `file` run before the program")
	reference := fs.String("reference", "", "Python `file` with a reference solution: test values are compared with its values")
	tasks := fs.String("tasks", "", "JSONL `file` of tasks (- for stdin)")
	workers := fs.Int("workers", 0, "concurrent sandbox workers (default: number of CPUs)")
	timeout := fs.Float64("timeout", 5, "wall-clock limit per check, in `seconds`")
	verbose := fs.Bool("v", false, "log the sandbox's isolation layers and worker output to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errSilent
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %v", *timeout)
	}
	opts := sandbox.Options{Workers: *workers, Timeout: time.Duration(*timeout * float64(time.Second))}
	if *verbose {
		opts.Log = stderr
	}
	switch {
	case *tasks != "" && (*program != "" || *tests != ""):
		return errors.New("use either --tasks or --program/--tests, not both")
	case *tasks != "":
		return execTasks(ctx, *tasks, opts, stdout, stderr)
	case *program != "" && *tests != "":
		return execOne(ctx, opts, *program, *tests, *setup, *reference, stdout)
	default:
		fs.Usage()
		return errors.New("need --program and --tests, or --tasks")
	}
}

func execOne(ctx context.Context, opts sandbox.Options, program, tests, setup, reference string, stdout io.Writer) error {
	var c sandbox.Check
	for _, f := range []struct {
		path string
		dst  *string
	}{{program, &c.Program}, {tests, &c.Tests}, {setup, &c.Setup}, {reference, &c.Reference}} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return err
		}
		*f.dst = string(b)
	}
	opts.Workers = 1
	p, err := sandbox.NewPool(ctx, opts)
	if err != nil {
		return err
	}
	defer p.Close()
	v, err := p.Run(ctx, c)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// execTask is one line of a --tasks file.
type execTask struct {
	ID        json.RawMessage `json:"id"`
	Program   *string         `json:"program"`
	Tests     testsField      `json:"tests"`
	Setup     string          `json:"setup"`
	Reference string          `json:"reference"`
	TimeoutS  float64         `json:"timeout_s"`
}

// testsField accepts Python source or a list of lines (MBPP's test_list).
type testsField struct {
	src string
	set bool
}

func (t *testsField) UnmarshalJSON(b []byte) error {
	t.set = true
	if err := json.Unmarshal(b, &t.src); err == nil {
		return nil
	}
	var lines []string
	if err := json.Unmarshal(b, &lines); err != nil {
		return errors.New(`"tests" must be a string or a list of strings`)
	}
	t.src = strings.Join(lines, "\n") + "\n"
	return nil
}

type execResult struct {
	ID         json.RawMessage `json:"id"`
	Status     sandbox.Status  `json:"status"`
	Passed     int             `json:"passed"`
	Total      int             `json:"total"`
	Feedback   string          `json:"feedback"`
	DurationMS float64         `json:"duration_ms"`
}

func readTasks(path string) ([]execTask, []sandbox.Check, error) {
	var r io.Reader
	name := path
	if path == "-" {
		r, name = os.Stdin, "<stdin>"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var (
		tasks  []execTask
		checks []sandbox.Check
		errs   []error
	)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var t execTask
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err := dec.Decode(&t)
		switch {
		case err != nil:
			err = fmt.Errorf("%s:%d: %w", name, line, err)
		case len(t.ID) == 0:
			err = fmt.Errorf(`%s:%d: missing "id"`, name, line)
		case t.Program == nil:
			err = fmt.Errorf(`%s:%d: missing "program"`, name, line)
		case !t.Tests.set:
			err = fmt.Errorf(`%s:%d: missing "tests"`, name, line)
		case t.TimeoutS < 0:
			err = fmt.Errorf(`%s:%d: "timeout_s" must not be negative`, name, line)
		}
		if err != nil {
			errs = append(errs, err)
			if len(errs) >= 10 {
				break
			}
			continue
		}
		tasks = append(tasks, t)
		checks = append(checks, sandbox.Check{Setup: t.Setup, Program: *t.Program, Tests: t.Tests.src,
			Reference: t.Reference, Timeout: time.Duration(t.TimeoutS * float64(time.Second))})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return tasks, checks, errors.Join(errs...)
}

func execTasks(ctx context.Context, path string, opts sandbox.Options, stdout, stderr io.Writer) error {
	tasks, checks, err := readTasks(path)
	if err != nil {
		return err
	}
	p, err := sandbox.NewPool(ctx, opts)
	if err != nil {
		return err
	}
	defer p.Close()
	start := time.Now()
	type done struct {
		i   int
		v   sandbox.Verdict
		err error
	}
	results := make(chan done, len(checks))
	next := make(chan int)
	var wg sync.WaitGroup
	n := opts.Workers
	if n <= 0 {
		n = 64 // the pool itself limits concurrency to its workers
	}
	for range min(n, max(len(checks), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				v, err := p.Run(ctx, checks[i])
				results <- done{i, v, err}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range checks {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	// Write in input order as results arrive.
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	pending := map[int]sandbox.Verdict{}
	counts := map[sandbox.Status]int{}
	emitted := 0
	var firstErr error
	for d := range results {
		if d.err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("task %s: %w", tasks[d.i].ID, d.err)
			}
			continue
		}
		pending[d.i] = d.v
		for {
			v, ok := pending[emitted]
			if !ok {
				break
			}
			delete(pending, emitted)
			counts[v.Status]++
			enc.Encode(execResult{ID: tasks[emitted].ID, Status: v.Status, Passed: v.Passed, Total: v.Total,
				Feedback: v.Feedback, DurationMS: v.DurationMS})
			emitted++
		}
		if emitted%64 == 0 {
			w.Flush()
		}
	}
	w.Flush()
	el := time.Since(start)
	st := p.Stats()
	fmt.Fprintf(stderr, "lathe exec: %d checks in %.2fs, %.1f checks/s, %d workers; pass %d, fail %d, error %d, timeout %d, killed %d; cache hit rate %.1f%%\n",
		emitted, el.Seconds(), float64(emitted)/el.Seconds(), p.Workers(), counts[sandbox.StatusPass],
		counts[sandbox.StatusFail], counts[sandbox.StatusError], counts[sandbox.StatusTimeout], counts[sandbox.StatusKilled],
		100*st.HitRate())
	fmt.Fprintf(stderr, "lathe exec: sandbox %s\n", p.Isolation())
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
