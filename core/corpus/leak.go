package corpus

import (
	"fmt"
	"hash/maphash"
	"strings"
)

// Program is a program a model is evaluated on, named for the error.
type Program struct {
	Name string // e.g. "mbpp/11 (eval.test)"
	Text string
}

// Leak is an evaluated program found in a training document.
type Leak struct {
	Program string
	Path    string
	Line    int // 1-based line of the document where the program starts
}

func (l Leak) String() string { return fmt.Sprintf("%s:%d holds %s", l.Path, l.Line, l.Program) }

// MinLeakLines is the fewest significant lines a program needs to be
// looked for: a two-line function ("def f(x):" and "return x") is
// common code, not a leak.
const MinLeakLines = 3

// Leaks finds programs whose significant lines (stripped of surrounding
// whitespace; blank lines and comments left out) occur as consecutive
// significant lines of a document. It reports the first place of each
// (program, document) pair, in document order.
func Leaks(docs []Document, programs []Program) []Leak {
	seed := maphash.MakeSeed()
	hash := func(s string) uint64 { return maphash.String(seed, s) }
	type pattern struct {
		name  string
		lines []uint64
	}
	byFirst := map[uint64][]pattern{}
	for _, p := range programs {
		lines, _ := significant(p.Text, hash)
		if len(lines) < MinLeakLines {
			continue
		}
		byFirst[lines[0]] = append(byFirst[lines[0]], pattern{p.Name, lines})
	}
	if len(byFirst) == 0 {
		return nil
	}
	var out []Leak
	for _, d := range docs {
		lines, at := significant(d.Text, hash)
		found := map[string]bool{}
		for i, h := range lines {
			for _, p := range byFirst[h] {
				if found[p.name] || i+len(p.lines) > len(lines) {
					continue
				}
				if equal(lines[i:i+len(p.lines)], p.lines) {
					found[p.name] = true
					out = append(out, Leak{Program: p.name, Path: d.Path, Line: at[i]})
				}
			}
		}
	}
	return out
}

// significant hashes the lines of text that carry code, and returns the
// 1-based line number of each.
func significant(text string, hash func(string) uint64) (lines []uint64, at []int) {
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, hash(l))
		at = append(at, i+1)
	}
	return lines, at
}

func equal(a, b []uint64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
