package main

import (
	"bytes"
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
		{[]string{"data", "synth", "--out", "x.jsonl", "--tool", "hammer"}, 1, "", `unknown tool "hammer"`},
		{[]string{"data", "synth", "--out", "x.jsonl", "--split", "dev"}, 1, "", `unknown split "dev"`},
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
