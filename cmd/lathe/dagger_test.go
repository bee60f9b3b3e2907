package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/episode"
)

// daggerExperiment: tinyExperiment's demonstrations and SFT, then the toy
// policy plays, the coedit expert continues its episodes, and SFT goes on
// from the policy on both kinds of data.
var daggerExperiment = tinyExperiment[:strings.Index(tinyExperiment, `stage "rl" {`)] + `
stage "relabel" {
  kind       = "dagger"
  model      = model.policy
  init       = stage.sft
  tool       = tool.editor
  dataset    = dataset.basic
  split      = "all"
  per_task   = 2
  max_turns  = 3
  max_tokens = 8
  history    = "last"
}
stage "sft_more" {
  kind       = "sft"
  model      = model.policy
  init       = stage.sft
  data       = [stage.demos, stage.relabel]
  steps      = 2
  batch_size = 2
  history    = "last"
  heldout    = 0
}
`

// TestDaggerStage: every relabelled episode starts with the policy's own
// actions (learn of them, at least one), ends repaired by the expert, and
// SFT trains on them beside synthesis's demonstrations.
func TestDaggerStage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a toy experiment end to end")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "dagger.hcl")
	if err := os.WriteFile(file, []byte(daggerExperiment), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run")
	var stdout, stderr bytes.Buffer
	if err := runRun(context.Background(), []string{file, "--out", out}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "policy pass rate") {
		t.Errorf("no dagger summary in the progress:\n%s", stderr.String())
	}
	eps, err := episode.ReadFile(filepath.Join(out, "stages", "relabel", "episodes.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) == 0 {
		t.Fatal("no relabelled episodes")
	}
	t.Logf("%d relabelled episodes; first: learn %d, actions %q", len(eps), eps[0].Learn, eps[0].Actions)
	for _, e := range eps {
		if e.Learn < 1 || e.Learn >= len(e.Actions) || !e.Solved || e.Actions[len(e.Actions)-1] != "EXIT" {
			t.Errorf("episode of %s: learn %d of %d actions %q, solved %v; want the policy's actions, then the expert's to an EXIT",
				e.TaskID, e.Learn, len(e.Actions), e.Actions, e.Solved)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "stages", "sft_more", "checkpoints")); err != nil {
		t.Errorf("sft on the relabelled data left no checkpoints: %v", err)
	}
}

// TestEvalWarnsOfOverflow: episodes whose context leaves no room in the
// window for max_tokens end without acting, and the eval says so.
func TestEvalWarnsOfOverflow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a toy eval end to end")
	}
	src := strings.Replace(daggerExperiment, `stage "relabel" {`, `eval "cramped" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  split       = "all"
  checkpoints = [stage.sft]
  k           = [1]
  max_tokens  = 120
}
stage "unused" {`, 1)
	src = src[:strings.Index(src, `stage "unused" {`)]
	dir := t.TempDir()
	file := filepath.Join(dir, "cramped.hcl")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := runRun(context.Background(), []string{file, "--out", filepath.Join(dir, "run")}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "sampled episodes outgrew the model's window and ended early; raise the model's context or lower max_tokens (120)") {
		t.Errorf("no overflow warning:\n%s", stderr.String())
	}
}
