package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/tasks"
)

// pretrainExperiment pretrains a tiny model on the files of a directory;
// an sft stage of a second experiment starts from its checkpoint by path.
const pretrainExperiment = `experiment "pre" { seed = 3 }
variable "corpus" { type = string }
dataset "basic" {
  source        = "builtin:basic"
  test_fraction = 0.2
}
model "policy" {
  plugin  = "transformer"
  layers  = 1
  d_model = 16
  heads   = 2
  context = 64
  vocab   = 280
}
stage "lm" {
  kind             = "pretrain"
  model            = model.policy
  corpus           = "files:${var.corpus}"
  steps            = 4
  batch_size       = 2
  heldout          = 0.3
  checkpoint_every = 2
}
`

const fromPretrained = `experiment "post" { seed = 3 }
variable "init" { type = string }
dataset "basic" {
  source    = "builtin:basic"
  max_tasks = 2
}
tool "editor" { plugin = "coedit" }
model "policy" {
  plugin  = "transformer"
  layers  = 1
  d_model = 16
  heads   = 2
  context = 64
  vocab   = 280
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
  init       = var.init
  steps      = 2
  batch_size = 2
  history    = "last"
}
`

func writeCorpus(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPretrainThenInitByPath: a pretrain stage trains on a files: corpus,
// logs held-out loss and bits per byte at its checkpoints, and another
// experiment's sft starts from it by path (keeping its tokenizer).
func TestPretrainThenInitByPath(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two toy experiments end to end")
	}
	corpusDir := writeCorpus(t, map[string]string{
		"a.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
		"b.py": "import math\n\n\ndef area(r):\n    return math.pi * r * r\n",
		"c.py": "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n        self.items.append(x)\n",
		"d.py": "def mean(xs):\n    return sum(xs) / len(xs)\n",
	})
	dir := t.TempDir()
	pre := filepath.Join(dir, "pre.hcl")
	post := filepath.Join(dir, "post.hcl")
	if err := os.WriteFile(pre, []byte(pretrainExperiment), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(post, []byte(fromPretrained), 0o644); err != nil {
		t.Fatal(err)
	}
	preOut := filepath.Join(dir, "pre-run")
	var stdout, stderr bytes.Buffer
	if err := runRun(context.Background(), []string{pre, "--out", preOut, "-var", "corpus=" + corpusDir}, &stdout, &stderr); err != nil {
		t.Fatalf("pretrain run: %v\n%s", err, stderr.String())
	}
	var heldout []map[string]any
	f, err := os.Open(filepath.Join(preOut, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if _, ok := rec["heldout_bpb"]; ok {
			heldout = append(heldout, rec)
		}
	}
	if len(heldout) != 2 { // steps 2 and 4
		t.Fatalf("%d records with held-out bits per byte, want one per checkpoint (2):\n%s", len(heldout), stderr.String())
	}
	for _, rec := range heldout {
		if bpb := rec["heldout_bpb"].(float64); !(bpb > 0 && bpb < 16) {
			t.Errorf("held-out bits per byte %v, want a value in (0, 16)", bpb)
		}
	}

	stdout.Reset()
	stderr.Reset()
	postOut := filepath.Join(dir, "post-run")
	if err := runRun(context.Background(), []string{post, "--out", postOut, "-var", "init=" + filepath.Join(preOut, "stages", "lm")}, &stdout, &stderr); err != nil {
		t.Fatalf("run from the pretrained checkpoint: %v\n%s", err, stderr.String())
	}
	log, err := os.ReadFile(filepath.Join(postOut, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(preOut, "stages", "lm", "checkpoints", "step-000004")
	if !strings.Contains(string(log), "initialising model") || !strings.Contains(string(log), want) {
		t.Errorf("sft did not start from %s:\n%s", want, log)
	}
	if strings.Contains(string(log), "tokenizer fitted") {
		t.Errorf("sft fitted a new tokenizer instead of keeping the pretrained one:\n%s", log)
	}
}

// TestPretrainRefusesAnEvalProgram: a corpus file holding a program of the
// experiment's test split stops the run before any training, naming the
// file and the task.
func TestPretrainRefusesAnEvalProgram(t *testing.T) {
	test, err := tasks.Load(context.Background(), "builtin:basic", tasks.Options{Split: tasks.SplitTest, TestFraction: 0.2})
	if err != nil || len(test) == 0 {
		t.Fatalf("built-in test split: %d tasks, %v", len(test), err)
	}
	leaked := test[len(test)/2]
	corpusDir := writeCorpus(t, map[string]string{
		"clean.py":  "def add(a, b):\n    return a + b\n",
		"copied.py": "# found on the internet\nimport os\n\n" + leaked.Reference,
	})
	dir := t.TempDir()
	pre := filepath.Join(dir, "pre.hcl")
	if err := os.WriteFile(pre, []byte(pretrainExperiment), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = runRun(context.Background(), []string{pre, "--out", filepath.Join(dir, "run"), "-var", "corpus=" + corpusDir}, &stdout, &stderr)
	want := fmt.Sprintf("copied.py:4 holds %s (dataset \"basic\", split test)", leaked.ID)
	if err == nil || !strings.Contains(err.Error()+stderr.String(), want) {
		t.Fatalf("err = %v, want the leak %q named\n%s", err, want, stderr.String())
	}
	if strings.Contains(stderr.String(), "pretrain ") && strings.Contains(stderr.String(), "loss") {
		t.Errorf("training started despite the leak:\n%s", stderr.String())
	}
}
