package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/lathe-ml/lathe/core/tasks/builtinset"
	"github.com/lathe-ml/lathe/sdk"
)

// jsonLines decodes data line by line with parse, reporting malformed lines
// through r. Blank lines are allowed.
func jsonLines(r *reader, file string, data []byte, parse func(raw []byte) (sdk.Task, error)) ([]sdk.Task, error) {
	var ts []sdk.Task
	var lines []int
	for i, raw := range bytes.Split(data, []byte("\n")) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		t, err := parse(raw)
		if err != nil {
			if err := r.bad(file, i+1, err); err != nil {
				return nil, err
			}
			continue
		}
		ts = append(ts, t)
		lines = append(lines, i+1)
	}
	return r.dedupe(file, ts, lines)
}

// decode unmarshals one JSON object; strict rejects unknown keys so that a
// misspelt field cannot leave a required one silently empty.
func decode(raw []byte, v any, strict bool) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	if strict {
		d.DisallowUnknownFields()
	}
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("bad JSON: text after the object")
	}
	return nil
}

// normalize gives code "\n" line ends, as the tools hold programs.
func normalize(code string) string {
	return strings.ReplaceAll(strings.ReplaceAll(code, "\r\n", "\n"), "\r", "\n")
}

func required(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if strings.TrimSpace(fields[i+1]) == "" {
			return fmt.Errorf("missing or empty %q", fields[i])
		}
	}
	return nil
}

func loadBuiltin(r *reader, name string) ([]sdk.Task, error) {
	data, err := builtinset.Open(name)
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	return jsonLines(r, "builtin:"+name, data, func(raw []byte) (sdk.Task, error) {
		var rec struct {
			ID        string `json:"task_id"`
			Text      string `json:"text"`
			Reference string `json:"reference"`
			Tests     string `json:"tests"`
			Setup     string `json:"setup"`
		}
		// Not strict: package builtinset's own test guards its keys, and
		// a field added there must not break loading here.
		if err := decode(raw, &rec, false); err != nil {
			return sdk.Task{}, err
		}
		if err := required("task_id", rec.ID, "reference", rec.Reference, "tests", rec.Tests); err != nil {
			return sdk.Task{}, err
		}
		ref := normalize(rec.Reference)
		return sdk.Task{ID: rec.ID, Text: rec.Text, Program: ref, Reference: ref, Tests: normalize(rec.Tests), Setup: normalize(rec.Setup)}, nil
	})
}

// MBPPSplit returns the official MBPP split of a task id.
func MBPPSplit(id int) string {
	switch {
	case id >= 1 && id <= 10:
		return SplitPrompt
	case id >= 11 && id <= 510:
		return SplitTest
	case id >= 511 && id <= 600:
		return SplitValidation
	}
	return SplitTrain
}

func loadMBPP(r *reader, path string) ([]sdk.Task, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tasks: mbpp: %w", err)
	}
	return jsonLines(r, path, data, func(raw []byte) (sdk.Task, error) {
		var rec struct {
			ID    *int     `json:"task_id"`
			Text  string   `json:"text"`
			Code  string   `json:"code"`
			Setup string   `json:"test_setup_code"`
			Tests []string `json:"test_list"`
		}
		if err := decode(raw, &rec, false); err != nil {
			return sdk.Task{}, err
		}
		if rec.ID == nil || *rec.ID < 1 {
			return sdk.Task{}, errors.New("missing or non-positive integer \"task_id\"")
		}
		if err := required("code", rec.Code); err != nil {
			return sdk.Task{}, err
		}
		if len(rec.Tests) == 0 {
			return sdk.Task{}, errors.New("empty \"test_list\"")
		}
		code := normalize(rec.Code)
		tests := normalize(strings.Join(rec.Tests, "\n")) + "\n"
		// MBPP's test_setup_code builds test inputs from classes the
		// program defines (tasks 367, 927), so it runs after the program:
		// it goes at the head of the tests, not into Task.Setup.
		if setup := strings.TrimSpace(normalize(rec.Setup)); setup != "" {
			tests = setup + "\n" + tests
		}
		return sdk.Task{
			ID:        "mbpp/" + strconv.Itoa(*rec.ID),
			Text:      rec.Text,
			Program:   code,
			Reference: code,
			Tests:     tests,
			Split:     MBPPSplit(*rec.ID),
		}, nil
	})
}

func loadHumanEval(r *reader, path string) ([]sdk.Task, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tasks: humaneval: %w", err)
	}
	return jsonLines(r, path, data, func(raw []byte) (sdk.Task, error) {
		var rec struct {
			ID       string `json:"task_id"`
			Prompt   string `json:"prompt"`
			Solution string `json:"canonical_solution"`
			Test     string `json:"test"`
			Entry    string `json:"entry_point"`
		}
		if err := decode(raw, &rec, false); err != nil {
			return sdk.Task{}, err
		}
		if err := required("task_id", rec.ID, "prompt", rec.Prompt, "canonical_solution", rec.Solution, "test", rec.Test, "entry_point", rec.Entry); err != nil {
			return sdk.Task{}, err
		}
		ref := normalize(rec.Prompt + rec.Solution)
		return sdk.Task{
			ID:        rec.ID,
			Text:      docSummary(rec.Prompt, rec.Entry),
			Program:   ref,
			Reference: ref,
			Tests:     strings.TrimRight(normalize(rec.Test), "\n") + "\n\ncheck(" + rec.Entry + ")\n",
		}, nil
	})
}

var docstring = regexp.MustCompile(`(?s)("""|''')\s*(.*?)("""|''')`)

// docSummary is the first sentence of the prompt's docstring, or a generic
// instruction when there is none.
func docSummary(prompt, entry string) string {
	if m := docstring.FindStringSubmatch(prompt); m != nil {
		first, _, _ := strings.Cut(strings.TrimSpace(m[2]), "\n\n")
		if s := strings.Join(strings.Fields(first), " "); s != "" {
			return s
		}
	}
	return "Implement " + entry + " as documented."
}

func loadRepairJSONL(r *reader, path string) ([]sdk.Task, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tasks: jsonl: %w", err)
	}
	return jsonLines(r, path, data, func(raw []byte) (sdk.Task, error) {
		var t sdk.Task
		if err := decode(raw, &t, true); err != nil {
			return sdk.Task{}, err
		}
		if err := required("task_id", t.ID, "tests", t.Tests); err != nil {
			return sdk.Task{}, err
		}
		if strings.TrimSpace(t.Program) == "" && strings.TrimSpace(t.Reference) == "" {
			return sdk.Task{}, errors.New("needs \"program\" or \"reference\"")
		}
		if t.Program == "" {
			t.Program = t.Reference
		}
		switch t.Split {
		case "", SplitTrain, SplitValidation, SplitTest, SplitPrompt:
		default:
			return sdk.Task{}, fmt.Errorf("unknown split %q", t.Split)
		}
		t.Program, t.Reference = normalize(t.Program), normalize(t.Reference)
		t.Tests, t.Setup = normalize(t.Tests), normalize(t.Setup)
		return t, nil
	})
}

// quixbugsHelper turns generator results into lists, as QuixBugs' own
// harness does, so a test can compare them with the JSON expectations.
// JSON has no tuples, so tuples become lists too. Floats are rounded to 4
// significant digits on both sides: QuixBugs' own harness compares sqrt's
// results within its epsilon argument, not exactly.
const quixbugsHelper = `import types as _types


def _q(v):
    if isinstance(v, _types.GeneratorType):
        v = list(v)
    if isinstance(v, (list, tuple)):
        return [_q(x) for x in v]
    if isinstance(v, float):
        return float("%.4g" % v)
    return v
`

func loadQuixBugs(r *reader, dir string) ([]sdk.Task, error) {
	buggyDir := filepath.Join(dir, "python_programs")
	entries, err := os.ReadDir(buggyDir)
	if err != nil {
		return nil, fmt.Errorf("tasks: quixbugs: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".py"); ok && !e.IsDir() && n != "node" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []sdk.Task
	for _, name := range names {
		t, err := quixbugsTask(dir, name)
		if err != nil {
			if err := r.bad(err.file, err.line, err.err); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

type quixErr struct {
	file string
	line int
	err  error
}

func quixbugsTask(dir, name string) (sdk.Task, *quixErr) {
	buggyPath := filepath.Join(dir, "python_programs", name+".py")
	fixedPath := filepath.Join(dir, "correct_python_programs", name+".py")
	casesPath := filepath.Join(dir, "json_testcases", name+".json")
	buggy, err := os.ReadFile(buggyPath)
	if err != nil {
		return sdk.Task{}, &quixErr{file: buggyPath, err: err}
	}
	fixed, err := os.ReadFile(fixedPath)
	if err != nil {
		return sdk.Task{}, &quixErr{file: fixedPath, err: err}
	}
	cases, err := os.ReadFile(casesPath)
	if errors.Is(err, os.ErrNotExist) {
		return sdk.Task{}, &quixErr{file: casesPath, err: errors.New("no JSON test cases (graph programs are tested by upstream's pytest files, not copied)")}
	}
	if err != nil {
		return sdk.Task{}, &quixErr{file: casesPath, err: err}
	}
	if !strings.Contains(string(fixed), "def "+name+"(") {
		return sdk.Task{}, &quixErr{file: fixedPath, err: fmt.Errorf("no function %s", name)}
	}
	var tests strings.Builder
	for i, raw := range bytes.Split(cases, []byte("\n")) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		var pair []json.RawMessage
		var args []json.RawMessage
		if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
			return sdk.Task{}, &quixErr{file: casesPath, line: i + 1, err: fmt.Errorf("want [args, expected], got %.60s", raw)}
		}
		if err := json.Unmarshal(pair[0], &args); err != nil {
			// A single non-list argument, as some upstream cases write it.
			args = []json.RawMessage{pair[0]}
		}
		var argText []string
		for _, a := range args {
			s, err := pyLiteral(a)
			if err != nil {
				return sdk.Task{}, &quixErr{file: casesPath, line: i + 1, err: err}
			}
			argText = append(argText, s)
		}
		want, err := pyLiteral(pair[1])
		if err != nil {
			return sdk.Task{}, &quixErr{file: casesPath, line: i + 1, err: err}
		}
		fmt.Fprintf(&tests, "assert _q(%s(%s)) == _q(%s)\n", name, strings.Join(argText, ", "), want)
	}
	if tests.Len() == 0 {
		return sdk.Task{}, &quixErr{file: casesPath, err: errors.New("no test cases")}
	}
	return sdk.Task{
		ID:        "quixbugs/" + name,
		Text:      "Fix the bug in " + name + ".",
		Program:   normalize(string(buggy)),
		Reference: normalize(string(fixed)),
		Tests:     tests.String(),
		Setup:     quixbugsHelper,
	}, nil
}

// pyLiteral renders a JSON value as the Python literal of the same value.
func pyLiteral(raw json.RawMessage) (string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", fmt.Errorf("bad JSON value: %w", err)
	}
	var b strings.Builder
	writePy(&b, v)
	return b.String(), nil
}

func writePy(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case json.Number:
		b.WriteString(x.String())
	case string:
		// Go's quoting escapes are all valid in Python string literals.
		b.WriteString(strconv.Quote(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePy(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(k))
			b.WriteString(": ")
			writePy(b, x[k])
		}
		b.WriteByte('}')
	}
}
