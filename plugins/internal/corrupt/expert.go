package corrupt

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
)

// Outcome is what a demonstration needs to know of one run of the tests.
type Outcome struct {
	Failing bool
	// Line is the line of the program the feedback points at (the last
	// `File "<program>", line N` of its traceback), 0 when it names none
	// (a failed assertion on a returned value, say).
	Line int
}

// CheckFunc runs a task's tests on program.
type CheckFunc func(ctx context.Context, program string) (Outcome, error)

var programLine = regexp.MustCompile(`File "<program>", line (\d+)`)

// FeedbackLine returns the program line a traceback points at last (the
// innermost frame in the program), or 0.
func FeedbackLine(feedback string) int {
	m := programLine.FindAllStringSubmatch(feedback, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// ExpertTrace is the command trace of an expert who reads the feedback:
// at every turn it runs the tests, looks at the line they point at, and
// fixes the difference from the reference nearest to that line (the first
// difference when the feedback names no line), one command at a time,
// then ends with EXIT. A model trained on it learns a policy of what it
// sees: the error shown decides where the next command goes. (Undoing the
// corruptions in reverse order of their making would repair the program
// too, but in an order the feedback does not explain.)
func ExpertTrace(ctx context.Context, broken, ref string, check CheckFunc) ([]string, error) {
	cur, want := parseProgram(broken), parseProgram(ref)
	// Every command shortens the diff (lines of either side outside the
	// common subsequence) by at least one, so this many always suffice.
	limit := len(cur.lines) + len(want.lines)
	var out []string
	for step := 0; ; step++ {
		hs := diffHunks(cur.lines, want.lines)
		if len(hs) == 0 {
			break
		}
		if step >= limit {
			return nil, fmt.Errorf("corrupt: expert trace does not converge after %d commands", step)
		}
		o, err := check(ctx, cur.String())
		if err != nil {
			return nil, err
		}
		e := nearestHunk(hs, o.Line).edit(cur.lines, want.lines, o.Line)
		if err := e.apply(&cur); err != nil {
			return nil, fmt.Errorf("corrupt: expert trace: %w", err)
		}
		out = append(out, e.Command())
	}
	return append(out, "EXIT"), nil
}

// hunk is a difference between two line lists: cur[a0:a1] stands where
// want[b0:b1] should (0-based, half open; an empty side is an insertion or
// a deletion).
type hunk struct{ a0, a1, b0, b1 int }

// diffHunks is a line diff by longest common subsequence; the programs
// are tens of lines, so the quadratic table is small.
func diffHunks(a, b []string) []hunk {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []hunk
	i, j := 0, 0
	for i < n || j < m {
		if i < n && j < m && a[i] == b[j] {
			i++
			j++
			continue
		}
		h := hunk{a0: i, b0: j}
		for (i < n || j < m) && !(i < n && j < m && a[i] == b[j]) {
			if j == m || (i < n && lcs[i+1][j] >= lcs[i][j+1]) {
				i++
			} else {
				j++
			}
		}
		h.a1, h.b1 = i, j
		out = append(out, h)
	}
	return out
}

// distance is how far line (1-based) is from the hunk: 0 inside it; an
// insertion touches the lines on both sides of where it goes (Python
// reports a missing block at the line after it).
func (h hunk) distance(line int) int {
	lo, hi := h.a0+1, h.a1
	if h.a1 == h.a0 {
		lo, hi = h.a0, h.a0+1
	}
	switch {
	case line < lo:
		return lo - line
	case line > hi:
		return line - hi
	}
	return 0
}

func nearestHunk(hs []hunk, line int) hunk {
	if line <= 0 {
		return hs[0]
	}
	best := hs[0]
	for _, h := range hs[1:] {
		if h.distance(line) < best.distance(line) {
			best = h
		}
	}
	return best
}

// edit is the first command of the hunk's repair: a missing line added, a
// surplus line deleted (the one the feedback points at when it is in the
// hunk), or a changed line edited back (undoLine: REPW of the differing
// tokens when that is unambiguous, else REPL), pairing the most similar
// lines when the two sides differ in length.
func (h hunk) edit(cur, want []string, line int) Edit {
	na, nb := h.a1-h.a0, h.b1-h.b0
	switch {
	case na == 0:
		return Edit{Op: "ADDL", Line: h.a0 + 1, Text: want[h.b0]}
	case nb == 0:
		n := h.a0 + 1
		if line > h.a0 && line <= h.a1 {
			n = line
		}
		return Edit{Op: "DELL", Line: n}
	}
	bi, bj, best := 0, 0, -1.0
	for i := h.a0; i < h.a1; i++ {
		for j := h.b0; j < h.b1; j++ {
			if na == nb && i-h.a0 != j-h.b0 {
				continue // equal sides pair in order
			}
			s := similarity(cur[i], want[j])
			if na == nb && line > h.a0 && line <= h.a1 && i+1 == line {
				s += 1 // the line the feedback names goes first
			}
			if s > best {
				bi, bj, best = i, j, s
			}
		}
	}
	if na != nb && best < 0.3 {
		// Nothing on one side resembles the other: a line is surplus or
		// missing rather than changed.
		if na > nb {
			return Edit{Op: "DELL", Line: h.a0 + 1}
		}
		return Edit{Op: "ADDL", Line: h.a0 + 1, Text: want[h.b0]}
	}
	return undoLine(bi+1, want[bj], cur[bi])
}

// similarity is the share of the longer line's tokens found in its common
// token prefix and suffix with the other.
func similarity(a, b string) float64 {
	ta, tb := Tokenize(a), Tokenize(b)
	n := max(len(ta), len(tb))
	if n == 0 {
		return 1
	}
	pre, suf := commonEnds(ta, tb)
	return float64(pre+suf) / float64(n)
}
