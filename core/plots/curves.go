// Package plots draws a run's learning curves (loss, reward, pass rate over
// training steps) with gonum/plot, as PNG and SVG files in the run
// directory, so a researcher can look at a run without other tools.
package plots

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Point is one logged value of a metric at a training step of a stage.
type Point struct {
	Stage  string
	Metric string
	Step   int
	Value  float64
}

// Figure is one chart: the named metrics of every stage that logged them.
type Figure struct {
	Name    string   // file stem, e.g. "loss"
	Title   string   // chart title
	Metrics []string // metric names drawn, one line per (stage, metric)
}

// DefaultFigures are the curves every run draws when it has the data.
var DefaultFigures = []Figure{
	{Name: "loss", Title: "Supervised loss (cross-entropy per target token)", Metrics: []string{"loss"}},
	{Name: "policy_loss", Title: "Policy-gradient loss", Metrics: []string{"policy_loss"}},
	{Name: "reward", Title: "Mean episode return", Metrics: []string{"reward"}},
	{Name: "pass_rate", Title: "Training pass rate", Metrics: []string{"pass_rate"}},
}

// Draw writes <dir>/<figure>.png and .svg for every figure with at least one
// point and returns the files written.
func Draw(dir string, points []Point, figures []Figure) ([]string, error) {
	var written []string
	for _, f := range figures {
		p, ok, err := chart(f, points)
		if err != nil {
			return written, err
		}
		if !ok {
			continue
		}
		for _, ext := range []string{".png", ".svg"} {
			path := filepath.Join(dir, f.Name+ext)
			if err := p.Save(7*vg.Inch, 4*vg.Inch, path); err != nil {
				return written, fmt.Errorf("plots: save %s: %w", path, err)
			}
			written = append(written, path)
		}
	}
	return written, nil
}

// palette is distinguishable in colour and in grey.
var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
}

func chart(f Figure, points []Point) (*plot.Plot, bool, error) {
	wanted := map[string]bool{}
	for _, m := range f.Metrics {
		wanted[m] = true
	}
	series := map[string]plotter.XYs{}
	for _, pt := range points {
		if !wanted[pt.Metric] {
			continue
		}
		key := pt.Stage
		if len(f.Metrics) > 1 {
			key += " " + pt.Metric
		}
		series[key] = append(series[key], plotter.XY{X: float64(pt.Step), Y: pt.Value})
	}
	if len(series) == 0 {
		return nil, false, nil
	}
	p := plot.New()
	p.Title.Text = f.Title
	p.X.Label.Text = "step"
	p.Y.Label.Text = f.Metrics[0]
	p.Add(plotter.NewGrid())
	keys := make([]string, 0, len(series))
	for k := range series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		xy := series[k]
		sort.SliceStable(xy, func(a, b int) bool { return xy[a].X < xy[b].X })
		line, err := plotter.NewLine(xy)
		if err != nil {
			return nil, false, fmt.Errorf("plots: %s %s: %w", f.Name, k, err)
		}
		line.Color = palette[i%len(palette)]
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(k, line)
	}
	// The legend sits in the top right corner: raise the y range so that it
	// covers no line (one row of headroom per entry, at least a fifth).
	p.Legend.Top = true
	span := p.Y.Max - p.Y.Min
	if span <= 0 {
		span = math.Max(1, math.Abs(p.Y.Max))
	}
	p.Y.Max += span * math.Max(0.2, 0.09*float64(len(keys)))
	return p, true, nil
}
