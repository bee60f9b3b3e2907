package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/core/cluster/natsserver"
)

// clusterExperiment has an eval and a short GRPO run whose episodes go to
// the workers; __NATS__ is replaced by the servers' URLs.
const clusterExperiment = `
experiment "fanout" { seed = 5 }
cluster {
  nats        = "__NATS__"
  ack_wait_s  = 2
  shard_tasks = 1
}
dataset "basic" {
  source    = "builtin:basic"
  max_tasks = 12
}
tool "editor" {
  plugin    = "coedit"
  max_turns = 3
  timeout_s = 2
}
reward "solved" { plugin = "tests" }
model "policy" {
  plugin  = "transformer"
  layers  = 1
  d_model = 32
  heads   = 2
  context = 256
  vocab   = 300
}
stage "demos" {
  kind     = "synthesize"
  tool     = tool.editor
  dataset  = dataset.basic
  per_task = 2
}
stage "sft" {
  kind       = "sft"
  model      = model.policy
  data       = stage.demos
  steps      = 20
  batch_size = 4
  history    = "last"
}
stage "rl" {
  kind           = "grpo"
  model          = model.policy
  tool           = tool.editor
  reward         = reward.solved
  dataset        = dataset.basic
  init           = stage.sft
  steps          = 4
  group          = 2
  tasks_per_step = 3
  history        = "last"
  max_tokens     = 24
  temperature    = 1.5
}
eval "coe" {
  model       = model.policy
  tool        = tool.editor
  dataset     = dataset.basic
  split       = "train"
  checkpoints = [stage.sft, stage.rl]
  k           = [1, 4]
  history     = "last"
  max_tokens  = 24
}
`

// startNATSCluster starts n JetStream servers on loopback, routed to each
// other (one alone when n is 1), and returns them with their client URLs joined by commas.
func startNATSCluster(t testing.TB, n int) ([]*natsserver.Server, string) {
	t.Helper()
	ports, err := natsserver.FreePorts(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
	}
	servers := make([]*natsserver.Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			o := natsserver.Options{Name: fmt.Sprint("s", i), Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), StoreDir: t.TempDir()}
			if n > 1 {
				o.Cluster, o.Routes = fmt.Sprintf("127.0.0.1:%d", ports[n+i]), routes
			}
			servers[i], errs[i] = natsserver.Start(o)
		})
	}
	wg.Wait()
	var urls []string
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(s.Stop)
		urls = append(urls, s.URL())
	}
	return servers, strings.Join(urls, ",")
}

// worker is a `lathe worker` process whose log lines can be waited for.
type worker struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	seen  chan string
}

func startWorker(t testing.TB, bin, url, id string) *worker {
	t.Helper()
	w := &worker{seen: make(chan string, 1000)}
	w.cmd = exec.Command(bin, "worker", "--nats", url, "--id", id, "--cache", t.TempDir())
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
			select {
			case w.seen <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		// The worker and the plugin processes it started.
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		_ = w.cmd.Wait()
	})
	return w
}

func (w *worker) log() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// TestClusterEqualsLocal runs an experiment (SFT, a short GRPO run, an
// eval of both checkpoints) once with its episodes played here (--local)
// and once by two `lathe worker` processes on a three-server JetStream
// cluster, one server stopped during GRPO and one worker killed with
// SIGKILL during the eval: every logged step and every result row must be
// the same.
func TestClusterEqualsLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an experiment twice with worker processes; skipped in -short mode")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found")
	}
	bin := lathePath(t)
	servers, url := startNATSCluster(t, 3)
	dir := t.TempDir()
	file := filepath.Join(dir, "fanout.hcl")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(clusterExperiment, "__NATS__", url)), 0o644); err != nil {
		t.Fatal(err)
	}

	local := filepath.Join(dir, "local")
	if out, err := exec.Command(bin, "run", file, "--local", "--out", local).CombinedOutput(); err != nil {
		t.Fatalf("lathe run --local: %v\n%s", err, out)
	}
	want := stepRecords(t, local)

	a := startWorker(t, bin, url, "wA")
	b := startWorker(t, bin, url, "wB")
	remote := filepath.Join(dir, "remote")
	run := exec.Command(bin, "run", file, "--out", remote)
	var out strings.Builder
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()

	stopped, killed := false, false
	deadline := time.After(4 * time.Minute)
	for !killed {
		select {
		case line := <-a.seen:
			if !stopped && strings.Contains(line, "(rl,") {
				// A server goes during GRPO: the streams keep two of
				// their three replicas.
				servers[1].Stop()
				stopped = true
			}
			if strings.Contains(line, "(coe,") {
				// Worker A dies while it holds eval work.
				_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
				killed = true
			}
		case <-b.seen:
		case err := <-done:
			t.Fatalf("the run ended (%v) before worker A played eval work:\n%s\nworker A:\n%s", err, out.String(), a.log())
		case <-deadline:
			t.Fatalf("worker A played no eval work in 4 minutes:\n%s", out.String())
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("lathe run with workers: %v\n%s\nworker B:\n%s", err, out.String(), b.log())
		}
	case <-time.After(4 * time.Minute):
		t.Fatalf("the run did not finish 4 minutes after the kill:\n%s", out.String())
	}
	if !stopped {
		t.Error("no server was stopped during GRPO")
	}
	if !strings.Contains(out.String(), "live workers (") {
		t.Errorf("no progress line about workers in the run's output:\n%s", out.String())
	}
	got := stepRecords(t, remote)
	if len(got) != len(want) {
		t.Errorf("the cluster run logged %d distinct records, the local one %d", len(got), len(want))
	}
	for key, w := range want {
		if g, ok := got[key]; !ok {
			t.Errorf("%s: missing from the cluster run", key)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\ncluster %v\nlocal   %v", key, g, w)
		}
	}
	if strings.Contains(b.log(), "delivered 2 times") {
		t.Logf("worker B played an item that worker A had held")
	}
}

// TestRunNoWorker: a run whose cluster has no worker says so and stops.
func TestRunNoWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the lathe binary; skipped in -short mode")
	}
	bin := lathePath(t)
	_, url := startNATSCluster(t, 1)
	src := strings.ReplaceAll(clusterExperiment, "ack_wait_s  = 2", "no_worker_timeout_s = 3")
	src = strings.ReplaceAll(src, "__NATS__", url)
	// Only the eval: no demonstrations or training needed.
	src = src[:strings.Index(src, `stage "demos"`)] + `eval "coe" {
  model   = model.policy
  tool    = tool.editor
  dataset = dataset.basic
  split   = "train"
  k       = [1]
}
`
	file := filepath.Join(t.TempDir(), "lonely.hcl")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	out, err := exec.Command(bin, "run", file, "--out", filepath.Join(t.TempDir(), "run")).CombinedOutput()
	if err == nil {
		t.Fatalf("the run succeeded without a worker:\n%s", out)
	}
	if !strings.Contains(string(out), "no live worker") || !strings.Contains(string(out), "lathe worker --nats") {
		t.Errorf("the error does not say that no worker is live and how to start one:\n%s", out)
	}
	if el := time.Since(t0); el > 60*time.Second {
		t.Errorf("gave up after %s, want about 3 s after the eval started", el)
	}
}
