package rundir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/core/atomicfile"
)

// TestResumeDamagedState: a resume, and lathe run --resume's reading of
// the -var options, refuse a state.json that is not what the run wrote,
// naming it, rather than rerun or skip stages by a wrong record.
func TestResumeDamagedState(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, state string)
		want   string
	}{
		{"truncated", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, " is damaged: "},
		{"stage status altered", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			s := strings.Replace(string(b), `"status": "failed"`, `"status": "done"  `, 1)
			if s == string(b) {
				t.Fatalf("no failed stage in\n%s", b)
			}
			os.WriteFile(p, []byte(s), 0o644)
		}, " is damaged: its SHA-256"},
		{"written by a newer Lathe", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			atomicfile.WriteCheckedBytes(p, atomicfile.Format{Name: StateFormat.Name, Version: StateFormat.Version + 1}, b)
		}, " is lathe-run-state version 2; this build reads up to version 1"},
		{"checksum file garbled", func(t *testing.T, p string) {
			os.WriteFile(p+atomicfile.SumSuffix, []byte("{"), 0o644)
		}, ".sum is damaged: not a checksum file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := CreateAt(filepath.Join(t.TempDir(), "run"), "exp", time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if err := d.SetVars([]string{"steps=3"}); err != nil {
				t.Fatal(err)
			}
			if err := d.RecordStage(StageState{Label: "sft", Kind: "sft", Status: StatusFailed}); err != nil {
				t.Fatal(err)
			}
			d.Close()
			state := filepath.Join(d.Path, StateFile)
			// Intact, it resumes.
			r, err := Open(d.Path)
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			tc.damage(t, state)
			if _, err := Open(d.Path); err == nil || !strings.Contains(err.Error(), state+tc.want) {
				t.Errorf("Open: err = %v, want %q", err, state+tc.want)
			}
			if _, err := ReadVars(d.Path); err == nil || !strings.Contains(err.Error(), state+tc.want) {
				t.Errorf("ReadVars: err = %v, want %q", err, state+tc.want)
			}
		})
	}
}
