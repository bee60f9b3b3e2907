package experiment_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/lathe-ml/lathe/core/experiment"
)

func ExampleLoad() {
	src := `
experiment "demo" { seed = 3 }
variable "steps" { default = 100 }
dataset "basic" { source = "builtin:basic" }
tool "editor" { plugin = "coedit" }
model "policy" { plugin = "transformer" }
stage "sft" {
  kind  = "sft"
  model = model.policy
  data  = stage.demos
  steps = var.steps
}
stage "demos" {
  kind    = "synthesize"
  tool    = tool.editor
  dataset = dataset.basic
}
`
	// A nil SchemaSource stops after Resolve: plugin options stay unchecked.
	exp, file, diags := experiment.Load(context.Background(), "demo.hcl", []byte(src), []string{"steps=20"}, nil)
	if diags.HasErrors() {
		experiment.WriteDiagnostics(os.Stdout, file.Files(), diags, 0)
		return
	}
	sft := exp.Stage("sft")
	fmt.Println(strings.Join(exp.Order(), " -> "))
	fmt.Println(sft.Attrs.Int("steps"), sft.Attrs.Int("batch_size"), sft.Attrs.String("history"))
	// Output:
	// demos -> sft
	// 20 8 full
}
