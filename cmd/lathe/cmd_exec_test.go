package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestExecTasks(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH")
	}
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tasks := write("tasks.jsonl", strings.Join([]string{
		`{"id": "slow", "program": "import time\ntime.sleep(0.3)\ndef f(x):\n    return x + 1\n", "tests": "assert f(1) == 2\n"}`,
		`{"id": 2, "program": "def f(x):\n    return x\n", "tests": ["assert f(1) == 1", "assert f(2) == 3"]}`,
		``,
		`{"id": 3, "program": "def f(:\n", "tests": "assert f(1) == 2\n", "timeout_s": 2}`,
		`{"id": 4, "program": "def f(x):\n    return x * 2\n", "tests": "assert f(2) == 4\nassert f(3) == 6\n", "reference": "def f(x):\n    return x + x\n"}`,
	}, "\n"))
	cases := []struct {
		name   string
		args   []string
		rc     int
		stdout []string // one JSON line per task: "id status passed/total"
		stderr string
	}{
		{"tasks in input order", []string{"exec", "--tasks", tasks, "--workers", "2"}, 0,
			[]string{`"slow" pass 1/1`, `2 fail 1/2`, `3 error 0/1`, `4 pass 2/2`}, "4 checks in"},
		{"malformed lines name file and line", []string{"exec", "--tasks", write("bad.jsonl", "{\"id\": 1, \"program\": \"x=1\", \"tests\": \"assert x\"}\n{\"id\": 2, \"tests\": \"assert 1\"}\nnot json\n{\"id\": 4, \"program\": \"\", \"tests\": 5}\n")}, 1,
			nil, "bad.jsonl:2: missing \"program\"\n" + filepath.Join(dir, "bad.jsonl") + ":3: invalid character"},
		{"unknown field", []string{"exec", "--tasks", write("unknown.jsonl", `{"id": 1, "program": "", "tests": "", "tset": 1}`)}, 1, nil, `unknown.jsonl:1: json: unknown field "tset"`},
		{"one check", []string{"exec", "--program", write("p.py", "def f(x):\n    return x\n"), "--tests", write("t.py", "assert f(1) == 2\n")}, 0,
			[]string{`fail 0/1`}, ""},
		{"no input", []string{"exec"}, 1, nil, "need --program and --tests, or --tasks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			rc := mainWithExit(tc.args, &out, &errb)
			if rc != tc.rc {
				t.Fatalf("exit %d, want %d; stderr:\n%s", rc, tc.rc, errb.String())
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", errb.String(), tc.stderr)
			}
			var got []string
			dec := json.NewDecoder(&out)
			for dec.More() {
				var r struct {
					ID       json.RawMessage `json:"id"`
					Status   string          `json:"status"`
					Passed   int             `json:"passed"`
					Total    int             `json:"total"`
					Feedback string          `json:"feedback"`
				}
				if err := dec.Decode(&r); err != nil {
					t.Fatal(err)
				}
				s := r.Status + " " + itoa(r.Passed) + "/" + itoa(r.Total)
				if len(r.ID) > 0 {
					s = string(r.ID) + " " + s
				}
				got = append(got, s)
			}
			if strings.Join(got, "\n") != strings.Join(tc.stdout, "\n") {
				t.Errorf("stdout lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.stdout, "\n"))
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
