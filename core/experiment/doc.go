// Package experiment loads Lathe experiment files (HCL) into a checked,
// fully resolved description of an experiment, reporting every mistake as
// an hcl.Diagnostic with a source range.
//
// Loading runs in three phases, each returning (T, hcl.Diagnostics):
//
//	Parse    syntax and top-level block types            -> *File
//	Resolve  variables and -var overrides, every block's  -> *Experiment
//	         fixed attributes (stage and eval blocks against
//	         the Kinds handed in), references between
//	         blocks, the stage dependency graph and its order
//	Plan     each tool/reward/model block decoded against -> *Experiment
//	         the schema its plugin reports (SchemaSource)
//
// The file's blocks are experiment (exactly one), variable, dataset, tool,
// reward, model, stage and eval. Blocks refer to each other with bare
// traversals (tool.editor, model.policy, dataset.basic, stage.sft); those
// references are checked against the declared blocks and order the stages
// and evals (a topological sort, ties broken by file order). Variables are
// read as var.NAME.
//
// This package knows nothing of plugin processes or of running stages,
// and defines no stage kind: a kind's attributes are a tagged Go struct
// (StageKind), whose schema Resolve checks blocks against and into which
// Values.Decode reads a resolved block; the runner's registry
// (core/runner.Registry, the built-in kinds in core/stages) hands them in
// as Kinds. The plan phase only needs something that answers Schema, and
// the runner consumes the resulting *Experiment.
package experiment
