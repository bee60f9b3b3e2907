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

// Load parses and resolves an experiment file against the stage kinds of
// kinds, plans it against the host's plugin schemas, then checks that each
// plugin can do what its stages ask of it (checkCapabilities) and that its
// options' values are valid (checkConfigs), starting each plugin once for
// both. file is returned for printing diagnostics.
func Load(ctx context.Context, filename string, src []byte, overrides []string, kinds *Registry, host Host) (*experiment.Experiment, *experiment.File, hcl.Diagnostics) {
	exp, file, diags := experiment.Load(ctx, filename, src, overrides, kinds.Schemas(), host)
	if diags.HasErrors() {
		return exp, file, diags
	}
	pr := newProbes(host)
	defer pr.close()
	diags = append(diags, checkCapabilities(ctx, exp, kinds, pr)...)
	return exp, file, append(diags, checkConfigs(ctx, exp, pr)...)
}

// checkCapabilities starts each plugin that a stage needs an optional
// interface of (its Kind's Needs: a trainable model for sft and grpo, a
// demonstrating tool for synthesize, a model that loads checkpoints for an
// eval of checkpoints), and reads its capabilities. A missing one is a
// diagnostic on the stage's reference to the block.
func checkCapabilities(ctx context.Context, exp *experiment.Experiment, kinds *Registry, pr *probes) hcl.Diagnostics {
	var diags hcl.Diagnostics
	inferenceOnly := map[string]bool{} // stages already told so
	for _, s := range exp.Stages {
		list, err := kinds.needs(s)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read stage attributes",
				Detail: err.Error(), Subject: s.DefRange.Ptr()})
			continue
		}
		for _, n := range list {
			ref := n.Ref
			if ref.Kind == "" || ref.Kind == experiment.PathRef {
				continue // an optional reference left unset
			}
			kind := sdk.Kind(ref.Kind)
			block := exp.Plugin(kind, ref.Label)
			if block == nil {
				continue
			}
			inst, err := pr.start(ctx, kind, block.Label, block.Plugin)
			if err != nil {
				if !pr.reported(kind, block.Plugin) {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  fmt.Sprintf("Cannot start %s plugin", kind),
						Detail:   fmt.Sprintf("Starting %s (plugin %q) to read its capabilities failed: %v", block.Ref(), block.Plugin, err),
						Subject:  block.PluginRange.Ptr(),
					})
				}
				continue
			}
			c := inst.Capabilities()
			if slices.Contains(c, n.Cap) {
				continue
			}
			if kind == sdk.KindModel && !slices.Contains(c, pluginclient.CapModelWithTraining) &&
				!slices.Contains(c, pluginclient.CapModelWithCheckpoints) {
				// One diagnostic per stage, not one per missing interface.
				if !inferenceOnly[s.ID()] {
					inferenceOnly[s.ID()] = true
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Inference-only model",
						Detail: fmt.Sprintf("%s %s %s, but its plugin %q is inference-only: it generates text and cannot be trained or load checkpoints. Evaluate it in an eval block without checkpoints.",
							s.ID(), map[bool]string{true: "trains", false: "loads checkpoints into"}[n.Cap == pluginclient.CapModelWithTraining], ref, block.Plugin),
						Subject: ref.Range.Ptr(),
					})
				}
				continue
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Plugin lacks %s", n.Cap),
				Detail: fmt.Sprintf("%s %s %s, but its plugin %q does not implement %s (it implements: %s).",
					s.ID(), n.Why, ref, block.Plugin, n.Cap, listOrNone(c)),
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
