package corrupt

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/lathe-ml/lathe/sdk"
)

// Style selects how a demonstration's actions repair the corrupted program.
type Style int

const (
	// Coedit reverses each corruption into Chain-of-Edits DSL commands
	// (ADDL, REPL, REPW, DELL) and ends with EXIT.
	Coedit Style = iota
	// Rewrite answers in one action: the whole reference program.
	Rewrite
)

// Order is how a Chain-of-Edits demonstration orders its commands.
type Order int

const (
	// FollowFeedback is ExpertTrace: every command fixes the difference
	// nearest the line the current feedback points at.
	FollowFeedback Order = iota
	// ReverseCorruptions undoes the corruptions in the reverse order of
	// their making (Trace), whatever the feedback shows.
	ReverseCorruptions
)

// ParseOrder reads an Order's option value: "feedback" or "reverse" ("" is
// "feedback").
func ParseOrder(s string) (Order, error) {
	switch s {
	case "", "feedback":
		return FollowFeedback, nil
	case "reverse":
		return ReverseCorruptions, nil
	}
	return 0, fmt.Errorf(`want "feedback" or "reverse", got %q`, s)
}

// MaxCorruptions is the most corruptions applied to one program; each
// demonstration draws its count uniformly from 1..MaxCorruptions.
const MaxCorruptions = 5

//go:embed donors.txt
var donorPool string

// genericDonors are statements common in small Python functions; insert_line
// and replace_line draw from them and from the task's own lines.
var genericDonors = strings.Split(strings.TrimSpace(donorPool), "\n")

// Demonstrations corrupts task.Reference (or task.Program when no reference
// is given) with 1 to recipe.MaxCorruptions (default 5) token-level
// corruptions per attempt and returns up to n
// demonstrations whose corrupted program fails the tests according to
// check, so every demonstration starts from a genuinely broken program. The
// result depends only on (task, seed, n, recipe): the same inputs
// give the same demonstrations in the same order. Corrupted programs are
// distinct; a short program may have fewer than n distinct failing
// corruptions within the attempt budget (16n+64 attempts), and then fewer
// are returned. A task whose reference itself fails gets no demonstrations
// (check is called on the reference first).
//
// Recipe says how Demonstrations writes its demonstrations.
type Recipe struct {
	// Style is the action form: Chain-of-Edits commands or a rewrite.
	Style Style
	// Order is how a Chain-of-Edits trace orders its commands.
	Order Order
	// Rename is the fraction of demonstrations made from the reference
	// with its own names renamed (Rename) rather than from the reference
	// itself: 0 never, 1 always. Only renamings that pass the tests are
	// used.
	Rename float64
	// Operators names the corruption operators to draw from (see
	// Operators); nil or empty means all of them. A curriculum or a
	// diagnostic of one kind of bug restricts it.
	Operators []string
	// MaxCorruptions is the most corruptions of one program; each draws
	// its count uniformly from 1..MaxCorruptions. 0 means the default,
	// MaxCorruptions (5).
	MaxCorruptions int
}

// table returns the operators the recipe draws from, in operatorTable's
// order whatever the order of r.Operators, so a seed picks the same one.
func (r Recipe) table() ([]operator, error) {
	if len(r.Operators) == 0 {
		return operatorTable, nil
	}
	if err := CheckOperators(r.Operators); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, name := range r.Operators {
		want[name] = true
	}
	var out []operator
	for _, op := range operatorTable {
		if want[op.name] {
			out = append(out, op)
		}
	}
	return out, nil
}

// maxCorruptions resolves the recipe's 0 to the default.
func (r Recipe) maxCorruptions() int {
	if r.MaxCorruptions <= 0 {
		return MaxCorruptions
	}
	return r.MaxCorruptions
}

// CheckOperators returns an error naming the first unknown operator in
// names and listing the known ones.
func CheckOperators(names []string) error {
	for _, name := range names {
		if !slices.Contains(Operators(), name) {
			return fmt.Errorf("unknown corruption operator %q (known: %s)", name, strings.Join(Operators(), ", "))
		}
	}
	return nil
}

// maxRenamings bounds the distinct renamings made of one reference: each
// costs a check.
const maxRenamings = 8

func Demonstrations(ctx context.Context, task sdk.Task, seed int64, n int, recipe Recipe, check CheckFunc) ([]sdk.Demonstration, error) {
	ref := task.Reference
	if ref == "" {
		ref = task.Program
	}
	ref = Canonical(ref)
	if strings.TrimSpace(ref) == "" {
		return nil, fmt.Errorf("corrupt: task %s: no reference program to corrupt", task.ID)
	}
	if check == nil {
		return nil, errors.New("corrupt: nil check func")
	}
	// A reference that fails its own tests (a slow test over the time
	// limit, a broken benchmark record) would make every corruption look
	// failing and every trace end unrepaired: such a task gets none.
	if o, err := check(ctx, ref); err != nil {
		return nil, fmt.Errorf("corrupt: task %s: check reference: %w", task.ID, err)
	} else if o.Failing {
		return nil, nil
	}
	table, err := recipe.table()
	if err != nil {
		return nil, fmt.Errorf("corrupt: task %s: %w", task.ID, err)
	}
	renamings, err := renamings(ctx, task.ID, ref, seed, min(n, maxRenamings), recipe.Rename, check)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{ref: true}
	var out []sdk.Demonstration
	for attempt := 0; len(out) < n && attempt < 16*n+64; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("corrupt: task %s: %w", task.ID, err)
		}
		r := rand.New(rand.NewPCG(uint64(seed), attemptKey(task.ID, attempt)))
		base := ref
		if len(renamings) > 0 && r.Float64() < recipe.Rename {
			base = renamings[r.IntN(len(renamings))]
		}
		broken, undo, ops := corruptWith(table, r, base, taskDonors(base), 1+r.IntN(recipe.maxCorruptions()))
		if len(ops) == 0 || seen[broken] {
			continue
		}
		seen[broken] = true
		o, err := check(ctx, broken)
		if err != nil {
			return nil, fmt.Errorf("corrupt: task %s: check corrupted program: %w", task.ID, err)
		}
		if !o.Failing {
			continue
		}
		d := sdk.Demonstration{TaskID: task.ID, Program: broken, Corruptions: ops}
		switch recipe.Style {
		case Rewrite:
			d.Actions = []string{base}
		case Coedit:
			if recipe.Order == ReverseCorruptions {
				d.Actions = Trace(undo)
				if err := checkTrace(broken, base, undo); err != nil {
					return nil, fmt.Errorf("corrupt: task %s: %w", task.ID, err)
				}
				break
			}
			if d.Actions, err = ExpertTrace(ctx, broken, base, check); err != nil {
				return nil, fmt.Errorf("corrupt: task %s: %w", task.ID, err)
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// renamings returns up to max distinct renamings of ref that pass the
// tests, none when fraction is 0. Each depends only on (seed, taskID, its
// index), so demonstrations stay a function of their inputs.
func renamings(ctx context.Context, taskID, ref string, seed int64, max int, fraction float64, check CheckFunc) ([]string, error) {
	if fraction <= 0 {
		return nil, nil
	}
	seen := map[string]bool{ref: true}
	var out []string
	for v := range max {
		r := rand.New(rand.NewPCG(uint64(seed), attemptKey(taskID+"\x00rename", v)))
		s, ok := Rename(r, ref)
		if !ok || seen[s] {
			continue
		}
		seen[s] = true
		o, err := check(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("corrupt: task %s: check renamed reference: %w", taskID, err)
		}
		if !o.Failing {
			out = append(out, s)
		}
	}
	return out, nil
}

// Trace renders undo edits, as returned by Corrupt, as the command trace
// that repairs the corrupted program: the edits in reverse order of the
// corruptions, simplified (see Simplify), then EXIT.
func Trace(undo []Edit) []string {
	var out []string
	for _, e := range Simplify(reversed(undo)) {
		out = append(out, e.Command())
	}
	return append(out, "EXIT")
}

func reversed(es []Edit) []Edit {
	out := make([]Edit, len(es))
	for i, e := range es {
		out[len(es)-1-i] = e
	}
	return out
}

// Simplify merges neighbouring edits of the same line so that an expert
// never re-creates a corruption only to fix it next: a line re-added or
// replaced and then edited again is added or replaced with its final text
// at once; a line added and then deleted is not touched; a line replaced or
// edited and then deleted is just deleted. The edits are in the order they
// are applied; the result has the same effect.
func Simplify(es []Edit) []Edit {
	out := append([]Edit(nil), es...)
	for changed := true; changed; {
		changed = false
		for i := 0; i+1 < len(out); i++ {
			a, b := out[i], out[i+1]
			if a.Line != b.Line {
				continue
			}
			var merged []Edit
			switch {
			case (a.Op == "ADDL" || a.Op == "REPL") && (b.Op == "REPL" || b.Op == "REPW"):
				// Apply b to a's text alone, as line 1 of a one-line program.
				p, one := program{lines: []string{a.Text}}, b
				one.Line = 1
				if one.apply(&p) != nil {
					continue
				}
				merged = []Edit{{Op: a.Op, Line: a.Line, Text: p.lines[0]}}
			case a.Op == "REPW" && b.Op == "REPL", (a.Op == "REPL" || a.Op == "REPW") && b.Op == "DELL":
				merged = []Edit{b}
			case a.Op == "ADDL" && b.Op == "DELL":
				merged = nil
			default:
				continue
			}
			out = append(out[:i], append(merged, out[i+2:]...)...)
			changed = true
			break
		}
	}
	return out
}

// checkTrace applies the simplified trace to broken and requires ref: a
// failure is a bug in this package, never in the task.
func checkTrace(broken, ref string, undo []Edit) error {
	p := parseProgram(broken)
	for _, e := range Simplify(reversed(undo)) {
		if err := e.apply(&p); err != nil {
			return err
		}
	}
	if p.String() != ref {
		return errors.New("internal error: trace does not restore the reference")
	}
	return nil
}

// Corrupt applies k corruptions drawn with r to src, taking inserted and
// replacement lines from donors. It returns the corrupted program, for each
// applied corruption the edit that undoes it (valid on the program right
// after that corruption), and the operators' names. An operator that finds
// nothing to break is redrawn; after a bounded number of draws fewer than k
// corruptions may be applied.
func Corrupt(r *rand.Rand, src string, donors []string, k int) (string, []Edit, []string) {
	return corruptWith(operatorTable, r, src, donors, k)
}

// corruptWith is Corrupt drawing from the given operators only.
func corruptWith(table []operator, r *rand.Rand, src string, donors []string, k int) (string, []Edit, []string) {
	p := parseProgram(src)
	var undo []Edit
	var ops []string
	for tries := 0; len(ops) < k && tries < 8*k; tries++ {
		op := table[r.IntN(len(table))]
		q := p.clone()
		e, ok := op.apply(r, &q, donors)
		// A blank last line would vanish when the tool splits the
		// program into lines, shifting the trace's line numbers.
		if !ok || q.String() == p.String() || len(q.lines) == 0 || q.lines[len(q.lines)-1] == "" {
			continue
		}
		p = q
		undo = append(undo, e)
		ops = append(ops, op.name)
	}
	return p.String(), undo, ops
}

// Canonical is src as the coedit tool holds it: "\r\n" and lone "\r" line
// ends (Python reads both as newlines) become "\n", trailing newlines are
// dropped and one "\n" ends the last line.
// Demonstrations corrupt and return programs in this form, so the line
// numbers in a trace are the ones the tool shows.
func Canonical(src string) string {
	src = strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n")
	src = strings.TrimRight(src, "\n")
	if src == "" {
		return ""
	}
	return src + "\n"
}

// taskDonors is the generic pool plus the reference's own code lines
// (moving a line elsewhere is a realistic bug).
func taskDonors(ref string) []string {
	donors := append([]string(nil), genericDonors...)
	for _, l := range parseProgram(ref).lines {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") && !strings.Contains(t, ">>>") {
			donors = append(donors, t)
		}
	}
	return donors
}

func attemptKey(taskID string, attempt int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d", taskID, attempt)
	return h.Sum64()
}
