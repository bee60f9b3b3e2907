package corrupt

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind classifies a token.
type Kind int

// Token kinds. Space and Newline tokens are kept so that the tokens of a
// source, joined, give the source back byte for byte.
const (
	Space   Kind = iota // spaces, tabs, form feeds, a backslash line continuation
	Newline             // "\n" (a preceding "\r" is part of it)
	Comment             // "#" to the end of the line
	Name                // identifiers and keywords
	Number              // integer, float, imaginary literals
	String              // string literals, prefixes and triple quotes included
	Op                  // operators and delimiters
	Other               // any byte the tokenizer does not understand
)

// Token is one lexeme of Python source.
type Token struct {
	Kind Kind
	Text string
	// Line is the 1-based line of the token's first byte.
	Line int
	// Off is the byte offset of the token in the source.
	Off int
}

// operators, longest first so that the scanner prefers "**=" to "**".
var operators = []string{
	"**=", "//=", ">>=", "<<=", "...", "->", ":=",
	"**", "//", "==", "!=", "<=", ">=", "<<", ">>", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=",
	"+", "-", "*", "/", "%", "@", "<", ">", "=", "&", "|", "^", "~", "(", ")", "[", "]", "{", "}", ",", ":", ".", ";",
}

// Tokenize splits Python source into tokens. It never fails: malformed input
// (an unterminated string, a stray byte) still yields tokens that join back
// to src, which is all the corruption operators need.
func Tokenize(src string) []Token {
	var toks []Token
	line := 1
	for i := 0; i < len(src); {
		start := i
		kind := Other
		c := src[i]
		switch {
		case c == '\n':
			i++
			kind = Newline
		case c == '\r' && i+1 < len(src) && src[i+1] == '\n':
			i += 2
			kind = Newline
		case c == ' ' || c == '\t' || c == '\f' || c == '\r':
			for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\f' || (src[i] == '\r' && !(i+1 < len(src) && src[i+1] == '\n'))) {
				i++
			}
			kind = Space
		case c == '\\' && i+1 < len(src) && src[i+1] == '\n':
			i += 2
			kind = Space
		case c == '\\' && i+2 < len(src) && src[i+1] == '\r' && src[i+2] == '\n':
			i += 3
			kind = Space
		case c == '#':
			for i < len(src) && src[i] != '\n' && src[i] != '\r' {
				i++
			}
			kind = Comment
		case isDigit(c) || (c == '.' && i+1 < len(src) && isDigit(src[i+1])):
			i = scanNumber(src, i)
			kind = Number
		case c == '"' || c == '\'':
			i = scanString(src, i)
			kind = String
		case isIdentStart(src, i):
			j := scanIdent(src, i)
			if q := j; q < len(src) && (src[q] == '"' || src[q] == '\'') && isStringPrefix(src[i:j]) {
				i = scanString(src, q)
				kind = String
			} else {
				i = j
				kind = Name
			}
		default:
			for _, op := range operators {
				if strings.HasPrefix(src[i:], op) {
					i += len(op)
					kind = Op
					break
				}
			}
			if kind != Op {
				_, size := utf8.DecodeRuneInString(src[i:])
				i += size
			}
		}
		toks = append(toks, Token{Kind: kind, Text: src[start:i], Line: line, Off: start})
		line += strings.Count(src[start:i], "\n")
	}
	return toks
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(src string, i int) bool {
	r, _ := utf8.DecodeRuneInString(src[i:])
	return r == '_' || unicode.IsLetter(r)
}

func scanIdent(src string, i int) int {
	for i < len(src) {
		r, size := utf8.DecodeRuneInString(src[i:])
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		i += size
	}
	return i
}

func isStringPrefix(p string) bool {
	switch strings.ToLower(p) {
	case "r", "u", "b", "f", "br", "rb", "fr", "rf":
		return true
	}
	return false
}

// scanNumber scans a numeric literal loosely: digits, letters (hex digits,
// exponent, j suffix), underscores, dots and an exponent's sign.
func scanNumber(src string, i int) int {
	for i < len(src) {
		c := src[i]
		switch {
		case isDigit(c) || c == '_' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			i++
		case (c == '+' || c == '-') && (src[i-1] == 'e' || src[i-1] == 'E') && !isHexLiteralTail(src, i):
			i++
		default:
			return i
		}
	}
	return i
}

// isHexLiteralTail reports whether the number that ends just before i is a
// hex literal (where "e" is a digit, not an exponent).
func isHexLiteralTail(src string, i int) bool {
	j := i
	for j > 0 && (isDigit(src[j-1]) || src[j-1] == '_' || (src[j-1]|0x20 >= 'a' && src[j-1]|0x20 <= 'z')) {
		j--
	}
	return strings.HasPrefix(strings.ToLower(src[j:i]), "0x")
}

// scanString scans a string literal whose quote starts at i. A single-quoted
// string ends at its closing quote or at the end of the line; a
// triple-quoted one at its closing triple quote or at the end of src.
func scanString(src string, i int) int {
	q := src[i]
	if strings.HasPrefix(src[i:], strings.Repeat(string(q), 3)) {
		end := strings.Repeat(string(q), 3)
		j := i + 3
		for j < len(src) {
			if src[j] == '\\' {
				j += 2
				continue
			}
			if strings.HasPrefix(src[j:], end) {
				return j + 3
			}
			j++
		}
		return len(src)
	}
	j := i + 1
	for j < len(src) {
		switch src[j] {
		case '\\':
			if j+1 < len(src) && src[j+1] != '\n' {
				j += 2
				continue
			}
			j++
		case q:
			return j + 1
		case '\n':
			return j
		default:
			j++
		}
	}
	if j > len(src) {
		return len(src)
	}
	return j
}
