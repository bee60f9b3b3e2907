// Package synth turns tasks into synthetic demonstrations for supervised
// training: it asks a tool for expert traces (sdk.ToolWithDemonstrate),
// writes them as JSONL, replays them through the tool to recover what the
// model sees at every turn, and summarises a demonstration file.
//
// The JSONL format, one demonstration per line in task order then the
// tool's order, is
//
//	{"task_id", "program", "tests", "setup"?, "reference"?, "actions": [...], "split"?, "corruptions": [...]}
//
// where program is the broken starting program and actions the commands
// that repair it. Output is byte-identical for the same tasks, tool and
// seed, whatever the parallelism.
//
// The package does not corrupt programs itself (the tool does) and does not
// train.
package synth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/lathe-ml/lathe/core/atomicfile"
	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/sdk"
)

// Record is one demonstration with the task fields needed to replay it.
type Record struct {
	TaskID  string `json:"task_id"`
	Program string `json:"program"`
	Tests   string `json:"tests"`
	Setup   string `json:"setup,omitempty"`
	// Reference is the task's correct program, kept for statistics (edit
	// distance) and for the sandbox's value comparison on replay.
	Reference   string   `json:"reference,omitempty"`
	Actions     []string `json:"actions"`
	Split       string   `json:"split,omitempty"`
	Corruptions []string `json:"corruptions"`
	// Learn counts the leading actions that are a policy's own (DAgger:
	// the expert continues after them) or mistakes the tool's
	// demonstration recovers from (sdk.Demonstration.Learn); training
	// learns only the rest.
	Learn int `json:"learn,omitempty"`
}

// Task returns the task the record's demonstration starts: its program is
// the broken one.
func (r Record) Task() sdk.Task {
	return sdk.Task{ID: r.TaskID, Program: r.Program, Tests: r.Tests, Setup: r.Setup, Reference: r.Reference, Split: r.Split}
}

// Demonstration returns the record as the tool's demonstration.
func (r Record) Demonstration() sdk.Demonstration {
	return sdk.Demonstration{TaskID: r.TaskID, Program: r.Program, Actions: r.Actions, Corruptions: r.Corruptions, Learn: r.Learn}
}

// Options controls Synthesize.
type Options struct {
	// PerTask is the number of demonstrations asked for per task.
	PerTask int
	Seed    int64
	// Parallel bounds the tasks in flight at once (<= 0: 4). The tool's
	// sandbox pool bounds the Python processes.
	Parallel int
	// Progress, when set, receives a progress bar (tasks done, demos/s).
	Progress io.Writer
	// Done, when set, is called after each task with the tasks and
	// demonstrations finished so far (one call at a time).
	Done func(tasks, demos int)
}

// Result is what Synthesize produced.
type Result struct {
	Records []Record
	// Short lists tasks that got fewer than PerTask demonstrations (short
	// programs have few distinct failing corruptions), with their counts.
	Short   map[string]int
	Elapsed time.Duration
}

// DemosPerSecond is the synthesis throughput.
func (r Result) DemosPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Records)) / r.Elapsed.Seconds()
}

// Synthesize asks tool for opts.PerTask demonstrations of every task, up to
// opts.Parallel tasks at a time, and returns them in task order. Each task
// gets the same seed: the tool's demonstrations depend on (task, seed), so
// adding or removing a task changes no other task's demonstrations.
func Synthesize(ctx context.Context, tool sdk.ToolWithDemonstrate, tasks []sdk.Task, opts Options) (Result, error) {
	if opts.PerTask <= 0 {
		return Result{}, fmt.Errorf("synth: per-task count must be positive, got %d", opts.PerTask)
	}
	par := opts.Parallel
	if par <= 0 {
		par = 4
	}
	start := time.Now()
	var bar *progressbar.ProgressBar
	if opts.Progress != nil {
		bar = progressbar.NewOptions(len(tasks),
			progressbar.OptionSetWriter(opts.Progress),
			progressbar.OptionSetDescription("synthesize"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("tasks"),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opts.Progress) }),
		)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	per := make([][]sdk.Demonstration, len(tasks))
	// The first failure is the one to report: it cancels the others, whose
	// errors then only say "context canceled".
	var firstErr error
	var mu sync.Mutex
	demos, finished := 0, 0
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(par, max(1, len(tasks))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				d, err := tool.Demonstrate(ctx, sdk.DemonstrateRequest{Task: tasks[i], Seed: opts.Seed, N: opts.PerTask})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("synth: task %s: %w", tasks[i].ID, err)
					}
					mu.Unlock()
					cancel()
					continue
				}
				per[i] = d
				mu.Lock()
				demos += len(d)
				finished++
				if bar != nil {
					bar.Describe(fmt.Sprintf("synthesize (%d demos, %.1f/s)", demos, float64(demos)/time.Since(start).Seconds()))
					_ = bar.Add(1)
				}
				if opts.Done != nil {
					opts.Done(finished, demos)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range tasks {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return Result{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("synth: %w", err)
	}
	res := Result{Short: map[string]int{}}
	for i, t := range tasks {
		if len(per[i]) < opts.PerTask {
			res.Short[t.ID] = len(per[i])
		}
		for _, d := range per[i] {
			if d.TaskID != "" && d.TaskID != t.ID {
				return Result{}, fmt.Errorf("synth: tool returned a demonstration of task %s for task %s", d.TaskID, t.ID)
			}
			if d.Learn < 0 || (d.Learn > 0 && d.Learn >= len(d.Actions)) {
				return Result{}, fmt.Errorf("synth: tool returned a demonstration of task %s that learns from action %d of %d", t.ID, d.Learn, len(d.Actions))
			}
			res.Records = append(res.Records, Record{
				TaskID: t.ID, Program: d.Program, Tests: t.Tests, Setup: t.Setup, Reference: t.Reference,
				Actions: d.Actions, Split: t.Split, Corruptions: d.Corruptions, Learn: d.Learn,
			})
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// FileFormat is the format of a demonstrations file written with
// WriteFile.
var FileFormat = atomicfile.Format{Name: "lathe-demos", Version: 1}

// WriteFile replaces path with the records, one per line, and its checksum
// file (atomicfile.WriteChecked).
func WriteFile(path string, recs []Record) error {
	return atomicfile.WriteChecked(path, FileFormat, func(w io.Writer) error { return WriteJSONL(w, recs) })
}

// ReadFile reads a demonstrations file after checking it against its
// checksum file, if it has one (a file from elsewhere need not).
func ReadFile(path string) ([]Record, error) {
	b, err := atomicfile.ReadChecked(path, FileFormat)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	return ReadJSONL(bytes.NewReader(b), path)
}

// WriteJSONL writes one record per line.
func WriteJSONL(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		if r.Corruptions == nil {
			r.Corruptions = []string{}
		}
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("synth: write %s: %w", r.TaskID, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("synth: write: %w", err)
	}
	return nil
}

// ReadJSONL reads records written by WriteJSONL; name is used in errors,
// which carry the line number.
func ReadJSONL(r io.Reader, name string) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	var out []Record
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec Record
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&rec); err != nil {
			return nil, fmt.Errorf("synth: %s:%d: %w", name, line, err)
		}
		if rec.TaskID == "" || len(rec.Actions) == 0 {
			return nil, fmt.Errorf("synth: %s:%d: a demonstration needs task_id and actions", name, line)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("synth: read %s: %w", name, err)
	}
	return out, nil
}

// Replayed is a demonstration played through its tool: the episode as
// the model experiences it (the tool's prompt, the observation before each
// action, the actions) and what the tool said of the program at the start
// and at the end.
type Replayed struct {
	episode.Episode
	// Start is the tool's info on the starting program; Final after the
	// last action played. Episode.Solved is Final.Solved.
	Start sdk.StepInfo
	Final sdk.StepInfo
	// Played counts the actions the tool accepted before the episode
	// ended (fewer than len(Actions) when the turn limit cut it short).
	Played int
}

// Replay plays demo through tool from task (whose Program is replaced by
// the demonstration's) and returns the episode. An invalid action is not an
// error here: it shows in Final.Valid and the observations, and the caller
// decides what a bad trace means.
func Replay(ctx context.Context, tool sdk.Tool, task sdk.Task, demo sdk.Demonstration) (Replayed, error) {
	task.Program = demo.Program
	r, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
	if err != nil {
		return Replayed{}, fmt.Errorf("synth: replay %s: reset: %w", task.ID, err)
	}
	defer tool.Close(context.WithoutCancel(ctx), r.Session)
	ep := Replayed{Episode: episode.Episode{TaskID: task.ID, Prompt: r.Prompt, Stop: r.Stop, States: []string{r.Observation.Text}},
		Start: r.Observation.Info, Final: r.Observation.Info}
	done := r.Observation.Done
	for i, a := range demo.Actions {
		if done {
			break
		}
		s, err := tool.Step(ctx, sdk.StepRequest{Session: r.Session, Action: a})
		if err != nil {
			return Replayed{}, fmt.Errorf("synth: replay %s: action %d %q: %w", task.ID, i+1, a, err)
		}
		ep.Actions = append(ep.Actions, a)
		ep.States = append(ep.States, s.Observation.Text)
		ep.Final = s.Observation.Info
		ep.Played++
		done = s.Observation.Done
	}
	ep.Solved = ep.Final.Solved
	return ep, nil
}
