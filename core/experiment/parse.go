package experiment

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// File is a parsed experiment file: valid syntax and only known top-level
// block types. Nothing in it has been evaluated yet.
type File struct {
	Filename string
	Source   []byte
	hcl      *hcl.File
	blocks   hcl.Blocks
}

// Files returns the parsed source by file name, for diagnostic printing.
func (f *File) Files() map[string]*hcl.File {
	if f == nil || f.hcl == nil {
		return nil
	}
	return map[string]*hcl.File{f.Filename: f.hcl}
}

// topSchema lists the block types an experiment file may contain.
var topSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "experiment", LabelNames: []string{"name"}},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "dataset", LabelNames: []string{"name"}},
		{Type: "tool", LabelNames: []string{"name"}},
		{Type: "reward", LabelNames: []string{"name"}},
		{Type: "model", LabelNames: []string{"name"}},
		{Type: "stage", LabelNames: []string{"name"}},
		{Type: "eval", LabelNames: []string{"name"}},
		{Type: "cluster"},
	},
}

// Parse reads the HCL syntax of an experiment file and checks its top-level
// block types. The returned File is usable (for printing diagnostics)
// even when the diagnostics hold errors.
func Parse(filename string, src []byte) (*File, hcl.Diagnostics) {
	f := &File{Filename: filename, Source: src}
	hf, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	f.hcl = hf
	if diags.HasErrors() {
		return f, diags
	}
	content, d := hf.Body.Content(topSchema)
	diags = append(diags, d...)
	if content != nil {
		f.blocks = content.Blocks
	}
	for _, b := range f.blocks {
		if len(b.Labels) == 0 {
			continue // the cluster block has no label
		}
		if !hclsyntax.ValidIdentifier(b.Labels[0]) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid block label",
				Detail: fmt.Sprintf("The label %q of this %s block is not a valid name: use letters, digits, underscores and dashes, starting with a letter, so that it can be referenced as %s.NAME.",
					b.Labels[0], b.Type, b.Type),
				Subject: b.LabelRanges[0].Ptr(),
			})
		}
	}
	return f, diags
}
