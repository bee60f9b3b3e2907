package runner

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/sdk"
)

// checkConfigs asks every plugin that implements sdk.ConfigValidator to
// check the values of each block that uses it: one process per distinct
// plugin, all its blocks checked on it. Each invalid value is
// a diagnostic on the attribute that sets it (the block's header when the
// value is a default), so `lathe validate` catches `heads` not dividing
// `d_model` before a stage has spent time on synthesis. Plugins without the
// interface are checked only when a stage configures them.
func checkConfigs(ctx context.Context, exp *experiment.Experiment, pr *probes) hcl.Diagnostics {
	type key struct {
		kind   sdk.Kind
		plugin string
	}
	var order []key
	blocks := map[key][]*experiment.PluginBlock{}
	for _, p := range exp.PluginBlocks() {
		if p.Config == nil {
			continue // not planned: reported already
		}
		k := key{p.Kind, p.Plugin}
		if _, ok := blocks[k]; !ok {
			order = append(order, k)
		}
		blocks[k] = append(blocks[k], p)
	}
	var diags hcl.Diagnostics
	for _, k := range order {
		diags = append(diags, checkPluginConfigs(ctx, pr, k.kind, k.plugin, blocks[k])...)
	}
	return diags
}

func checkPluginConfigs(ctx context.Context, pr *probes, kind sdk.Kind, plugin string, blocks []*experiment.PluginBlock) hcl.Diagnostics {
	first := blocks[0]
	inst, err := pr.start(ctx, kind, first.Label, plugin)
	if err != nil {
		if pr.reported(kind, plugin) {
			return nil
		}
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Cannot start %s plugin", kind),
			Detail:   fmt.Sprintf("Starting %s (plugin %q) to check its options failed: %v", first.Ref(), plugin, err),
			Subject:  first.PluginRange.Ptr(),
		}}
	}
	v, ok := inst.ConfigValidator()
	if !ok {
		return nil
	}
	var diags hcl.Diagnostics
	for _, b := range blocks {
		cfg, err := sdk.ConfigFrom(b.Config)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid plugin options",
				Detail: fmt.Sprintf("The options of %s cannot be encoded: %v.", b.Ref(), err), Subject: b.DefRange.Ptr()})
			continue
		}
		errs, err := v.ValidateConfig(ctx, cfg)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot check plugin options",
				Detail: fmt.Sprintf("Checking the options of %s failed: %v", b.Ref(), err), Subject: b.DefRange.Ptr()})
			continue
		}
		for _, e := range errs {
			detail := fmt.Sprintf("%s (plugin %q): %s", b.Ref(), plugin, e.Error())
			if e.Attribute != "" && b.OptionRange(e.Attribute) == b.DefRange {
				detail += fmt.Sprintf(" (%s is not set in the block: its default is)", e.Attribute)
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid plugin option",
				Detail:   detail,
				Subject:  b.OptionRange(e.Attribute).Ptr(),
			})
		}
	}
	return diags
}

// PluginOf returns the instance's plugin of the given kind, or nil if it
// was started as another kind.
func PluginOf(inst Instance, kind sdk.Kind) sdk.Plugin {
	switch kind {
	case sdk.KindTool:
		if t := inst.Tool(); t != nil {
			return t
		}
	case sdk.KindReward:
		if r := inst.Reward(); r != nil {
			return r
		}
	case sdk.KindModel:
		if m := inst.Model(); m != nil {
			return m
		}
	}
	return nil
}

// probes starts each (kind, plugin) once for the checks of Load and kills
// them all at the end; a plugin that failed to start is not retried.
type probes struct {
	host      Host
	instances map[probeKey]Instance
	failed    map[probeKey]error
	told      map[probeKey]bool
}

type probeKey struct {
	kind   sdk.Kind
	plugin string
}

func newProbes(host Host) *probes {
	return &probes{host: host, instances: map[probeKey]Instance{}, failed: map[probeKey]error{}, told: map[probeKey]bool{}}
}

// start returns the running instance of plugin, starting it on first use
// under the label of the first block that asks.
func (pr *probes) start(ctx context.Context, kind sdk.Kind, label, plugin string) (Instance, error) {
	k := probeKey{kind, plugin}
	if inst, ok := pr.instances[k]; ok {
		return inst, nil
	}
	if err, ok := pr.failed[k]; ok {
		return nil, err
	}
	inst, err := pr.host.Start(ctx, kind, label, plugin)
	if err != nil {
		pr.failed[k] = err
		return nil, err
	}
	pr.instances[k] = inst
	return inst, nil
}

// reported says whether a failure to start plugin was already turned into
// a diagnostic, and marks it so.
func (pr *probes) reported(kind sdk.Kind, plugin string) bool {
	k := probeKey{kind, plugin}
	was := pr.told[k]
	pr.told[k] = true
	return was
}

func (pr *probes) close() {
	for _, inst := range pr.instances {
		inst.Kill()
	}
}
