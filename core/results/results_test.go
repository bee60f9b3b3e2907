package results

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/atomicfile"
)

func ptr(x float64) *float64 { return &x }

func sample(run string, p1 float64) *Results {
	return &Results{
		Experiment: "quickstart",
		Run:        run,
		Rows: []Row{
			{Eval: "test", Stage: "sft", StageKind: "sft", Tool: "coedit", Model: "policy", Tasks: 40, Samples: 4,
				PassAt: map[int]float64{1: p1, 4: 0.5}, GreedyPass1: ptr(0.3), MeanTurns: 3.25, Tokens: 12000, WallS: 12.5},
			{Eval: "test", Stage: "rl", StageKind: "grpo", Tool: "coedit", Model: "policy", Tasks: 40, Samples: 4,
				PassAt: map[int]float64{1: 0.4, 4: 0.6}, MeanTurns: 2.5, Tokens: 9000, WallS: 11,
				Breakdown: []Group{{"first_error", "NameError", 12, 0.75}, {"operator", "typo", 9, 0.5}}},
		},
		Budgets: []BudgetRow{
			{Eval: "test", Stage: "rl", StageKind: "grpo", Tool: "coedit", MaxTurns: 1, Tasks: 40, Success: 0.1},
			{Eval: "test", Stage: "rl", StageKind: "grpo", Tool: "coedit", MaxTurns: 4, Tasks: 40, Success: 0.35},
		},
		Notes: []string{"eval.test: split=test samples=4 temperature=0.8"},
	}
}

func TestWrite(t *testing.T) {
	one := []*Results{sample("quickstart/a", 0.25)}
	two := []*Results{sample("quickstart/a", 0.25), sample("quickstart/b", 0.125)}
	tests := []struct {
		name   string
		format string
		sets   []*Results
		want   []string // substrings, in order
	}{
		{"csv one run", "csv", one, []string{
			"eval,stage,stage_kind,tool,model,tasks,pass@1,pass@4,greedy_pass@1,mean_turns,tokens,wall_s\n" +
				"test,sft,sft,coedit,policy,40,0.25,0.5,0.3,3.25,12000,12.5\n" +
				"test,rl,grpo,coedit,policy,40,0.4,0.6,,2.5,9000,11\n" +
				"\n" +
				"eval,stage,stage_kind,tool,max_turns,tasks,success\n" +
				"test,rl,grpo,coedit,1,40,0.1\n",
			"\neval,stage,stage_kind,tool,dimension,value,tasks,pass@1\n" +
				"test,rl,grpo,coedit,first_error,NameError,12,0.75\n" +
				"test,rl,grpo,coedit,operator,typo,9,0.5\n"}},
		{"csv side by side", "csv", two, []string{
			"run,eval,stage,", "quickstart/a,test,sft,sft,coedit,policy,40,0.25,", "quickstart/b,test,sft,sft,coedit,policy,40,0.125,"}},
		{"table", "table", one, []string{
			"eval", "pass@1", "pass@4", "greedy_pass@1", "0.250", "0.300", "3.25",
			"Success rate by turn budget", "turns=1", "turns=4", "0.100", "0.350",
			"pass@1 by first error", "test/rl", "first_error", "NameError", "12", "0.750", "operator", "typo", "9", "0.500",
			"eval.test: split=test"}},
		{"markdown side by side", "markdown", two, []string{
			"|     run      | eval |", "|:---", "| quickstart/b |", "0.125", "**Success rate by turn budget",
			"quickstart/a test/rl", "quickstart/b test/rl", "- quickstart/a: eval.test"}},
		{"json", "json", two, []string{`"run": "quickstart/a"`, `"pass_at": {`, `"1": 0.25`, `"run": "quickstart/b"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tc.format, tc.sets); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
		})
	}
	if err := Write(&bytes.Buffer{}, "xml", one); err == nil || !strings.Contains(err.Error(), `unknown format "xml"`) {
		t.Errorf("bad format: err = %v", err)
	}
}

func TestLoadAndReplace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "quickstart", "20261125T120000Z")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := sample("", 0.25)
	r.Replace("test", []Row{{Eval: "test", Stage: "sft", PassAt: map[int]float64{1: 1}}}, nil)
	if len(r.Rows) != 1 || len(r.Budgets) != 0 {
		t.Fatalf("Replace left %d rows, %d budgets; want 1, 0", len(r.Rows), len(r.Budgets))
	}
	b, _ := json.Marshal(r)
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, FileName)} {
		got, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if got.Run != "quickstart/20261125T120000Z" || got.Rows[0].PassAt[1] != 1 {
			t.Errorf("Load(%s) = run %q rows %+v", p, got.Run, got.Rows)
		}
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("Load of a directory without results.json succeeded")
	}
}

// TestLoadDamaged: results.json as the run wrote it loads; cut short or
// altered, Load names it instead of printing wrong tables.
func TestLoadDamaged(t *testing.T) {
	b, err := json.MarshalIndent(sample("", 0.25), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"intact", func(b []byte) []byte { return b }, ""},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, " is damaged: "},
		// 0.25 -> 0.35: still valid JSON, a different table.
		{"number altered", func(b []byte) []byte { return bytes.Replace(b, []byte("0.25"), []byte("0.35"), 1) }, " is damaged: its SHA-256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if err := atomicfile.WriteCheckedBytes(path, FileFormat, b); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.edit(bytes.Clone(b)), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := Load(path)
			if tc.want == "" {
				if err != nil || len(r.Rows) == 0 {
					t.Fatalf("Load = %+v, %v", r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), path+tc.want) {
				t.Errorf("err = %v, want %q", err, path+tc.want)
			}
		})
	}
}
