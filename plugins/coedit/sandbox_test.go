package coedit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/core/sandbox"
	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/plugins/coedit/dsl"
	"github.com/lathe-ml/lathe/sdk"
)

// sandboxTool starts a coedit tool on the real sandbox pool, or skips.
func sandboxTool(t testing.TB, cfg map[string]any) *Tool {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH: the sandbox cannot start")
	}
	tool := New()
	c, err := sdk.ConfigFrom(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tool.Configure(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if _, err := tool.Runner(context.Background()); err != nil {
		t.Fatalf("start the sandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := tool.Shutdown(); err != nil {
			t.Error(err)
		}
	})
	return tool
}

// TestSandboxEpisode plays docs/design.md §4's example through the real sandbox.
func TestSandboxEpisode(t *testing.T) {
	ctx := context.Background()
	tool := sandboxTool(t, map[string]any{"workers": 1})
	task := sdk.Task{
		ID:      "similar_elements",
		Program: "def similar_elements(a, b):\n    res = tuple(set(a) | set(b))\n    retrun (res)\n",
		Tests: "assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))\n" +
			"assert set(similar_elements((1, 2, 3, 4), (5, 4, 3, 7))) == set((3, 4))\n",
		Reference: "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
	}
	reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		action   string
		lines    string // the numbered program
		feedback string // a line the feedback must contain
		info     sdk.StepInfo
	}{
		{"", "L 1 def similar_elements(a, b):\nL 2     res = tuple(set(a) | set(b))\nL 3     retrun (res)\n***\n",
			"NameError: name 'retrun' is not defined", sdk.StepInfo{Total: 2, Valid: true, ErrorClass: "exception", ErrorType: "NameError"}},
		{"DELL 4", "L 1 def similar_elements(a, b):\nL 2     res = tuple(set(a) | set(b))\nL 3     retrun (res)\n***\n",
			"DELL 4: line 4 does not exist (program has 3 lines)", sdk.StepInfo{Total: 2, Valid: false, ErrorClass: "range", ErrorType: "NameError", Turn: 1}}, // the program, unchanged, still raises
		{"REPW 3 >>>retrun >>>return", "L 1 def similar_elements(a, b):\nL 2     res = tuple(set(a) | set(b))\nL 3     return (res)\n***\n",
			"AssertionError", sdk.StepInfo{Total: 2, Valid: true, ErrorClass: "assertion", ErrorType: "AssertionError", Turn: 2}},
		{"REPW 2 >>>| >>>&", "L 1 def similar_elements(a, b):\nL 2     res = tuple(set(a) & set(b))\nL 3     return (res)\n***\n",
			"All 2 tests passed.", sdk.StepInfo{Passed: 2, Total: 2, Solved: true, Valid: true, Turn: 3}},
		{"EXIT", "L 1 def similar_elements(a, b):\nL 2     res = tuple(set(a) & set(b))\nL 3     return (res)\n***\n",
			"All 2 tests passed.", sdk.StepInfo{Passed: 2, Total: 2, Solved: true, Valid: true, Exited: true, Turn: 4}},
	}
	obs := reset.Observation
	for i, st := range steps {
		t.Run(fmt.Sprint(i, st.action), func(t *testing.T) {
			if st.action != "" {
				resp, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: st.action + "\n"})
				if err != nil {
					t.Fatal(err)
				}
				obs = resp.Observation
			}
			if !strings.HasPrefix(obs.Text, st.lines) || !strings.Contains(obs.Text, st.feedback) {
				t.Errorf("state =\n%s\nwant it to start with\n%s\nand contain %q", obs.Text, st.lines, st.feedback)
			}
			if obs.Info != st.info {
				t.Errorf("info = %+v\nwant %+v", obs.Info, st.info)
			}
		})
	}
}

// TestSandboxDemonstrations replays demonstrations made on built-in tasks
// through the tool on the real sandbox: every one must start failing and
// be solved at EXIT, with the references as they are and with their names
// renamed (rename = 1). LATHE_LONG=1 runs every built-in task (a few
// minutes).
func TestSandboxDemonstrations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python; skipped in -short mode")
	}
	for _, c := range []struct {
		rename   float64
		verbatim bool
	}{{0, false}, {1, false}, {1, true}} {
		t.Run(fmt.Sprintf("rename=%g,verbatim=%v", c.rename, c.verbatim), func(t *testing.T) { checkSandboxDemonstrations(t, c.rename, c.verbatim) })
	}
}

func checkSandboxDemonstrations(t *testing.T, rename float64, verbatim bool) {
	ctx := context.Background()
	tool := sandboxTool(t, map[string]any{"rename": rename})
	var renamed atomic.Int64
	opts := tasks.Options{MaxTasks: 12}
	perTask := 2
	if os.Getenv("LATHE_LONG") != "" {
		opts.MaxTasks, perTask = 0, 5
	}
	all, err := tasks.Load(ctx, "builtin:basic", opts)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var demos, steps atomic.Int64
	for _, task := range all {
		t.Run(task.ID, func(t *testing.T) {
			ds, err := tool.Demonstrate(ctx, sdk.DemonstrateRequest{Task: task, Seed: 11, N: perTask, Verbatim: verbatim})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				demos.Add(1)
				task := task
				task.Program = d.Program
				reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
				if err != nil {
					t.Fatal(err)
				}
				if reset.Observation.Info.Solved {
					t.Fatalf("demonstration starts solved:\n%s", reset.Observation.Text)
				}
				var obs sdk.Observation
				for _, a := range d.Actions {
					resp, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: a + "\n"})
					if err != nil {
						t.Fatal(err)
					}
					steps.Add(1)
					obs = resp.Observation
				}
				if !obs.Info.Solved || !obs.Info.Exited {
					t.Fatalf("trace %q ends unsolved:\n%s", d.Actions, obs.Text)
				}
				// A trace repairs to the reference it was made from.
				if repaired(t, d) != strings.TrimRight(task.Reference, "\n")+"\n" {
					renamed.Add(1)
				}
				tool.Close(ctx, reset.Session)
			}
		})
	}
	r, _ := tool.Runner(ctx)
	if p, ok := r.(*sandbox.Pool); ok {
		st := p.Stats()
		t.Logf("%d tasks, %d demonstrations, %d steps in %v; sandbox: %d checks, %d executed, cache hit rate %.2f",
			len(all), demos.Load(), steps.Load(), time.Since(start).Round(time.Millisecond), st.Checks, st.Executed, st.HitRate())
	}
	// Without renaming, or asked for the program verbatim (repair tasks of
	// an eval), every trace ends at the reference; with it most end at a
	// renamed copy (a program with nothing to rename keeps its names).
	n := renamed.Load()
	if want0 := rename == 0 || verbatim; (want0 && n != 0) || (!want0 && n < demos.Load()*3/4) {
		t.Fatalf("rename %g, verbatim %v: %d of %d traces end at a program other than the reference", rename, verbatim, n, demos.Load())
	}
}

// repaired is d's program after its commands, applied by the DSL itself.
func repaired(t *testing.T, d sdk.Demonstration) string {
	lines := dsl.SplitProgram(d.Program)
	for _, a := range d.Actions {
		c, err := dsl.Parse(a)
		if err != nil {
			t.Fatal(err)
		}
		if lines, err = dsl.Apply(lines, c); err != nil {
			t.Fatal(err)
		}
	}
	return dsl.JoinProgram(lines)
}

// BenchmarkSandboxStepBatch measures episodes stepped in batches on the
// real sandbox: each iteration resets 16 sessions on MBPP-like programs
// and steps them through 4 turns (3 edits and EXIT) with StepBatch.
// Run with: go test -run NONE -bench SandboxStepBatch ./plugins/coedit/
func BenchmarkSandboxStepBatch(b *testing.B) {
	ctx := context.Background()
	tool := sandboxTool(b, map[string]any{})
	path := filepath.Join("..", "..", "..", "shared", "datasets", "mbpp", "mbpp.jsonl")
	if env := os.Getenv("LATHE_DATASETS"); env != "" {
		path = filepath.Join(env, "mbpp", "mbpp.jsonl")
	}
	all, err := tasks.Load(ctx, "mbpp:"+path, tasks.Options{Split: tasks.SplitTrain, MaxTasks: 16})
	if err != nil {
		b.Skipf("MBPP not available: %v", err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var reqs []sdk.StepRequest
		for j, task := range all {
			reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
			if err != nil {
				b.Fatal(err)
			}
			reqs = append(reqs, sdk.StepRequest{Session: reset.Session, Action: fmt.Sprintf("ADDL 1 >>># %d %d", i, j)})
		}
		for _, action := range []string{"", "DELL 1", "REPL 99 >>>x", "EXIT"} {
			for k := range reqs {
				if action != "" {
					reqs[k].Action = action
				}
			}
			if _, err := tool.StepBatch(ctx, reqs); err != nil {
				b.Fatal(err)
			}
		}
		for _, r := range reqs {
			tool.Close(ctx, r.Session)
		}
	}
	b.StopTimer()
	steps := float64(b.N * len(all) * 4)
	b.ReportMetric(steps/b.Elapsed().Seconds(), "steps/s")
	r, _ := tool.Runner(ctx)
	if p, ok := r.(*sandbox.Pool); ok {
		b.ReportMetric(p.Stats().HitRate(), "cache-hit-rate")
	}
}

// TestSandboxContinuation: the expert continues from where a policy left
// the program (DAgger): the actions taken so far are applied as Step
// would, malformed ones changing nothing, and the trace repairs the
// program they leave; a program that already passes gets an EXIT.
func TestSandboxContinuation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python; skipped in -short mode")
	}
	ctx := context.Background()
	tool := sandboxTool(t, map[string]any{"workers": 1})
	ref := "def add(a, b):\n    total = a + b\n    return total\n"
	task := sdk.Task{
		ID:        "add",
		Program:   "def add(a, b):\n    totl = a + b\n    return total\n",
		Tests:     "assert add(1, 2) == 3\nassert add(2, 2) == 4\n",
		Reference: ref,
	}
	cases := []struct {
		name        string
		after       []string
		wantProgram string
		wantActions []string
	}{
		{"from the broken program", nil, task.Program, []string{"REPW 2 >>>totl >>>total", "EXIT"}},
		{"after a malformed and a harmful command", []string{"REPW 9 >>>x", "REPW 3 >>>total >>>tot"},
			"def add(a, b):\n    totl = a + b\n    return tot\n", nil},
		{"after the fix", []string{"REPW 2 >>>totl >>>total"}, ref, []string{"EXIT"}},
		{"after another fix that passes", []string{"REPL 3 >>>    return totl"},
			"def add(a, b):\n    totl = a + b\n    return totl\n", []string{"EXIT"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			demos, err := tool.Demonstrate(ctx, sdk.DemonstrateRequest{Task: task, Continuation: true, After: c.after})
			if err != nil {
				t.Fatal(err)
			}
			if len(demos) != 1 || demos[0].Program != c.wantProgram {
				t.Fatalf("demos = %+v, want one from %q", demos, c.wantProgram)
			}
			if c.wantActions != nil && strings.Join(demos[0].Actions, "\n") != strings.Join(c.wantActions, "\n") {
				t.Errorf("actions = %q, want %q", demos[0].Actions, c.wantActions)
			}
			// Whatever the trace, played from its program it ends solved.
			rs, err := tool.Reset(ctx, sdk.ResetRequest{Task: sdk.Task{ID: task.ID, Program: demos[0].Program, Tests: task.Tests, Reference: ref}})
			if err != nil {
				t.Fatal(err)
			}
			var last sdk.StepInfo
			for _, a := range demos[0].Actions {
				st, err := tool.Step(ctx, sdk.StepRequest{Session: rs.Session, Action: a})
				if err != nil {
					t.Fatal(err)
				}
				last = st.Observation.Info
			}
			if !last.Solved || !last.Exited {
				t.Errorf("trace %q ends %+v, want solved and exited", demos[0].Actions, last)
			}
		})
	}
}
