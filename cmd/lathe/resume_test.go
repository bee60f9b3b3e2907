package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/core/rundir"
)

// smallRun sizes the experiment the resume and fault tests run: a 1-layer
// model, synthesis, SFT, GRPO and an eval, small enough to finish in
// seconds and long enough that a kill lands inside the stage it aims at.
type smallRun struct {
	name             string
	seed, tasks      int
	perTask          int // demonstrations per task
	rlSteps, rlEvery int // GRPO steps and checkpoint interval
	evalSplit        string
	evalK            int // the larger k of the eval
}

// hcl is the experiment file of r.
func (r smallRun) hcl() string {
	return fmt.Sprintf(`
experiment %q { seed = %d }
dataset "basic" {
  source    = "builtin:basic"
  max_tasks = %d
}
tool "editor" {
  plugin    = "coedit"
  max_turns = 3
  timeout_s = 2
}
reward "solved" { plugin = "tests" }
model "policy" {
  plugin  = "transformer"
  layers  = 1
  d_model = 32
  heads   = 2
  context = 256
  vocab   = 300
}
stage "demos" {
  kind     = "synthesize"
  tool     = tool.editor
  dataset  = dataset.basic
  per_task = %d
}
stage "sft" {
  kind             = "sft"
  model            = model.policy
  data             = stage.demos
  steps            = 300
  batch_size       = 4
  history          = "last"
  checkpoint_every = 50
}
stage "rl" {
  kind             = "grpo"
  model            = model.policy
  tool             = tool.editor
  reward           = reward.solved
  dataset          = dataset.basic
  init             = stage.sft
  steps            = %d
  group            = 2
  tasks_per_step   = 2
  history          = "last"
  max_tokens       = 24
  temperature      = 1.5
  checkpoint_every = %d
}
eval "coe" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  split       = %q
  checkpoints = [stage.sft, stage.rl]
  k           = [1, %d]
  history     = "last"
  max_tokens  = 24
}
`, r.name, r.seed, r.tasks, r.perTask, r.rlSteps, r.rlEvery, r.evalSplit, r.evalK)
}

// resumeExperiment runs in seconds.
var resumeExperiment = smallRun{name: "resume", seed: 11, tasks: 6, perTask: 2, rlSteps: 12, rlEvery: 2,
	evalSplit: "test", evalK: 2}.hcl()

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// testBuildTags are the -tags this test binary was built with.
func testBuildTags() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" {
				return s.Value
			}
		}
	}
	return ""
}

// lathePath builds the lathe binary once per test process.
func lathePath(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lathe-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "lathe")
		args := []string{"build", "-o", builtBin}
		if tags := testBuildTags(); tags != "" {
			args = append(args, "-tags", tags) // openblas under make test and make bench
		}
		if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// TestKillAndResume kills `lathe run` with SIGKILL during SFT and during
// GRPO, resumes each run, and requires every logged step and every result
// to equal those of an uninterrupted run with the same seed.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three small experiments end to end; skipped in -short mode")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found")
	}
	bin := lathePath(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "resume.hcl")
	if err := os.WriteFile(file, []byte(resumeExperiment), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("lathe %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	whole := filepath.Join(dir, "whole")
	run("run", file, "--out", whole)
	want := stepRecords(t, whole)

	for _, tc := range []struct {
		name  string
		stage string // stage being killed
		mark  string // the kill comes when this checkpoint is complete
		final string // must not exist yet when the kill lands
		// damage, when set, flips a byte of this file of the newest
		// checkpoint after the kill: the resume must refuse it, naming the
		// file and the last good checkpoint, and finish once the damaged
		// checkpoint is moved aside as the error says.
		damage string
	}{
		{"during sft", "sft", "stages/sft/checkpoints/step-000100/lathe-cursor.json", "stages/sft/checkpoints/step-000300", ""},
		{"during grpo", "rl", "stages/rl/checkpoints/step-000004/lathe-cursor.json", "stages/rl/checkpoints/step-000012", ""},
		{"damaged checkpoint", "sft", "stages/sft/checkpoints/step-000100/lathe-cursor.json", "stages/sft/checkpoints/step-000300", "weights.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			cmd := exec.Command(bin, "run", file, "--out", out)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for {
				if _, err := os.Stat(filepath.Join(out, tc.mark)); err == nil {
					break
				}
				if time.Now().After(deadline) {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					t.Fatalf("%s never appeared", tc.mark)
				}
				time.Sleep(2 * time.Millisecond)
			}
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			if _, err := os.Stat(filepath.Join(out, tc.final)); err == nil {
				t.Fatalf("the kill came too late: %s already finished", tc.stage)
			}
			if tc.damage != "" {
				refuseDamagedCheckpoint(t, bin, out, filepath.Join(out, "stages", tc.stage, "checkpoints"), tc.damage)
			}
			run("run", "--resume", out)
			diffRecords(t, stepRecords(t, out), want)
		})
	}
}

// refuseDamagedCheckpoint flips a byte of file in the newest complete
// checkpoint under ckDir, requires `lathe run --resume` to fail naming the
// file and the checkpoint before it, and then moves the damaged checkpoint
// out of the run, as the error says to.
func refuseDamagedCheckpoint(t *testing.T, bin, out, ckDir, file string) {
	t.Helper()
	entries, err := os.ReadDir(ckDir)
	if err != nil {
		t.Fatal(err)
	}
	var complete []string // ascending: step-N names sort by N
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(ckDir, e.Name(), "lathe-cursor.json")); err == nil {
			complete = append(complete, filepath.Join(ckDir, e.Name()))
		}
	}
	if len(complete) < 2 {
		t.Fatalf("%d complete checkpoints in %s, want two or more", len(complete), ckDir)
	}
	newest, lastGood := complete[len(complete)-1], complete[len(complete)-2]
	p := filepath.Join(newest, file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := exec.Command(bin, "run", "--resume", out).CombinedOutput()
	if err == nil {
		t.Fatalf("resumed over a damaged checkpoint:\n%s", msg)
	}
	for _, s := range []string{p + " is damaged", "the last good checkpoint is " + lastGood} {
		if !strings.Contains(string(msg), s) {
			t.Errorf("the failed resume does not say %q:\n%s", s, msg)
		}
	}
	if err := os.Rename(newest, filepath.Join(t.TempDir(), "damaged")); err != nil {
		t.Fatal(err)
	}
}

// stepRecords reads a run's metrics and results keyed by stage and step
// (the last record wins: a resumed run repeats the steps after its last
// checkpoint), without the fields that measure time.
func stepRecords(t *testing.T, runDir string) map[string]map[string]any {
	t.Helper()
	recs, err := rundir.ReadMetrics(filepath.Join(runDir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, r := range recs {
		if _, isEvent := r["event"]; isEvent {
			continue
		}
		key := fmt.Sprintf("%v/%v/%v", r["stage"], r["step"], r["eval"])
		if r["eval"] != nil {
			key += fmt.Sprintf("/%v", r["checkpoint"])
		}
		out[key] = withoutTimes(r)
	}
	b, err := os.ReadFile(filepath.Join(runDir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	rows, _ := res["rows"].([]any)
	for i, r := range rows {
		out[fmt.Sprintf("results/%d", i)] = withoutTimes(r.(map[string]any))
	}
	return out
}

// diffRecords reports every step record (stepRecords) of a resumed run
// that differs from the uninterrupted run's; it returns whether all agree.
func diffRecords(t *testing.T, got, want map[string]map[string]any) bool {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return true
	}
	if len(got) != len(want) {
		t.Errorf("resumed run logged %d distinct steps, uninterrupted %d", len(got), len(want))
	}
	for key, w := range want {
		if g, ok := got[key]; !ok {
			t.Errorf("%s: missing after resume", key)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\nresumed       %v\nuninterrupted %v", key, g, w)
		}
	}
	return false
}

func withoutTimes(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		// Durations (wall_s, step_s, generate_s, train_s, ...) and rates
		// depend on the machine's load, nothing else does.
		if k == "time" || strings.HasSuffix(k, "_s") {
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			v = withoutTimes(sub)
		}
		out[k] = v
	}
	return out
}
