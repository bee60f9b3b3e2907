package experiment_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/stages"
	"github.com/lathe-ml/lathe/sdk"
)

// load is experiment.Load with the built-in stage kinds, which are defined
// with their implementations in core/stages.
func load(ctx context.Context, filename string, src []byte, vars []string, schemas experiment.SchemaSource) (*experiment.Experiment, *experiment.File, hcl.Diagnostics) {
	return experiment.Load(ctx, filename, src, vars, stages.Kinds().Schemas(), schemas)
}

// fakeSchemas is an experiment.SchemaSource with a few plugins shaped like the
// built-in ones.
type fakeSchemas map[string]sdk.Schema

func (f fakeSchemas) Schema(_ context.Context, kind sdk.Kind, plugin string) (sdk.Schema, error) {
	s, ok := f[string(kind)+"/"+plugin]
	if !ok {
		return sdk.Schema{}, fmt.Errorf("no built-in %s plugin %q", kind, plugin)
	}
	return s, nil
}

var testSchemas = fakeSchemas{
	"tool/coedit": {Attributes: []sdk.Attribute{
		{Name: "max_turns", Type: "number", Default: 10.0},
		{Name: "feedback_lines", Type: "number", Default: 20.0},
	}},
	"tool/rewrite": {},
	"reward/tests": {Attributes: []sdk.Attribute{
		{Name: "solved", Type: "number", Default: 1.0},
		{Name: "format_penalty", Type: "number", Default: -0.5},
	}},
	"model/transformer": {Attributes: []sdk.Attribute{
		{Name: "layers", Type: "number", Required: true},
		{Name: "d_model", Type: "number", Default: 128.0},
		{Name: "heads", Type: "number", Default: 4.0},
		{Name: "device", Type: "string", Default: "cpu"},
		{Name: "stop", Type: "list(string)"},
	}},
}

// base is a valid experiment that the mistake cases extend.
const base = `experiment "t" { seed = 7 }
variable "turns" { default = 10 }
dataset "basic" { source = "builtin:basic" }
tool "editor" {
  plugin    = "coedit"
  max_turns = var.turns
}
reward "solved" { plugin = "tests" }
model "policy" {
  plugin = "transformer"
  layers = 2
}
stage "demos" {
  kind    = "synthesize"
  tool    = tool.editor
  dataset = dataset.basic
}
`

// marked removes the marker "@@" from src and returns the text and the
// marker's 1-based line and column.
func marked(t *testing.T, src string) (string, int, int) {
	t.Helper()
	i := strings.Index(src, "@@")
	if i < 0 {
		t.Fatalf("test input has no @@ marker:\n%s", src)
	}
	before := src[:i]
	line := strings.Count(before, "\n") + 1
	col := i - strings.LastIndex(before, "\n")
	return before + src[i+2:], line, col
}

func TestMistakes(t *testing.T) {
	tests := []struct {
		name    string
		src     string // contains @@ where the diagnostic's subject starts
		vars    []string
		file    string // the subject's file name when not the experiment's
		summary string
		detail  string // a substring of the detail
	}{
		{
			name:    "syntax error",
			src:     base + "stage \"x\" {\n  kind = @@= \"sft\"\n}\n",
			summary: "Invalid expression",
		},
		{
			name:    "unknown block",
			src:     base + `@@stge "sft" {}` + "\n",
			summary: "Unsupported block type",
			detail:  `Did you mean "stage"?`,
		},
		{
			name:    "unknown stage attribute",
			src:     base + "stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = stage.demos\n  @@stepz = 3\n}\n",
			summary: "Unsupported argument",
			detail:  `Did you mean "steps"?`,
		},
		{
			name:    "wrong type",
			src:     base + "stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = stage.demos\n  steps = @@\"many\"\n}\n",
			summary: "Incorrect attribute value type",
			detail:  "a whole number is required",
		},
		{
			name:    "fractional whole number",
			src:     base + "stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = stage.demos\n  batch_size = @@2.5\n}\n",
			summary: "Invalid value",
			detail:  "whole number",
		},
		{
			name:    "reference to undeclared block",
			src:     base + "stage \"rl\" {\n  kind = \"grpo\"\n  model = model.policy\n  tool = @@tool.edtor\n  reward = reward.solved\n  dataset = dataset.basic\n  init = \"runs/x/stages/sft\"\n}\n",
			summary: "Reference to undeclared tool",
			detail:  `Did you mean "editor"?`,
		},
		{
			// RL has no tokenizer to fit: without init it could not start.
			name:    "grpo without init",
			src:     base + "stage \"rl\" @@{\n  kind = \"grpo\"\n  model = model.policy\n  tool = tool.editor\n  reward = reward.solved\n  dataset = dataset.basic\n}\n",
			summary: "Missing required argument",
			detail:  `"init" is required`,
		},
		{
			name: "reference cycle",
			src: base + "stage \"a\" {\n  kind = \"sft\"\n  model = model.policy\n  data = stage.demos\n  init = stage.b\n}\n" +
				"stage \"b\" {\n  kind = \"grpo\"\n  model = model.policy\n  tool = tool.editor\n  reward = reward.solved\n  dataset = dataset.basic\n  init = @@stage.a\n}\n",
			summary: "Reference cycle",
			detail:  "stage.a -> stage.b -> stage.a",
		},
		{
			name:    "missing required attribute",
			src:     base + "stage \"sft\" @@{\n  kind = \"sft\"\n  model = model.policy\n}\n",
			summary: "Missing required argument",
			detail:  `"data" is required`,
		},
		{
			name:    "unknown plugin",
			src:     base + "tool \"direct\" { plugin = @@\"rewrit\" }\n",
			summary: "Unknown tool plugin",
			detail:  `"rewrit"`,
		},
		{
			name:    "plugin option typo",
			src:     base + "tool \"e2\" {\n  plugin = \"coedit\"\n  @@max_turn = 4\n}\n",
			summary: "Unsupported argument",
			detail:  `Did you mean "max_turns"?`,
		},
		{
			name:    "plugin option wrong type",
			src:     base + "model \"m2\" {\n  plugin = \"transformer\"\n  layers = @@\"four\"\n}\n",
			summary: "Incorrect attribute value type",
		},
		{
			name:    "missing required plugin option",
			src:     base + "model \"m2\" @@{\n  plugin = \"transformer\"\n}\n",
			summary: "Missing required argument",
			detail:  `"layers"`,
		},
		{
			name:    "bad -var name",
			src:     base + "@@",
			vars:    []string{"turn=4"},
			file:    "<-var>",
			summary: "Undeclared variable",
			detail:  `Did you mean "turns"?`,
		},
		{
			name:    "bad -var value",
			src:     base + "@@",
			vars:    []string{`turns="ten"`},
			file:    "<value for var.turns>",
			summary: "Invalid value for variable",
		},
		{
			name:    "-var bare word for a number",
			src:     base + "@@",
			vars:    []string{"turns=ten"},
			file:    "<value for var.turns>",
			summary: "Invalid value for variable",
			detail:  "variables not allowed",
		},
		{
			name:    "-var without equals",
			src:     base + "@@",
			vars:    []string{"turns"},
			file:    "<-var>",
			summary: "Invalid -var option",
		},
		{
			name:    "duplicate label",
			src:     base + "dataset @@\"basic\" { source = \"builtin:basic\" }\n",
			summary: `Duplicate dataset "basic"`,
			detail:  "already defined at test.hcl:3,1-16",
		},
		{
			name:    "eval label clashes with stage",
			src:     base + "eval @@\"demos\" {\n  model = model.policy\n  tool = tool.editor\n  dataset = dataset.basic\n}\n",
			summary: `Duplicate eval "demos"`,
		},
		{
			name:    "bad stage kind",
			src:     base + "stage \"x\" { kind = @@\"sf\" }\n",
			summary: "Unknown stage kind",
			detail:  `Did you mean "sft"?`,
		},
		{
			name:    "wrong reference kind",
			src:     base + "stage \"sft\" {\n  kind = \"sft\"\n  model = @@tool.editor\n  data = stage.demos\n}\n",
			summary: "Wrong reference kind",
			detail:  "must refer to a model block",
		},
		{
			name:    "wrong stage kind",
			src:     base + "stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = stage.demos\n}\nstage \"sft2\" {\n  kind = \"sft\"\n  model = model.policy\n  data = @@stage.sft\n}\n",
			summary: "Wrong stage kind",
			detail:  "must refer to a synthesize or dagger stage",
		},
		{
			name: "checkpoint of another model",
			src: base + "model \"big\" {\n  plugin = \"transformer\"\n  layers = 8\n}\n" +
				"stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = stage.demos\n}\n" +
				"eval \"test\" {\n  model = model.big\n  tool = tool.editor\n  dataset = dataset.basic\n  checkpoints = [@@stage.sft]\n}\n",
			summary: "Checkpoint of another model",
			detail:  "stage.sft trains model.policy",
		},
		{
			name:    "quoted reference",
			src:     base + "stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = @@\"stage.demos\"\n}\n",
			summary: "Invalid reference",
			detail:  "without quotes",
		},
		{
			name:    "quoted stage reference where a path may stand",
			src:     base + "stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = stage.demos\n}\neval \"test\" {\n  model = model.policy\n  tool = tool.editor\n  dataset = dataset.basic\n  checkpoints = [@@\"stage.sft\"]\n}\n",
			summary: "Invalid reference",
			detail:  "without quotes: stage.sft",
		},
		{
			name:    "init neither a reference nor a path",
			src:     base + "stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = stage.demos\n  init = @@3\n}\n",
			summary: "Invalid reference",
			detail:  "or the path of a checkpoint in quotes",
		},
		{
			name:    "init an empty path",
			src:     base + "stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = stage.demos\n  init = @@\"\"\n}\n",
			summary: "Empty path",
		},
		{
			name:    "undeclared variable in expression",
			src:     base + "tool \"e2\" {\n  plugin = \"coedit\"\n  max_turns = var@@.turn\n}\n",
			summary: "Undeclared variable",
			detail:  `Did you mean "turns"?`,
		},
		{
			name:    "bad enum value",
			src:     base + "stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = stage.demos\n  history = @@\"ful\"\n}\n",
			summary: "Invalid value",
			detail:  `Did you mean "full"?`,
		},
		{
			name:    "pass@k beyond samples",
			src:     base + "eval \"test\" {\n  model = model.policy\n  tool = tool.editor\n  dataset = dataset.basic\n  k = [1, 8]\n  samples = @@4\n}\n",
			summary: "Too few samples for pass@k",
		},
		{
			name:    "duplicate experiment block",
			src:     base + "@@experiment \"u\" {}\n",
			summary: "Duplicate experiment block",
			detail:  "test.hcl:1,1-15",
		},
		{
			name:    "missing experiment block",
			src:     "@@" + strings.Replace(base, `experiment "t" { seed = 7 }`, `variable "x" { default = 1 }`, 1),
			summary: "Missing experiment block",
		},
		{
			name:    "variable default of wrong type",
			src:     base + "variable \"n\" {\n  type = number\n  default = @@\"lots\"\n}\n",
			summary: "Invalid default value for variable",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, line, col := marked(t, tc.src)
			if tc.file != "" {
				line, col = 1, 1
			}
			_, _, diags := load(context.Background(), "test.hcl", []byte(src), tc.vars, testSchemas)
			if !diags.HasErrors() {
				t.Fatalf("no error for:\n%s", src)
			}
			d := diags.Errs()[0].(*hcl.Diagnostic)
			if d.Summary != tc.summary {
				t.Errorf("summary = %q, want %q (detail %q)", d.Summary, tc.summary, d.Detail)
			}
			if tc.detail != "" && !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("detail = %q, want it to contain %q", d.Detail, tc.detail)
			}
			if d.Subject == nil {
				t.Fatalf("diagnostic %q has no subject", d.Summary)
			}
			wantFile := "test.hcl"
			if tc.file != "" {
				wantFile = tc.file
			}
			got := fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
			want := fmt.Sprintf("%s:%d:%d", wantFile, line, col)
			if got != want {
				t.Errorf("position = %s, want %s (%s: %s)", got, want, d.Summary, d.Detail)
			}
		})
	}
}

// TestDataTakesOneStageOrAList: sft's data is one synthesize stage or a
// list of them, and every one listed becomes a dependency.
func TestDataTakesOneStageOrAList(t *testing.T) {
	more := base + "stage \"demos2\" {\n  kind = \"synthesize\"\n  tool = tool.editor\n  dataset = dataset.basic\n}\n"
	for _, tc := range []struct{ data, want string }{
		{"stage.demos", "demos"},
		{"[stage.demos]", "demos"},
		{"[stage.demos, stage.demos2]", "demos demos2"},
	} {
		t.Run(tc.data, func(t *testing.T) {
			src := more + "stage \"sft\" {\n  kind = \"sft\"\n  model = model.policy\n  data = " + tc.data + "\n}\n"
			exp, _, diags := load(context.Background(), "test.hcl", []byte(src), nil, testSchemas)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			var got []string
			for _, s := range exp.Stages {
				if s.Label != "sft" {
					continue
				}
				for _, r := range s.Attrs.Refs("data") {
					got = append(got, r.Label)
				}
				if deps := strings.Join(s.DependsOn, " "); deps != tc.want {
					t.Errorf("depends on %q, want %q", deps, tc.want)
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("data = %v, want %s", got, tc.want)
			}
		})
	}
}

// TestPluginConfig: options given on a command line are decoded against a
// plugin's schema as a block is: converted, defaulted, checked.
func TestPluginConfig(t *testing.T) {
	schema := testSchemas["model/transformer"]
	cfg, diags := experiment.PluginConfig(schema, map[string]any{"layers": 3.0, "device": 7.0})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := map[string]any{"layers": 3.0, "d_model": 128.0, "heads": 4.0, "device": "7", "stop": nil}
	if fmt.Sprint(cfg) != fmt.Sprint(want) {
		t.Errorf("config = %v, want %v", cfg, want)
	}
	for _, tc := range []struct {
		options map[string]any
		summary string
		detail  string
	}{
		{map[string]any{"layers": 2.0, "haeds": 2.0}, "Extraneous JSON object property", `Did you mean "heads"?`},
		{map[string]any{"layers": "many"}, "Incorrect attribute value type", "a number is required"},
		{map[string]any{}, "Missing required argument", `"layers" is required`},
		{map[string]any{"layers": 2.0, "device": "${x}"}, "", ""},
	} {
		cfg, diags := experiment.PluginConfig(schema, tc.options)
		if tc.summary == "" {
			if diags.HasErrors() || cfg["device"] != "${x}" {
				t.Errorf("%v: %v, %v", tc.options, cfg, diags)
			}
			continue
		}
		if !diags.HasErrors() {
			t.Errorf("%v: no error", tc.options)
			continue
		}
		d := diags.Errs()[0].(*hcl.Diagnostic)
		if d.Summary != tc.summary || !strings.Contains(d.Detail, tc.detail) || d.Subject != nil {
			t.Errorf("%v: %q: %q (subject %v), want %q containing %q", tc.options, d.Summary, d.Detail, d.Subject, tc.summary, tc.detail)
		}
	}
}
