// Package rundir owns a run's directory on disk: runs/<experiment>/<UTC
// timestamp>/ (or a directory the user names) holding
//
//	experiment.hcl   the experiment file as given
//	resolved.json    the resolved experiment (variables, defaults, order)
//	run.log          the run's log, plugins' stderr included (append-only)
//	metrics.jsonl    one JSON object per line, append-only
//	state.json       finished stages and their outputs, for --resume
//	results.json     the result rows (core/results)
//	*.sum            the checksum files of state.json and results.json
//	stages/<label>/  each stage's checkpoints and data files
//
// Nothing already written is ever truncated: logs and metrics are opened
// for appending, and state.json and results.json are replaced atomically
// (write a temporary file, then rename) with a checksum file each
// (atomicfile.WriteChecked), so a resume refuses a damaged state.json by
// name instead of rerunning or skipping stages by a wrong record. The
// package knows nothing of what stages do; it only keeps their files and
// records.
package rundir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/core/atomicfile"
)

// File names inside a run directory.
const (
	ExperimentFile = "experiment.hcl"
	ResolvedFile   = "resolved.json"
	LogFile        = "run.log"
	MetricsFile    = "metrics.jsonl"
	StateFile      = "state.json"
	ResultsFile    = "results.json"
	StagesDir      = "stages"
)

// StateFormat is the format of state.json.
var StateFormat = atomicfile.Format{Name: "lathe-run-state", Version: 1}

// TimestampFormat names a run directory after its UTC start time.
const TimestampFormat = "20060102T150405Z"

// Dir is an open run directory. Its methods are safe for concurrent use.
type Dir struct {
	Path string

	mu      sync.Mutex
	state   State
	log     *os.File
	logger  hclog.Logger
	metrics *Metrics
}

// State is the content of state.json.
type State struct {
	Experiment string                 `json:"experiment"`
	Created    time.Time              `json:"created"`
	Stages     map[string]*StageState `json:"stages"`
	// Resumes counts how often the run was resumed.
	Resumes int `json:"resumes,omitempty"`
	// Vars are the -var options the run was started with, reused by a
	// resume that names no experiment file.
	Vars []string `json:"vars,omitempty"`
}

// Stage statuses.
const (
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// StageState records one stage or eval. Outputs map a name ("checkpoint",
// "data", ...) to a path relative to the run directory.
type StageState struct {
	Label    string            `json:"label"`
	Kind     string            `json:"kind"`
	Status   string            `json:"status"`
	Outputs  map[string]string `json:"outputs,omitempty"`
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished,omitzero"`
	WallS    float64           `json:"wall_s,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// Create makes a new run directory root/<experiment>/<timestamp>, adding
// "-2", "-3", ... when that name is taken.
func Create(root, experiment string, now time.Time) (*Dir, error) {
	base := filepath.Join(root, experiment, now.UTC().Format(TimestampFormat))
	path := base
	for i := 2; ; i++ {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("rundir: %w", err)
		}
		err := os.Mkdir(path, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i > 1000 {
			return nil, fmt.Errorf("rundir: %w", err)
		}
		path = fmt.Sprintf("%s-%d", base, i)
	}
	return open(path, experiment, now, false)
}

// CreateAt makes a run directory at path (lathe run --out), which must not
// exist or be empty, so an earlier run is never overwritten.
func CreateAt(path, experiment string, now time.Time) (*Dir, error) {
	entries, err := os.ReadDir(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(path, 0o755); err != nil {
			return nil, fmt.Errorf("rundir: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("rundir: %w", err)
	case len(entries) > 0:
		return nil, fmt.Errorf("rundir: %s is not empty; use --resume %s to continue that run", path, path)
	}
	return open(path, experiment, now, false)
}

// Open opens an existing run directory to resume it.
func Open(path string) (*Dir, error) {
	if _, err := os.Stat(filepath.Join(path, StateFile)); err != nil {
		return nil, fmt.Errorf("rundir: %s is not a run directory: %w", path, err)
	}
	return open(path, "", time.Now(), true)
}

func open(path, experiment string, now time.Time, resume bool) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("rundir: %w", err)
	}
	d := &Dir{Path: abs}
	if resume {
		s, err := readState(abs)
		if err != nil {
			return nil, err
		}
		d.state = s
		d.state.Resumes++
	} else {
		d.state = State{Experiment: experiment, Created: now.UTC()}
	}
	if d.state.Stages == nil {
		d.state.Stages = map[string]*StageState{}
	}
	d.log, err = os.OpenFile(filepath.Join(abs, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rundir: %w", err)
	}
	d.logger = hclog.New(&hclog.LoggerOptions{
		Name:   "lathe",
		Output: d.log,
		Level:  hclog.Debug,
		// One writer is shared by the host, the plugins' stderr and the
		// stages; hclog serialises its own lines through this mutex.
		Mutex: &sync.Mutex{},
	})
	d.metrics, err = openMetrics(filepath.Join(abs, MetricsFile))
	if err != nil {
		d.log.Close()
		return nil, err
	}
	if err := d.saveState(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close closes the log and metrics files.
func (d *Dir) Close() error {
	return errors.Join(d.metrics.close(), d.log.Close())
}

// Logger returns the logger writing to run.log.
func (d *Dir) Logger() hclog.Logger { return d.logger }

// LogWriter returns run.log for appending raw lines (a plugin's stderr).
func (d *Dir) LogWriter() io.Writer { return d.log }

// Metrics returns the metrics.jsonl writer.
func (d *Dir) Metrics() *Metrics { return d.metrics }

// Experiment returns the name of the experiment the run belongs to.
func (d *Dir) Experiment() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state.Experiment
}

// Resumed reports whether the directory was opened to resume a run.
func (d *Dir) Resumed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state.Resumes > 0
}

// WriteExperiment stores the experiment file and its resolved form. A
// resumed run keeps the originals and writes the files it was resumed with
// beside them (experiment.resume-N.hcl) when they differ.
func (d *Dir) WriteExperiment(src []byte, resolved any) error {
	b, err := json.MarshalIndent(resolved, "", "  ")
	if err != nil {
		return fmt.Errorf("rundir: encode resolved experiment: %w", err)
	}
	b = append(b, '\n')
	expName, resName := ExperimentFile, ResolvedFile
	if old, err := os.ReadFile(filepath.Join(d.Path, ExperimentFile)); err == nil {
		oldRes, _ := os.ReadFile(filepath.Join(d.Path, ResolvedFile))
		if bytes.Equal(old, src) && bytes.Equal(oldRes, b) {
			return nil
		}
		n := d.state.Resumes
		expName = fmt.Sprintf("experiment.resume-%d.hcl", n)
		resName = fmt.Sprintf("resolved.resume-%d.json", n)
	}
	if err := writeNew(filepath.Join(d.Path, expName), src); err != nil {
		return err
	}
	return writeNew(filepath.Join(d.Path, resName), b)
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("rundir: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("rundir: write %s: %w", path, err)
	}
	return f.Close()
}

// SetVars records the -var options of the run (on its first session).
func (d *Dir) SetVars(vars []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state.Resumes > 0 && d.state.Vars != nil {
		return nil
	}
	d.state.Vars = append([]string{}, vars...)
	return d.saveStateLocked()
}

// ReadVars returns the -var options recorded in a run directory.
func ReadVars(path string) ([]string, error) {
	s, err := readState(path)
	if err != nil {
		return nil, err
	}
	return s.Vars, nil
}

// readState reads and checks the state.json of the run directory at path.
func readState(path string) (State, error) {
	var s State
	p := filepath.Join(path, StateFile)
	b, err := atomicfile.ReadChecked(p, StateFormat)
	if err != nil {
		return s, fmt.Errorf("rundir: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("rundir: %s: %w", p, err)
	}
	// A record the run wrote is an object under its own label; anything
	// else (a null a hand edit left, say) would be dereferenced later.
	for label, st := range s.Stages {
		if st == nil {
			return s, fmt.Errorf("rundir: %s: stage %q has no record", p, label)
		}
		if st.Label != label {
			return s, fmt.Errorf("rundir: %s: the record of stage %q says it is %q", p, label, st.Label)
		}
	}
	return s, nil
}

// StageDir returns (creating it) the directory for one stage's files.
func (d *Dir) StageDir(label string) (string, error) {
	p := filepath.Join(d.Path, StagesDir, label)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", fmt.Errorf("rundir: %w", err)
	}
	return p, nil
}

// Stage returns a copy of the record of one stage, with output paths made
// absolute, or nil when the stage has not started in this run directory.
func (d *Dir) Stage(label string) *StageState {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.state.Stages[label]
	if !ok {
		return nil
	}
	c := *s
	c.Outputs = make(map[string]string, len(s.Outputs))
	for k, v := range s.Outputs {
		if !filepath.IsAbs(v) {
			v = filepath.Join(d.Path, v)
		}
		c.Outputs[k] = v
	}
	return &c
}

// RecordStage stores a stage's record in state.json. Output paths inside the
// run directory are stored relative to it, so the directory can be moved.
func (d *Dir) RecordStage(s StageState) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := s
	c.Outputs = make(map[string]string, len(s.Outputs))
	for k, v := range s.Outputs {
		if rel, err := filepath.Rel(d.Path, v); err == nil && filepath.IsAbs(v) && filepath.IsLocal(rel) {
			v = rel
		}
		c.Outputs[k] = v
	}
	d.state.Stages[s.Label] = &c
	return d.saveStateLocked()
}

func (d *Dir) saveState() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.saveStateLocked()
}

func (d *Dir) saveStateLocked() error {
	b, err := json.MarshalIndent(d.state, "", "  ")
	if err != nil {
		return fmt.Errorf("rundir: encode state: %w", err)
	}
	return atomicfile.WriteCheckedBytes(filepath.Join(d.Path, StateFile), StateFormat, append(b, '\n'))
}

// WriteJSON replaces name in the run directory atomically with v as JSON,
// with a checksum file saying it is of format f.
func (d *Dir) WriteJSON(name string, f atomicfile.Format, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("rundir: encode %s: %w", name, err)
	}
	return atomicfile.WriteCheckedBytes(filepath.Join(d.Path, name), f, append(b, '\n'))
}
