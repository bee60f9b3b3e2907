package experiment

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

// attrSpec describes one fixed attribute of a dataset, stage or eval block.
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

// checkpointKinds are the stage kinds whose output is a model checkpoint.
var checkpointKinds = []string{"pretrain", "sft", "grpo"}

// trainingKinds are the stage kinds that train their model, so its plugin
// must implement sdk.ModelWithTraining.
var trainingKinds = map[string]bool{"pretrain": true, "sft": true, "grpo": true}

// TrainsModel reports whether a stage of this kind trains its model.
func TrainsModel(kind string) bool { return trainingKinds[kind] }

// stageKinds holds the fixed attributes of each stage kind; "eval" is the
// schema of eval blocks. Stage implementations (registered with the runner)
// read these attributes through Stage's typed accessors.
var stageKinds = map[string][]attrSpec{
	"synthesize": {
		{Name: "tool", Type: tRef, RefKind: "tool", Required: true},
		{Name: "dataset", Type: tRef, RefKind: "dataset", Required: true},
		{Name: "split", Type: tString, Default: "train"},
		{Name: "per_task", Type: tInt, Default: 10},
		{Name: "seed", Type: tInt, Default: defaultSeed},
		{Name: "max_tasks", Type: tInt, Default: 0},
	},
	"pretrain": {
		{Name: "model", Type: tRef, RefKind: "model", Required: true},
		// corpus: "builtin:python-stdlib" or "files:DIR[:DIR...]".
		{Name: "corpus", Type: tString, Required: true},
		{Name: "init", Type: tRef, RefKind: "stage", StageKinds: checkpointKinds, PathOK: true},
		{Name: "steps", Type: tInt, Default: 1000},
		{Name: "batch_size", Type: tInt, Default: 16},
		{Name: "heldout", Type: tNumber, Default: 0.02},
		{Name: "max_files", Type: tInt, Default: 0},
		{Name: "checkpoint_every", Type: tInt, Default: 100},
		{Name: "lr", Type: tNumber, Default: 0.0},
		{Name: "seed", Type: tInt, Default: defaultSeed},
	},
	"sft": {
		{Name: "model", Type: tRef, RefKind: "model", Required: true},
		// data: one synthesize stage or a list of them, trained on together.
		{Name: "data", Type: tRefList, RefKind: "stage", StageKinds: []string{"synthesize"}, Required: true},
		{Name: "init", Type: tRef, RefKind: "stage", StageKinds: checkpointKinds, PathOK: true},
		{Name: "steps", Type: tInt, Default: 200},
		{Name: "batch_size", Type: tInt, Default: 8},
		{Name: "history", Type: tEnum, Enum: []string{"full", "last"}, Default: "full"},
		// whole_episode: with history "full", one sequence per demonstration
		// (when the model supports it) instead of one example per turn.
		{Name: "whole_episode", Type: tBool, Default: true},
		// context_loss: weight of an auxiliary next-token loss on what the
		// model reads (prompt and tool states); 0 trains on commands only.
		{Name: "context_loss", Type: tNumber, Default: 0.0},
		// heldout: fraction of the demonstrations' tasks kept out of
		// training; their loss is logged at every checkpoint.
		{Name: "heldout", Type: tNumber, Default: 0.05},
		{Name: "checkpoint_every", Type: tInt, Default: 50},
		{Name: "lr", Type: tNumber, Default: 0.0}, // peak learning rate; 0: the model's own
		{Name: "seed", Type: tInt, Default: defaultSeed},
	},
	"grpo": {
		{Name: "model", Type: tRef, RefKind: "model", Required: true},
		{Name: "tool", Type: tRef, RefKind: "tool", Required: true},
		{Name: "reward", Type: tRef, RefKind: "reward", Required: true},
		{Name: "dataset", Type: tRef, RefKind: "dataset", Required: true},
		// init: RL starts from a trained policy (and its tokenizer); there
		// is no tokenizer to fit from rollouts.
		{Name: "init", Type: tRef, RefKind: "stage", StageKinds: checkpointKinds, PathOK: true, Required: true},
		{Name: "split", Type: tString, Default: "train"},
		{Name: "steps", Type: tInt, Default: 50},
		{Name: "group", Type: tInt, Default: 4},
		{Name: "tasks_per_step", Type: tInt, Default: 4},
		{Name: "clip", Type: tNumber, Default: 0.2},
		{Name: "kl", Type: tNumber, Default: 0.01},
		{Name: "temperature", Type: tNumber, Default: 1.0},
		{Name: "max_turns", Type: tInt},
		{Name: "max_tokens", Type: tInt, Default: 96},
		{Name: "advantage", Type: tEnum, Enum: []string{"turn", "trajectory"}, Default: "turn"},
		{Name: "history", Type: tEnum, Enum: []string{"full", "last"}, Default: "full"},
		{Name: "checkpoint_every", Type: tInt, Default: 10},
		{Name: "lr", Type: tNumber, Default: 0.0}, // peak learning rate; 0: the model's own
		{Name: "seed", Type: tInt, Default: defaultSeed},
	},
	"eval": {
		{Name: "model", Type: tRef, RefKind: "model", Required: true},
		{Name: "tool", Type: tRef, RefKind: "tool", Required: true},
		{Name: "dataset", Type: tRef, RefKind: "dataset", Required: true},
		{Name: "split", Type: tString, Default: "test"},
		{Name: "checkpoints", Type: tRefList, RefKind: "stage", StageKinds: checkpointKinds},
		{Name: "k", Type: tIntList, Default: []int{1, 4}},
		{Name: "samples", Type: tInt, Default: defaultMaxK},
		{Name: "temperature", Type: tNumber, Default: 0.8},
		{Name: "max_turns", Type: tInt},
		{Name: "max_tokens", Type: tInt, Default: 96},
		{Name: "history", Type: tEnum, Enum: []string{"full", "last"}, Default: "full"},
		{Name: "turn_budgets", Type: tIntList},
		{Name: "max_tasks", Type: tInt, Default: 0},
		{Name: "seed", Type: tInt, Default: defaultSeed},
	},
}

// datasetAttrs are the attributes of a dataset block. The loaders (not
// this package) interpret them; source is "builtin:NAME" or "FORMAT:PATH".
var datasetAttrs = []attrSpec{
	{Name: "source", Type: tString, Required: true},
	{Name: "split", Type: tString},
	{Name: "seed", Type: tInt, Default: defaultSeed},
	{Name: "max_tasks", Type: tInt, Default: 0},
	{Name: "test_fraction", Type: tNumber},
	{Name: "validation_fraction", Type: tNumber},
	{Name: "strict", Type: tBool, Default: false},
	{Name: "fields", Type: tStringMap},
}

// StageKinds returns the stage kinds a stage block may name, sorted.
func StageKinds() []string {
	var out []string
	for k := range stageKinds {
		if k != "eval" {
			out = append(out, k)
		}
	}
	sortStrings(out)
	return out
}
