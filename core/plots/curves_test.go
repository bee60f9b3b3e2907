package plots

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestDraw(t *testing.T) {
	dir := t.TempDir()
	var pts []Point
	for s := 1; s <= 20; s++ {
		pts = append(pts,
			Point{Stage: "sft", Metric: "loss", Step: s, Value: 5 / float64(s)},
			Point{Stage: "rl", Metric: "reward", Step: s, Value: float64(s) / 20},
		)
	}
	files, err := Draw(dir, pts, DefaultFigures)
	if err != nil {
		t.Fatal(err)
	}
	// loss and reward have data, pass_rate does not.
	want := []string{"loss.png", "loss.svg", "reward.png", "reward.svg"}
	if len(files) != len(want) {
		t.Fatalf("wrote %v, want %v", files, want)
	}
	for i, f := range files {
		if filepath.Base(f) != want[i] {
			t.Errorf("file %d = %s, want %s", i, filepath.Base(f), want[i])
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(f) {
		case ".png":
			if !bytes.HasPrefix(b, []byte("\x89PNG")) {
				t.Errorf("%s is not a PNG", f)
			}
		case ".svg":
			if !bytes.Contains(b, []byte("<svg")) {
				t.Errorf("%s is not an SVG", f)
			}
		}
	}
}
