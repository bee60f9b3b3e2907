package experiment_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/experiment"
)

func TestLoadModel(t *testing.T) {
	two := `variable "layers" { default = 2 }
model "small" {
  plugin = "transformer"
  layers = var.layers
}
model "big" {
  plugin = "transformer"
  layers = 8
}
`
	tests := []struct {
		name, src, label string
		overrides        []string
		want             map[string]any // decoded options of the block
		err              string         // "line:col: summary" of the first error, or a summary alone
	}{
		{"only block", "model \"m\" {\n  plugin = \"transformer\"\n  layers = 3\n}\n", "", nil,
			map[string]any{"layers": 3.0, "d_model": 128.0, "heads": 4.0, "device": "cpu", "stop": nil}, ""},
		{"picked by label, with a variable", two, "small", []string{"layers=4"},
			map[string]any{"layers": 4.0, "d_model": 128.0, "heads": 4.0, "device": "cpu", "stop": nil}, ""},
		{"an experiment's other blocks are ignored", base, "", nil,
			map[string]any{"layers": 2.0, "d_model": 128.0, "heads": 4.0, "device": "cpu", "stop": nil}, ""},
		{"several, no label", two, "", nil, nil, "Several model blocks"},
		{"unknown label", two, "smal", nil, nil, `Unknown model block`},
		{"none", "tool \"t\" {\n  plugin = \"coedit\"\n}\n", "", nil, nil, "No model block"},
		{"option typo", "model \"m\" {\n  plugin = \"transformer\"\n  layers = 1\n  layer  = 2\n}\n", "", nil, nil, "4:3: Unsupported argument"},
		{"required option missing", "model \"m\" {\n  plugin = \"transformer\"\n}\n", "", nil, nil, "Missing required argument"},
		{"unknown plugin", "model \"m\" {\n  plugin = \"tranformer\"\n}\n", "", nil, nil, "2:12: Unknown model plugin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, diags := experiment.LoadModel(context.Background(), "m.hcl", []byte(tt.src), tt.overrides, tt.label, testSchemas)
			if tt.err == "" {
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				if !reflect.DeepEqual(b.Config, tt.want) {
					t.Errorf("config = %v, want %v", b.Config, tt.want)
				}
				return
			}
			if !diags.HasErrors() {
				t.Fatalf("no error, want %q", tt.err)
			}
			d := diags.Errs()[0]
			got := fmt.Sprint(d)
			if strings.Contains(tt.err, ":") && diags[0].Subject != nil {
				got = fmt.Sprintf("%d:%d: %s", diags[0].Subject.Start.Line, diags[0].Subject.Start.Column, diags[0].Summary)
			}
			if !strings.Contains(got, tt.err) {
				t.Errorf("first error %q, want %q", got, tt.err)
			}
		})
	}
}
