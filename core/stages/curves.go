package stages

import (
	"path/filepath"

	"github.com/lathe-ml/lathe/core/plots"
	"github.com/lathe-ml/lathe/core/rundir"
	"github.com/lathe-ml/lathe/core/runner"
)

// drawCurves redraws the run's learning curves (loss, reward, pass rate
// over steps, every training stage so far) into the run directory. A
// failure to draw is logged, never fatal: the numbers are in metrics.jsonl.
func drawCurves(env *runner.StageEnv) {
	recs, err := rundir.ReadMetrics(filepath.Join(env.RunDir.Path, rundir.MetricsFile))
	if err != nil {
		env.Logger.Warn("learning curves not drawn", "error", err)
		return
	}
	var pts []plots.Point
	for _, r := range recs {
		stage, _ := r["stage"].(string)
		step, ok := r["step"].(float64)
		if stage == "" || !ok || step < 1 {
			continue
		}
		_, rl := r["reward"]
		for _, m := range []string{"loss", "reward", "pass_rate"} {
			if v, ok := r[m].(float64); ok {
				name := m
				if m == "loss" && rl {
					name = "policy_loss" // a different quantity from cross-entropy
				}
				pts = append(pts, plots.Point{Stage: stage, Metric: name, Step: int(step), Value: v})
			}
		}
	}
	files, err := plots.Draw(env.RunDir.Path, lastPerStep(pts), plots.DefaultFigures)
	if err != nil {
		env.Logger.Warn("learning curves not drawn", "error", err)
		return
	}
	env.Logger.Info("learning curves drawn", "files", len(files))
}

// lastPerStep keeps the last value logged for each (stage, metric, step):
// a resumed run logs again the steps after its last checkpoint.
func lastPerStep(pts []plots.Point) []plots.Point {
	type key struct {
		stage, metric string
		step          int
	}
	idx := map[key]int{}
	var out []plots.Point
	for _, p := range pts {
		k := key{p.Stage, p.Metric, p.Step}
		if i, ok := idx[k]; ok {
			out[i] = p
			continue
		}
		idx[k] = len(out)
		out = append(out, p)
	}
	return out
}
