package corrupt

import (
	"fmt"
	"github.com/lathe-ml/lathe/plugins/coedit/dsl"
	"strings"
)

// program is source split into lines. The trailing newline, when present,
// is remembered apart so that line operations keep it.
type program struct {
	lines      []string
	trailingNL bool
}

func parseProgram(src string) program {
	p := program{trailingNL: strings.HasSuffix(src, "\n")}
	if p.trailingNL {
		src = src[:len(src)-1]
	}
	p.lines = strings.Split(src, "\n")
	return p
}

func (p program) String() string {
	s := strings.Join(p.lines, "\n")
	if p.trailingNL {
		s += "\n"
	}
	return s
}

func (p program) clone() program {
	return program{lines: append([]string(nil), p.lines...), trailingNL: p.trailingNL}
}

// Edit is one Chain-of-Edits command (docs/design.md §4). Line numbers are
// 1-based and refer to the program the command is applied to.
type Edit struct {
	Op   string // "ADDL", "REPL", "REPW" or "DELL"
	Line int
	Text string // ADDL and REPL: the new line
	Old  string // REPW: replaced at its first occurrence in the line
	New  string // REPW: the replacement
}

// Command renders the edit in the DSL, as the DSL itself writes commands.
func (e Edit) Command() string {
	c := dsl.Command{Op: dsl.Op(e.Op), Line: e.Line, Text: e.Text}
	if e.Op == "REPW" {
		c.Old, c.Text = e.Old, e.New
	}
	return dsl.Format(c)
}

// apply performs the edit on p in place.
func (e Edit) apply(p *program) error {
	n := len(p.lines)
	switch e.Op {
	case "ADDL":
		if e.Line < 1 || e.Line > n+1 {
			return fmt.Errorf("corrupt: %s: line %d out of range 1-%d", e.Command(), e.Line, n+1)
		}
		p.lines = append(p.lines[:e.Line-1], append([]string{e.Text}, p.lines[e.Line-1:]...)...)
		return nil
	}
	if e.Line < 1 || e.Line > n {
		return fmt.Errorf("corrupt: %s: line %d out of range 1-%d", e.Command(), e.Line, n)
	}
	switch e.Op {
	case "REPL":
		p.lines[e.Line-1] = e.Text
	case "DELL":
		p.lines = append(p.lines[:e.Line-1], p.lines[e.Line:]...)
	case "REPW":
		l := p.lines[e.Line-1]
		i := strings.Index(l, e.Old)
		if e.Old == "" || i < 0 {
			return fmt.Errorf("corrupt: %s: %q not in line %d", e.Command(), e.Old, e.Line)
		}
		p.lines[e.Line-1] = l[:i] + e.New + l[i+len(e.Old):]
	default:
		return fmt.Errorf("corrupt: unknown edit %q", e.Op)
	}
	return nil
}

// undoLine returns the edit that turns line n of the corrupted program,
// corr, back into orig: a REPW of the smallest token span that differs when
// that span's first occurrence in the line is the changed one (widened with
// neighbouring tokens until it is), else a REPL of the whole line.
func undoLine(n int, orig, corr string) Edit {
	repl := Edit{Op: "REPL", Line: n, Text: orig}
	ot, ct := Tokenize(orig), Tokenize(corr)
	pre, suf := commonEnds(ot, ct)
	// [lo, chi) in ct and [lo, ohi) in ot are the differing spans; both
	// grow by the same shared tokens on either side.
	lo, chi, ohi := pre, len(ct)-suf, len(ot)-suf
	span := func() (string, string, int) {
		var old, nw strings.Builder
		for _, t := range ct[lo:chi] {
			old.WriteString(t.Text)
		}
		for _, t := range ot[lo:ohi] {
			nw.WriteString(t.Text)
		}
		off := len(corr)
		if lo < len(ct) {
			off = ct[lo].Off
		}
		return old.String(), nw.String(), off
	}
	for grow := 0; ; grow++ {
		old, nw, off := span()
		trimmed := strings.TrimSpace(old) == old && old != ""
		if trimmed && !strings.Contains(old, ">>>") && !strings.Contains(nw, ">>>") &&
			strings.Index(corr, old) == off && corr[:off]+nw+corr[off+len(old):] == orig {
			return Edit{Op: "REPW", Line: n, Old: old, New: nw}
		}
		// Widen: a whitespace-only or ambiguous span takes in the next
		// token on the right, then on the left; never the line's indent
		// alone, which would make a REPW no shorter than a REPL.
		switch {
		case chi < len(ct) && (grow%2 == 0 || lo == 0):
			chi++
			ohi++
		case lo > 0 && ct[lo-1].Kind != Space || lo > 1:
			lo--
		default:
			return repl
		}
		if grow > 8 {
			return repl
		}
	}
}

// commonEnds counts the tokens a and b share at their start and, after
// that, at their end.
func commonEnds(a, b []Token) (pre, suf int) {
	for pre < len(a) && pre < len(b) && a[pre].Text == b[pre].Text {
		pre++
	}
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf].Text == b[len(b)-1-suf].Text {
		suf++
	}
	return pre, suf
}
