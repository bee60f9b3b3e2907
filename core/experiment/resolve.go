package experiment

import (
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/lathe-ml/lathe/sdk"
)

var experimentSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "seed"}, {Name: "description"}},
}

var pluginSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "plugin", Required: true}},
}

var kindSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "kind", Required: true}},
}

// refKinds are the block types a reference may start with.
var refKinds = []string{"dataset", "model", "reward", "stage", "tool"}

// resolver carries the state of one Resolve call.
type resolver struct {
	exp   *Experiment
	diags hcl.Diagnostics
	// declared maps a block type to its labels and where each was defined.
	declared map[string]map[string]hcl.Range
	// stageKind maps a stage label to its kind ("" when the kind is bad).
	stageKind map[string]string
	// edgeRange maps "from->to" (stage ids) to the reference's range, to
	// point a cycle diagnostic at the reference that closes it.
	edgeRange map[[2]string]hcl.Range
	// kinds are the stage kinds blocks may name.
	kinds *Kinds
}

// Resolve evaluates a parsed file: it applies the -var overrides (each
// "NAME=VALUE"), decodes and defaults every fixed attribute, the stage and
// eval blocks' against the schemas of kinds, checks every reference and
// sorts the stages and evals into run order. Plugin blocks keep their
// options undecoded until Plan.
func Resolve(f *File, overrides []string, kinds *Kinds) (*Experiment, hcl.Diagnostics) {
	r := newResolver(f, kinds)
	vars, d := resolveVariables(f.blocks, overrides)
	r.diags = append(r.diags, d...)
	r.exp.Variables = vars
	r.exp.evalCtx = &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}

	r.declare(f.blocks)
	for _, b := range f.blocks {
		switch b.Type {
		case "experiment":
			r.experiment(b)
		}
	}
	if r.exp.Name == "" && r.declared["experiment"] == nil && f.hcl != nil {
		rng := f.hcl.Body.MissingItemRange()
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing experiment block",
			Detail:   `An experiment file needs one block experiment "NAME" { seed = N }; its name names the run directory.`,
			Subject:  &rng,
		})
	}
	for _, b := range f.blocks {
		if r.isDuplicate(b) {
			continue
		}
		switch b.Type {
		case "dataset":
			vals, _ := r.decodeAttrs(b.Body, datasetSpecs, nil, b.Type+" "+b.Labels[0])
			r.exp.Datasets = append(r.exp.Datasets, &Dataset{Label: b.Labels[0], Attrs: vals, DefRange: b.DefRange})
		case "tool", "reward", "model":
			r.pluginBlock(b)
		case "stage", "eval":
			r.stage(b)
		case "cluster":
			r.cluster(b)
		}
	}
	if !r.diags.HasErrors() {
		r.checkModels()
		r.sortStages()
	}
	return r.exp, improveVarDiags(r.diags, vars)
}

func newResolver(f *File, kinds *Kinds) *resolver {
	return &resolver{
		exp:       &Experiment{Filename: f.Filename, Source: f.Source, file: f.hcl},
		declared:  map[string]map[string]hcl.Range{},
		stageKind: map[string]string{},
		edgeRange: map[[2]string]hcl.Range{},
		kinds:     kinds,
	}
}

// declare records every labelled block and reports duplicates, pointing at
// the first definition.
func (r *resolver) declare(blocks hcl.Blocks) {
	for _, b := range blocks {
		if len(b.Labels) == 0 {
			continue // the cluster block: cluster() reports a second one
		}
		label := b.Labels[0]
		if b.Type == "experiment" {
			if prev, ok := r.declared["experiment"]; ok {
				for _, rng := range prev {
					r.diags = append(r.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Duplicate experiment block",
						Detail:   fmt.Sprintf("An experiment file has one experiment block; the first was defined at %s.", rng),
						Subject:  b.DefRange.Ptr(),
					})
				}
				continue
			}
			r.declared["experiment"] = map[string]hcl.Range{label: b.DefRange}
			continue
		}
		// Stages and evals share one namespace: both name result rows and
		// run-directory entries.
		space := b.Type
		if space == "eval" {
			space = "stage"
		}
		if prev, ok := r.declared[space][label]; ok {
			r.diags = append(r.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s %q", b.Type, label),
				Detail:   fmt.Sprintf("A block labelled %q was already defined at %s. Labels must be unique.", label, prev),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		if r.declared[space] == nil {
			r.declared[space] = map[string]hcl.Range{}
		}
		r.declared[space][label] = b.DefRange
		if b.Type == "stage" {
			r.stageKind[label] = r.peekKind(b)
		}
		if b.Type == "eval" {
			r.stageKind[label] = "eval"
		}
	}
}

func (r *resolver) isDuplicate(b *hcl.Block) bool {
	space := b.Type
	if space == "eval" {
		space = "stage"
	}
	if space == "variable" || space == "experiment" || space == "cluster" {
		return false
	}
	return r.declared[space][b.Labels[0]] != b.DefRange
}

// peekKind reads a stage's kind without reporting anything; stage()
// reports problems with it.
func (r *resolver) peekKind(b *hcl.Block) string {
	content, _, _ := b.Body.PartialContent(kindSchema)
	a, ok := content.Attributes["kind"]
	if !ok {
		return ""
	}
	v, d := a.Expr.Value(r.exp.evalCtx)
	if d.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	if !r.kinds.isStageKind(v.AsString()) {
		return ""
	}
	return v.AsString()
}

func (r *resolver) experiment(b *hcl.Block) {
	if r.exp.Name != "" {
		return
	}
	r.exp.Name = b.Labels[0]
	content, d := b.Body.Content(experimentSchema)
	r.diags = append(r.diags, d...)
	if a, ok := content.Attributes["seed"]; ok {
		if n, ok := r.wholeNumber(a, "seed"); ok {
			r.exp.Seed = int64(n)
		}
	}
	if a, ok := content.Attributes["description"]; ok {
		if s, ok := r.stringValue(a); ok {
			r.exp.Description = s
		}
	}
}

func (r *resolver) pluginBlock(b *hcl.Block) {
	content, rest, d := b.Body.PartialContent(pluginSchema)
	r.diags = append(r.diags, d...)
	p := &PluginBlock{Kind: sdk.Kind(b.Type), Label: b.Labels[0], DefRange: b.DefRange, rest: rest}
	if a, ok := content.Attributes["plugin"]; ok {
		p.PluginRange = a.Expr.Range()
		if s, ok := r.stringValue(a); ok {
			if s == "" {
				r.diags = append(r.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Empty plugin name",
					Detail:   "plugin names a built-in plugin (see `lathe plugins`) or the path of a plugin executable.",
					Subject:  p.PluginRange.Ptr(),
				})
			}
			p.Plugin = s
		}
	}
	switch p.Kind {
	case sdk.KindTool:
		r.exp.Tools = append(r.exp.Tools, p)
	case sdk.KindReward:
		r.exp.Rewards = append(r.exp.Rewards, p)
	case sdk.KindModel:
		r.exp.Models = append(r.exp.Models, p)
	}
}

func (r *resolver) stage(b *hcl.Block) {
	s := &Stage{Block: b.Type, Label: b.Labels[0], DefRange: b.DefRange}
	body := b.Body
	if b.Type == "eval" {
		s.Kind = "eval"
		if _, ok := r.kinds.lookup("eval"); !ok {
			r.diags = append(r.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Eval blocks not supported",
				Detail:   "This build of Lathe has no eval stage kind, so an experiment cannot hold eval blocks.",
				Subject:  b.DefRange.Ptr(),
			})
			return
		}
	} else {
		content, rest, d := body.PartialContent(kindSchema)
		r.diags = append(r.diags, d...)
		a, ok := content.Attributes["kind"]
		if !ok {
			return
		}
		kind, ok := r.stringValue(a)
		if !ok {
			return
		}
		if !r.kinds.isStageKind(kind) {
			kinds := r.kinds.StageKinds()
			r.diags = append(r.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown stage kind",
				Detail: fmt.Sprintf("Stage kind %q does not exist; the kinds are %s.%s",
					kind, quoteList(kinds), didYouMean(kind, kinds)),
				Subject: a.Expr.Range().Ptr(),
			})
			return
		}
		s.Kind, body = kind, rest
	}
	specs, _ := r.kinds.lookup(s.Kind)
	vals, ranges := r.decodeAttrs(body, specs, s, b.Type+" "+s.Label)
	s.Attrs = vals
	if s.Kind == "eval" {
		r.checkEval(s, ranges)
	}
	r.exp.Stages = append(r.exp.Stages, s)
}

func (r *resolver) checkEval(s *Stage, ranges map[string]hcl.Range) {
	samples := s.Attrs.Int("samples")
	for _, k := range s.Attrs.Ints("k") {
		if k > samples {
			rng := ranges["samples"]
			if _, set := ranges["samples"]; !set {
				rng = ranges["k"]
			}
			r.diags = append(r.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Too few samples for pass@k",
				Detail:   fmt.Sprintf("pass@%d needs at least %d samples per task, but samples = %d.", k, k, samples),
				Subject:  rng.Ptr(),
			})
			return
		}
	}
}

// decodeAttrs decodes a body against fixed attribute specs, fills the
// defaults and returns the values and the ranges of the attributes set.
// When from is a stage, stage references become its dependencies.
func (r *resolver) decodeAttrs(body hcl.Body, specs []attrSpec, from *Stage, what string) (Values, map[string]hcl.Range) {
	schema := &hcl.BodySchema{}
	for _, sp := range specs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: sp.Name, Required: sp.Required})
	}
	content, d := body.Content(schema)
	r.diags = append(r.diags, d...)
	vals := Values{}
	ranges := map[string]hcl.Range{}
	for _, sp := range specs {
		a, ok := content.Attributes[sp.Name]
		if !ok {
			continue
		}
		ranges[sp.Name] = a.Expr.Range()
		if v, ok := r.decodeValue(a, sp, from); ok {
			vals[sp.Name] = v
		}
	}
	r.fillDefaults(vals, specs)
	return vals, ranges
}

// fillDefaults sets every absent attribute that has a default. A default
// that stands for a value is filled after the plain ones it may depend on
// (max(k) after k).
func (r *resolver) fillDefaults(vals Values, specs []attrSpec) {
	for _, marker := range []bool{false, true} {
		for _, sp := range specs {
			if vals.Has(sp.Name) || sp.Default == nil {
				continue
			}
			m, isMarker := sp.Default.(defaultMarker)
			if isMarker != marker {
				continue
			}
			switch {
			case !isMarker:
				vals[sp.Name] = sp.Default
			case m == defaultSeed:
				vals[sp.Name] = int(r.exp.Seed)
			case m == defaultMaxK:
				vals[sp.Name] = slices.Max(append([]int{1}, vals.Ints("k")...))
			}
		}
	}
}

func (r *resolver) decodeValue(a *hcl.Attribute, sp attrSpec, from *Stage) (any, bool) {
	switch sp.Type {
	case tRef:
		ref, ok := r.reference(a.Expr, sp, from)
		return ref, ok
	case tRefList:
		exprs, d := hcl.ExprList(a.Expr)
		if d.HasErrors() {
			// A single reference stands for a list of one (and anything
			// else gets the reference's own diagnostic).
			exprs, d = []hcl.Expression{a.Expr}, nil
		}
		if d.HasErrors() {
			r.diags = append(r.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference list",
				Detail:   fmt.Sprintf("The %q argument takes a list of references such as [%s.NAME].", sp.Name, sp.RefKind),
				Subject:  a.Expr.Range().Ptr(),
			})
			return nil, false
		}
		refs := []Ref{}
		for _, e := range exprs {
			ref, ok := r.reference(e, sp, from)
			if !ok {
				return nil, false
			}
			refs = append(refs, ref)
		}
		return refs, true
	}

	val, d := a.Expr.Value(r.exp.evalCtx)
	r.diags = append(r.diags, d...)
	if d.HasErrors() || val.IsNull() {
		return nil, false
	}
	switch sp.Type {
	case tString, tEnum:
		s, ok := r.convert(a, val, cty.String, "a string")
		if !ok {
			return nil, false
		}
		str := s.AsString()
		if sp.Type == tEnum && !slices.Contains(sp.Enum, str) {
			r.diags = append(r.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value",
				Detail:   fmt.Sprintf("%s must be one of %s, not %q.%s", sp.Name, quoteList(sp.Enum), str, didYouMean(str, sp.Enum)),
				Subject:  a.Expr.Range().Ptr(),
			})
			return nil, false
		}
		return str, true
	case tNumber:
		n, ok := r.convert(a, val, cty.Number, "a number")
		if !ok {
			return nil, false
		}
		f, _ := n.AsBigFloat().Float64()
		return f, true
	case tInt:
		return r.wholeNumber(a, sp.Name)
	case tBool:
		b, ok := r.convert(a, val, cty.Bool, "a bool")
		if !ok {
			return nil, false
		}
		return b.True(), true
	case tIntList:
		l, ok := r.convert(a, val, cty.List(cty.Number), "a list of whole numbers")
		if !ok {
			return nil, false
		}
		out := []int{}
		for _, e := range l.AsValueSlice() {
			n, ok := whole(e)
			if !ok || n < 1 {
				r.diags = append(r.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid value",
					Detail:   fmt.Sprintf("Every element of %s must be a whole number >= 1; %s is not.", sp.Name, e.AsBigFloat().Text('g', -1)),
					Subject:  a.Expr.Range().Ptr(),
				})
				return nil, false
			}
			out = append(out, n)
		}
		return out, true
	case tStringMap:
		m, ok := r.convert(a, val, cty.Map(cty.String), "a map of strings")
		if !ok {
			return nil, false
		}
		out := map[string]string{}
		for k, v := range m.AsValueMap() {
			out[k] = v.AsString()
		}
		return out, true
	}
	return nil, false
}

func (r *resolver) convert(a *hcl.Attribute, val cty.Value, ty cty.Type, want string) (cty.Value, bool) {
	if !val.IsWhollyKnown() {
		return cty.NilVal, false
	}
	cv, err := convert.Convert(val, ty)
	if err != nil {
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s is required, got %s.", a.Name, want, val.Type().FriendlyName()),
			Subject:  a.Expr.Range().Ptr(),
		})
		return cty.NilVal, false
	}
	if cv.IsNull() {
		return cty.NilVal, false
	}
	return cv, true
}

func (r *resolver) stringValue(a *hcl.Attribute) (string, bool) {
	val, d := a.Expr.Value(r.exp.evalCtx)
	r.diags = append(r.diags, d...)
	if d.HasErrors() {
		return "", false
	}
	s, ok := r.convert(a, val, cty.String, "a string")
	if !ok {
		return "", false
	}
	return s.AsString(), true
}

func (r *resolver) wholeNumber(a *hcl.Attribute, name string) (int, bool) {
	val, d := a.Expr.Value(r.exp.evalCtx)
	r.diags = append(r.diags, d...)
	if d.HasErrors() {
		return 0, false
	}
	n, ok := r.convert(a, val, cty.Number, "a whole number")
	if !ok {
		return 0, false
	}
	i, ok := whole(n)
	if !ok || i < 0 {
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value",
			Detail:   fmt.Sprintf("%s must be a whole number >= 0, not %s.", name, n.AsBigFloat().Text('g', -1)),
			Subject:  a.Expr.Range().Ptr(),
		})
		return 0, false
	}
	return i, true
}

// whole returns v as an int when it is a whole number that fits.
func whole(v cty.Value) (int, bool) {
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return 0, false
	}
	i, acc := bf.Int64()
	if acc != big.Exact || i > 1<<40 || i < -(1<<40) {
		return 0, false
	}
	return int(i), true
}

// reference checks one reference expression against the declared blocks.
func (r *resolver) reference(expr hcl.Expression, sp attrSpec, from *Stage) (Ref, bool) {
	bad := func(summary, detail string, rng hcl.Range) (Ref, bool) {
		r.diags = append(r.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr(),
		})
		return Ref{}, false
	}
	example := sp.RefKind + ".NAME"
	trav, d := hcl.AbsTraversalForExpr(expr)
	if sp.PathOK && (d.HasErrors() || !slices.Contains(refKinds, trav.RootName())) {
		// Not a reference to a block: a path (to another run's checkpoint),
		// quoted or from a variable.
		val, vd := expr.Value(r.exp.evalCtx)
		if !vd.HasErrors() && val.IsNull() {
			return Ref{}, false // null (a variable left unset): as if absent
		}
		if !vd.HasErrors() && val.IsWhollyKnown() && val.Type() == cty.String {
			if val.AsString() == "" {
				return bad("Empty path", fmt.Sprintf("The %q argument takes %s or the path of a checkpoint, not an empty string.", sp.Name, example), expr.Range())
			}
			if root, label, ok := strings.Cut(val.AsString(), "."); ok && root == "stage" {
				if _, declared := r.declared["stage"][label]; declared {
					// A quoted reference, not a path someone meant.
					return bad("Invalid reference", fmt.Sprintf("The %q argument takes a reference such as %s, written without quotes: %s, not %q.",
						sp.Name, example, val.AsString(), val.AsString()), expr.Range())
				}
			}
			return Ref{Kind: PathRef, Label: val.AsString(), Range: expr.Range()}, true
		}
	}
	if d.HasErrors() || len(trav) != 2 {
		detail := fmt.Sprintf("The %q argument takes a reference such as %s, written without quotes.", sp.Name, example)
		if sp.PathOK {
			detail = fmt.Sprintf("The %q argument takes a reference such as %s, written without quotes, or the path of a checkpoint in quotes.", sp.Name, example)
		}
		return bad("Invalid reference", detail, expr.Range())
	}
	step, ok := trav[1].(hcl.TraverseAttr)
	if !ok {
		return bad("Invalid reference",
			fmt.Sprintf("The %q argument takes a reference such as %s.", sp.Name, example), expr.Range())
	}
	root := trav.RootName()
	ref := Ref{Kind: root, Label: step.Name, Range: trav.SourceRange()}
	if root != sp.RefKind {
		if !slices.Contains(refKinds, root) {
			return bad("Invalid reference",
				fmt.Sprintf("%s is not a reference to a block; the %q argument takes a reference such as %s.",
					ref, sp.Name, example), ref.Range)
		}
		return bad("Wrong reference kind",
			fmt.Sprintf("The %q argument must refer to a %s block (%s), but %s is a %s.", sp.Name, sp.RefKind, example, ref, root),
			ref.Range)
	}
	labels := r.declared[root]
	if _, ok := labels[step.Name]; !ok || (root == "stage" && r.stageKind[step.Name] == "eval") {
		var names []string
		for n := range labels {
			if root != "stage" || r.stageKind[n] != "eval" {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		detail := fmt.Sprintf("No %s block labelled %q is declared.", root, step.Name)
		if s := didYouMean(step.Name, names); s != "" {
			detail += s
		} else if len(names) > 0 {
			detail += fmt.Sprintf(" Declared %s blocks: %s.", root, strings.Join(names, ", "))
		}
		return bad("Reference to undeclared "+root, detail, ref.Range)
	}
	if root == "stage" && len(sp.StageKinds) > 0 {
		kind := r.stageKind[step.Name]
		if kind != "" && !slices.Contains(sp.StageKinds, kind) {
			return bad("Wrong stage kind",
				fmt.Sprintf("The %q argument must refer to a %s stage, but %s is a %s stage.",
					sp.Name, strings.Join(sp.StageKinds, " or "), ref, kind),
				ref.Range)
		}
	}
	if root == "stage" && from != nil {
		if !slices.Contains(from.DependsOn, step.Name) {
			from.DependsOn = append(from.DependsOn, step.Name)
		}
		key := [2]string{from.Label, step.Name}
		if _, seen := r.edgeRange[key]; !seen {
			r.edgeRange[key] = ref.Range
		}
	}
	return ref, true
}

// checkModels reports a checkpoint handed to a different model block (an
// init or an eval checkpoint), which could only fail when loaded.
func (r *resolver) checkModels() {
	byLabel := map[string]*Stage{}
	for _, s := range r.exp.Stages {
		byLabel[s.Label] = s
	}
	for _, s := range r.exp.Stages {
		model, ok := s.Attrs.Ref("model")
		if !ok {
			continue
		}
		refs := s.Attrs.Refs("checkpoints")
		if init, ok := s.Attrs.Ref("init"); ok {
			refs = append([]Ref{init}, refs...)
		}
		for _, ref := range refs {
			from, ok := byLabel[ref.Label]
			if !ok {
				continue
			}
			if m, ok := from.Attrs.Ref("model"); ok && m.Label != model.Label {
				r.diags = append(r.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Checkpoint of another model",
					Detail: fmt.Sprintf("%s uses %s, but %s trains %s; a checkpoint only loads into the model block that made it.",
						s.ID(), model, ref, m),
					Subject: ref.Range.Ptr(),
				})
			}
		}
	}
}
