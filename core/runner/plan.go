package runner

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
)

// Load parses, resolves and plans an experiment file against the host's
// plugin schemas, then checks that each plugin can do what its stages ask
// of it (checkCapabilities) and that its options' values are valid
// (checkConfigs), starting each plugin once for both. file is returned for printing diagnostics.
func Load(ctx context.Context, filename string, src []byte, overrides []string, host Host) (*experiment.Experiment, *experiment.File, hcl.Diagnostics) {
	exp, file, diags := experiment.Load(ctx, filename, src, overrides, host)
	if diags.HasErrors() {
		return exp, file, diags
	}
	pr := newProbes(host)
	defer pr.close()
	diags = append(diags, checkCapabilities(ctx, exp, pr)...)
	return exp, file, append(diags, checkConfigs(ctx, exp, pr)...)
}

// need is one capability a stage requires of a referenced plugin.
type need struct {
	attr string // the stage attribute naming the plugin block
	kind sdk.Kind
	cap  string
	why  string
}

// needs lists, per stage kind, the optional interfaces its plugins must
// implement.
var needs = map[string][]need{
	"synthesize": {{"tool", sdk.KindTool, pluginclient.CapToolWithDemonstrate, "writes demonstrations with it"}},
	"pretrain": {
		{"model", sdk.KindModel, pluginclient.CapModelWithTraining, "trains it"},
		{"model", sdk.KindModel, pluginclient.CapModelWithCheckpoints, "saves its checkpoints"},
	},
	"sft": {
		{"model", sdk.KindModel, pluginclient.CapModelWithTraining, "trains it"},
		{"model", sdk.KindModel, pluginclient.CapModelWithCheckpoints, "saves its checkpoints"},
	},
	"grpo": {
		{"model", sdk.KindModel, pluginclient.CapModelWithTraining, "trains it"},
		{"model", sdk.KindModel, pluginclient.CapModelWithCheckpoints, "saves its checkpoints"},
	},
}

// checkCapabilities starts each plugin that a stage needs an optional
// interface of (a trainable model for sft and grpo, a demonstrating tool for
// synthesize, a model that loads checkpoints for an eval of checkpoints),
// and reads its capabilities. A missing one is a diagnostic on the stage's
// reference to the block.
func checkCapabilities(ctx context.Context, exp *experiment.Experiment, pr *probes) hcl.Diagnostics {
	var diags hcl.Diagnostics
	inferenceOnly := map[string]bool{} // stages already told so
	for _, s := range exp.Stages {
		list := needs[s.Kind]
		if s.Kind == "eval" && len(s.Attrs.Refs("checkpoints")) > 0 {
			list = append(list, need{"model", sdk.KindModel, pluginclient.CapModelWithCheckpoints, "loads checkpoints into it"})
		}
		for _, n := range list {
			ref, ok := s.Attrs.Ref(n.attr)
			if !ok {
				continue
			}
			block := exp.Plugin(n.kind, ref.Label)
			if block == nil {
				continue
			}
			inst, err := pr.start(ctx, n.kind, block.Label, block.Plugin)
			if err != nil {
				if !pr.reported(n.kind, block.Plugin) {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  fmt.Sprintf("Cannot start %s plugin", n.kind),
						Detail:   fmt.Sprintf("Starting %s (plugin %q) to read its capabilities failed: %v", block.Ref(), block.Plugin, err),
						Subject:  block.PluginRange.Ptr(),
					})
				}
				continue
			}
			c := inst.Capabilities()
			if slices.Contains(c, n.cap) {
				continue
			}
			if n.kind == sdk.KindModel && !slices.Contains(c, pluginclient.CapModelWithTraining) &&
				!slices.Contains(c, pluginclient.CapModelWithCheckpoints) {
				// One diagnostic per stage, not one per missing interface.
				if !inferenceOnly[s.ID()] {
					inferenceOnly[s.ID()] = true
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Inference-only model",
						Detail: fmt.Sprintf("%s %s %s, but its plugin %q is inference-only: it generates text and cannot be trained or load checkpoints. Evaluate it in an eval block without checkpoints.",
							s.ID(), map[bool]string{true: "trains", false: "loads checkpoints into"}[n.cap == pluginclient.CapModelWithTraining], ref, block.Plugin),
						Subject: ref.Range.Ptr(),
					})
				}
				continue
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Plugin lacks %s", n.cap),
				Detail: fmt.Sprintf("%s %s %s, but its plugin %q does not implement %s (it implements: %s).",
					s.ID(), n.why, ref, block.Plugin, n.cap, listOrNone(c)),
				Subject: ref.Range.Ptr(),
			})
		}
	}
	return diags
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprint(s)
}
