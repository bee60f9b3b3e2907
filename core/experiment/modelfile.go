package experiment

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// LoadModel reads the model block called label (or, when label is "",
// the file's only model block) from a file of model blocks, such as
// `lathe eval --model FILE.hcl` takes, or from a whole experiment file,
// whose other blocks are then ignored. Variables and -var overrides work as
// in an experiment; the block is decoded against its plugin's schema, so
// its mistakes are diagnostics with positions like any experiment's.
func LoadModel(ctx context.Context, filename string, src []byte, overrides []string, label string, schemas SchemaSource) (*PluginBlock, *File, hcl.Diagnostics) {
	f, diags := Parse(filename, src)
	if diags.HasErrors() {
		return nil, f, diags
	}
	r := newResolver(f, nil)
	vars, d := resolveVariables(f.blocks, overrides)
	diags = append(diags, d...)
	r.exp.Variables = vars
	r.exp.evalCtx = &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}
	r.declare(f.blocks)
	var labels []string
	for _, b := range f.blocks {
		if b.Type != "model" || r.isDuplicate(b) {
			continue
		}
		labels = append(labels, b.Labels[0])
		if label == "" || b.Labels[0] == label {
			r.pluginBlock(b)
		}
	}
	diags = append(diags, r.diags...)
	if diags.HasErrors() {
		return nil, f, improveVarDiags(diags, vars)
	}
	sort.Strings(labels)
	rng := f.hcl.Body.MissingItemRange()
	switch {
	case len(labels) == 0:
		return nil, f, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No model block",
			Detail: `The file needs a block model "NAME" { plugin = "..." ... }.`, Subject: &rng})
	case label == "" && len(labels) > 1:
		return nil, f, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Several model blocks",
			Detail: fmt.Sprintf("The file holds the model blocks %s: say which one.", quoteList(labels)), Subject: &rng})
	case len(r.exp.Models) == 0:
		return nil, f, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown model block",
			Detail: fmt.Sprintf("There is no model block %q.%s The file holds %s.", label, didYouMean(label, labels), quoteList(labels)), Subject: &rng})
	}
	e, d := Plan(ctx, r.exp, schemas)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, f, diags
	}
	return e.Models[0], f, diags
}
