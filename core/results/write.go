package results

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Formats are the output formats Write accepts.
var Formats = []string{"table", "markdown", "csv", "json"}

// table is one rendered table: a header and string cells.
type table struct {
	title  string
	header []string
	rows   [][]string
}

// Write prints the results of one or more runs. With several runs a "run"
// column tells them apart. "table" and "markdown" print the results table,
// then the turn-budget table (one column per max_turns) when there are
// budget rows, then the notes; "csv" prints the results table and, after a
// blank line, the turn-budget rows in long form; "json" prints the runs as
// a JSON array.
func Write(w io.Writer, format string, sets []*Results) error {
	switch format {
	case "json":
		type run struct {
			Run string `json:"run"`
			*Results
		}
		out := make([]run, len(sets))
		for i, s := range sets {
			out[i] = run{s.Run, s}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("results: %w", err)
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		main := resultsTable(sets, true)
		cw.Write(main.header)
		cw.WriteAll(main.rows)
		for _, b := range []table{budgetLong(sets), breakdownLong(sets)} {
			if len(b.rows) > 0 {
				cw.Write(nil)
				cw.Write(b.header)
				cw.WriteAll(b.rows)
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("results: %w", err)
		}
		return nil
	case "table", "markdown":
		md := format == "markdown"
		tables := []table{resultsTable(sets, false)}
		for _, b := range []table{budgetWide(sets), breakdownWide(sets)} {
			if len(b.rows) > 0 {
				tables = append(tables, b)
			}
		}
		for i, t := range tables {
			if i > 0 {
				fmt.Fprintln(w)
			}
			if err := render(w, t, md); err != nil {
				return err
			}
		}
		if notes := notes(sets); len(notes) > 0 {
			fmt.Fprintln(w)
			for _, n := range notes {
				if md {
					fmt.Fprintf(w, "- %s\n", n)
				} else {
					fmt.Fprintln(w, n)
				}
			}
		}
		return nil
	}
	return fmt.Errorf("results: unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

func render(w io.Writer, t table, markdown bool) error {
	if t.title != "" {
		if markdown {
			fmt.Fprintf(w, "**%s**\n\n", t.title)
		} else {
			fmt.Fprintln(w, t.title)
		}
	}
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	}
	if markdown {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	}
	// Numbers line up on the right, so their digits compare at a glance.
	align := make(tw.Alignment, len(t.header))
	for c := range t.header {
		align[c] = tw.AlignLeft
		if numericColumn(t.rows, c) {
			align[c] = tw.AlignRight
		}
	}
	opts = append(opts, tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}))
	tbl := tablewriter.NewTable(w, opts...)
	tbl.Header(anys(t.header)...)
	for _, r := range t.rows {
		if err := tbl.Append(anys(r)...); err != nil {
			return fmt.Errorf("results: %w", err)
		}
	}
	if err := tbl.Render(); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// numericColumn reports whether every non-empty cell of column c is a number.
func numericColumn(rows [][]string, c int) bool {
	seen := false
	for _, r := range rows {
		if c >= len(r) || r[c] == "" {
			continue
		}
		if _, err := strconv.ParseFloat(r[c], 64); err != nil {
			return false
		}
		seen = true
	}
	return seen
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i := range s {
		out[i] = s[i]
	}
	return out
}

// resultsTable builds the main table. raw keeps full precision (for CSV).
func resultsTable(sets []*Results, raw bool) table {
	multi := len(sets) > 1
	kk := ks(sets)
	var t table
	if multi {
		t.header = append(t.header, "run")
	}
	t.header = append(t.header, "eval", "stage", "stage_kind", "tool", "model", "tasks")
	for _, k := range kk {
		t.header = append(t.header, fmt.Sprintf("pass@%d", k))
	}
	t.header = append(t.header, "greedy_pass@1", "mean_turns", "tokens", "wall_s")
	rate, num := fmtRate, fmtFloat
	if raw {
		rate = func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
		num = rate
	}
	for _, s := range sets {
		for _, r := range s.Rows {
			var row []string
			if multi {
				row = append(row, s.Run)
			}
			stage := r.Stage
			if stage == "" && !raw {
				stage = "-"
			}
			row = append(row, r.Eval, stage, r.StageKind, r.Tool, r.Model, strconv.Itoa(r.Tasks))
			for _, k := range kk {
				if v, ok := r.PassAt[k]; ok {
					row = append(row, rate(v))
				} else {
					row = append(row, "")
				}
			}
			greedy := ""
			if r.GreedyPass1 != nil {
				greedy = rate(*r.GreedyPass1)
			}
			row = append(row, greedy, num(r.MeanTurns), strconv.FormatInt(r.Tokens, 10), num(r.WallS))
			t.rows = append(t.rows, row)
		}
	}
	return t
}

// budgetWide pivots the turn-budget rows: one row per (run, eval, stage,
// tool), one column per max_turns.
func budgetWide(sets []*Results) table {
	multi := len(sets) > 1
	turns := budgets(sets)
	t := table{title: "Success rate by turn budget (max_turns)"}
	if multi {
		t.header = append(t.header, "run")
	}
	t.header = append(t.header, "eval", "stage", "tool", "tasks")
	for _, n := range turns {
		t.header = append(t.header, fmt.Sprintf("turns=%d", n))
	}
	type key struct{ run, eval, stage, tool string }
	index := map[key]int{}
	for _, s := range sets {
		for _, b := range s.Budgets {
			k := key{s.Run, b.Eval, b.Stage, b.Tool}
			i, ok := index[k]
			if !ok {
				var row []string
				if multi {
					row = append(row, s.Run)
				}
				stage := b.Stage
				if stage == "" {
					stage = "-"
				}
				row = append(row, b.Eval, stage, b.Tool, strconv.Itoa(b.Tasks))
				row = append(row, make([]string, len(turns))...)
				i = len(t.rows)
				index[k] = i
				t.rows = append(t.rows, row)
			}
			col := len(t.header) - len(turns)
			for j, n := range turns {
				if n == b.MaxTurns {
					t.rows[i][col+j] = fmtRate(b.Success)
				}
			}
		}
	}
	return t
}

// budgetLong lists the turn-budget rows one per line (for CSV).
func budgetLong(sets []*Results) table {
	multi := len(sets) > 1
	var t table
	if multi {
		t.header = append(t.header, "run")
	}
	t.header = append(t.header, "eval", "stage", "stage_kind", "tool", "max_turns", "tasks", "success")
	for _, s := range sets {
		for _, b := range s.Budgets {
			var row []string
			if multi {
				row = append(row, s.Run)
			}
			row = append(row, b.Eval, b.Stage, b.StageKind, b.Tool, strconv.Itoa(b.MaxTurns),
				strconv.Itoa(b.Tasks), strconv.FormatFloat(b.Success, 'g', -1, 64))
			t.rows = append(t.rows, row)
		}
	}
	return t
}

// breakdownWide pivots the rows' breakdowns: one row per (dimension,
// value), one pass@1 column per (run, eval, stage, tool). The tasks column
// is the group's size in the first column that has it; a cell of another
// size says its own.
func breakdownWide(sets []*Results) table {
	multi := len(sets) > 1
	t := table{title: "pass@1 by first error, corruption operator and number of corruptions", header: []string{"dimension", "value", "tasks"}}
	type key struct{ dim, value string }
	index := map[key]int{}
	tasks := map[key]int{}
	col := 0
	for _, s := range sets {
		for _, r := range s.Rows {
			if len(r.Breakdown) == 0 {
				continue
			}
			name := r.Eval + "/" + cmp.Or(r.Stage, "-")
			if multi {
				name = s.Run + " " + name
			}
			t.header = append(t.header, name)
			for i := range t.rows {
				t.rows[i] = append(t.rows[i], "")
			}
			for _, g := range r.Breakdown {
				k := key{g.Dimension, g.Value}
				i, ok := index[k]
				if !ok {
					i = len(t.rows)
					index[k] = i
					tasks[k] = g.Tasks
					t.rows = append(t.rows, append([]string{g.Dimension, g.Value, strconv.Itoa(g.Tasks)}, make([]string, col+1)...))
				}
				cell := fmtRate(g.Pass1)
				if g.Tasks != tasks[k] {
					cell += fmt.Sprintf(" (%d)", g.Tasks)
				}
				t.rows[i][3+col] = cell
			}
			col++
		}
	}
	return t
}

// breakdownLong lists the breakdown groups one per line (for CSV).
func breakdownLong(sets []*Results) table {
	multi := len(sets) > 1
	var t table
	if multi {
		t.header = append(t.header, "run")
	}
	t.header = append(t.header, "eval", "stage", "stage_kind", "tool", "dimension", "value", "tasks", "pass@1")
	for _, s := range sets {
		for _, r := range s.Rows {
			for _, g := range r.Breakdown {
				var row []string
				if multi {
					row = append(row, s.Run)
				}
				row = append(row, r.Eval, r.Stage, r.StageKind, r.Tool, g.Dimension, g.Value,
					strconv.Itoa(g.Tasks), strconv.FormatFloat(g.Pass1, 'g', -1, 64))
				t.rows = append(t.rows, row)
			}
		}
	}
	return t
}

// notes returns the runs' notes, prefixed by the run's name when there are
// several runs.
func notes(sets []*Results) []string {
	var out []string
	for _, s := range sets {
		for _, n := range s.Notes {
			if len(sets) > 1 {
				n = s.Run + ": " + n
			}
			out = append(out, n)
		}
	}
	return out
}
