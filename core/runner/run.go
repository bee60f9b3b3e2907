package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/rundir"
	"github.com/lathe-ml/lathe/sdk"
)

// Options configures Run.
type Options struct {
	// Kinds are the stage kinds the experiment may name (core/stages.Kinds
	// for the built-in ones).
	Kinds *Registry
	// Filename and Source are the experiment file. With Resume set and
	// Source nil, the run directory's experiment.hcl and recorded -var
	// options are used.
	Filename  string
	Source    []byte
	Overrides []string // -var NAME=VALUE
	// NewHost makes the plugin host. It is called once with a logger that
	// discards (to check the file) and once with the run's logger, so that
	// plugins' stderr lands in run.log.
	NewHost func(logger hclog.Logger) Host
	// Root is where run directories are made (default "runs"); Out names
	// the run directory instead; Resume continues the run in that directory.
	Root   string
	Out    string
	Resume string
	// Stderr receives progress lines; nil discards them.
	Stderr io.Writer
	// Now returns the time that names the run directory (default time.Now).
	Now func() time.Time
	// NATS, when set, sends the run's episodes to the workers of this
	// server (`lathe run --nats URL`): it sets the cluster block's nats, or
	// adds a default cluster block.
	NATS string
	// Local plays the cluster block's work items in the run itself, in the
	// same shards and with the same seeds (`lathe run --local`), also when
	// the file has no cluster block.
	Local bool
}

// DiagnosticsError is returned when the experiment file has mistakes;
// print it with experiment.WriteDiagnostics(w, e.Files, e.Diags, ...).
type DiagnosticsError struct {
	Diags hcl.Diagnostics
	Files map[string]*hcl.File
}

func (e *DiagnosticsError) Error() string {
	errs := e.Diags.Errs()
	if len(errs) == 0 {
		return "runner: invalid experiment"
	}
	return fmt.Sprintf("runner: invalid experiment: %v (and %d more)", errs[0], len(errs)-1)
}

// StageReport says what happened to one stage in this session.
type StageReport struct {
	Label, Kind string
	// Status is "done", "skipped" (finished in an earlier session),
	// "failed" or "not run" (after a failure).
	Status string
	Wall   time.Duration
	Err    error
	// Outputs are what a stage done in this session left (its
	// demonstrations, its checkpoint), paths as the stage gave them.
	Outputs Outputs
}

// Report is the outcome of a run, returned even when a stage failed.
type Report struct {
	Dir        string
	Experiment *experiment.Experiment
	Results    *results.Results
	Stages     []StageReport
}

// run is the state of one Run call.
type run struct {
	kinds  *Registry
	host   Host
	dir    *rundir.Dir
	exp    *experiment.Experiment
	stderr io.Writer

	mu      sync.Mutex
	shareds map[string]Instance // tool/reward instances by block ref
	res     *results.Results
}

// Run checks the experiment, creates (or reopens) its run directory and
// runs every stage and eval in order. The Report is non-nil once the run
// directory exists, also when err is not: the results of what finished are
// in it. A stage kind without an implementation fails the run at that
// stage with "stage kind X is not implemented yet". Cancelling ctx stops
// the current stage; the run directory is kept for --resume.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.NewHost == nil {
		return nil, errors.New("runner: no plugin host")
	}
	if opts.Root == "" {
		opts.Root = "runs"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	stderr := opts.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	if opts.Resume != "" && opts.Source == nil {
		if err := loadResumeSource(&opts); err != nil {
			return nil, err
		}
	}

	checkHost := opts.NewHost(hclog.NewNullLogger())
	exp, file, diags := Load(ctx, opts.Filename, opts.Source, opts.Overrides, opts.Kinds, checkHost)
	checkHost.Close()
	if diags.HasErrors() {
		return nil, &DiagnosticsError{Diags: diags, Files: file.Files()}
	}
	if opts.NATS != "" || opts.Local {
		if exp.Cluster == nil {
			exp.Cluster = experiment.DefaultCluster("")
		}
		if opts.NATS != "" {
			exp.Cluster.Attrs["nats"] = opts.NATS
		}
		exp.Cluster.Local = opts.Local
	}

	var dir *rundir.Dir
	var err error
	switch {
	case opts.Resume != "":
		dir, err = rundir.Open(opts.Resume)
	case opts.Out != "":
		dir, err = rundir.CreateAt(opts.Out, exp.Name, opts.Now())
	default:
		dir, err = rundir.Create(opts.Root, exp.Name, opts.Now())
	}
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	defer dir.Close()
	if name := dir.Experiment(); name != "" && name != exp.Name {
		return nil, fmt.Errorf("runner: %s holds a run of experiment %q, not %q", dir.Path, name, exp.Name)
	}
	if err := dir.WriteExperiment(opts.Source, exp.Resolved()); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	if err := dir.SetVars(opts.Overrides); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}

	r := &run{
		kinds:   opts.Kinds,
		host:    opts.NewHost(dir.Logger()),
		dir:     dir,
		exp:     exp,
		stderr:  stderr,
		shareds: map[string]Instance{},
	}
	defer r.close()
	if err := r.loadResults(); err != nil {
		return nil, err
	}
	rep := &Report{Dir: dir.Path, Experiment: exp, Results: r.res}
	dir.Logger().Info("run started", "experiment", exp.Name, "file", opts.Filename,
		"order", strings.Join(exp.Order(), " -> "), "resumed", dir.Resumed())
	fmt.Fprintf(stderr, "run directory: %s\n", dir.Path)

	var runErr error
	for _, s := range exp.Stages {
		if runErr != nil {
			rep.Stages = append(rep.Stages, StageReport{Label: s.Label, Kind: s.Kind, Status: "not run"})
			continue
		}
		sr := r.runStage(ctx, s)
		rep.Stages = append(rep.Stages, sr)
		runErr = sr.Err
	}
	rep.Results = r.res
	if runErr != nil {
		dir.Logger().Error("run stopped", "error", runErr)
		return rep, runErr
	}
	dir.Logger().Info("run finished")
	return rep, nil
}

// loadResumeSource reads the experiment file and -var options recorded in
// the run directory being resumed.
func loadResumeSource(opts *Options) error {
	path := filepath.Join(opts.Resume, rundir.ExperimentFile)
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("runner: resume: %w", err)
	}
	opts.Filename, opts.Source = path, src
	if opts.Overrides == nil {
		vars, err := rundir.ReadVars(opts.Resume)
		if err != nil {
			return fmt.Errorf("runner: resume: %w", err)
		}
		opts.Overrides = vars
	}
	return nil
}

func (r *run) runStage(ctx context.Context, s *experiment.Stage) StageReport {
	sr := StageReport{Label: s.Label, Kind: s.Kind}
	prev := r.dir.Stage(s.Label)
	if prev != nil && prev.Status == rundir.StatusDone {
		sr.Status = "skipped"
		fmt.Fprintf(r.stderr, "==> %s (%s): done in an earlier session, skipped\n", s.ID(), s.Kind)
		r.dir.Logger().Info("stage skipped: done in an earlier session", "stage", s.ID())
		return sr
	}
	fmt.Fprintf(r.stderr, "==> %s (%s)\n", s.ID(), s.Kind)
	start := time.Now()
	state := rundir.StageState{Label: s.Label, Kind: s.Kind, Status: rundir.StatusRunning, Started: start.UTC()}
	fail := func(err error) StageReport {
		state.Status, state.Error = rundir.StatusFailed, err.Error()
		state.Finished = time.Now().UTC()
		state.WallS = time.Since(start).Seconds()
		if rerr := r.dir.RecordStage(state); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if !strings.HasPrefix(err.Error(), s.ID()+":") {
			err = fmt.Errorf("%s: %w", s.ID(), err)
		}
		sr.Status, sr.Err, sr.Wall = "failed", err, time.Since(start)
		fmt.Fprintf(r.stderr, "    failed after %s: %v\n", sr.Wall.Round(time.Millisecond), err)
		return sr
	}
	fn, err := r.kinds.lookup(s.Kind)
	if err != nil {
		return fail(err)
	}
	if err := r.dir.RecordStage(state); err != nil {
		return fail(err)
	}
	stageDir, err := r.dir.StageDir(s.Label)
	if err != nil {
		return fail(err)
	}
	env := &StageEnv{
		Stage:      s,
		Experiment: r.exp,
		Seed:       int64(s.Attrs.Int("seed")),
		Dir:        stageDir,
		RunDir:     r.dir,
		Metrics:    r.dir.Metrics(),
		Logger:     r.dir.Logger().Named(s.Label),
		Progress:   r.stderr,
		Resume:     prev != nil,
		run:        r,
	}
	out, err := r.call(ctx, fn, env)
	env.close()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("interrupted: %w (%w)", ctx.Err(), err)
		}
		return fail(err)
	}
	state.Status = rundir.StatusDone
	state.Outputs = out
	state.Finished = time.Now().UTC()
	state.WallS = time.Since(start).Seconds()
	if err := r.dir.RecordStage(state); err != nil {
		return fail(err)
	}
	_ = r.dir.Metrics().Write(map[string]any{"stage": s.Label, "event": "done", "kind": s.Kind, "wall_s": state.WallS})
	sr.Status, sr.Wall, sr.Outputs = "done", time.Since(start), out
	fmt.Fprintf(r.stderr, "    done in %s\n", sr.Wall.Round(time.Millisecond))
	return sr
}

// call runs a stage function, turning a panic into an error so that the
// run directory still records the failure.
func (r *run) call(ctx context.Context, fn func(context.Context, *StageEnv) (Outputs, error), env *StageEnv) (out Outputs, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("runner: stage %s panicked: %v", env.Stage.ID(), p)
		}
	}()
	return fn(ctx, env)
}

// shared returns the run-wide instance of a tool or reward block.
func (r *run) shared(ctx context.Context, b *experiment.PluginBlock) (Instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if inst, ok := r.shareds[b.Ref()]; ok {
		return inst, nil
	}
	inst, err := r.start(ctx, b)
	if err != nil {
		return nil, err
	}
	r.shareds[b.Ref()] = inst
	return inst, nil
}

// start launches a plugin block's plugin and configures it.
func (r *run) start(ctx context.Context, b *experiment.PluginBlock) (Instance, error) {
	inst, err := r.host.Start(ctx, b.Kind, b.Label, b.Plugin)
	if err != nil {
		return nil, fmt.Errorf("runner: start %s: %w", b.Ref(), err)
	}
	cfg, err := sdk.ConfigFrom(b.Config)
	if err != nil {
		inst.Kill()
		return nil, fmt.Errorf("runner: configure %s: %w", b.Ref(), err)
	}
	p := PluginOf(inst, b.Kind)
	if p == nil {
		inst.Kill()
		return nil, fmt.Errorf("runner: start %s: the plugin is not a %s", b.Ref(), b.Kind)
	}
	if err := p.Configure(ctx, cfg); err != nil {
		inst.Kill()
		return nil, fmt.Errorf("runner: configure %s: %w", b.Ref(), err)
	}
	r.dir.Logger().Debug("plugin started", "block", b.Ref(), "plugin", b.Plugin)
	return inst, nil
}

// output returns a finished stage's outputs.
func (r *run) output(label string) (StageOutput, error) {
	st := r.dir.Stage(label)
	if st == nil || st.Status != rundir.StatusDone {
		return StageOutput{}, fmt.Errorf("runner: stage %q has not finished", label)
	}
	return StageOutput{Label: st.Label, Kind: st.Kind, Outputs: st.Outputs}, nil
}

func (r *run) loadResults() error {
	res, err := results.Load(r.dir.Path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("runner: %w", err)
		}
		res = &results.Results{Experiment: r.exp.Name, Rows: []results.Row{}}
	}
	res.Notes = notes(r.exp)
	r.res = res
	return r.dir.WriteJSON(results.FileName, results.FileFormat, r.res)
}

func (r *run) setResults(eval string, rows []results.Row, budgets []results.BudgetRow) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Replace(eval, rows, budgets)
	return r.dir.WriteJSON(results.FileName, results.FileFormat, r.res)
}

func (r *run) close() {
	r.mu.Lock()
	for _, inst := range r.shareds {
		inst.Kill()
	}
	r.shareds = nil
	r.mu.Unlock()
	r.host.Close()
}

// notes lists the settings a reader of the result tables needs: the seed,
// the variables and every eval's resolved attributes, defaults included.
func notes(e *experiment.Experiment) []string {
	out := []string{fmt.Sprintf("experiment %s, seed %d", e.Name, e.Seed)}
	var vars []string
	for name, v := range e.Variables {
		vars = append(vars, fmt.Sprintf("%s=%s", name, ctyString(v)))
	}
	sort.Strings(vars)
	if len(vars) > 0 {
		out = append(out, "variables: "+strings.Join(vars, " "))
	}
	for _, s := range e.Stages {
		if s.Kind != "eval" {
			continue
		}
		out = append(out, s.ID()+": "+attrString(s.Attrs.JSON()))
	}
	for _, t := range e.Tools {
		out = append(out, fmt.Sprintf("%s (%s): %s", t.Ref(), t.Plugin, attrString(t.Config)))
	}
	return out
}

func attrString(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if m[k] == nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, " ")
}
