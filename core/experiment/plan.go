package experiment

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/lathe-ml/lathe/sdk"
)

// SchemaSource answers the configuration schema of a plugin by kind and
// name (a built-in name or an executable path). core/pluginhost.Host is the
// production source; tests use fakes.
type SchemaSource interface {
	Schema(ctx context.Context, kind sdk.Kind, plugin string) (sdk.Schema, error)
}

// Plan decodes every tool, reward and model block against the schema its
// plugin reports, filling PluginBlock.Config and Schema. An unknown plugin
// is a diagnostic on the plugin attribute; an unknown or mistyped option is
// a diagnostic on the option. Each distinct (kind, plugin) is asked once.
func Plan(ctx context.Context, e *Experiment, src SchemaSource) (*Experiment, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	type key struct {
		kind   sdk.Kind
		plugin string
	}
	type answer struct {
		schema sdk.Schema
		err    error
	}
	cache := map[key]answer{}
	for _, p := range e.PluginBlocks() {
		if p.Plugin == "" {
			continue // reported by Resolve
		}
		k := key{p.Kind, p.Plugin}
		a, ok := cache[k]
		if !ok {
			a.schema, a.err = src.Schema(ctx, p.Kind, p.Plugin)
			cache[k] = a
		}
		if a.err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Unknown %s plugin", p.Kind),
				Detail: fmt.Sprintf("Cannot load %s plugin %q for %s: %v. Name a built-in plugin (`lathe plugins` lists them) or the path of a plugin executable.",
					p.Kind, p.Plugin, p.Ref(), a.err),
				Subject: p.PluginRange.Ptr(),
			})
			continue
		}
		spec, err := SpecFor(a.schema)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid plugin schema",
				Detail:   fmt.Sprintf("The %s plugin %q reports a schema Lathe cannot use: %v.", p.Kind, p.Plugin, err),
				Subject:  p.PluginRange.Ptr(),
			})
			continue
		}
		val, d := hcldec.Decode(p.rest, spec, e.evalCtx)
		diags = append(diags, improveVarDiags(d, e.Variables)...)
		if d.HasErrors() {
			continue
		}
		cfg, err := jsonValue(val)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid plugin options",
				Detail:   fmt.Sprintf("The options of %s cannot be encoded: %v.", p.Ref(), err),
				Subject:  p.DefRange.Ptr(),
			})
			continue
		}
		schema := a.schema
		p.Schema, p.Config = &schema, cfg
	}
	e.Planned = !diags.HasErrors()
	return e, diags
}

// PluginConfig decodes options given outside an experiment file (the
// CLI's --tool-option NAME=VALUE: bool, float64 or string values) against
// a plugin's schema as Plan decodes a block: each value converted to its
// attribute's type (model=7 is the string "7" for a string option), every
// absent option defaulted. An unknown, mistyped or missing required option
// is a diagnostic without a source range, its summary and detail naming
// the option.
func PluginConfig(schema sdk.Schema, options map[string]any) (map[string]any, hcl.Diagnostics) {
	spec, err := SpecFor(schema)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid plugin schema", Detail: err.Error()}}
	}
	// The options go through HCL's JSON syntax, whose strings are taken
	// literally without an evaluation context ("${x}" stays "${x}").
	for name, x := range options {
		switch x.(type) {
		case bool, float64, int, string:
		default:
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid option value",
				Detail: fmt.Sprintf("Option %q holds a %T; options are bools, numbers and strings.", name, x)}}
		}
	}
	if options == nil {
		options = map[string]any{}
	}
	src, err := json.Marshal(options)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid option value", Detail: err.Error()}}
	}
	parsed, diags := hcljson.Parse(src, "<options>")
	if diags.HasErrors() {
		return nil, diags
	}
	val, diags := hcldec.Decode(parsed.Body, spec, nil)
	for _, d := range diags {
		d.Subject, d.Context = nil, nil // a range in generated text helps no one
	}
	if diags.HasErrors() {
		return nil, diags
	}
	cfg, err := jsonValue(val)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid plugin options", Detail: err.Error()}}
	}
	return cfg, nil
}

// attrTypes maps the schema's type names to cty types.
var attrTypes = map[string]cty.Type{
	"string":       cty.String,
	"number":       cty.Number,
	"bool":         cty.Bool,
	"list(string)": cty.List(cty.String),
	"list(number)": cty.List(cty.Number),
	"map(string)":  cty.Map(cty.String),
	"map(number)":  cty.Map(cty.Number),
}

// SpecFor turns a plugin's schema into an hcldec spec whose value is an
// object with one attribute per schema attribute, defaults filled in.
func SpecFor(s sdk.Schema) (hcldec.ObjectSpec, error) {
	spec := hcldec.ObjectSpec{}
	for _, a := range s.Attributes {
		if a.Name == "plugin" {
			return nil, fmt.Errorf("attribute name %q is reserved", a.Name)
		}
		ty, ok := attrTypes[a.Type]
		if !ok {
			return nil, fmt.Errorf("attribute %q has unknown type %q", a.Name, a.Type)
		}
		var as hcldec.Spec = &hcldec.AttrSpec{Name: a.Name, Type: ty, Required: a.Required}
		if a.Default != nil {
			b, err := json.Marshal(a.Default)
			if err != nil {
				return nil, fmt.Errorf("attribute %q: default: %w", a.Name, err)
			}
			dv, err := ctyjson.Unmarshal(b, ty)
			if err != nil {
				return nil, fmt.Errorf("attribute %q: default %s is not a %s: %w", a.Name, b, a.Type, err)
			}
			as = &hcldec.DefaultSpec{Primary: as, Default: &hcldec.LiteralSpec{Value: dv}}
		}
		spec[a.Name] = as
	}
	return spec, nil
}

// jsonValue converts a decoded object to JSON-compatible Go values.
func jsonValue(v cty.Value) (map[string]any, error) {
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Load runs all three phases on one file, stage and eval blocks resolved
// against kinds and plugin blocks planned against schemas (skipped when
// nil). It returns the experiment (nil only when parsing failed) and every
// diagnostic found; it stops before a phase whose input had errors.
func Load(ctx context.Context, filename string, src []byte, overrides []string, kinds *Kinds, schemas SchemaSource) (*Experiment, *File, hcl.Diagnostics) {
	f, diags := Parse(filename, src)
	if diags.HasErrors() {
		return nil, f, diags
	}
	e, d := Resolve(f, overrides, kinds)
	diags = append(diags, d...)
	if diags.HasErrors() || schemas == nil {
		return e, f, diags
	}
	e, d = Plan(ctx, e, schemas)
	return e, f, append(diags, d...)
}
