package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataSynthAndStats runs `lathe data synth` twice with the same seed
// (different worker counts) and requires byte-identical files, then
// summarises one with `lathe data stats`.
func TestDataSynthAndStats(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH")
	}
	if testing.Short() {
		t.Skip("runs Python; skipped with -short")
	}
	dir := t.TempDir()
	var files [][]byte
	for i, workers := range []string{"1", "2"} {
		out := filepath.Join(dir, "demos"+workers+".jsonl")
		var stdout, stderr bytes.Buffer
		args := []string{"data", "synth", "--dataset", "builtin:basic", "--max-tasks", "4", "--per-task", "3",
			"--seed", "9", "--workers", workers, "--out", out}
		if rc := mainWithExit(args, &stdout, &stderr); rc != 0 {
			t.Fatalf("run %d: exit %d: %s", i, rc, stderr.String())
		}
		if !strings.Contains(stderr.String(), "12 demonstrations of 4 train tasks") {
			t.Fatalf("run %d: summary %q", i, stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) || bytes.Count(files[0], []byte("\n")) != 12 {
		t.Fatalf("outputs differ or have the wrong length (%d lines)", bytes.Count(files[0], []byte("\n")))
	}
	var stdout, stderr bytes.Buffer
	if rc := mainWithExit([]string{"data", "stats", filepath.Join(dir, "demos1.jsonl")}, &stdout, &stderr); rc != 0 {
		t.Fatalf("stats: exit %d: %s", rc, stderr.String())
	}
	for _, want := range []string{"demonstrations", "│ 12 ", "mean commands per trace", "operator "} {
		if !strings.Contains(stdout.String(), want) {
			t.Fatalf("stats table lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestDataStatsSourceAndErrors(t *testing.T) {
	tests := []struct {
		args    []string
		rc      int
		wantOut string
		wantErr string
	}{
		{[]string{"data", "stats", "builtin:basic"}, 0, "│ all ", ""},
		{[]string{"data", "stats", "nope.jsonl"}, 1, "", "no such file"},
		{[]string{"data", "stats", "mbpp:/nonexistent.jsonl"}, 1, "", "tasks: mbpp:"},
		{[]string{"data", "synth", "--per-task", "2"}, 1, "", "--out is required"},
		{[]string{"data", "synth", "--out", "x.jsonl", "--tool", "hammer"}, 1, "", `unknown built-in plugin "hammer"`},
		{[]string{"data", "synth", "--out", "x.jsonl", "--split", "dev"}, 1, "", `unknown split "dev"`},
		// Held-out splits never become training demonstrations.
		{[]string{"data", "synth", "--out", "x.jsonl", "--split", "test"}, 1, "",
			"--split test: a dataset's test and validation tasks are held out for evaluation and never become training demonstrations"},
		{[]string{"data", "synth", "--out", "x.jsonl", "--split", "validation"}, 1, "", "--split validation: a dataset's test and validation tasks are held out"},
		// Tool options are decoded against the tool's schema, as a tool
		// block is, and checked by the tool when the stage configures it.
		{[]string{"data", "synth", "--out", "x.jsonl", "--tool-option", "max_turns=many"}, 1, "",
			`--tool-option: tool coedit: Incorrect attribute value type: Inappropriate value for attribute "max_turns": a number is required`},
		{[]string{"data", "synth", "--out", "x.jsonl", "--tool-option", "max_turn=3"}, 1, "", `Did you mean "max_turns"?`},
		{[]string{"data", "synth", "--out", "x.jsonl", "--tool-option", "max_corruptions=9"}, 1, "", "max_corruptions must be between 1 and 5, got 9"},
		{[]string{"data", "synth", "--out", "x.jsonl", "--workers", "-1"}, 1, "", "workers must be 0 (one per core) or more, got -1"},
		{[]string{"data", "synth", "--out", "x.jsonl", "--workers", "2", "--tool-option", "workers=3"}, 1, "", "--workers and --tool-option workers set the same option"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			rc := mainWithExit(tc.args, &stdout, &stderr)
			if rc != tc.rc || !strings.Contains(stdout.String(), tc.wantOut) || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", rc, tc.rc, stdout.String(), stderr.String())
			}
		})
	}
}

// TestDataSynthIsTheSynthesizeStage: lathe data synth writes the
// demonstrations, and the checksum file, that a synthesize stage of an
// experiment with the same settings (seed, tasks, tool options) writes;
// --split all leaves the held-out tasks out, with the stage's warning.
func TestDataSynthIsTheSynthesizeStage(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH")
	}
	if testing.Short() {
		t.Skip("runs Python; skipped with -short")
	}
	const experimentFile = `experiment "synth" { seed = 9 }
dataset "basic" { source = "builtin:basic" }
tool "editor" {
  plugin = "coedit"
%s}
stage "demos" {
  kind      = "synthesize"
  tool      = tool.editor
  dataset   = dataset.basic
  split     = %q
  per_task  = 2
  max_tasks = 4
}
`
	tests := []struct {
		name    string
		split   string
		options map[string]string // tool options, as --tool-option and in the tool block
		stdout  bool              // --out -
		warn    string            // on stderr
	}{
		{name: "train", split: "train"},
		// With seed 9, basic/001 is a test task: the first 4 of all lose it.
		{name: "all leaves held-out tasks out", split: "all",
			warn: "training task left out: it is held out for evaluation: stage=synthesize task=basic/001 split=test"},
		{name: "tool options", split: "train", options: map[string]string{"demo_order": `"reverse"`, "max_corruptions": "2"}},
		{name: "stdout", split: "train", stdout: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			block, args := "", []string{"data", "synth", "--dataset", "builtin:basic", "--split", tc.split,
				"--per-task", "2", "--max-tasks", "4", "--seed", "9"}
			for name, v := range tc.options {
				block += fmt.Sprintf("  %s = %s\n", name, v)
				args = append(args, "--tool-option", name+"="+strings.Trim(v, `"`))
			}
			file := filepath.Join(dir, "synth.hcl")
			if err := os.WriteFile(file, []byte(fmt.Sprintf(experimentFile, block, tc.split)), 0o644); err != nil {
				t.Fatal(err)
			}
			run := filepath.Join(dir, "run")
			var stdout, stderr bytes.Buffer
			if rc := mainWithExit([]string{"run", file, "--out", run}, &stdout, &stderr); rc != 0 {
				t.Fatalf("lathe run: exit %d: %s", rc, stderr.String())
			}
			stage := filepath.Join(run, "stages", "demos", "demos.jsonl")
			want, err := os.ReadFile(stage)
			if err != nil {
				t.Fatal(err)
			}
			wantSum, err := os.ReadFile(stage + ".sum")
			if err != nil {
				t.Fatal(err)
			}

			out := filepath.Join(dir, "demos.jsonl")
			if tc.stdout {
				out = "-"
			}
			stdout.Reset()
			stderr.Reset()
			if rc := mainWithExit(append(args, "--out", out), &stdout, &stderr); rc != 0 {
				t.Fatalf("lathe data synth: exit %d: %s", rc, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.warn) {
				t.Errorf("stderr lacks %q:\n%s", tc.warn, stderr.String())
			}
			if tc.stdout {
				if !bytes.Equal(stdout.Bytes(), want) {
					t.Errorf("stdout differs from the stage's demos.jsonl:\n%s\nwant:\n%s", stdout.String(), want)
				}
				return
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			gotSum, err := os.ReadFile(out + ".sum")
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || !bytes.Equal(got, want) || !bytes.Equal(gotSum, wantSum) {
				t.Errorf("data synth wrote\n%s%s\nthe stage wrote\n%s%s", got, gotSum, want, wantSum)
			}
			if tc.split == "all" && bytes.Contains(got, []byte(`"task_id":"basic/001"`)) {
				t.Errorf("the held-out task basic/001 became a demonstration:\n%s", got)
			}
		})
	}
}
