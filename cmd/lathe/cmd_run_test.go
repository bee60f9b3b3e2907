package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/rundir"
)

// These tests go through the real plugin host: the test binary serves the
// built-ins when re-executed as `plugin serve NAME` (see cmd_plugin_test.go).

func TestValidateShippedExperiments(t *testing.T) {
	files, _ := filepath.Glob("../../experiments/*.hcl")
	if len(files) == 0 {
		t.Skip("no experiments/*.hcl")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := mainWithExit([]string{"validate", f}, &out, &errb); code != 0 {
				t.Fatalf("exit %d:\n%s", code, errb.String())
			}
			if !strings.HasPrefix(out.String(), "ok: ") || !strings.Contains(out.String(), "stage order: ") {
				t.Errorf("output = %q", out.String())
			}
		})
	}
}

func TestValidatePluginSchemaOverGRPC(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, src, want string
	}{
		{"option typo", "tool \"editor\" {\n  plugin   = \"coedit\"\n  max_turn = 3\n}\n",
			":4:3: error: Unsupported argument"},
		{"option type", "model \"m\" {\n  plugin = \"transformer\"\n  layers = \"four\"\n}\n",
			":4:12: error: Incorrect attribute value type"},
		{"unknown built-in", "reward \"r\" {\n  plugin = \"test\"\n}\n",
			`:3:12: error: Unknown reward plugin`},
		{"inference-only model trained", "dataset \"d\" {\n  source = \"builtin:basic\"\n}\ntool \"t\" {\n  plugin = \"coedit\"\n}\n" +
			"model \"m\" {\n  plugin   = \"openai\"\n  base_url = \"http://127.0.0.1:8000/v1\"\n  model    = \"m\"\n}\n" +
			"stage \"demos\" {\n  kind    = \"synthesize\"\n  tool    = tool.t\n  dataset = dataset.d\n}\n" +
			"stage \"sft\" {\n  kind  = \"sft\"\n  model = model.m\n  data  = stage.demos\n}\n",
			`:20:11: error: Inference-only model`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".hcl")
			if err := os.WriteFile(f, []byte("experiment \"x\" {}\n"+tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := mainWithExit([]string{"validate", f}, &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1; stdout %q", code, out.String())
			}
			if !strings.Contains(errb.String(), f+tc.want) {
				t.Errorf("stderr lacks %q:\n%s", f+tc.want, errb.String())
			}
		})
	}
}

// tinyExperiment trains and evaluates a toy model on three built-in tasks.
const tinyExperiment = `experiment "tiny" { seed = 5 }
dataset "basic" {
  source    = "builtin:basic"
  max_tasks = 3
}
tool "editor" { plugin = "coedit" }
reward "solved" { plugin = "tests" }
model "policy" {
  plugin  = "transformer"
  layers  = 1
  d_model = 16
  heads   = 2
  context = 128
  vocab   = 270
}
stage "demos" {
  kind     = "synthesize"
  tool     = tool.editor
  dataset  = dataset.basic
  split    = "all"
  per_task = 1
}
stage "sft" {
  kind       = "sft"
  model      = model.policy
  data       = stage.demos
  steps      = 2
  batch_size = 2
}
stage "rl" {
  kind           = "grpo"
  model          = model.policy
  tool           = tool.editor
  reward         = reward.solved
  dataset        = dataset.basic
  split          = "all"
  init           = stage.sft
  steps          = 1
  group          = 2
  tasks_per_step = 1
  max_turns      = 1
  max_tokens     = 8
}
eval "test" {
  model        = model.policy
  tool         = tool.editor
  dataset      = dataset.basic
  split        = "all"
  checkpoints  = [stage.sft, stage.rl]
  k            = [1]
  max_turns    = 2
  max_tokens   = 8
  max_tasks    = 2
  turn_budgets = [1, 2]
}
`

// cancelOn is a writer that cancels a context once the text written to it
// contains a marker, as Ctrl-C would at that point of a run.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.cancel != nil && strings.Contains(c.buf.String(), c.marker) {
		c.cancel()
		c.cancel = nil
	}
	return len(p), nil
}

func TestRunInterruptResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a toy experiment end to end (about 20 s)")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "tiny.hcl")
	if err := os.WriteFile(file, []byte(tinyExperiment), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run")

	// Children of earlier tests may still be exiting; only new ones count.
	before := map[string]bool{}
	for _, c := range children(t) {
		before[c] = true
	}

	// Interrupted as soon as the SFT stage starts.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelOn{marker: "==> stage.sft", cancel: cancel}
	var stdout bytes.Buffer
	err := runRun(ctx, []string{file, "--out", out}, &stdout, stderr)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted run: err = %v\n%s", err, stderr.buf.String())
	}
	if !strings.Contains(stderr.buf.String(), "lathe run --resume "+out) {
		t.Errorf("no resume hint:\n%s", stderr.buf.String())
	}
	if kids := newChildren(t, before); len(kids) > 0 {
		t.Errorf("plugin processes left after the interrupt: %v", kids)
	}
	state := readState(t, out)
	demos, sft := state.Stages["demos"], state.Stages["sft"]
	if demos == nil || demos.Status != rundir.StatusDone || sft == nil || sft.Status != rundir.StatusFailed {
		t.Fatalf("after interrupt: demos %+v, sft %+v", demos, sft)
	}

	// Resumed from the directory alone: demos is skipped, the rest runs.
	var out2, err2 bytes.Buffer
	if err := runRun(context.Background(), []string{"--resume", out, "--format", "csv"}, &out2, &err2); err != nil {
		t.Fatalf("resume: %v\n%s", err, err2.String())
	}
	if !strings.Contains(err2.String(), "stage.demos (synthesize): done in an earlier session, skipped") {
		t.Errorf("resume did not skip demos:\n%s", err2.String())
	}
	for _, want := range []string{"eval,stage,stage_kind,tool,model,tasks,pass@1,", "\ntest,sft,sft,coedit,policy,2,", "\ntest,rl,grpo,coedit,policy,2,",
		"eval,stage,stage_kind,tool,max_turns,tasks,success\n"} {
		if !strings.Contains(out2.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, out2.String())
		}
	}
	res, err := results.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || len(res.Budgets) != 4 {
		t.Errorf("results.json: %d rows, %d budget rows; want 2 and 4", len(res.Rows), len(res.Budgets))
	}
	// The eval keeps each checkpoint's greedy episodes, one per task.
	for _, ck := range []string{"sft", "rl"} {
		b, err := os.ReadFile(filepath.Join(out, "stages", "test", ck+".episodes.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n != 2 || !strings.Contains(string(b), `"actions":[`) {
			t.Errorf("%s.episodes.jsonl: %d lines, want 2 episodes:\n%s", ck, n, b)
		}
	}
	if kids := newChildren(t, before); len(kids) > 0 {
		t.Errorf("plugin processes left after the run: %v", kids)
	}
	state = readState(t, out)
	var statuses []string
	for _, l := range []string{"demos", "sft", "rl", "test"} {
		statuses = append(statuses, fmt.Sprintf("%s:%s", l, state.Stages[l].Status))
	}
	if got := strings.Join(statuses, " "); got != "demos:done sft:done rl:done test:done" || state.Resumes != 1 {
		t.Errorf("state = %s, resumes %d", got, state.Resumes)
	}
}

// readState reads state.json without opening the run (which would count as
// a resume).
func readState(t *testing.T, dir string) rundir.State {
	t.Helper()
	var state rundir.State
	b, err := os.ReadFile(filepath.Join(dir, rundir.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &state); err != nil {
		t.Fatal(err)
	}
	return state
}

// children lists the live child processes of this test process (Linux).
func children(t *testing.T) []string {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	if len(stats) == 0 {
		t.Log("no /proc: cannot check for leftover plugin processes")
		return nil
	}
	var out []string
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the process ended meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) >= 2 && fields[0] != "Z" && fields[1] == strconv.Itoa(os.Getpid()) {
			out = append(out, strings.TrimSpace(s[:i+1]))
		}
	}
	return out
}

// newChildren returns the child processes not in before, giving processes
// that are being killed a moment to go.
func newChildren(t *testing.T, before map[string]bool) []string {
	t.Helper()
	var out []string
	for try := 0; try < 30; try++ {
		out = out[:0]
		for _, c := range children(t) {
			if !before[c] {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return out
}
