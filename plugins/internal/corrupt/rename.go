package corrupt

import (
	"math/rand/v2"
	"slices"
	"strings"
)

// Renaming gives one reference program many spellings: the names it binds
// itself (parameters, assignment and loop targets, `as` names) are
// replaced, consistently, by names drawn from a pool of names common in
// small Python functions. A model trained on a few hundred programs can
// otherwise learn their identifiers by heart ("the fix of this program is
// `chars`"); with the names changing from one demonstration to the next,
// the repaired name must be read from the context, which is the skill that
// carries over to programs it has never seen. The function's own name and
// everything the tests can see stay as they are.

// renamePool lists plausible local names. Names a program already uses are
// never drawn, so a renaming cannot capture another binding.
var renamePool = strings.Fields(`
	acc amount arr best buf cnt count cur curr data digits elem entry first
	found group head hi idx item items j k key keys left length line lines
	lo lst m mid n nums num out pair parts pos prev rest result right row
	seen size span start stop tail target temp text total val vals value
	values w word words x xs y ys z word_list counts index limit chunk
	chunks cells char chars letters piece pieces score scores step tally
	token tokens queue stack level bucket record records number numbers
	source dest matrix grid col cols rows width height base power factor
	prefix suffix needle haystack parts_list running partial window low
	high middle total_sum seq sequence coll collection element elements
`)

// pythonBuiltins are names a program uses without binding them; a program
// that rebinds one (`list = ...`) keeps that name.
var pythonBuiltins = map[string]bool{}

func init() {
	for _, b := range strings.Fields(`abs all any ascii bin bool bytearray bytes callable chr classmethod
		compile complex delattr dict dir divmod enumerate eval exec filter float format frozenset getattr
		globals hasattr hash help hex id input int isinstance issubclass iter len list locals map max
		memoryview min next object oct open ord pow print property range repr reversed round set setattr
		slice sorted staticmethod str sum super tuple type vars zip self cls __name__ __file__`) {
		pythonBuiltins[b] = true
	}
}

// Rename returns src with the names it binds renamed consistently (see
// above), and whether anything was renamed. Names it cannot rename safely
// are left alone: attributes, called names, keyword-argument names, the
// names of functions and classes, globals declared with `global` or
// `nonlocal`, builtins, and any name that also appears inside an f-string
// or a string that could be evaluated. The result is only a candidate:
// callers check it against the tests before using it, since a name can be
// visible to them (a default argument in a doctest, a module-level
// constant the tests read).
func Rename(r *rand.Rand, src string) (string, bool) {
	toks := Tokenize(src)
	code := make([]int, 0, len(toks)) // indexes of tokens that are not space
	for i, t := range toks {
		if t.Kind != Space {
			code = append(code, i)
		}
	}
	at := func(k int) Token {
		if k < 0 || k >= len(code) {
			return Token{}
		}
		return toks[code[k]]
	}

	used := map[string]bool{} // every identifier-like word of the source
	for _, t := range toks {
		if t.Kind == Name {
			used[t.Text] = true
		}
		if t.Kind == String || t.Kind == Comment {
			for _, w := range words(t.Text) {
				used[w] = true
			}
		}
	}
	unsafe := map[string]bool{}
	for _, t := range toks {
		// f-strings and format strings name variables inside the literal,
		// which a token-level rename would not reach.
		if t.Kind == String && strings.Contains(t.Text, "{") {
			for _, w := range words(t.Text) {
				unsafe[w] = true
			}
		}
	}

	bound := map[string]bool{}
	depth := 0      // bracket depth
	inDefArgs := -1 // bracket depth of a def's parameter list, or -1
	lambdaArgs := false
	for k := range code {
		t := at(k)
		switch t.Text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
			if depth == inDefArgs {
				inDefArgs = -1
			}
		case ":":
			lambdaArgs = false
		}
		if t.Kind != Name || keywords[t.Text] {
			if t.Text == "lambda" {
				lambdaArgs = true
			}
			continue
		}
		prev, next := at(k-1), at(k+1)
		switch {
		case prev.Text == "def" || prev.Text == "class":
			unsafe[t.Text] = true
			if prev.Text == "def" && next.Text == "(" {
				inDefArgs = depth
			}
		case prev.Text == "." || next.Text == "(" || prev.Text == "import" || prev.Text == "from":
			unsafe[t.Text] = true
		case prev.Text == "global" || prev.Text == "nonlocal":
			unsafe[t.Text] = true
		case inDefArgs >= 0 && depth == inDefArgs+1 && (prev.Text == "(" || prev.Text == "," || prev.Text == "*" || prev.Text == "**"):
			bound[t.Text] = true
		case lambdaArgs:
			bound[t.Text] = true
		case depth > 0 && next.Text == "=" && inDefArgs < 0:
			// A keyword argument of a call: the callee sees the name.
			unsafe[t.Text] = true
		case isAssignOp(next.Text) || prev.Text == "for" || prev.Text == "as":
			bound[t.Text] = true
		case next.Text == "," || next.Text == ")" || (next.Text == "in" && prev.Text == ","):
			// Tuple targets: `a, b = ...` and `for i, x in ...`.
			if tupleTarget(toks, code, k) {
				bound[t.Text] = true
			}
		}
	}

	var names []string
	for _, t := range toks {
		if t.Kind == Name && bound[t.Text] && !unsafe[t.Text] && !pythonBuiltins[t.Text] && !keywords[t.Text] && !slices.Contains(names, t.Text) {
			names = append(names, t.Text)
		}
	}
	if len(names) == 0 {
		return src, false
	}
	var free []string
	for _, n := range renamePool {
		if !used[n] {
			free = append(free, n)
		}
	}
	r.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	to := map[string]string{}
	for i, n := range names {
		if i >= len(free) {
			break
		}
		// Keep some names: a program is renamed in part as often as whole.
		if r.IntN(4) == 0 {
			continue
		}
		to[n] = free[i]
	}
	if len(to) == 0 {
		return src, false
	}
	var b strings.Builder
	for k, t := range toks {
		if n, ok := to[t.Text]; ok && t.Kind == Name && !(k > 0 && prevCode(toks, k).Text == ".") {
			b.WriteString(n)
			continue
		}
		b.WriteString(t.Text)
	}
	return b.String(), true
}

func isAssignOp(s string) bool {
	switch s {
	case "=", "+=", "-=", "*=", "/=", "//=", "%=", "**=", ">>=", "<<=", "&=", "|=", "^=", "@=", ":=":
		return true
	}
	return false
}

// tupleTarget reports whether the name at code index k is part of a
// comma-separated target list ended by "=" or "in" on the same line, as in
// `left, right = 0, n` or `for i, x in enumerate(xs)`.
func tupleTarget(toks []Token, code []int, k int) bool {
	line := toks[code[k]].Line
	for j := k + 1; j < len(code); j++ {
		t := toks[code[j]]
		if t.Line != line || t.Kind == Newline {
			return false
		}
		switch {
		case t.Text == "=" || t.Text == "in":
			return true
		case t.Text == "," || t.Text == "(" || t.Text == ")" || (t.Kind == Name && !keywords[t.Text]):
			continue
		default:
			return false
		}
	}
	return false
}

// prevCode and nextCode return the nearest token before or after toks[i]
// that is not space, or the zero Token.
func prevCode(toks []Token, i int) Token {
	for i--; i >= 0; i-- {
		if toks[i].Kind != Space {
			return toks[i]
		}
	}
	return Token{}
}

func nextCode(toks []Token, i int) Token {
	for i++; i < len(toks); i++ {
		if toks[i].Kind != Space {
			return toks[i]
		}
	}
	return Token{}
}

// words splits s into its identifier-like words.
func words(s string) []string {
	return strings.FieldsFunc(s, func(c rune) bool {
		return !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
	})
}
