package experiment

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// valueType is the type of a fixed (non-plugin) attribute.
type valueType int

const (
	tString valueType = iota
	tNumber
	tInt // a whole number >= 0
	tBool
	tEnum    // a string from attrSpec.Enum
	tRef     // one reference, attrSpec.RefKind
	tRefList // a list of references
	tIntList // a list of whole numbers >= 1
	tStringMap
)

func (t valueType) String() string {
	switch t {
	case tString, tEnum:
		return "string"
	case tNumber:
		return "number"
	case tInt:
		return "whole number"
	case tBool:
		return "bool"
	case tRef:
		return "reference"
	case tRefList:
		return "list of references"
	case tIntList:
		return "list of whole numbers"
	case tStringMap:
		return "map of strings"
	}
	return "value"
}

// attrSpec describes one fixed attribute of a dataset, stage, eval or
// cluster block. Specs are derived from a tagged struct (see StageKind).
type attrSpec struct {
	Name     string
	Type     valueType
	Required bool
	// Default is filled in when the attribute is absent: string, float64,
	// int, bool or []int. defaultSeed means "the experiment's seed" and
	// defaultMaxK "the largest value of k".
	Default any
	Enum    []string
	// RefKind is the block type a reference must point at ("tool",
	// "model", "reward", "dataset", "stage"); StageKinds restricts a stage
	// reference to stages of these kinds.
	RefKind    string
	StageKinds []string
	// PathOK lets a stage reference be written as a quoted path instead
	// (a checkpoint of another run): the value is then a Ref of Kind PathRef.
	PathOK bool
}

type defaultMarker int

const (
	defaultSeed defaultMarker = iota + 1
	defaultMaxK
)

// StageKind is what resolution knows of a stage kind: its name, the
// attributes of its blocks and whether it leaves a model checkpoint. The
// attributes are the exported fields of the struct Attrs points at, each
// tagged with its attribute name and rules:
//
//	Steps   int            `attr:"steps" default:"200"`
//	History string         `attr:"history" enum:"full,last" default:"full"`
//	Model   experiment.Ref `attr:"model,required" ref:"model"`
//	Data    []experiment.Ref `attr:"data,required" ref:"stage" kinds:"synthesize"`
//	Init    experiment.Ref `attr:"init,path" ref:"stage" output:"checkpoint"`
//	Seed    int            `attr:"seed" default:"experiment.seed"`
//
// The Go type gives the HCL type: string (enum restricts it), int (a
// whole number >= 0), float64, bool, Ref, []Ref (one reference or a
// list), []int (whole numbers >= 1) and map[string]string. attr's options
// are required and path (a quoted checkpoint path may stand for the stage
// reference). ref names the block type a reference points at; kinds
// restricts a stage reference to stages of those kinds, output:"checkpoint"
// to the kinds that leave a checkpoint. default is written as the value
// ("0.05", "true", "1,4"), or "experiment.seed", or "max(k)" (the largest
// element of the k attribute). An attribute with neither required nor
// default is absent from Values when unset, and zero in the struct.
//
// Values.Decode fills the same struct from a resolved block, so a kind's
// schema and the value its implementation reads are one definition. The
// runner's registry (core/runner.Kind) builds a StageKind for every kind
// it can run and hands them to Resolve as Kinds; this package knows no
// kind itself. The kind "eval" is the schema of eval blocks.
type StageKind struct {
	Name string
	// Checkpoint: a stage of this kind leaves a model checkpoint, which an
	// attribute tagged output:"checkpoint" may name.
	Checkpoint bool
	// Attrs points at a value of the kind's attribute struct.
	Attrs any
}

// Kinds is the set of stage kinds an experiment may use, made by NewKinds.
// A nil *Kinds knows no kind.
type Kinds struct {
	order []string
	specs map[string][]attrSpec
}

// NewKinds checks each kind's attribute struct and returns the set. An
// error is a programming mistake in a tag, named with the kind and field.
func NewKinds(kinds ...StageKind) (*Kinds, error) {
	ks := &Kinds{specs: map[string][]attrSpec{}}
	var checkpoint []string
	for _, k := range kinds {
		if k.Name == "" {
			return nil, fmt.Errorf("experiment: a stage kind without a name")
		}
		if _, dup := ks.specs[k.Name]; dup {
			return nil, fmt.Errorf("experiment: stage kind %q defined twice", k.Name)
		}
		ks.order = append(ks.order, k.Name)
		ks.specs[k.Name] = nil
		if k.Checkpoint {
			checkpoint = append(checkpoint, k.Name)
		}
	}
	for _, k := range kinds {
		specs, err := specsOf(k.Attrs, checkpoint, ks.order)
		if err != nil {
			return nil, fmt.Errorf("experiment: stage kind %q: %w", k.Name, err)
		}
		ks.specs[k.Name] = specs
	}
	return ks, nil
}

// lookup returns the attribute specs of a kind.
func (ks *Kinds) lookup(name string) ([]attrSpec, bool) {
	if ks == nil {
		return nil, false
	}
	s, ok := ks.specs[name]
	return s, ok
}

// isStageKind reports whether a stage block may name kind (every kind but
// "eval", which is the schema of eval blocks).
func (ks *Kinds) isStageKind(kind string) bool {
	_, ok := ks.lookup(kind)
	return ok && kind != "eval"
}

// StageKinds returns the kinds a stage block may name, sorted.
func (ks *Kinds) StageKinds() []string {
	if ks == nil {
		return nil
	}
	var out []string
	for _, k := range ks.order {
		if k != "eval" {
			out = append(out, k)
		}
	}
	sortStrings(out)
	return out
}

// Defaults returns set with every absent attribute of kind that has a
// default filled in, seed standing for the experiment's seed, as a block
// setting just those attributes resolves (samples = max(k) takes set's k).
// It builds a kind's value outside an experiment file (the CLI's eval):
// Encode the attributes given, fill the rest, Decode. False when kind is
// not in the set.
func (ks *Kinds) Defaults(kind string, set Values, seed int64) (Values, bool) {
	specs, ok := ks.lookup(kind)
	if !ok {
		return nil, false
	}
	r := &resolver{exp: &Experiment{Seed: seed}}
	vals := Values{}
	for k, v := range set {
		vals[k] = v
	}
	r.fillDefaults(vals, specs)
	return vals, true
}

var (
	refType     = reflect.TypeFor[Ref]()
	refListType = reflect.TypeFor[[]Ref]()
	intListType = reflect.TypeFor[[]int]()
	strMapType  = reflect.TypeFor[map[string]string]()
)

// specsOf derives attribute specs from the tagged struct attrs points at;
// checkpoint lists the kinds output:"checkpoint" stands for, known the
// kinds that kinds:"..." may name (nil: any).
func specsOf(attrs any, checkpoint, known []string) ([]attrSpec, error) {
	t := reflect.TypeOf(attrs)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("attributes must be a pointer to a struct, not %v", t)
	}
	t = t.Elem()
	var specs []attrSpec
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("attr")
		if !ok {
			continue
		}
		if !f.IsExported() {
			return nil, fmt.Errorf("field %s: an attribute must be an exported field", f.Name)
		}
		sp, err := specOf(f, tag, checkpoint, known)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if seen[sp.Name] {
			return nil, fmt.Errorf("field %s: attribute %q defined twice", f.Name, sp.Name)
		}
		seen[sp.Name] = true
		specs = append(specs, sp)
	}
	return specs, nil
}

func specOf(f reflect.StructField, tag string, checkpoint, known []string) (attrSpec, error) {
	name, opts, _ := strings.Cut(tag, ",")
	sp := attrSpec{Name: name}
	if name == "" || name == "kind" {
		return sp, fmt.Errorf("attribute name %q is not allowed", name)
	}
	for o := range strings.SplitSeq(opts, ",") {
		switch o {
		case "":
		case "required":
			sp.Required = true
		case "path":
			sp.PathOK = true
		default:
			return sp, fmt.Errorf("unknown attr option %q", o)
		}
	}
	enum, hasEnum := f.Tag.Lookup("enum")
	switch {
	case f.Type == refType:
		sp.Type = tRef
	case f.Type == refListType:
		sp.Type = tRefList
	case f.Type == intListType:
		sp.Type = tIntList
	case f.Type == strMapType:
		sp.Type = tStringMap
	case f.Type.Kind() == reflect.String && hasEnum:
		sp.Type, sp.Enum = tEnum, strings.Split(enum, ",")
	case f.Type.Kind() == reflect.String:
		sp.Type = tString
	case f.Type.Kind() == reflect.Int:
		sp.Type = tInt
	case f.Type.Kind() == reflect.Float64:
		sp.Type = tNumber
	case f.Type.Kind() == reflect.Bool:
		sp.Type = tBool
	default:
		return sp, fmt.Errorf("type %v is not an attribute type", f.Type)
	}
	if hasEnum && sp.Type != tEnum {
		return sp, fmt.Errorf("enum on a %v", f.Type)
	}
	ref, hasRef := f.Tag.Lookup("ref")
	isRef := sp.Type == tRef || sp.Type == tRefList
	if isRef != hasRef || (isRef && !slices.Contains(refKinds, ref)) {
		return sp, fmt.Errorf("a Ref or []Ref takes ref:\"KIND\" (one of %s), other types none", strings.Join(refKinds, ", "))
	}
	sp.RefKind = ref
	if k, ok := f.Tag.Lookup("kinds"); ok {
		sp.StageKinds = strings.Split(k, ",")
		for _, k := range sp.StageKinds {
			if known != nil && !slices.Contains(known, k) {
				return sp, fmt.Errorf("kinds names %q, which is not a stage kind", k)
			}
		}
	}
	if o, ok := f.Tag.Lookup("output"); ok {
		if o != "checkpoint" {
			return sp, fmt.Errorf("output:%q: the only output is \"checkpoint\"", o)
		}
		sp.StageKinds = append(sp.StageKinds, checkpoint...)
	}
	if (sp.StageKinds != nil || sp.PathOK) && ref != "stage" {
		return sp, fmt.Errorf("kinds, output and path restrict stage references only")
	}
	if d, ok := f.Tag.Lookup("default"); ok {
		if sp.Required {
			return sp, fmt.Errorf("a required attribute has no default")
		}
		v, err := parseDefault(sp.Type, d)
		if err != nil {
			return sp, fmt.Errorf("default %q: %w", d, err)
		}
		if sp.Type == tEnum && !slices.Contains(sp.Enum, v.(string)) {
			return sp, fmt.Errorf("default %q is not in the enum", d)
		}
		sp.Default = v
	}
	return sp, nil
}

func parseDefault(t valueType, s string) (any, error) {
	switch t {
	case tString, tEnum:
		return s, nil
	case tInt:
		switch s {
		case "experiment.seed":
			return defaultSeed, nil
		case "max(k)":
			return defaultMaxK, nil
		}
		n, err := strconv.Atoi(s)
		if err == nil && n < 0 {
			err = fmt.Errorf("below 0")
		}
		return n, err
	case tNumber:
		return strconv.ParseFloat(s, 64)
	case tBool:
		return strconv.ParseBool(s)
	case tIntList:
		var out []int
		for e := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(e))
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%q is not a whole number >= 1", e)
			}
			out = append(out, n)
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %s attribute takes no default", t)
}

// mustSpecs derives the specs of one of this package's own blocks.
func mustSpecs(attrs any) []attrSpec {
	specs, err := specsOf(attrs, nil, nil)
	if err != nil {
		panic("experiment: " + err.Error())
	}
	return specs
}

// Decode sets the fields of the struct dst points at from the values of
// the attributes their attr tags name (see StageKind); a field whose
// attribute is absent is left as it is. It fails when a value does not fit
// its field, which Resolve's checks rule out for values it decoded against
// the same struct.
func (v Values) Decode(dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("experiment: decode into %T, not a pointer to a struct", dst)
	}
	rv = rv.Elem()
	t := rv.Type()
	for i := range t.NumField() {
		tag, ok := t.Field(i).Tag.Lookup("attr")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		x, ok := v[name]
		if !ok || x == nil {
			continue
		}
		f := rv.Field(i)
		xv := reflect.ValueOf(x)
		switch {
		case xv.Type().AssignableTo(f.Type()):
			f.Set(xv)
		case f.Kind() == reflect.Float64 && xv.Kind() == reflect.Int:
			f.SetFloat(float64(xv.Int()))
		case f.Kind() == xv.Kind() && xv.CanConvert(f.Type()):
			f.Set(xv.Convert(f.Type()))
		default:
			return fmt.Errorf("experiment: attribute %q holds a %T, which does not fit field %s (%v)", name, x, t.Field(i).Name, f.Type())
		}
	}
	return nil
}

// Encode returns the attributes of the struct src points at as Values,
// the inverse of Decode: every field with an attr tag, except a zero Ref
// and a nil slice or map (an attribute left unset).
func Encode(src any) (Values, error) {
	rv := reflect.ValueOf(src)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("experiment: encode %T, not a pointer to a struct", src)
	}
	rv = rv.Elem()
	out := Values{}
	for i := range rv.NumField() {
		tag, ok := rv.Type().Field(i).Tag.Lookup("attr")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		f := rv.Field(i)
		switch {
		case f.Type() == refType && f.Interface().(Ref).Kind == "":
			continue
		case (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.IsNil():
			continue
		}
		out[name] = f.Interface()
	}
	return out, nil
}

// DatasetAttrs are the attributes of a dataset block (decode Dataset.Attrs
// into one). The loaders (core/tasks), not this package, interpret them;
// source is "builtin:NAME" or "FORMAT:PATH".
type DatasetAttrs struct {
	Source             string            `attr:"source,required"`
	Split              string            `attr:"split"`
	Seed               int               `attr:"seed" default:"experiment.seed"`
	MaxTasks           int               `attr:"max_tasks" default:"0"`
	TestFraction       float64           `attr:"test_fraction"`
	ValidationFraction float64           `attr:"validation_fraction"`
	Strict             bool              `attr:"strict" default:"false"`
	Fields             map[string]string `attr:"fields"`
}

var datasetSpecs = mustSpecs(&DatasetAttrs{})
