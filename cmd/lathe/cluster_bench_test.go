package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/core/rundir"
)

// benchEvalExperiment is one eval of an untrained model on 120 training
// tasks with 4 samples and a greedy episode each (600 episodes of up to 4
// turns); __CLUSTER__ is replaced by a cluster block or by nothing.
const benchEvalExperiment = `
experiment "clusterbench" { seed = 3 }
__CLUSTER__
dataset "basic" {
  source    = "builtin:basic"
  max_tasks = 120
}
tool "editor" {
  plugin    = "coedit"
  max_turns = 4
  timeout_s = 2
}
model "policy" {
  plugin  = "transformer"
  layers  = 2
  d_model = 64
  heads   = 2
  context = 512
  vocab   = 300
}
eval "coe" {
  model      = model.policy
  tool       = tool.editor
  dataset    = dataset.basic
  split      = "train"
  k          = [4]
  history    = "last"
  max_tokens = 24
}
`

// BenchmarkClusterEval plays the same eval three ways in one run: in the
// runner without a cluster block (local), and by one and by two `lathe
// worker` processes (one slot each) on a JetStream server on loopback, the
// eval split into work items of 4 tasks. Each reports the eval's
// episodes/s from its wall_s in metrics.jsonl (plugin start-up of the run
// itself excluded), so workers=1 against local is the cost of the queue,
// the weights upload and the workers' own plugin processes per episode,
// and workers=2 against workers=1 what a second worker adds on this machine.
// The worker settings also report x_local, their episodes/s over the local
// run's in the same invocation (run them together: -bench ClusterEval).
func BenchmarkClusterEval(b *testing.B) {
	if _, err := exec.LookPath("python3"); err != nil {
		b.Skip("python3 not found")
	}
	bin := lathePath(b)
	local := 0.0 // episodes/s of the local run, the baseline of the ratios
	for _, workers := range []int{0, 1, 2} {
		name := "local"
		if workers > 0 {
			name = fmt.Sprintf("workers=%d", workers)
		}
		b.Run(name, func(b *testing.B) {
			cluster := ""
			if workers > 0 {
				_, url := startNATSCluster(b, 1)
				cluster = fmt.Sprintf("cluster {\n  nats = %q\n  shard_tasks = 4\n}", url)
				for i := range workers {
					startWorker(b, bin, url, fmt.Sprint("w", i))
				}
			}
			dir := b.TempDir()
			file := filepath.Join(dir, "bench.hcl")
			if err := os.WriteFile(file, []byte(strings.ReplaceAll(benchEvalExperiment, "__CLUSTER__", cluster)), 0o644); err != nil {
				b.Fatal(err)
			}
			var episodes, wall float64
			start := time.Now()
			for i := range b.N {
				out := filepath.Join(dir, fmt.Sprint("run", i))
				if msg, err := exec.Command(bin, "run", file, "--out", out).CombinedOutput(); err != nil {
					b.Fatalf("lathe run: %v\n%s", err, msg)
				}
				n, s := evalEpisodes(b, out)
				episodes += n
				wall += s
			}
			rate := episodes / wall
			b.ReportMetric(rate, "episodes/s")
			if workers == 0 {
				local = rate
			} else if local > 0 {
				// Against the local run of this same invocation.
				b.ReportMetric(rate/local, "x_local")
			}
			b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "run_s")
		})
	}
}

// evalEpisodes reads the episodes played and seconds spent by the evals
// of a finished run.
func evalEpisodes(b *testing.B, runDir string) (episodes, seconds float64) {
	b.Helper()
	recs, err := rundir.ReadMetrics(filepath.Join(runDir, "metrics.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range recs {
		if r["eval"] == nil {
			continue
		}
		v, _ := r["values"].(map[string]any)
		tasks, _ := v["tasks"].(float64)
		wall, _ := v["wall_s"].(float64)
		episodes += tasks * 5 // k = [4]: four samples and a greedy episode a task
		seconds += wall
	}
	if seconds == 0 {
		b.Fatalf("%s: no eval record with wall_s", runDir)
	}
	return episodes, seconds
}
