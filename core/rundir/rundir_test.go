package rundir

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestCreateNamesAndNeverReuses(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name string
		want string
	}{
		{"first", "exp/20261125T120000Z"},
		{"same second", "exp/20261125T120000Z-2"},
		{"third", "exp/20261125T120000Z-3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Create(root, "exp", t0)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if got, _ := filepath.Rel(root, d.Path); got != tc.want {
				t.Errorf("path = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCreateAtRefusesNonEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateAt(dir, "exp", t0); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("CreateAt on a non-empty dir: err = %v", err)
	}
}

func TestMetricsConcurrentLines(t *testing.T) {
	d, err := Create(t.TempDir(), "exp", t0)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := d.Metrics().Log("sft", i, map[string]float64{"loss": float64(w), "pad": 1e300}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := d.Metrics().Write([]int{1}); err == nil {
		t.Error("a non-object record was accepted")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadMetrics(filepath.Join(d.Path, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != workers*each {
		t.Fatalf("read %d records, want %d", len(recs), workers*each)
	}
	if recs[0]["stage"] != "sft" {
		t.Errorf("record = %v", recs[0])
	}
}

func TestStateSurvivesResume(t *testing.T) {
	d, err := Create(t.TempDir(), "exp", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteExperiment([]byte("experiment \"exp\" {}\n"), map[string]any{"name": "exp"}); err != nil {
		t.Fatal(err)
	}
	sd, err := d.StageDir("sft")
	if err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(sd, "final")
	if err := d.RecordStage(StageState{Label: "sft", Kind: "sft", Status: StatusDone,
		Outputs: map[string]string{"checkpoint": ck, "elsewhere": "/data/x.jsonl"}}); err != nil {
		t.Fatal(err)
	}
	d.Logger().Info("first session")
	d.Close()

	raw, _ := os.ReadFile(filepath.Join(d.Path, StateFile))
	if !strings.Contains(string(raw), `"checkpoint": "stages/sft/final"`) {
		t.Errorf("state.json does not store the checkpoint relative to the run dir:\n%s", raw)
	}
	r, err := Open(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Resumed() {
		t.Error("Resumed() = false after Open")
	}
	s := r.Stage("sft")
	if s == nil || s.Status != StatusDone || s.Outputs["checkpoint"] != ck || s.Outputs["elsewhere"] != "/data/x.jsonl" {
		t.Fatalf("stage after resume = %+v", s)
	}
	// The same file again writes nothing new; a changed one goes beside it.
	if err := r.WriteExperiment([]byte("experiment \"exp\" {}\n"), map[string]any{"name": "exp"}); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteExperiment([]byte("experiment \"exp\" { seed = 2 }\n"), map[string]any{"name": "exp"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ExperimentFile, "experiment.resume-1.hcl", "resolved.resume-1.json"} {
		if _, err := os.Stat(filepath.Join(d.Path, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
	r.Logger().Info("second session")
	log, _ := os.ReadFile(filepath.Join(d.Path, LogFile))
	if !strings.Contains(string(log), "first session") || !strings.Contains(string(log), "second session") {
		t.Errorf("run.log lost lines:\n%s", log)
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("Open accepted a directory without state.json")
	}
}

// TestMetricsCutsTornRecord: a record cut short by a crash or a full disk
// is removed when the file is opened again, so the resumed run's records
// do not join it into one malformed line.
func TestMetricsCutsTornRecord(t *testing.T) {
	for _, tc := range []struct {
		name, before string
		want         int // records read back after one more is written
	}{
		{"empty", "", 1},
		{"whole lines", `{"step":1}` + "\n" + `{"step":2}` + "\n", 3},
		{"torn last record", `{"step":1}` + "\n" + `{"step":2,"lo`, 2},
		{"only a torn record", `{"st`, 1},
		{"torn after a long line", `{"pad":"` + strings.Repeat("x", 9000) + `"}` + "\n" + `{"st`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), MetricsFile)
			if err := os.WriteFile(path, []byte(tc.before), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := openMetrics(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Log("sft", 3, map[string]float64{"loss": 1}); err != nil {
				t.Fatal(err)
			}
			if err := m.close(); err != nil {
				t.Fatal(err)
			}
			recs, err := ReadMetrics(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tc.want || recs[len(recs)-1]["step"] != 3.0 {
				t.Fatalf("read %v, want %d records ending with step 3", recs, tc.want)
			}
		})
	}
}
