package dsl

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Command
	}{
		{"addl", "ADDL 3 >>>    return x", Command{Op: AddLine, Line: 3, Text: "    return x"}},
		{"addl empty text", "ADDL 1 >>>", Command{Op: AddLine, Line: 1}},
		{"addl trailing spaces kept", "ADDL 2 >>>x = 1  ", Command{Op: AddLine, Line: 2, Text: "x = 1  "}},
		{"addl tab indent kept", "ADDL 2 >>>\tpass", Command{Op: AddLine, Line: 2, Text: "\tpass"}},
		{"addl text with >>>", "ADDL 2 >>>print('>>>')", Command{Op: AddLine, Line: 2, Text: "print('>>>')"}},
		{"repl", "REPL 12 >>>    retrun (res)", Command{Op: ReplaceLine, Line: 12, Text: "    retrun (res)"}},
		{"repl extra blanks", "REPL \t 4   >>>a", Command{Op: ReplaceLine, Line: 4, Text: "a"}},
		{"repl no blank before >>>", "REPL 4>>>a", Command{Op: ReplaceLine, Line: 4, Text: "a"}},
		{"repl leading zeros", "REPL 007 >>>a", Command{Op: ReplaceLine, Line: 7, Text: "a"}},
		{"leading blanks ignored", "  DELL 2", Command{Op: DeleteLine, Line: 2}},
		{"repw", "REPW 3 >>>retrun >>>return", Command{Op: ReplaceWord, Line: 3, Old: "retrun", Text: "return"}},
		{"repw empty new", "REPW 3 >>>x >>>", Command{Op: ReplaceWord, Line: 3, Old: "x", Text: ""}},
		{"repw old ends with space", "REPW 3 >>>a  >>>b", Command{Op: ReplaceWord, Line: 3, Old: "a ", Text: "b"}},
		{"repw new keeps >>>", "REPW 1 >>>a >>>b >>>c", Command{Op: ReplaceWord, Line: 1, Old: "a", Text: "b >>>c"}},
		{"repw old with >>> not after space", "REPW 1 >>>x>>>y >>>z", Command{Op: ReplaceWord, Line: 1, Old: "x>>>y", Text: "z"}},
		{"dell", "DELL 5", Command{Op: DeleteLine, Line: 5}},
		{"dell trailing blanks", "DELL 5 \t", Command{Op: DeleteLine, Line: 5}},
		{"dell zero parses", "DELL 0", Command{Op: DeleteLine, Line: 0}},
		{"exit", "EXIT", Command{Op: Exit}},
		{"exit trailing cr", "EXIT\r", Command{Op: Exit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		class Class
		msg   string
	}{
		{"empty", "", ClassParse, "empty command (commands: ADDL, REPL, REPW, DELL, EXIT)"},
		{"blank", "   ", ClassParse, "empty command (commands: ADDL, REPL, REPW, DELL, EXIT)"},
		{"lower case", "repl 3 >>>x", ClassUnknown, `unknown command "repl"; commands are upper case: ADDL, REPL, REPW, DELL, EXIT`},
		{"unknown", "INSERT 3 >>>x", ClassUnknown, `unknown command "INSERT" (commands: ADDL, REPL, REPW, DELL, EXIT)`},
		{"glued number", "REPL3 >>>x", ClassUnknown, `unknown command "REPL3" (commands: ADDL, REPL, REPW, DELL, EXIT)`},
		{"missing number", "REPL >>>x", ClassParse, "REPL: expected a line number after REPL, as in REPL n >>>text"},
		{"negative number", "DELL -1", ClassParse, "DELL: expected a line number after DELL, as in DELL n"},
		{"huge number", "DELL 99999999999999999999", ClassParse, "DELL: line number 99999999999999999999 is too large"},
		{"missing separator", "REPL 3 x = 1", ClassParse, `REPL 3: expected ">>>" after the line number, as in REPL n >>>text`},
		{"number then text", "ADDL 3x >>>y", ClassParse, `ADDL 3: expected ">>>" after the line number, as in ADDL n >>>text`},
		{"repw one text", "REPW 2 >>>old", ClassParse, "REPW 2: expected two texts, as in REPW n >>>old >>>new"},
		{"repw empty old", "REPW 2 >>> >>>new", ClassParse, "REPW 2: the text to replace is empty"},
		{"dell extra", "DELL 2 >>>x", ClassParse, `DELL 2: unexpected text ">>>x" after the line number; use DELL n`},
		{"exit extra", "EXIT now", ClassParse, `EXIT takes no arguments; got "now"`},
		{"two lines", "DELL 1\nDELL 2", ClassParse, "a command is one line; got 2 lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error = %v, want *Error", tt.in, err)
			}
			if e.Class != tt.class || e.Msg != tt.msg {
				t.Fatalf("Parse(%q) = (%s) %q, want (%s) %q", tt.in, e.Class, e.Msg, tt.class, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "dsl: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestParseAction(t *testing.T) {
	tests := []struct {
		name       string
		completion string
		want       Command
		wantErr    Class
	}{
		{"stop newline kept", "DELL 2\n", Command{Op: DeleteLine, Line: 2}, ""},
		{"crlf", "REPL 1 >>>x = 1\r\n", Command{Op: ReplaceLine, Line: 1, Text: "x = 1"}, ""},
		{"only the first line", "EXIT\nDELL 1\n", Command{Op: Exit}, ""},
		{"no newline (length stop)", "REPL 1 >>>x", Command{Op: ReplaceLine, Line: 1, Text: "x"}, ""},
		{"trailing spaces are text", "REPL 1 >>>x  \n", Command{Op: ReplaceLine, Line: 1, Text: "x  "}, ""},
		{"empty first line", "\nDELL 1\n", Command{}, ClassParse},
		{"empty completion", "", Command{}, ClassParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAction(tt.completion)
			if tt.wantErr != "" {
				var e *Error
				if !errors.As(err, &e) || e.Class != tt.wantErr {
					t.Fatalf("ParseAction(%q) error = %v, want class %s", tt.completion, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAction(%q) = %#v, %v; want %#v", tt.completion, got, err, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		cmd  Command
		want string
	}{
		{Command{Op: AddLine, Line: 4, Text: "    x += 1"}, "ADDL 4 >>>    x += 1"},
		{Command{Op: ReplaceLine, Line: 1, Text: ""}, "REPL 1 >>>"},
		{Command{Op: ReplaceWord, Line: 2, Old: "a ", Text: "b"}, "REPW 2 >>>a  >>>b"},
		{Command{Op: DeleteLine, Line: 9}, "DELL 9"},
		{Command{Op: Exit}, "EXIT"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := Format(tt.cmd); got != tt.want {
				t.Fatalf("Format = %q, want %q", got, tt.want)
			}
			back, err := Parse(tt.want)
			if err != nil || back != tt.cmd {
				t.Fatalf("Parse(Format(c)) = %#v, %v; want %#v", back, err, tt.cmd)
			}
		})
	}
}

func TestApply(t *testing.T) {
	prog := []string{"def f(a, b):", "    res = a | b", "    retrun (res)", ""}
	tests := []struct {
		name  string
		cmd   string
		want  []string
		class Class
		msg   string
	}{
		{"addl first", "ADDL 1 >>>import os", []string{"import os", "def f(a, b):", "    res = a | b", "    retrun (res)", ""}, "", ""},
		{"addl middle", "ADDL 3 >>>    res = tuple(res)", []string{"def f(a, b):", "    res = a | b", "    res = tuple(res)", "    retrun (res)", ""}, "", ""},
		{"addl append", "ADDL 5 >>>print(f(1, 2))", []string{"def f(a, b):", "    res = a | b", "    retrun (res)", "", "print(f(1, 2))"}, "", ""},
		{"addl past end", "ADDL 6 >>>x", nil, ClassRange, "ADDL 6 >>>x: cannot insert before line 6 (program has 4 lines; ADDL 5 appends)"},
		{"addl zero", "ADDL 0 >>>x", nil, ClassRange, "ADDL 0 >>>x: cannot insert before line 0 (program has 4 lines; ADDL 5 appends)"},
		{"repl", "REPL 3 >>>    return res", []string{"def f(a, b):", "    res = a | b", "    return res", ""}, "", ""},
		{"repl out of range", "REPL 9 >>>x", nil, ClassRange, "REPL 9: line 9 does not exist (program has 4 lines)"},
		{"repw first occurrence only", "REPW 2 >>>a >>>set(a)", []string{"def f(a, b):", "    res = set(a) | b", "    retrun (res)", ""}, "", ""},
		{"repw absent", "REPW 3 >>>return >>>x", nil, ClassNoop, `REPW 3: "return" does not occur in line 3`},
		{"repw on the wrong line", "REPW 1 >>>res >>>r", nil, ClassNoop, `REPW 1: "res" does not occur in line 1 (it does in lines 2, 3)`},
		{"repw on the wrong line, one other", "REPW 3 >>>| >>>&", nil, ClassNoop, `REPW 3: "|" does not occur in line 3 (it does in line 2)`},
		{"repw same text", "REPW 2 >>>res >>>res", nil, ClassNoop, "REPW 2: the new text is the old text; nothing changed"},
		{"repl same line", "REPL 2 >>>    res = a | b", nil, ClassNoop, "REPL 2: line 2 already reads so; nothing changed"},
		{"repw out of range", "REPW 0 >>>a >>>b", nil, ClassRange, "REPW 0: line 0 does not exist (program has 4 lines)"},
		{"dell", "DELL 4", []string{"def f(a, b):", "    res = a | b", "    retrun (res)"}, "", ""},
		{"dell out of range", "DELL 5", nil, ClassRange, "DELL 5: line 5 does not exist (program has 4 lines)"},
		{"exit", "EXIT", prog, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]string(nil), prog...)
			c, err := Parse(tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Apply(prog, c)
			if strings.Join(prog, "\n") != strings.Join(before, "\n") {
				t.Fatal("Apply modified its input")
			}
			if tt.class != "" {
				var e *Error
				if !errors.As(err, &e) || e.Class != tt.class || e.Msg != tt.msg {
					t.Fatalf("Apply error = %v, want (%s) %q", err, tt.class, tt.msg)
				}
				if got != nil {
					t.Fatalf("Apply returned %q with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") || len(got) != len(tt.want) {
				t.Fatalf("Apply = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApplyEmptyAndSingle(t *testing.T) {
	tests := []struct {
		name  string
		prog  []string
		cmd   string
		want  []string
		msg   string
		class Class
	}{
		{"append to empty", nil, "ADDL 1 >>>x = 1", []string{"x = 1"}, "", ""},
		{"delete from empty", nil, "DELL 1", nil, "DELL 1: line 1 does not exist (program has 0 lines)", ClassRange},
		{"singular line", []string{"x"}, "REPL 2 >>>y", nil, "REPL 2: line 2 does not exist (program has 1 line)", ClassRange},
		{"delete the only line", []string{"x"}, "DELL 1", []string{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Apply(tt.prog, c)
			if tt.class != "" {
				var e *Error
				if !errors.As(err, &e) || e.Class != tt.class || e.Msg != tt.msg {
					t.Fatalf("Apply error = %v, want (%s) %q", err, tt.class, tt.msg)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) || strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("Apply = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSplitJoinProgram(t *testing.T) {
	tests := []struct {
		src  string
		want []string
		back string
	}{
		{"", nil, ""},
		{"\n\n", nil, ""},
		{"a", []string{"a"}, "a\n"},
		{"a\nb\n", []string{"a", "b"}, "a\nb\n"},
		{"a\r\n\r\n  b\r\n", []string{"a", "", "  b"}, "a\n\n  b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got := SplitProgram(tt.src)
			if len(got) != len(tt.want) || strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("SplitProgram(%q) = %q, want %q", tt.src, got, tt.want)
			}
			if back := JoinProgram(got); back != tt.back {
				t.Fatalf("JoinProgram = %q, want %q", back, tt.back)
			}
		})
	}
}

// FuzzDSL checks that Parse and Apply never panic, that every parsed
// command survives Format and Parse unchanged, and that Apply changes the
// line count by exactly what the command says.
func FuzzDSL(f *testing.F) {
	for _, s := range []string{
		"ADDL 1 >>>x", "REPL 2 >>>    return a", "REPW 1 >>>a >>>b", "REPW 1 >>>a  >>>b >>>c",
		"DELL 3", "EXIT", "", "addl 1 >>>x", "REPL >>>", "REPW 2 >>> >>>", "DELL 99999999999999999999",
		"ADDL 0 >>>", "\tREPL\t1\t>>>\tx", "EXIT \r", "REPW 3 >>>x>>> >>> >>>",
	} {
		f.Add(s)
	}
	prog := []string{"def f(a, b):", "    res = a | b", "    retrun (res)"}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseAction(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Class == "" || e.Msg == "" {
				t.Fatalf("ParseAction(%q) returned a bare error %v", s, err)
			}
			return
		}
		text := Format(c)
		back, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(Format(%#v)) = %q: %v", c, text, err)
		}
		if back != c {
			t.Fatalf("round trip of %q: %#v -> %q -> %#v", s, c, text, back)
		}
		got, err := Apply(prog, c)
		if err != nil {
			return
		}
		want := len(prog)
		switch c.Op {
		case AddLine:
			want++
		case DeleteLine:
			want--
		}
		if len(got) != want {
			t.Fatalf("Apply(%q) gave %d lines, want %d", text, len(got), want)
		}
	})
}

func FuzzSplitProgram(f *testing.F) {
	for _, s := range []string{"", "a\r\n", "\r\r\n\n", "a\rb\n\n", "x\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := SplitProgram(s)
		back := SplitProgram(JoinProgram(lines))
		if len(back) != len(lines) || strings.Join(back, "\n") != strings.Join(lines, "\n") {
			t.Fatalf("SplitProgram(JoinProgram(%q)) = %q", lines, back)
		}
	})
}
