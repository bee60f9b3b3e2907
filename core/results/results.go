// Package results holds a run's result rows and prints them as tables.
//
// A run's results.json holds one Row per (eval block, checkpoint stage,
// tool): pass@k for every k evaluated, greedy pass@1, mean turns, tokens
// and wall time, plus optional turn-budget rows (success as a function of
// max_turns). Write prints one or more runs side by side as a terminal
// table, Markdown, CSV or JSON. The package computes no metrics; the eval
// stage does, and hands its rows here.
package results

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"github.com/lathe-ml/lathe/core/atomicfile"
)

// FileName is the results file inside a run directory.
const FileName = "results.json"

// FileFormat is the format of results.json, written with its checksum file
// (atomicfile.WriteChecked); Load checks it.
var FileFormat = atomicfile.Format{Name: "lathe-results", Version: 1}

// Row is the evaluation of one checkpoint with one tool.
type Row struct {
	Eval string `json:"eval"`
	// Stage is the label of the stage that produced the checkpoint, empty
	// for a model evaluated as configured (untrained or inference-only).
	Stage     string `json:"stage"`
	StageKind string `json:"stage_kind"`
	Tool      string `json:"tool"`  // the tool's plugin name, e.g. "coedit"
	Model     string `json:"model"` // the model block's label
	Tasks     int    `json:"tasks"`
	Samples   int    `json:"samples,omitempty"`
	// PassAt maps k to the unbiased pass@k estimate.
	PassAt      map[int]float64 `json:"pass_at"`
	GreedyPass1 *float64        `json:"greedy_pass@1,omitempty"`
	MeanTurns   float64         `json:"mean_turns"`
	Tokens      int64           `json:"tokens"`
	WallS       float64         `json:"wall_s"`
	// Breakdown is pass@1 by the tasks' first error, corruption operators
	// and number of corruptions, where the eval could tell them.
	Breakdown []Group `json:"breakdown,omitempty"`
}

// Group is the sampled pass@1 of the tasks of one row that share a label:
// Dimension "operator", Value "typo", say.
type Group struct {
	Dimension string  `json:"dimension"`
	Value     string  `json:"value"`
	Tasks     int     `json:"tasks"`
	Pass1     float64 `json:"pass@1"`
}

// BudgetRow is the success rate of one checkpoint and tool when episodes
// are cut at MaxTurns turns (test-time compute).
type BudgetRow struct {
	Eval      string  `json:"eval"`
	Stage     string  `json:"stage"`
	StageKind string  `json:"stage_kind"`
	Tool      string  `json:"tool"`
	MaxTurns  int     `json:"max_turns"`
	Tasks     int     `json:"tasks"`
	Success   float64 `json:"success"`
}

// Results is the content of results.json.
type Results struct {
	Experiment string      `json:"experiment"`
	Rows       []Row       `json:"rows"`
	Budgets    []BudgetRow `json:"turn_budgets,omitempty"`
	// Notes are lines printed under the tables: the resolved settings a
	// reader needs to interpret the numbers (defaults included).
	Notes []string `json:"notes,omitempty"`

	// Run names the run in side-by-side tables; set by Load, not stored.
	Run string `json:"-"`
}

// Replace drops the rows of one eval block and adds new ones, so an eval
// run again (after a resume) does not appear twice.
func (r *Results) Replace(eval string, rows []Row, budgets []BudgetRow) {
	r.Rows = slices.DeleteFunc(r.Rows, func(x Row) bool { return x.Eval == eval })
	r.Budgets = slices.DeleteFunc(r.Budgets, func(x BudgetRow) bool { return x.Eval == eval })
	r.Rows = append(r.Rows, rows...)
	r.Budgets = append(r.Budgets, budgets...)
}

// Load reads results.json from a run directory (or the file itself). Run
// is set to the directory's last two path elements
// ("quickstart/20261125T120000Z").
func Load(path string) (*Results, error) {
	dir := path
	if filepath.Base(path) == FileName {
		dir = filepath.Dir(path)
	} else {
		path = filepath.Join(path, FileName)
	}
	b, err := atomicfile.ReadChecked(path, FileFormat)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("results: %s: %w", path, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	r.Run = filepath.Join(filepath.Base(filepath.Dir(abs)), filepath.Base(abs))
	return &r, nil
}

// ks returns every k that has a pass@k value in any row, ascending.
func ks(sets []*Results) []int {
	seen := map[int]bool{}
	for _, s := range sets {
		for _, r := range s.Rows {
			for k := range r.PassAt {
				seen[k] = true
			}
		}
	}
	out := make([]int, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// budgets returns every MaxTurns value in any budget row, ascending.
func budgets(sets []*Results) []int {
	seen := map[int]bool{}
	for _, s := range sets {
		for _, b := range s.Budgets {
			seen[b.MaxTurns] = true
		}
	}
	out := make([]int, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Ints(out)
	return out
}

func fmtRate(x float64) string  { return strconv.FormatFloat(x, 'f', 3, 64) }
func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }
