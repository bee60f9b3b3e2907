package rundir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadMetrics: any metrics.jsonl reads or fails with an error naming
// the file and line, never a panic.
func FuzzReadMetrics(f *testing.F) {
	f.Add([]byte(`{"stage":"sft","step":50,"loss":1.5}` + "\n" + `{"stage":"sft","step":100,"loss":1.2}` + "\n"))
	f.Add([]byte(`{"stage":"sft","step":50}` + "\n" + `{"stage":"sf`))
	f.Add([]byte("[1,2]\nnull\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "metrics.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadMetrics(path); err != nil && !strings.Contains(err.Error(), path+":") {
			t.Fatalf("error does not name the file and line: %v", err)
		}
	})
}

// FuzzOpenState: a run directory whose state.json (without a checksum
// file, as before checksums) holds any bytes resumes, with a record of
// every stage it lists reachable, or fails with an error naming state.json;
// never a panic, and a failed Open leaves no file open.
func FuzzOpenState(f *testing.F) {
	f.Add([]byte(`{"experiment":"exp","created":"2026-11-25T12:00:00Z","stages":{"sft":{"label":"sft","kind":"sft","status":"done","outputs":{"checkpoint":"stages/sft/x"},"started":"2026-11-25T12:00:00Z"}},"resumes":1,"vars":["steps=3"]}`))
	f.Add([]byte(`{"stages":{"a":null}}`))
	f.Add([]byte(`{"stages":{"a":{"outputs":{"x":"/abs/path"}}}}`))
	f.Add([]byte(`{"created":"yesterday"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"stages":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		state := filepath.Join(dir, StateFile)
		if err := os.WriteFile(state, data, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := Open(dir)
		if err != nil {
			if !strings.Contains(err.Error(), state) {
				t.Fatalf("error does not name %s: %v", state, err)
			}
			return
		}
		defer d.Close()
		d.mu.Lock()
		labels := make([]string, 0, len(d.state.Stages))
		for l := range d.state.Stages {
			labels = append(labels, l)
		}
		d.mu.Unlock()
		for _, l := range labels {
			d.Stage(l) // must not panic on a stage recorded as null
		}
		if err := d.RecordStage(StageState{Label: "fuzz", Status: StatusDone}); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err != nil {
			t.Fatalf("reopening what Open rewrote: %v", err)
		}
	})
}
