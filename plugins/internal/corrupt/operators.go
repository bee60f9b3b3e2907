package corrupt

import (
	"math/rand/v2"
	"strings"
)

// An operator breaks p in place and returns the edit that undoes the
// damage (in terms of the broken program), or ok=false when it finds
// nothing to break in p.
type operator struct {
	name  string
	apply func(r *rand.Rand, p *program, donors []string) (undo Edit, ok bool)
}

// operators is the corruption vocabulary, in a fixed order so that a seed
// always picks the same operator.
var operatorTable = []operator{
	{"delete_line", deleteLine},
	{"insert_line", insertLine},
	{"replace_line", replaceLine},
	{"typo", typo},
	{"swap_operator", swapOperator},
	{"off_by_one", offByOne},
	{"wrong_variable", wrongVariable},
	{"swap_arguments", swapArguments},
	{"drop_return", dropReturn},
}

// Operators returns the names of the corruption operators, the values that
// appear in sdk.Demonstration.Corruptions.
func Operators() []string {
	out := make([]string, len(operatorTable))
	for i, op := range operatorTable {
		out[i] = op.name
	}
	return out
}

var keywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`False None True and as assert async await break class continue def del elif
		else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield`) {
		keywords[k] = true
	}
}

func indentOf(s string) string { return s[:len(s)-len(strings.TrimLeft(s, " \t"))] }

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// nonBlank lists the 0-based indexes of lines with code on them.
func nonBlank(p *program) []int {
	var out []int
	for i, l := range p.lines {
		if !isBlank(l) {
			out = append(out, i)
		}
	}
	return out
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func deleteLine(r *rand.Rand, p *program, _ []string) (Edit, bool) {
	idx := nonBlank(p)
	if len(idx) < 2 {
		return Edit{}, false
	}
	i := pick(r, idx)
	orig := p.lines[i]
	p.lines = append(p.lines[:i], p.lines[i+1:]...)
	return Edit{Op: "ADDL", Line: i + 1, Text: orig}, true
}

// donorAt returns a donor line indented like the code around line index i.
func donorAt(r *rand.Rand, p *program, i int, donors []string) string {
	indent := ""
	for j := min(i, len(p.lines)-1); j >= 0; j-- {
		if !isBlank(p.lines[j]) {
			indent = indentOf(p.lines[j])
			break
		}
	}
	return indent + strings.TrimSpace(pick(r, donors))
}

func insertLine(r *rand.Rand, p *program, donors []string) (Edit, bool) {
	if len(donors) == 0 {
		return Edit{}, false
	}
	// Inserting before the first line would often only add a harmless
	// statement at module level; start after it.
	i := 1 + r.IntN(len(p.lines))
	if len(p.lines) == 1 {
		i = r.IntN(2)
	}
	d := donorAt(r, p, i, donors)
	p.lines = append(p.lines[:i], append([]string{d}, p.lines[i:]...)...)
	return Edit{Op: "DELL", Line: i + 1}, true
}

func replaceLine(r *rand.Rand, p *program, donors []string) (Edit, bool) {
	idx := nonBlank(p)
	if len(idx) == 0 || len(donors) == 0 {
		return Edit{}, false
	}
	i := pick(r, idx)
	orig := p.lines[i]
	d := indentOf(orig) + strings.TrimSpace(pick(r, donors))
	if d == orig {
		return Edit{}, false
	}
	p.lines[i] = d
	return Edit{Op: "REPL", Line: i + 1, Text: orig}, true
}

// lineToken is a token that lies on one line, with its column.
type lineToken struct {
	Token
	idx  int // index in the program's token slice
	line int // 0-based line index
	col  int // byte offset in the line
}

// lineTokens tokenizes p and returns its single-line tokens and all tokens.
func lineTokens(p *program) ([]lineToken, []Token) {
	src := p.String()
	toks := Tokenize(src)
	starts := make([]int, len(p.lines))
	off := 0
	for i, l := range p.lines {
		starts[i] = off
		off += len(l) + 1
	}
	var out []lineToken
	for i, t := range toks {
		if t.Kind == Newline || strings.Contains(t.Text, "\n") || t.Line > len(p.lines) {
			continue
		}
		out = append(out, lineToken{Token: t, idx: i, line: t.Line - 1, col: t.Off - starts[t.Line-1]})
	}
	return out, toks
}

// replaceToken swaps t's text for text and returns the undo edit.
func replaceToken(p *program, t lineToken, text string) Edit {
	orig := p.lines[t.line]
	p.lines[t.line] = orig[:t.col] + text + orig[t.col+len(t.Text):]
	return undoLine(t.line+1, orig, p.lines[t.line])
}

func filter(ts []lineToken, keep func(lineToken) bool) []lineToken {
	var out []lineToken
	for _, t := range ts {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

func isIdent(t Token) bool { return t.Kind == Name && !keywords[t.Text] }

const letters = "abcdefghijklmnopqrstuvwxyz"

func typo(r *rand.Rand, p *program, _ []string) (Edit, bool) {
	lt, _ := lineTokens(p)
	cands := filter(lt, func(t lineToken) bool { return isIdent(t.Token) && len(t.Text) >= 2 })
	if len(cands) == 0 {
		return Edit{}, false
	}
	t := pick(r, cands)
	// A mutation can give the name back (a letter replaced by itself) or a
	// keyword; draw again a few times.
	for try := 0; try < 4; try++ {
		if s := mutateName(r, t.Text); s != t.Text && s != "" && !isDigit(s[0]) && !keywords[s] {
			return replaceToken(p, t, s), true
		}
	}
	return Edit{}, false
}

// mutateName makes one typo: two neighbours swapped, one letter dropped,
// doubled or replaced.
func mutateName(r *rand.Rand, name string) string {
	b := []byte(name)
	i := r.IntN(len(b))
	switch r.IntN(4) {
	case 0:
		if i == len(b)-1 {
			i--
		}
		b[i], b[i+1] = b[i+1], b[i]
	case 1:
		b = append(b[:i:i], b[i+1:]...)
	case 2:
		b = append(b[:i+1:i+1], b[i:]...)
	default:
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

var opFamilies = [][]string{
	{"+", "-"},
	{"*", "/", "//"},
	{"%", "//"},
	{"<", "<=", ">", ">="},
	{"==", "!="},
	{"+=", "-="},
	{"and", "or"},
}

func swapOperator(r *rand.Rand, p *program, _ []string) (Edit, bool) {
	lt, _ := lineTokens(p)
	fam := map[string][]string{}
	for _, f := range opFamilies {
		for _, o := range f {
			fam[o] = append(fam[o], f...)
		}
	}
	cands := filter(lt, func(t lineToken) bool {
		return (t.Kind == Op || t.Kind == Name) && fam[t.Text] != nil
	})
	if len(cands) == 0 {
		return Edit{}, false
	}
	t := pick(r, cands)
	var alts []string
	for _, o := range fam[t.Text] {
		if o != t.Text {
			alts = append(alts, o)
		}
	}
	return replaceToken(p, t, pick(r, alts)), true
}

func offByOne(r *rand.Rand, p *program, _ []string) (Edit, bool) {
	lt, _ := lineTokens(p)
	cands := filter(lt, func(t lineToken) bool {
		return t.Kind == Number && strings.Trim(t.Text, "0123456789") == "" && len(t.Text) < 10 &&
			(t.Text == "0" || t.Text[0] != '0')
	})
	if len(cands) == 0 {
		return Edit{}, false
	}
	t := pick(r, cands)
	v := 0
	for _, c := range t.Text {
		v = v*10 + int(c-'0')
	}
	if v == 0 || r.IntN(2) == 0 {
		v++
	} else {
		v--
	}
	return replaceToken(p, t, itoa(v)), true
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

// variables lists the identifier tokens used as plain variables: not
// keywords, not attributes, not called, not being defined by def/class.
func variables(lt []lineToken, toks []Token) []lineToken {
	return filter(lt, func(t lineToken) bool {
		if !isIdent(t.Token) {
			return false
		}
		pv, nx := prevCode(toks, t.idx), nextCode(toks, t.idx)
		return pv.Text != "." && pv.Text != "def" && pv.Text != "class" && pv.Text != "import" &&
			nx.Text != "(" && nx.Text != "."
	})
}

func wrongVariable(r *rand.Rand, p *program, _ []string) (Edit, bool) {
	lt, toks := lineTokens(p)
	vars := variables(lt, toks)
	names := map[string]bool{}
	var distinct []string
	for _, v := range vars {
		if !names[v.Text] {
			names[v.Text] = true
			distinct = append(distinct, v.Text)
		}
	}
	if len(distinct) < 2 {
		return Edit{}, false
	}
	t := pick(r, vars)
	for {
		if n := pick(r, distinct); n != t.Text {
			return replaceToken(p, t, n), true
		}
	}
}

func swapArguments(r *rand.Rand, p *program, _ []string) (Edit, bool) {
	lt, _ := lineTokens(p)
	type call struct {
		line int
		args [][2]int // byte spans of the trimmed arguments in the line
	}
	var calls []call
	for k, t := range lt {
		if t.Text != "(" || k == 0 || lt[k-1].line != t.line {
			continue
		}
		if pv := lt[k-1]; !(pv.Kind == Name && !keywords[pv.Text]) && pv.Text != ")" && pv.Text != "]" {
			continue
		}
		depth, start := 0, t.col+1
		var args [][2]int
		for j := k + 1; j < len(lt) && lt[j].line == t.line; j++ {
			u := lt[j]
			switch {
			case u.Text == "(" || u.Text == "[" || u.Text == "{":
				depth++
			case (u.Text == ")" || u.Text == "]" || u.Text == "}") && depth > 0:
				depth--
			case (u.Text == "," || u.Text == ")") && depth == 0:
				args = append(args, [2]int{start, u.col})
				start = u.col + 1
			}
			if depth == 0 && u.Text == ")" {
				break
			}
		}
		c := call{line: t.line}
		line := p.lines[t.line]
		for _, a := range args {
			s := line[a[0]:a[1]]
			lead := len(s) - len(strings.TrimLeft(s, " \t"))
			tr := strings.TrimSpace(s)
			if tr == "" || strings.ContainsAny(tr, "=*") {
				c.args = nil
				break
			}
			c.args = append(c.args, [2]int{a[0] + lead, a[0] + lead + len(tr)})
		}
		if len(c.args) >= 2 {
			calls = append(calls, c)
		}
	}
	if len(calls) == 0 {
		return Edit{}, false
	}
	c := pick(r, calls)
	i := r.IntN(len(c.args) - 1)
	a, b := c.args[i], c.args[i+1]
	orig := p.lines[c.line]
	x, y := orig[a[0]:a[1]], orig[b[0]:b[1]]
	if x == y {
		return Edit{}, false
	}
	p.lines[c.line] = orig[:a[0]] + y + orig[a[1]:b[0]] + x + orig[b[1]:]
	return undoLine(c.line+1, orig, p.lines[c.line]), true
}

func dropReturn(r *rand.Rand, p *program, _ []string) (Edit, bool) {
	lt, toks := lineTokens(p)
	cands := filter(lt, func(t lineToken) bool {
		if t.Text != "return" || t.idx+2 >= len(toks) || toks[t.idx+1].Kind != Space {
			return false
		}
		k := toks[t.idx+2].Kind
		return k != Newline && k != Comment
	})
	if len(cands) == 0 {
		return Edit{}, false
	}
	t := pick(r, cands)
	return replaceTokenSpan(p, t, len(t.Text)+len(toks[t.idx+1].Text), ""), true
}

// replaceTokenSpan replaces n bytes of t's line starting at t.
func replaceTokenSpan(p *program, t lineToken, n int, text string) Edit {
	orig := p.lines[t.line]
	p.lines[t.line] = orig[:t.col] + text + orig[t.col+n:]
	return undoLine(t.line+1, orig, p.lines[t.line])
}
