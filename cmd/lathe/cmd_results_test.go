package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/results"
)

func writeResults(t *testing.T, dir string, p1 float64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := results.Results{Experiment: "quickstart", Rows: []results.Row{{
		Eval: "coe", Stage: "sft", StageKind: "sft", Tool: "coedit", Model: "policy", Tasks: 45,
		PassAt: map[int]float64{1: p1, 4: 0.5}, MeanTurns: 3, Tokens: 100, WallS: 2,
	}}}
	b, _ := json.Marshal(r)
	if err := os.WriteFile(filepath.Join(dir, results.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestResultsCommand(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "quickstart")
	writeResults(t, filepath.Join(runs, "20261125T120000Z"), 0.25)
	writeResults(t, filepath.Join(runs, "20261125T130000Z"), 0.5)
	tests := []struct {
		name string
		args []string
		code int
		want string // substring of stdout (or stderr when code != 0)
	}{
		{"one run as csv", []string{"results", filepath.Join(runs, "20261125T120000Z"), "--format", "csv"}, 0,
			"eval,stage,stage_kind,tool,model,tasks,pass@1,pass@4,greedy_pass@1,mean_turns,tokens,wall_s\ncoe,sft,sft,coedit,policy,45,0.25,0.5,,3,100,2\n"},
		{"experiment dir expands to its runs", []string{"results", "--format", "csv", runs}, 0,
			"quickstart/20261125T120000Z,coe,sft,sft,coedit,policy,45,0.25,0.5,,3,100,2\nquickstart/20261125T130000Z,coe,sft,sft,coedit,policy,45,0.5,"},
		{"markdown", []string{"results", runs, "--format=markdown"}, 0, "| quickstart/20261125T130000Z |"},
		{"bad format", []string{"results", runs, "--format", "xml"}, 1, `--format must be one of table, markdown, csv, json, not "xml"`},
		{"not a run dir", []string{"results", t.TempDir()}, 1, "holds no results.json"},
		{"help", []string{"results", "--help"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := mainWithExit(tc.args, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errb.String())
			}
			got := out.String()
			if tc.code != 0 {
				got = errb.String()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, got)
			}
		})
	}
}

func TestValidateReportsDiagnostics(t *testing.T) {
	f := filepath.Join(t.TempDir(), "bad.hcl")
	src := "experiment \"x\" {}\nstage \"a\" {\n  kind = \"sft\"\n  stepz = 3\n}\n"
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"validate", "run"} {
		t.Run(cmd, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := mainWithExit([]string{cmd, f, "-var", "n=1"}, &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			for _, want := range []string{
				f + ":4:3: error: Unsupported argument",
				"    4 |   stepz = 3\n      |   ^^^^^",
				`Did you mean "steps"?`,
				`<-var>:1:1: error: Undeclared variable`,
			} {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, errb.String())
				}
			}
		})
	}
}

// TestValidateReportsPluginOptionValues holds `lathe validate` to reporting
// bad option values of the built-in plugins at their line and column,
// before any stage runs (each plugin checks its own values through
// sdk.ConfigValidator).
func TestValidateReportsPluginOptionValues(t *testing.T) {
	src := `experiment "x" {}

tool "editor" {
  plugin          = "coedit"
  max_turns       = 0
  operators       = ["typo", "flip_bits"]
  max_corruptions = 9
}

reward "r" {
  plugin = "tests"
}

model "policy" {
  plugin  = "transformer"
  d_model = 130
  heads   = 4
  device  = "cuda"
}

model "served" {
  plugin   = "openai"
  base_url = "ftp://example/v1"
  model    = "m"
}
`
	f := filepath.Join(t.TempDir(), "values.hcl")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := mainWithExit([]string{"validate", f}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	for _, tc := range []struct{ where, what string }{
		{":5:21: error: Invalid plugin option", "max_turns must be at least 1, got 0"},
		{":6:21: error: Invalid plugin option", `operators names an unknown corruption operator "flip_bits"`},
		{":7:21: error: Invalid plugin option", "max_corruptions must be between 1 and 5, got 9"},
		{":17:13: error: Invalid plugin option", "heads must divide d_model (130), got 4"},
		{":18:13: error: Invalid plugin option", `device "cuda" is not available`},
		{":23:14: error: Invalid plugin option", `base_url "ftp://example/v1" is not an http(s) URL`},
	} {
		if !strings.Contains(errb.String(), f+tc.where) || !strings.Contains(errb.String(), tc.what) {
			t.Errorf("stderr lacks %q with %q:\n%s", f+tc.where, tc.what, errb.String())
		}
	}
}
