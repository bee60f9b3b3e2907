package builtinset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// minTasks is the size issue 4 promises for builtin:basic.
const minTasks = 200

// task mirrors one line of a set; unknown keys are rejected so that a typo
// in a field name cannot hide an empty required field.
type task struct {
	TaskID    string `json:"task_id"`
	Text      string `json:"text"`
	Reference string `json:"reference"`
	Tests     string `json:"tests"`
}

var (
	idPattern     = regexp.MustCompile(`^basic/\d{3}$`)
	defPattern    = regexp.MustCompile(`(?m)^(?:def|class)\s+([A-Za-z_]\w*)`)
	importPattern = regexp.MustCompile(`(?m)^\s*(?:import|from)\s+([A-Za-z_][\w.]*)`)
)

// allowedImports are the stdlib modules a reference may use: enough for
// MBPP-like tasks, nothing that does I/O, randomness or time.
var allowedImports = map[string]bool{
	"math": true, "collections": true, "string": true, "re": true,
	"functools": true, "heapq": true, "bisect": true,
}

// Reference sizes promised by issue 4: small enough to repair by line edits,
// big enough to have lines worth corrupting.
const minRefLines, maxRefLines = 4, 20

// checkLine validates one JSONL line and returns the decoded task.
func checkLine(line []byte) (task, error) {
	var tk task
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tk); err != nil {
		return tk, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return tk, errors.New("trailing data after the JSON object")
	}
	for name, v := range map[string]string{"task_id": tk.TaskID, "text": tk.Text, "reference": tk.Reference, "tests": tk.Tests} {
		if strings.TrimSpace(v) == "" {
			return tk, fmt.Errorf("field %s is empty", name)
		}
	}
	if !idPattern.MatchString(tk.TaskID) {
		return tk, fmt.Errorf("task_id %q is not basic/NNN", tk.TaskID)
	}
	if strings.Contains(tk.Text, "\n") || !strings.HasSuffix(tk.Text, ".") {
		return tk, fmt.Errorf("%s: text must be one line ending in '.': %q", tk.TaskID, tk.Text)
	}
	if n := strings.Count(strings.TrimRight(tk.Reference, "\n"), "\n") + 1; n < minRefLines || n > maxRefLines {
		return tk, fmt.Errorf("%s: reference has %d lines, want %d-%d", tk.TaskID, n, minRefLines, maxRefLines)
	}
	for _, m := range importPattern.FindAllStringSubmatch(tk.Reference, -1) {
		if !allowedImports[m[1]] {
			return tk, fmt.Errorf("%s: reference imports %s, which a built-in task may not use", tk.TaskID, m[1])
		}
	}
	defined := defPattern.FindAllStringSubmatch(tk.Reference, -1)
	if len(defined) == 0 {
		return tk, fmt.Errorf("%s: reference defines no function or class", tk.TaskID)
	}
	asserts := 0
	for _, tl := range strings.Split(strings.TrimSpace(tk.Tests), "\n") {
		if !strings.HasPrefix(tl, "assert ") {
			return tk, fmt.Errorf("%s: test line is not an assert: %q", tk.TaskID, tl)
		}
		uses := slices.ContainsFunc(defined, func(m []string) bool {
			return regexp.MustCompile(`\b` + m[1] + `\b`).MatchString(tl)
		})
		if !uses {
			return tk, fmt.Errorf("%s: test %q calls nothing the reference defines", tk.TaskID, tl)
		}
		asserts++
	}
	if asserts < 3 {
		return tk, fmt.Errorf("%s: %d asserts, want at least 3", tk.TaskID, asserts)
	}
	return tk, nil
}

func TestSetsParse(t *testing.T) {
	names := Names()
	if !slices.Contains(names, "basic") {
		t.Fatalf("Names() = %v, want it to contain basic", names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
			seen := map[string]int{}
			n := 0
			for lineNo := 1; sc.Scan(); lineNo++ {
				tk, err := checkLine(sc.Bytes())
				if err != nil {
					t.Errorf("data/%s.jsonl:%d: %v", name, lineNo, err)
					continue
				}
				if first, dup := seen[tk.TaskID]; dup {
					t.Errorf("data/%s.jsonl:%d: duplicate task_id %s (first on line %d)", name, lineNo, tk.TaskID, first)
				}
				seen[tk.TaskID] = lineNo
				// Ids are positional so that appending never renumbers old tasks.
				if want := fmt.Sprintf("%s/%03d", name, lineNo); tk.TaskID != want {
					t.Errorf("data/%s.jsonl:%d: task_id %s, want %s", name, lineNo, tk.TaskID, want)
				}
				n++
			}
			if err := sc.Err(); err != nil {
				t.Fatalf("data/%s.jsonl: %v", name, err)
			}
			if name == "basic" && n < minTasks {
				t.Errorf("basic has %d tasks, want at least %d", n, minTasks)
			}
		})
	}
}

func TestCheckLineRejects(t *testing.T) {
	good := `{"task_id":"basic/001","text":"Add.","reference":"def add(a, b):\n    total = a\n    total += b\n    return total\n","tests":"assert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 1) == 0\n"}`
	if _, err := checkLine([]byte(good)); err != nil {
		t.Fatalf("good line rejected: %v", err)
	}
	tests := []struct {
		name, line, want string
	}{
		{"not json", `{"task_id":`, "invalid JSON"},
		{"unknown key", strings.Replace(good, `"text"`, `"txt"`, 1), "invalid JSON"},
		{"empty text", strings.Replace(good, `"Add."`, `""`, 1), "field text is empty"},
		{"bad id", strings.Replace(good, "basic/001", "basic-1", 1), "not basic/NNN"},
		{"two asserts", strings.Replace(good, `\nassert add(-1, 1) == 0`, "", 1), "2 asserts"},
		{"non assert", strings.Replace(good, "assert add(0, 0) == 0", "print(add(0, 0))", 1), "not an assert"},
		{"wrong function", strings.Replace(good, "assert add(0, 0)", "assert sub(0, 0)", 1), "calls nothing"},
		{"no def", strings.Replace(good, `def add(a, b):`, `add = 1`, 1), "defines no function"},
		{"short reference", strings.Replace(good, `\n    total = a\n    total += b\n    return total`, `\n    return a + b`, 1), "reference has 2 lines"},
		{"forbidden import", strings.Replace(good, `def add(a, b):`, `import os\ndef add(a, b):`, 1), "imports os"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkLine([]byte(tc.line))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("checkLine error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name    string
		unknown bool
	}{
		{"basic", false},
		{"nope", true},
		{"", true},
		{"../basic", true},
		{"basic.jsonl", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Open(tc.name)
			if tc.unknown {
				if !errors.Is(err, ErrUnknownSet) {
					t.Fatalf("Open(%q) error = %v, want ErrUnknownSet", tc.name, err)
				}
				if !strings.Contains(err.Error(), "have: basic") {
					t.Errorf("error %q does not list the available sets", err)
				}
				return
			}
			if err != nil || len(b) == 0 {
				t.Fatalf("Open(%q) = %d bytes, %v", tc.name, len(b), err)
			}
			// A caller scribbling on its copy must not change the next Open.
			b[0] = 'X'
			again, _ := Open(tc.name)
			if again[0] != '{' {
				t.Fatal("Open returned shared, mutable bytes")
			}
		})
	}
}
