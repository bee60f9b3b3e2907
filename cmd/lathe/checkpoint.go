package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/pluginhost"
	"github.com/lathe-ml/lathe/core/train"
	"github.com/lathe-ml/lathe/sdk"
)

// newStderrHost returns a plugin host whose plugins log warnings and errors to
// stderr (and, when verbose, everything).
func newStderrHost(stderr io.Writer, verbose bool) *pluginhost.Host {
	level := hclog.Warn
	if verbose {
		level = hclog.Debug
	}
	return pluginhost.New(pluginhost.Options{Logger: hclog.New(&hclog.LoggerOptions{
		Name: "lathe", Output: stderr, Level: level})})
}

// startCheckpointModel starts the model plugin that wrote the checkpoint in
// dir, configured as it was, and loads the checkpoint into it.
func startCheckpointModel(ctx context.Context, host *pluginhost.Host, dir string) (sdk.Model, train.Cursor, error) {
	cur, err := train.ReadCursor(dir)
	if err != nil {
		return nil, cur, err
	}
	if cur.Plugin == "" {
		return nil, cur, fmt.Errorf("checkpoint %s does not say which model plugin wrote it", dir)
	}
	inst, err := host.Start(ctx, sdk.KindModel, "model", cur.Plugin)
	if err != nil {
		return nil, cur, err
	}
	m := inst.Model()
	if err := m.Configure(ctx, sdk.Config(cur.Config)); err != nil {
		return nil, cur, fmt.Errorf("configure %s from %s: %w", cur.Plugin, dir, err)
	}
	loader, ok := m.(sdk.ModelWithCheckpoints)
	if !ok || !inst.Has("ModelWithCheckpoints") {
		return nil, cur, fmt.Errorf("model plugin %s cannot load checkpoints", cur.Plugin)
	}
	if err := loader.Load(ctx, dir); err != nil {
		return nil, cur, fmt.Errorf("load %s: %w", dir, err)
	}
	return m, cur, nil
}

// startToolPlugin starts a tool plugin (built-in name or executable path)
// with the given options (nil: its defaults), decoded against its schema
// as an experiment's tool block is.
func startToolPlugin(ctx context.Context, host *pluginhost.Host, plugin string, options map[string]any) (sdk.Tool, error) {
	cfg, err := toolConfig(ctx, host, plugin, options)
	if err != nil {
		return nil, err
	}
	inst, err := host.Start(ctx, sdk.KindTool, "tool", plugin)
	if err != nil {
		return nil, err
	}
	c, err := sdk.ConfigFrom(cfg)
	if err != nil {
		return nil, err
	}
	if err := inst.Tool().Configure(ctx, c); err != nil {
		return nil, fmt.Errorf("configure tool %s: %w", plugin, err)
	}
	return inst.Tool(), nil
}

// toolConfig decodes --tool-option values against the tool's schema
// (experiment.PluginConfig), defaults filled in.
func toolConfig(ctx context.Context, host *pluginhost.Host, plugin string, options map[string]any) (map[string]any, error) {
	schema, err := host.Schema(ctx, sdk.KindTool, plugin)
	if err != nil {
		return nil, err
	}
	cfg, diags := experiment.PluginConfig(schema, options)
	if diags.HasErrors() {
		return nil, fmt.Errorf("--tool-option: tool %s: %s", plugin, diagText(diags))
	}
	return cfg, nil
}

// toolOptions is a repeatable NAME=VALUE flag of tool options, so a
// command can start the tool exactly as an experiment configured it
// (--tool-option show_instructions=false for a model trained without the
// instructions in its prompt). VALUE is a bool, a number or else a string.
type toolOptions map[string]any

func (o toolOptions) String() string { return fmt.Sprint(map[string]any(o)) }

func (o toolOptions) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	if b, err := strconv.ParseBool(value); err == nil {
		o[name] = b
	} else if x, err := strconv.ParseFloat(value, 64); err == nil {
		o[name] = x
	} else {
		o[name] = value
	}
	return nil
}

// modelPluginConfig decodes --model-option values against the model
// plugin's schema (experiment.PluginConfig); an unknown option or a
// missing required one is an error naming what the plugin takes.
func modelPluginConfig(ctx context.Context, host *pluginhost.Host, plugin string, options map[string]any) (map[string]any, error) {
	schema, err := host.Schema(ctx, sdk.KindModel, plugin)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, a := range schema.Attributes {
		names = append(names, a.Name)
	}
	for k := range options {
		if !slices.Contains(names, k) {
			return nil, fmt.Errorf("--model-option %s: model plugin %s has no option %q; it takes %s", k, plugin, k, strings.Join(names, ", "))
		}
	}
	for _, a := range schema.Attributes {
		if _, ok := options[a.Name]; a.Required && !ok {
			return nil, fmt.Errorf("model plugin %s needs --model-option %s=VALUE (%s)", plugin, a.Name, a.Description)
		}
	}
	cfg, diags := experiment.PluginConfig(schema, options)
	if diags.HasErrors() {
		return nil, fmt.Errorf("--model-option: model plugin %s: %s", plugin, diagText(diags))
	}
	return cfg, nil
}

// diagText is the first error of diagnostics that have no source range
// (options given as flags), as one line.
func diagText(diags hcl.Diagnostics) string {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			return d.Summary + ": " + d.Detail
		}
	}
	return "invalid"
}
