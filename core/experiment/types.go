package experiment

import (
	"fmt"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/lathe-ml/lathe/sdk"
)

// Ref is a checked reference from one block to another, such as tool.editor.
type Ref struct {
	Kind  string // "tool", "reward", "model", "dataset" or "stage"
	Label string
	Range hcl.Range
}

// PathRef is the Kind of a reference written as a quoted path where an
// attribute allows one (init = "runs/pretrain/.../stages/lm"); Label holds
// the path.
const PathRef = "path"

// String returns the reference as written: "tool.editor", or the quoted
// path.
func (r Ref) String() string {
	if r.Kind == PathRef {
		return strconv.Quote(r.Label)
	}
	return r.Kind + "." + r.Label
}

// Experiment is a resolved experiment file: every variable substituted,
// every fixed attribute checked and defaulted, every reference checked, and
// the stages and evals in the order they run.
type Experiment struct {
	Name        string
	Seed        int64
	Description string
	Filename    string
	Source      []byte
	Variables   map[string]cty.Value
	Datasets    []*Dataset
	Tools       []*PluginBlock
	Rewards     []*PluginBlock
	Models      []*PluginBlock
	// Stages holds stage and eval blocks in run order.
	Stages []*Stage
	// Cluster is the cluster block, nil when episodes are played here.
	Cluster *Cluster
	// Planned is true once Plan has decoded every plugin block.
	Planned bool

	file    *hcl.File
	evalCtx *hcl.EvalContext
}

// Files returns the parsed source by file name, for diagnostic printing.
func (e *Experiment) Files() map[string]*hcl.File {
	if e == nil || e.file == nil {
		return nil
	}
	return map[string]*hcl.File{e.Filename: e.file}
}

// Dataset is a dataset block with its attributes decoded.
type Dataset struct {
	Label    string
	Attrs    Values
	DefRange hcl.Range
}

// Source returns the dataset's source string, e.g. "builtin:basic".
func (d *Dataset) Source() string { return d.Attrs.String("source") }

// PluginBlock is a tool, reward or model block. Plugin names a built-in
// plugin or an executable path; Config is nil until Plan decodes the rest
// of the block against the plugin's schema.
type PluginBlock struct {
	Kind        sdk.Kind
	Label       string
	Plugin      string
	PluginRange hcl.Range
	DefRange    hcl.Range
	// Config holds the decoded options, defaults filled in, as
	// JSON-compatible values (string, float64, bool, []any, map[string]any).
	Config map[string]any
	Schema *sdk.Schema

	rest hcl.Body
}

// Ref returns the reference that names this block.
func (p *PluginBlock) Ref() string { return string(p.Kind) + "." + p.Label }

// Stage is a stage or eval block. For an eval block Block is "eval" and
// Kind is "eval".
type Stage struct {
	Block    string // "stage" or "eval"
	Label    string
	Kind     string
	Attrs    Values
	DefRange hcl.Range
	// DependsOn lists the labels of the stages this one references, in
	// attribute order.
	DependsOn []string
}

// ID returns "stage.LABEL" or "eval.LABEL".
func (s *Stage) ID() string { return s.Block + "." + s.Label }

// Values holds decoded fixed attributes: string, float64, int, bool, Ref,
// []Ref, []int or map[string]string. Absent optional attributes without a
// default are missing from the map.
type Values map[string]any

// Has reports whether the attribute has a value (set or defaulted).
func (v Values) Has(name string) bool { _, ok := v[name]; return ok }

// String returns a string attribute, or "" when absent.
func (v Values) String(name string) string { s, _ := v[name].(string); return s }

// Int returns a whole-number attribute, or 0 when absent.
func (v Values) Int(name string) int { n, _ := v[name].(int); return n }

// Float returns a number attribute (whole numbers included), or 0 when absent.
func (v Values) Float(name string) float64 {
	switch x := v[name].(type) {
	case float64:
		return x
	case int:
		return float64(x)
	}
	return 0
}

// Bool returns a bool attribute, or false when absent.
func (v Values) Bool(name string) bool { b, _ := v[name].(bool); return b }

// Ref returns a reference attribute.
func (v Values) Ref(name string) (Ref, bool) { r, ok := v[name].(Ref); return r, ok }

// Refs returns a list-of-references attribute.
func (v Values) Refs(name string) []Ref { r, _ := v[name].([]Ref); return r }

// Ints returns a list-of-whole-numbers attribute.
func (v Values) Ints(name string) []int { r, _ := v[name].([]int); return r }

// StringMap returns a map-of-strings attribute.
func (v Values) StringMap(name string) map[string]string {
	m, _ := v[name].(map[string]string)
	return m
}

// JSON returns the values in a JSON-compatible form, references written as
// "tool.editor".
func (v Values) JSON() map[string]any {
	out := make(map[string]any, len(v))
	for k, x := range v {
		switch r := x.(type) {
		case Ref:
			out[k] = r.String()
		case []Ref:
			s := make([]string, len(r))
			for i := range r {
				s[i] = r[i].String()
			}
			out[k] = s
		default:
			out[k] = x
		}
	}
	return out
}

// Dataset returns the dataset block called label.
func (e *Experiment) Dataset(label string) *Dataset {
	for _, d := range e.Datasets {
		if d.Label == label {
			return d
		}
	}
	return nil
}

// Plugin returns the tool, reward or model block a reference names.
func (e *Experiment) Plugin(kind sdk.Kind, label string) *PluginBlock {
	var list []*PluginBlock
	switch kind {
	case sdk.KindTool:
		list = e.Tools
	case sdk.KindReward:
		list = e.Rewards
	case sdk.KindModel:
		list = e.Models
	}
	for _, p := range list {
		if p.Label == label {
			return p
		}
	}
	return nil
}

// Stage returns the stage block (not eval) called label.
func (e *Experiment) Stage(label string) *Stage {
	for _, s := range e.Stages {
		if s.Block == "stage" && s.Label == label {
			return s
		}
	}
	return nil
}

// PluginBlocks returns every tool, reward and model block in that order.
func (e *Experiment) PluginBlocks() []*PluginBlock {
	out := append([]*PluginBlock{}, e.Tools...)
	out = append(out, e.Rewards...)
	return append(out, e.Models...)
}

// Order returns the labels of the stages and evals in run order.
func (e *Experiment) Order() []string {
	out := make([]string, len(e.Stages))
	for i, s := range e.Stages {
		out[i] = s.Label
	}
	return out
}

func (e *Experiment) String() string {
	return fmt.Sprintf("experiment %q (%d stages)", e.Name, len(e.Stages))
}

// OptionRange returns where the block sets the option name (its value's
// range), or the block's header when the option is left to its default,
// for diagnostics about a value.
func (p *PluginBlock) OptionRange(name string) hcl.Range {
	if p.rest != nil && name != "" {
		attrs, _ := p.rest.JustAttributes()
		if a, ok := attrs[name]; ok {
			return a.Expr.Range()
		}
	}
	return p.DefRange
}
