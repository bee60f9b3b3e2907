// Package dsl is the Chain-of-Edits command language of the coedit tool
// (docs/design.md §4): parsing one command, applying it to a program held as a
// slice of lines, and rendering the state the model sees. It knows nothing
// of Python, tests or sessions; those belong to package coedit.
//
// # Commands
//
// Line numbers are 1-based decimal integers (digits only, no sign).
//
//	ADDL n >>>text        insert text as a new line before line n; n = len+1 appends
//	REPL n >>>text        replace line n by text
//	REPW n >>>old >>>new  replace the first occurrence of old in line n by new
//	DELL n                delete line n
//	EXIT                  end the episode
//
// The operation names are upper case. Between the name, the line number and
// the first ">>>" any run of spaces or tabs is accepted (one space is
// canonical, and is what [Format] writes); the space between the name and
// the number is required. Everything after the first ">>>" is taken
// verbatim: indentation, tabs and trailing spaces are kept, and an empty text
// is allowed (ADDL n >>> inserts a blank line). For REPW the old text ends at
// the first " >>>" (space, three '>') after the first ">>>"; the new text is
// the rest of the line, verbatim. So old can never contain " >>>", must not
// be empty, and new may contain anything but a newline. DELL and EXIT accept
// only trailing spaces or tabs after them. Leading spaces or tabs before the
// operation name are ignored.
//
// # From a completion to a command
//
// The model writes one command followed by a newline; the runner samples
// with "\n" as the stop string, which stays in the completion. [ParseAction]
// maps a raw completion to a command: it takes the text up to the first
// "\n" (the rest, if any, is ignored), drops one trailing "\r", and parses
// that line with [Parse]. An empty first line is a parse error.
//
// # Errors
//
// Every failure is an [*Error] with a Class ("parse", "unknown-command",
// "range", "noop") and a message written for the model, such as
// "REPL 9: line 9 does not exist (program has 4 lines)". A failed command
// changes nothing.
//
// The state a model sees (the numbered program and the feedback) is the
// repair tool's to write (plugins/internal/repairtool), not the language's.
package dsl

import (
	"fmt"
	"strconv"
	"strings"
)

// Op is a command name.
type Op string

// The five commands.
const (
	AddLine     Op = "ADDL"
	ReplaceLine Op = "REPL"
	ReplaceWord Op = "REPW"
	DeleteLine  Op = "DELL"
	Exit        Op = "EXIT"
)

// Ops lists the commands in the order the documentation gives them.
var Ops = []Op{AddLine, ReplaceLine, ReplaceWord, DeleteLine, Exit}

// Command is one parsed command.
type Command struct {
	Op Op
	// Line is the 1-based line number; 0 for EXIT.
	Line int
	// Old is the text REPW looks for; empty for the other commands.
	Old string
	// Text is the new line for ADDL and REPL and the replacement for REPW.
	Text string
}

// Class names why a command failed.
type Class string

// The error classes, as reported in sdk.StepInfo.ErrorClass.
const (
	ClassParse   Class = "parse"           // malformed: missing number, missing >>>, extra text
	ClassUnknown Class = "unknown-command" // not one of ADDL, REPL, REPW, DELL, EXIT
	ClassRange   Class = "range"           // the line number is outside the program
	ClassNoop    Class = "noop"            // the command would change nothing: REPW's old text is not in the line, or a REPW or REPL writes what is already there
)

// Error is a command that could not be parsed or applied. Msg is written
// for the model and shown after "***".
type Error struct {
	Class Class
	Msg   string
}

func (e *Error) Error() string { return "dsl: " + e.Msg }

func errorf(class Class, format string, args ...any) *Error {
	return &Error{Class: class, Msg: fmt.Sprintf(format, args...)}
}

// Separator introduces the text of ADDL, REPL and REPW.
const Separator = ">>>"

// wordSeparator ends REPW's old text.
const wordSeparator = " " + Separator

// ParseAction maps a model's raw completion to a command: the first line
// (up to the first "\n", one trailing "\r" removed) is parsed with Parse.
func ParseAction(completion string) (Command, error) {
	line, _, _ := strings.Cut(completion, "\n")
	line = strings.TrimSuffix(line, "\r")
	return Parse(line)
}

// Parse parses one command line. The line must not contain a newline.
func Parse(line string) (Command, error) {
	if strings.ContainsAny(line, "\n") {
		return Command{}, errorf(ClassParse, "a command is one line; got %d lines", strings.Count(line, "\n")+1)
	}
	s := strings.TrimLeft(line, " \t")
	if strings.TrimRight(s, " \t\r") == "" {
		return Command{}, errorf(ClassParse, "empty command (commands: %s)", opList())
	}
	end := strings.IndexAny(s, " \t\r")
	if end < 0 {
		end = len(s)
	}
	name, rest := s[:end], s[end:]
	op := Op(name)
	switch op {
	case AddLine, ReplaceLine, ReplaceWord, DeleteLine, Exit:
	default:
		return Command{}, unknown(name)
	}
	if op == Exit {
		if strings.TrimRight(rest, " \t\r") != "" {
			return Command{}, errorf(ClassParse, "EXIT takes no arguments; got %q", strings.TrimSpace(rest))
		}
		return Command{Op: Exit}, nil
	}

	// The line number: at least one blank, then digits.
	after := strings.TrimLeft(rest, " \t")
	if len(after) == len(rest) || after == "" || after[0] < '0' || after[0] > '9' {
		return Command{}, errorf(ClassParse, "%s: expected a line number after %s, as in %s", op, op, usage(op))
	}
	i := 0
	for i < len(after) && after[i] >= '0' && after[i] <= '9' {
		i++
	}
	n, err := strconv.Atoi(after[:i])
	if err != nil || n > maxLine {
		return Command{}, errorf(ClassParse, "%s: line number %s is too large", op, after[:i])
	}
	rest = after[i:]
	if op == DeleteLine {
		if strings.TrimRight(rest, " \t\r") != "" {
			return Command{}, errorf(ClassParse, "DELL %d: unexpected text %q after the line number; use DELL n", n, strings.TrimSpace(rest))
		}
		return Command{Op: DeleteLine, Line: n}, nil
	}

	body := strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(body, Separator) {
		return Command{}, errorf(ClassParse, "%s %d: expected %q after the line number, as in %s", op, n, Separator, usage(op))
	}
	body = body[len(Separator):]
	if op != ReplaceWord {
		return Command{Op: op, Line: n, Text: body}, nil
	}
	old, repl, ok := strings.Cut(body, wordSeparator)
	if !ok {
		return Command{}, errorf(ClassParse, "REPW %d: expected two texts, as in %s", n, usage(op))
	}
	if old == "" {
		return Command{}, errorf(ClassParse, "REPW %d: the text to replace is empty", n)
	}
	return Command{Op: ReplaceWord, Line: n, Old: old, Text: repl}, nil
}

// maxLine bounds line numbers so that n+1 never overflows; no program is
// that long.
const maxLine = 1 << 30

func unknown(name string) *Error {
	for _, op := range Ops {
		if strings.EqualFold(name, string(op)) {
			return errorf(ClassUnknown, "unknown command %q; commands are upper case: %s", name, opList())
		}
	}
	if len(name) > 20 {
		name = name[:20] + "..."
	}
	return errorf(ClassUnknown, "unknown command %q (commands: %s)", name, opList())
}

func opList() string {
	names := make([]string, len(Ops))
	for i, op := range Ops {
		names[i] = string(op)
	}
	return strings.Join(names, ", ")
}

func usage(op Op) string {
	switch op {
	case AddLine, ReplaceLine:
		return string(op) + " n >>>text"
	case ReplaceWord:
		return "REPW n >>>old >>>new"
	case DeleteLine:
		return "DELL n"
	}
	return string(op)
}

// Format writes c in canonical form. Parse(Format(c)) == c for every
// command Parse can return; a hand-built REPW whose Old contains " >>>", or
// a text containing a newline, cannot round-trip.
func Format(c Command) string {
	switch c.Op {
	case Exit:
		return string(Exit)
	case DeleteLine:
		return fmt.Sprintf("DELL %d", c.Line)
	case ReplaceWord:
		return fmt.Sprintf("REPW %d %s%s%s%s", c.Line, Separator, c.Old, wordSeparator, c.Text)
	default:
		return fmt.Sprintf("%s %d %s%s", c.Op, c.Line, Separator, c.Text)
	}
}

// String is Format(c).
func (c Command) String() string { return Format(c) }

// Apply returns the program after c. The input slice is never modified; on
// error the result is nil and the program is unchanged. EXIT returns a copy
// of lines.
func Apply(lines []string, c Command) ([]string, error) {
	n := len(lines)
	switch c.Op {
	case Exit:
		return append([]string(nil), lines...), nil
	case AddLine:
		if c.Line < 1 || c.Line > n+1 {
			return nil, errorf(ClassRange, "%s: cannot insert before line %d (program has %s; ADDL %d appends)", Format(c), c.Line, plural(n), n+1)
		}
		out := make([]string, 0, n+1)
		out = append(out, lines[:c.Line-1]...)
		out = append(out, c.Text)
		return append(out, lines[c.Line-1:]...), nil
	case ReplaceLine, ReplaceWord, DeleteLine:
		if c.Line < 1 || c.Line > n {
			return nil, errorf(ClassRange, "%s %d: line %d does not exist (program has %s)", c.Op, c.Line, c.Line, plural(n))
		}
	default:
		return nil, unknown(string(c.Op))
	}
	i := c.Line - 1
	switch c.Op {
	case DeleteLine:
		out := make([]string, 0, n-1)
		out = append(out, lines[:i]...)
		return append(out, lines[i+1:]...), nil
	case ReplaceWord:
		if c.Old == "" || !strings.Contains(lines[i], c.Old) {
			return nil, errorf(ClassNoop, "REPW %d: %q does not occur in line %d%s", c.Line, c.Old, c.Line, occursIn(lines, c.Old))
		}
		// A command that changes nothing is a mistake worth saying so: the
		// model would otherwise see the same state again and, deciding
		// from that state alone, write the same command again.
		if c.Text == c.Old {
			return nil, errorf(ClassNoop, "REPW %d: the new text is the old text; nothing changed", c.Line)
		}
		out := append([]string(nil), lines...)
		out[i] = strings.Replace(lines[i], c.Old, c.Text, 1)
		return out, nil
	default: // ReplaceLine
		if lines[i] == c.Text {
			return nil, errorf(ClassNoop, "REPL %d: line %d already reads so; nothing changed", c.Line, c.Line)
		}
		out := append([]string(nil), lines...)
		out[i] = c.Text
		return out, nil
	}
}

// occursIn says where else old occurs, " (it does in line 4)" or " (it does
// in lines 2, 5)", so a command aimed at the wrong line gets, with the
// error, the line it meant; "" when old is nowhere in the program.
func occursIn(lines []string, old string) string {
	if old == "" {
		return ""
	}
	var at []string
	for i, l := range lines {
		if strings.Contains(l, old) {
			at = append(at, strconv.Itoa(i+1))
		}
	}
	switch len(at) {
	case 0:
		return ""
	case 1:
		return " (it does in line " + at[0] + ")"
	default:
		return " (it does in lines " + strings.Join(at, ", ") + ")"
	}
}

func plural(n int) string {
	if n == 1 {
		return "1 line"
	}
	return strconv.Itoa(n) + " lines"
}

// SplitProgram turns source into lines: carriage returns at the end of a
// line ("\r\n" endings) are dropped, and so are trailing empty lines, so
// "a\r\nb\n" is [a b] and "" is no lines. SplitProgram(JoinProgram(l))
// == l for every result l of SplitProgram.
func SplitProgram(src string) []string {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return nil
	}
	return lines
}

// JoinProgram is the inverse of SplitProgram: the lines, each ended by "\n".
func JoinProgram(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// Description is the DSL's explanation for the model's prompt.
const Description = `Edit the program with one command per line; line numbers start at 1:
ADDL n >>>text        insert text as a new line before line n (n = last+1 appends)
REPL n >>>text        replace line n by text
REPW n >>>old >>>new  replace the first occurrence of old in line n by new
DELL n                delete line n
EXIT                  stop editing
Text after >>> is taken exactly as written, indentation included.
After each command you see the numbered program, then ***, then the test results.`
