package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

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

// startToolPlugin starts a tool plugin (built-in name or executable path) with
// the given options (nil: its defaults).
func startToolPlugin(ctx context.Context, host *pluginhost.Host, plugin string, options map[string]any) (sdk.Tool, error) {
	inst, err := host.Start(ctx, sdk.KindTool, "tool", plugin)
	if err != nil {
		return nil, err
	}
	schema, err := inst.Tool().Schema(ctx)
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{}
	for _, a := range schema.Attributes {
		if a.Default != nil {
			cfg[a.Name] = a.Default
		}
	}
	for k, v := range options {
		cfg[k] = v
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

// startModel starts a model plugin and configures it with cfg, a decoded
// model block (defaults filled in), as an experiment's eval does for a
// model without checkpoints.
func startModel(ctx context.Context, host *pluginhost.Host, label, plugin string, cfg map[string]any) (sdk.Model, error) {
	inst, err := host.Start(ctx, sdk.KindModel, label, plugin)
	if err != nil {
		return nil, err
	}
	c, err := sdk.ConfigFrom(cfg)
	if err != nil {
		return nil, err
	}
	if err := inst.Model().Configure(ctx, c); err != nil {
		return nil, fmt.Errorf("configure model %s: %w", plugin, err)
	}
	return inst.Model(), nil
}

// startModelPlugin starts a model plugin with NAME=VALUE options from the
// command line, checked against its schema: an unknown option or a missing
// required one is an error naming what the plugin takes.
func startModelPlugin(ctx context.Context, host *pluginhost.Host, plugin string, options map[string]any) (sdk.Model, error) {
	schema, err := host.Schema(ctx, sdk.KindModel, plugin)
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{}
	var names []string
	for _, a := range schema.Attributes {
		names = append(names, a.Name)
		if a.Default != nil {
			cfg[a.Name] = a.Default
		}
	}
	for k, v := range options {
		if !slices.Contains(names, k) {
			return nil, fmt.Errorf("--model-option %s: model plugin %s has no option %q; it takes %s", k, plugin, k, strings.Join(names, ", "))
		}
		if a := schema.Attributes[slices.Index(names, k)]; a.Type == "string" {
			v = fmt.Sprint(v) // "model=7" is the string "7"
		}
		cfg[k] = v
	}
	for _, a := range schema.Attributes {
		if _, ok := cfg[a.Name]; a.Required && !ok {
			return nil, fmt.Errorf("model plugin %s needs --model-option %s=VALUE (%s)", plugin, a.Name, a.Description)
		}
	}
	return startModel(ctx, host, "model", plugin, cfg)
}
